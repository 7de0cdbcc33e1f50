/**
 * X (Twitter) as a `Network`: posts with up to four images, replies to them (follow-ups),
 * reach as impressions, withdrawal, and recovery by reference. Built on twitter-api-v2 with
 * OAuth 1.0a user context; every call goes through one choke point (call.ts) for rate limits,
 * back-off and error mapping.
 *
 *   const x = createX(config.networks.x, { logger });
 *   const post = await x.publish({ appealId, hash, text, media, reference });
 *   const followUp = await x.reply(post, 'Found safe, thank you. Ref 7K3Q'); // extra.replyTo = [post.postId]
 *
 * Creating a post or a reply is never blindly repeated: when X's answer is lost (5xx, timeout,
 * reset) the adapter first looks among the account's recent posts (for the reference) or
 * replies (to that post, with that text); a post is sent again only when it is not there, a
 * reply never (NetworkError `ambiguous`).
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
  referenced_tweets?: Array<{ type?: string; id?: string }>;
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
        const res = await this.call('POST tweets', async (timeoutMs) => {
          await req.fence?.(); // after any rate-limit wait: a worker that lost its lease (or a withdrawn appeal) posts nothing
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
    for await (const { post, createdAt } of this.timeline(me, since, { fields: 'created_at,attachments', exclude: 'retweets,replies' })) {
      if (carriesReference(post.text, reference)) {
        const mediaIds = (post.attachments?.media_keys ?? []).map((k) => k.split('_')[1] ?? k);
        return { postId: post.id, url: postUrl(post.id, me.username), ...(createdAt !== undefined ? { createdAt } : {}), extra: { media: mediaIds } };
      }
    }
    return undefined;
  }

  async reply(parent: PublishedPost, text: string): Promise<PublishedPost> {
    if (!ID_RE.test(parent.postId)) throw invalid(`"${parent.postId}" is not an X post id`);
    if (text.trim() === '') throw invalid('A reply needs some text');
    const startedAt = this.now();
    const log = this.logger.child({ replyTo: parent.postId });

    // The account (for the reply's link, and for looking it up). Bad credentials stop here.
    let username: string | undefined;
    try {
      username = (await this.me()).username;
    } catch (err) {
      if (err instanceof NetworkError && (err.code === 'auth' || err.code === 'forbidden')) throw err;
      log.warn({ error: errorText(err) }, 'X: could not read the account; the reply link will be the generic one');
    }

    const body = { text, reply: { in_reply_to_tweet_id: parent.postId } };
    let failure: NetworkError;
    try {
      const res = await this.call('POST tweets (reply)', (timeoutMs) =>
        this.http.postJson<{ data?: { id?: string } }>('tweets', body, { timeoutMs }), { idempotent: false, what: 'replies' });
      const id = res.data?.id;
      if (id && ID_RE.test(id)) {
        log.info({ postId: id }, 'X: replied');
        return { postId: id, url: postUrl(id, username), extra: { replyTo: [parent.postId] } };
      }
      failure = new NetworkError({ network: 'x', code: 'unknown', permanent: false, ambiguous: true, userMessage: 'X accepted the reply but did not say its id' });
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;
      failure = err;
    }
    if (failure.code !== 'duplicate' && !failure.ambiguous) throw failure;

    // Unconfirmed, or refused as a duplicate (an earlier try of ours may have gone through):
    // look for our reply to that post, with that text. Never sent again from here.
    if (failure.ambiguous) {
      log.warn({ error: failure.message }, 'X: the reply may or may not exist; looking for it');
      await this.sleep(2_000 * (0.75 + Math.random() / 4));
    }
    let found: PublishedPost | undefined;
    try {
      found = await this.findReply(parent.postId, text, startedAt - (failure.code === 'duplicate' ? DUPLICATE_LOOKBACK_MS : RECOVERY_SLACK_MS));
    } catch (findErr) {
      log.warn({ error: errorText(findErr) }, 'X: could not look for the reply');
      if (failure.code === 'duplicate') throw failure;
      throw new NetworkError({
        network: 'x', code: 'unavailable', permanent: false, ambiguous: true, cause: findErr,
        ...(failure.status !== undefined ? { status: failure.status } : {}),
        userMessage: `${failure.userMessage}; checking the account failed too, so look at the X account before replying again`,
      });
    }
    if (found) {
      log.info({ postId: found.postId }, 'X: found the reply');
      return found;
    }
    if (failure.code === 'duplicate') throw failure;
    throw new NetworkError({
      network: 'x', code: failure.code === 'unknown' ? 'unknown' : 'unavailable', permanent: false, ambiguous: true, cause: failure,
      ...(failure.status !== undefined ? { status: failure.status } : {}),
      userMessage: `${failure.userMessage}; the reply is not on the account yet, so look at the X account before replying again`,
    });
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

  /** Deletes a post or a reply (a reply is a post of its own on X: the same DELETE). */
  async withdraw(post: PublishedPost): Promise<void> {
    if (!ID_RE.test(post.postId)) throw invalid(`"${post.postId}" is not an X post id`);
    const what = post.extra?.replyTo?.length ? 'reply' : 'post';
    try {
      const res = await this.call('DELETE tweets/:id', (timeoutMs) =>
        this.http.delete<{ data?: { deleted?: boolean } }>('tweets/:id', { timeoutMs, params: { id: post.postId } }),
      { idempotent: true, what: 'deletions' });
      if (res.data?.deleted === false) this.logger.info({ postId: post.postId }, `X: the ${what} was already gone`);
    } catch (err) {
      if (err instanceof NetworkError && err.code === 'not_found') {
        this.logger.info({ postId: post.postId }, `X: the ${what} was already gone`);
        return;
      }
      throw err;
    }
  }

  /**
   * Our reply to `parentId` whose text is `text` (as X shows it: links rewritten to t.co,
   * & < > escaped), made at or after `since`, among the account's recent posts and replies.
   */
  private async findReply(parentId: string, text: string, since: number): Promise<PublishedPost | undefined> {
    const me = await this.me();
    const want = comparable(text);
    for await (const { post, createdAt } of this.timeline(me, since, { fields: 'created_at,referenced_tweets', exclude: 'retweets' })) {
      const repliesToParent = (post.referenced_tweets ?? []).some((r) => r.type === 'replied_to' && r.id === parentId);
      if (repliesToParent && comparable(post.text) === want) {
        return { postId: post.id, url: postUrl(post.id, me.username), ...(createdAt !== undefined ? { createdAt } : {}), extra: { replyTo: [parentId] } };
      }
    }
    return undefined;
  }

  /** The account's posts made at or after `since`, newest first (GET /2/users/:id/tweets, up to FIND_MAX_PAGES pages). */
  private async *timeline(me: Account, since: number, opts: { fields: string; exclude: string }): AsyncGenerator<{ post: XPost; createdAt: number | undefined }> {
    // X refuses a start_time in the future; the filter below keeps the meaning of `since`.
    const sinceSec = Math.floor(Math.min(since, this.now() - 10_000) / 1000);
    const startTime = new Date(sinceSec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const floor = Math.floor(since / 1000) * 1000;
    let token: string | undefined;
    for (let page = 0; page < FIND_MAX_PAGES; page++) {
      const res = await this.call('GET users/:id/tweets', (timeoutMs) =>
        this.http.get<{ data?: XPost[]; meta?: { next_token?: string } }>('users/:id/tweets', {
          max_results: 100, start_time: startTime, 'tweet.fields': opts.fields, exclude: opts.exclude, pagination_token: token,
        }, { timeoutMs, params: { id: me.id } }), { idempotent: true, what: 'reads of the account\'s posts' });
      for (const post of res.data ?? []) {
        const createdAt = post.created_at ? Date.parse(post.created_at) : undefined;
        if (createdAt !== undefined && createdAt < floor) continue;
        if (typeof post.text === 'string' && ID_RE.test(post.id)) yield { post, createdAt };
      }
      token = res.meta?.next_token;
      if (!token) break;
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

/** Text as X compares it: links (rewritten to t.co by X) and X's HTML escapes neutralised, whitespace trimmed. */
function comparable(text: string): string {
  return text
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
    .replace(/https?:\/\/\S+/g, '<link>')
    .replace(/(\s*<link>)+$/, '')
    .trim();
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
