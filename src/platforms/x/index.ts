/**
 * X (Twitter) as a `Network`: posts with up to four images, reach as impressions, withdrawal,
 * and recovery by reference. Built on twitter-api-v2 with OAuth 1.0a user context; every call
 * goes through one choke point (call.ts) for rate limits, back-off and error mapping.
 *
 *   const x = createX(config.networks.x, { logger });
 *   const post = await x.publish({ appealId, hash, text, media, reference });
 *
 * Creating a post is the one call that is never blindly repeated: when X's answer is lost
 * (5xx, timeout, reset) the adapter first looks for the reference among the account's recent
 * posts, and only posts again when it is not there.
 */
import type { XConfig } from '../../config.js';
import { NetworkError, type Logger, type Network, type PublishedPost, type PublishRequest, type ReachCount } from '../../core/ports.js';
import { carriesReference } from '../reference.js';
import { createCall, type Call } from './call.js';
import { createXHttp, type XHttp } from './client.js';
import { checkImage, uploadImage } from './media.js';

export { X_IMAGE_MAX_BYTES } from './media.js';

export interface XDeps {
  logger: Logger;
  /** Waits for rate-limit resets, back-off and media processing. Default: a real timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Clock, ms. Default Date.now. */
  now?: () => number;
  /** Longest a call waits, in total, for X's rate limits before it throws 'rate_limited'. Default 15 min. */
  maxRateLimitWaitMs?: number;
  /** Tries of one idempotent call on 5xx or network errors, and of creating a post whose fate
   * was unknown and which recovery did not find. Default 4. */
  maxAttempts?: number;
  /** Per request: an answer that goes quiet this long counts as a network error. Default 30 s. */
  timeoutMs?: number;
}

/** X takes at most 4 images per post. */
const MAX_IMAGES = 4;
/** Recovery looks this much before the publish began (clock skew between us and X). */
const RECOVERY_SLACK_MS = 60_000;
/** On a duplicate, how far back an earlier attempt of ours may be. */
const DUPLICATE_LOOKBACK_MS = 7 * 24 * 3_600_000;
/** Timeline pages (of 100) read when looking for a post. */
const FIND_MAX_PAGES = 5;
const ID_RE = /^[0-9]{1,19}$/;

interface XPost {
  id: string;
  text: string;
  created_at?: string;
  attachments?: { media_keys?: string[] };
  public_metrics?: Partial<Record<'retweet_count' | 'reply_count' | 'like_count' | 'quote_count' | 'bookmark_count' | 'impression_count', number>>;
}
interface Problem { resource_id?: string; type?: string; detail?: string }
interface Account { id: string; username?: string }

const sleepReal = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function createX(config: XConfig, deps: XDeps): Network {
  return new XNetwork(config, deps);
}

class XNetwork implements Network {
  readonly name = 'x' as const;
  readonly reachBatchSize = 100;

  private readonly http: XHttp;
  private readonly call: Call;
  private readonly logger: Logger;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly maxAttempts: number;
  private account?: Promise<Account>;

  constructor(config: XConfig, deps: XDeps) {
    this.logger = deps.logger;
    this.sleep = deps.sleep ?? sleepReal;
    this.now = deps.now ?? Date.now;
    this.maxAttempts = Math.max(1, deps.maxAttempts ?? 4);
    this.http = createXHttp(config, this.logger);
    this.call = createCall({
      logger: this.logger,
      sleep: this.sleep,
      now: this.now,
      maxRateLimitWaitMs: deps.maxRateLimitWaitMs ?? 15 * 60_000,
      maxAttempts: this.maxAttempts,
      timeoutMs: deps.timeoutMs ?? 30_000,
    });
  }

  async publish(req: PublishRequest): Promise<PublishedPost> {
    const startedAt = this.now();
    const log = this.logger.child({ appealId: req.appealId, hash: req.hash });
    if (req.media.length > MAX_IMAGES) {
      throw invalid(`X takes at most ${MAX_IMAGES} images per post; this one has ${req.media.length}`);
    }
    if (req.media.some((m) => m.mime.startsWith('video/')) && req.media.length > 1) {
      throw invalid('X takes one video per post, without images');
    }
    req.media.forEach(checkImage);

    // The account (for the post's link, and for recovery). Bad credentials stop here, before
    // anything is uploaded; any other failure only costs the pretty link.
    let username: string | undefined;
    try {
      username = (await this.me()).username;
    } catch (err) {
      if (err instanceof NetworkError && (err.code === 'auth' || err.code === 'forbidden')) throw err;
      log.warn({ error: errorText(err) }, 'X: could not read the account; the post link will be the generic one');
    }

    const mediaIds: string[] = [];
    for (const file of req.media) mediaIds.push(await uploadImage(this.http, this.call, this.sleep, file));
    const body = { text: req.text, ...(mediaIds.length ? { media: { media_ids: mediaIds } } : {}) };

    for (let attempt = 1; ; attempt++) {
      let failure: NetworkError;
      try {
        const res = await this.call('POST tweets', (timeoutMs) => {
          req.fence?.(); // after any rate-limit wait: a worker that lost its lease posts nothing
          return this.http.postJson<{ data?: { id?: string } }>('tweets', body, { timeoutMs });
        }, { idempotent: false, what: 'posts' });
        const id = res.data?.id;
        if (id && ID_RE.test(id)) {
          log.info({ postId: id, media: mediaIds.length }, 'X: posted');
          return { postId: id, url: postUrl(id, username), extra: { media: mediaIds } };
        }
        failure = new NetworkError({ network: 'x', code: 'unknown', permanent: false, ambiguous: true, userMessage: 'X accepted the post but did not say its id' });
      } catch (err) {
        if (!(err instanceof NetworkError)) throw err;
        failure = err;
      }

      if (failure.code === 'duplicate') {
        // An earlier attempt of ours may have gone through (a lost answer, a restart).
        const found = await this.findQuietly(req.reference, startedAt - DUPLICATE_LOOKBACK_MS, log);
        if (found) {
          log.info({ postId: found.postId }, 'X: refused as a duplicate, and the earlier post is ours');
          return withMedia(found, mediaIds);
        }
        if (attempt > 1) {
          // After an unconfirmed try of ours, "duplicate" most likely means that try went
          // through and the timeline doesn't show it yet: unconfirmed, not refused.
          throw new NetworkError({
            network: 'x', code: 'duplicate', permanent: false, ambiguous: true, cause: failure, status: failure.status ?? 403,
            userMessage: 'X did not confirm the post, and now refuses it as a duplicate: it is most likely on the account already',
          });
        }
        throw failure;
      }
      if (!failure.ambiguous) throw failure;

      log.warn({ attempt, error: failure.message }, 'X: the post may or may not exist; looking for it before trying again');
      // Give X's timeline a moment to show a post that was created, then look.
      await this.sleep(Math.min(30_000, 2_000 * 2 ** (attempt - 1)) * (0.75 + Math.random() / 4));
      let found: PublishedPost | undefined;
      try {
        found = await this.findPublished(req.reference, startedAt - RECOVERY_SLACK_MS);
      } catch (findErr) {
        throw new NetworkError({
          network: 'x', code: 'unavailable', permanent: false, ambiguous: true, cause: findErr,
          ...(failure.status !== undefined ? { status: failure.status } : {}),
          userMessage: `${failure.userMessage}; checking the account failed too, so look at the X account before trying again`,
        });
      }
      if (found) {
        log.info({ postId: found.postId }, 'X: found the post the lost answer was about');
        return withMedia(found, mediaIds);
      }
      if (attempt >= this.maxAttempts) {
        throw new NetworkError({
          network: 'x', code: 'unavailable', permanent: false, ambiguous: true, cause: failure,
          ...(failure.status !== undefined ? { status: failure.status } : {}),
          userMessage: `X did not confirm the post after ${attempt} tries and it is not on the account yet; look at the X account before trying again`,
        });
      }
    }
  }

  async findPublished(reference: string, since: number): Promise<PublishedPost | undefined> {
    const me = await this.me();
    // X refuses a start_time in the future; the filter below keeps the meaning of `since`.
    const sinceSec = Math.floor(Math.min(since, this.now() - 10_000) / 1000);
    const startTime = new Date(sinceSec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const floor = Math.floor(since / 1000) * 1000;
    let token: string | undefined;
    for (let page = 0; page < FIND_MAX_PAGES; page++) {
      const res = await this.call('GET users/:id/tweets', (timeoutMs) =>
        this.http.get<{ data?: XPost[]; meta?: { next_token?: string } }>('users/:id/tweets', {
          max_results: 100, start_time: startTime, 'tweet.fields': 'created_at,attachments', exclude: 'retweets,replies', pagination_token: token,
        }, { timeoutMs, params: { id: me.id } }), { idempotent: true, what: 'reads of the account\'s posts' });
      for (const post of res.data ?? []) {
        const createdAt = post.created_at ? Date.parse(post.created_at) : undefined;
        if (createdAt !== undefined && createdAt < floor) continue;
        if (typeof post.text === 'string' && ID_RE.test(post.id) && carriesReference(post.text, reference)) {
          const mediaIds = (post.attachments?.media_keys ?? []).map((k) => k.split('_')[1] ?? k);
          return { postId: post.id, url: postUrl(post.id, me.username), ...(createdAt !== undefined ? { createdAt } : {}), extra: { media: mediaIds } };
        }
      }
      token = res.meta?.next_token;
      if (!token) break;
    }
    return undefined;
  }

  async reach(postIds: readonly string[]): Promise<Map<string, ReachCount>> {
    if (postIds.length > this.reachBatchSize) {
      throw invalid(`X reads the reach of at most ${this.reachBatchSize} posts at a time; ${postIds.length} were asked for`);
    }
    const out = new Map<string, ReachCount>();
    const ids = [...new Set(postIds)].filter((id) => ID_RE.test(id));
    if (ids.length === 0) return out;
    const res = await this.call('GET tweets', (timeoutMs) =>
      this.http.get<{ data?: XPost[]; errors?: Problem[] }>('tweets', { ids: ids.join(','), 'tweet.fields': 'public_metrics' }, { timeoutMs }),
    { idempotent: true, what: 'reach lookups' });
    for (const post of res.data ?? []) {
      const m = post.public_metrics;
      if (!m) continue;
      if (typeof m.impression_count === 'number') out.set(post.id, { count: m.impression_count, kind: 'views' });
      else {
        const engagements = (m.retweet_count ?? 0) + (m.reply_count ?? 0) + (m.like_count ?? 0) + (m.quote_count ?? 0);
        out.set(post.id, { count: engagements, kind: 'engagements' });
      }
    }
    if (res.errors?.length) this.logger.debug({ missing: res.errors.map((e) => e.resource_id) }, 'X: some posts are gone');
    return out;
  }

  async withdraw(post: PublishedPost): Promise<void> {
    if (!ID_RE.test(post.postId)) throw invalid(`"${post.postId}" is not an X post id`);
    try {
      const res = await this.call('DELETE tweets/:id', (timeoutMs) =>
        this.http.delete<{ data?: { deleted?: boolean } }>('tweets/:id', { timeoutMs, params: { id: post.postId } }),
      { idempotent: true, what: 'deletions' });
      if (res.data?.deleted === false) this.logger.info({ postId: post.postId }, 'X: the post was already gone');
    } catch (err) {
      if (err instanceof NetworkError && err.code === 'not_found') {
        this.logger.info({ postId: post.postId }, 'X: the post was already gone');
        return;
      }
      throw err;
    }
  }

  /** GET /2/users/me, once per process (again after a failure). */
  private me(): Promise<Account> {
    if (!this.account) {
      const p = this.call('GET users/me', (timeoutMs) =>
        this.http.get<{ data?: { id?: string; username?: string } }>('users/me', {}, { timeoutMs }), { idempotent: true, what: 'account reads' })
        .then((res): Account => {
          const id = res.data?.id;
          if (!id || !ID_RE.test(id)) throw new NetworkError({ network: 'x', code: 'unknown', permanent: false, userMessage: 'X did not say which account the credentials belong to' });
          return { id, ...(res.data?.username ? { username: res.data.username } : {}) };
        });
      this.account = p;
      p.catch(() => {
        if (this.account === p) this.account = undefined;
      });
    }
    return this.account;
  }

  private async findQuietly(reference: string, since: number, log: Logger): Promise<PublishedPost | undefined> {
    try {
      return await this.findPublished(reference, since);
    } catch (err) {
      log.warn({ error: errorText(err) }, 'X: could not look for an earlier post');
      return undefined;
    }
  }
}

function postUrl(id: string, username: string | undefined): string {
  return username && /^[A-Za-z0-9_]{1,15}$/.test(username) ? `https://x.com/${username}/status/${id}` : `https://x.com/i/web/status/${id}`;
}

function withMedia(post: PublishedPost, mediaIds: string[]): PublishedPost {
  return post.extra?.media?.length ? post : { ...post, extra: { media: mediaIds } };
}

function invalid(userMessage: string): NetworkError {
  return new NetworkError({ network: 'x', code: 'invalid', userMessage, permanent: true });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
