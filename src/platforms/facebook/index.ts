/**
 * A Facebook Page as a `Network`, over the Graph API with a Page access token (no SDK):
 *
 *   no image      POST /{page-id}/feed     message
 *   one image     POST /{page-id}/photos   multipart source + message        → post_id
 *   several       POST /{page-id}/photos   published=false, once per image   → photo ids
 *                 POST /{page-id}/feed     message + attached_media[i]={"media_fbid":…}
 *
 *   const facebook = createFacebook(config.networks.facebook, { logger });
 *   const post = await facebook.publish({ appealId, hash, text, media, reference });
 *
 * Reach is `post_media_view` ("views"; `post_impressions` is gone since November 2025) read for
 * up to 50 posts in one multi-id request; where Facebook refuses the metric, engagements
 * (reactions + comments + shares). Every call goes through one choke point (graph.ts). Creating
 * a post is never blindly repeated: when the answer is lost, the Page's posts are searched for
 * the reference first.
 *
 * A reply is the Page's comment on the post: POST /{post-id}/comments with `message`
 * (permission pages_manage_engagement) → { postId: comment id, url, extra.replyTo }. A comment
 * whose answer is lost is not posted again (NetworkError `ambiguous`). Withdrawing a reply is
 * DELETE /{comment-id}; one already gone (100/33, 404) counts as done.
 */
import type { FacebookConfig } from '../../config.js';
import { NetworkError, type Logger, type MediaFile, type Network, type PublishedPost, type PublishRequest, type ReachCount } from '../../core/ports.js';
import { carriesReference } from '../reference.js';
import { createGraph, type Graph } from './graph.js';

export interface FacebookDeps {
  logger: Logger;
  /** Waits for rate limits and back-off. Default: a real timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Clock, ms. Default Date.now. */
  now?: () => number;
  /** Longest a call waits, in total, for Facebook's throttling before it throws 'rate_limited'. Default 15 min. */
  maxRateLimitWaitMs?: number;
  /** Tries of one idempotent call on 5xx or network errors, and of creating a post whose fate was
   * unknown and which recovery did not find. Default 4. */
  maxAttempts?: number;
  /** Per request: an answer that takes this long counts as a network error. Default 30 s. */
  timeoutMs?: number;
}

/** Facebook's limit for photos. */
export const FACEBOOK_IMAGE_MAX_BYTES = 10 * 1024 * 1024;
const IMAGE_TYPES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/bmp', 'image/tiff']);
/** Most ids one multi-id read takes. */
const READ_BATCH = 50;
const RECOVERY_SLACK_MS = 60_000;
const DUPLICATE_LOOKBACK_MS = 7 * 24 * 3_600_000;
const FIND_MAX_PAGES = 5;
const POST_ID_RE = /^[0-9]{1,20}(_[0-9]{1,20})?$/;
const VIEWS_FIELDS = 'insights.metric(post_media_view).period(lifetime){name,values}';
const ENGAGEMENT_FIELDS = 'reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0),shares';

interface FeedItem { id?: string; message?: string; created_time?: string }
interface Page<T> { data?: T[]; paging?: { next?: string } }
interface ReadItem {
  id?: string;
  insights?: { data?: Array<{ name?: string; values?: Array<{ value?: unknown }> }> };
  reactions?: { summary?: { total_count?: number } };
  comments?: { summary?: { total_count?: number } };
  shares?: { count?: number };
}

const sleepReal = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function createFacebook(config: FacebookConfig, deps: FacebookDeps): Network {
  return new FacebookNetwork(config, deps);
}

class FacebookNetwork implements Network {
  readonly name = 'facebook' as const;
  readonly reachBatchSize = READ_BATCH;

  private readonly graph: Graph;
  private readonly page: string;
  private readonly logger: Logger;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly maxAttempts: number;
  /** Set once Facebook refuses post_media_view: reach reads engagements from then on. */
  private viewsUnavailable = false;

  constructor(config: FacebookConfig, deps: FacebookDeps) {
    this.page = config.pageId;
    this.logger = deps.logger;
    this.sleep = deps.sleep ?? sleepReal;
    this.now = deps.now ?? Date.now;
    this.maxAttempts = Math.max(1, deps.maxAttempts ?? 4);
    this.graph = createGraph({
      config, logger: this.logger, sleep: this.sleep, now: this.now,
      maxRateLimitWaitMs: deps.maxRateLimitWaitMs ?? 15 * 60_000,
      maxAttempts: this.maxAttempts,
      timeoutMs: deps.timeoutMs ?? 30_000,
    });
  }

  async publish(req: PublishRequest): Promise<PublishedPost> {
    const startedAt = this.now();
    const log = this.logger.child({ appealId: req.appealId, hash: req.hash });
    req.media.forEach(checkImage);

    // Several images: unpublished photos first (repeating one only leaves an invisible extra).
    const photos: string[] = [];
    if (req.media.length > 1) {
      for (const file of req.media) {
        const res = await this.graph<{ id?: string }>({
          method: 'POST', path: `${this.page}/photos`, params: { published: false }, file: photoFile(file),
        }, { idempotent: true, what: 'photo uploads', permission: 'pages_manage_posts' });
        if (!res.id || !POST_ID_RE.test(res.id)) throw unknown('Facebook accepted a photo but did not say its id');
        photos.push(res.id);
      }
    }

    for (let attempt = 1; ; attempt++) {
      let failure: NetworkError;
      try {
        const created = await this.create(req, photos);
        log.info({ postId: created.postId, photos: created.photos.length }, 'Facebook: posted');
        return { postId: created.postId, url: postUrl(created.postId), extra: { photos: created.photos } };
      } catch (err) {
        if (!(err instanceof NetworkError)) throw err;
        failure = err;
      }

      if (failure.code === 'duplicate') {
        const found = await this.findQuietly(req.reference, startedAt - DUPLICATE_LOOKBACK_MS, log);
        if (found) {
          log.info({ postId: found.postId }, 'Facebook: refused as a duplicate, and the earlier post is ours');
          return { ...found, extra: { photos } };
        }
        if (attempt > 1) {
          throw new NetworkError({
            network: 'facebook', code: 'duplicate', permanent: false, ambiguous: true, cause: failure, status: failure.status ?? 400,
            userMessage: 'Facebook did not confirm the post, and now refuses it as a duplicate: it is most likely on the Page already',
          });
        }
      }
      if (!failure.ambiguous) {
        await this.discardPhotos(photos, log);
        throw failure;
      }

      log.warn({ attempt, error: failure.message }, 'Facebook: the post may or may not exist; looking for it before trying again');
      await this.sleep(Math.min(30_000, 2_000 * 2 ** (attempt - 1)) * (0.75 + Math.random() / 4));
      let found: PublishedPost | undefined;
      try {
        found = await this.findPublished(req.reference, startedAt - RECOVERY_SLACK_MS);
      } catch (findErr) {
        throw new NetworkError({
          network: 'facebook', code: 'unavailable', permanent: false, ambiguous: true, cause: findErr,
          ...(failure.status !== undefined ? { status: failure.status } : {}),
          userMessage: `${failure.userMessage}; checking the Page failed too, so look at the Facebook Page before trying again`,
        });
      }
      if (found) {
        log.info({ postId: found.postId }, 'Facebook: found the post the lost answer was about');
        return { ...found, extra: { photos } };
      }
      if (attempt >= this.maxAttempts) {
        throw new NetworkError({
          network: 'facebook', code: 'unavailable', permanent: false, ambiguous: true, cause: failure,
          ...(failure.status !== undefined ? { status: failure.status } : {}),
          userMessage: `Facebook did not confirm the post after ${attempt} tries and it is not on the Page yet; look at the Facebook Page before trying again`,
        });
      }
    }
  }

  async findPublished(reference: string, since: number): Promise<PublishedPost | undefined> {
    const floor = Math.floor(since / 1000) * 1000;
    let params: Record<string, string> = {
      fields: 'id,message,created_time,permalink_url', since: String(Math.floor(since / 1000)), limit: '100',
    };
    for (let page = 0; page < FIND_MAX_PAGES; page++) {
      const res = await this.graph<Page<FeedItem>>({ method: 'GET', path: `${this.page}/published_posts`, params },
        { idempotent: true, what: "reads of the Page's posts", permission: 'pages_read_engagement' });
      for (const item of res.data ?? []) {
        const createdAt = item.created_time ? Date.parse(item.created_time) : undefined;
        if (createdAt !== undefined && createdAt < floor) continue;
        if (item.id && POST_ID_RE.test(item.id) && typeof item.message === 'string' && carriesReference(item.message, reference)) {
          return { postId: item.id, url: postUrl(item.id), ...(createdAt !== undefined && !Number.isNaN(createdAt) ? { createdAt } : {}) };
        }
      }
      const next = nextParams(res.paging?.next);
      if (!next) break;
      params = next;
    }
    return undefined;
  }

  async reach(postIds: readonly string[]): Promise<Map<string, ReachCount>> {
    if (postIds.length > this.reachBatchSize) {
      throw invalid(`Facebook reads the reach of at most ${this.reachBatchSize} posts at a time; ${postIds.length} were asked for`);
    }
    const out = new Map<string, ReachCount>();
    let ids = [...new Set(postIds)].filter((id) => POST_ID_RE.test(id));
    // A multi-id read fails whole when one id is gone (#803, naming them): drop those, read again.
    for (let round = 0; ids.length > 0 && round <= postIds.length; round++) {
      const views = !this.viewsUnavailable;
      let res: Record<string, ReadItem>;
      try {
        res = await this.graph<Record<string, ReadItem>>({
          method: 'GET', path: '', params: { ids: ids.join(','), fields: views ? VIEWS_FIELDS : ENGAGEMENT_FIELDS },
        }, { idempotent: true, what: 'reach lookups', permission: 'read_insights' });
      } catch (err) {
        const gone = err instanceof NetworkError ? missingIds(err, ids) : undefined;
        if (gone?.length) {
          this.logger.debug({ missing: gone }, 'Facebook: some posts are gone');
          ids = ids.filter((id) => !gone.includes(id));
          continue;
        }
        if (views && err instanceof NetworkError && err.code === 'invalid' && /metric/i.test(graphMessage(err))) {
          this.logger.warn({ error: err.message }, 'Facebook refuses post_media_view; reach counts engagements instead');
          this.viewsUnavailable = true;
          continue;
        }
        throw err;
      }
      for (const id of ids) {
        const item = res[id];
        if (!item) continue;
        if (views) {
          const value = item.insights?.data?.find((d) => d.name === 'post_media_view')?.values?.[0]?.value;
          out.set(id, { count: typeof value === 'number' ? value : 0, kind: 'views' });
        } else {
          const count = (item.reactions?.summary?.total_count ?? 0) + (item.comments?.summary?.total_count ?? 0) + (item.shares?.count ?? 0);
          out.set(id, { count, kind: 'engagements' });
        }
      }
      break;
    }
    return out;
  }

  async reply(parent: PublishedPost, text: string): Promise<PublishedPost> {
    if (!POST_ID_RE.test(parent.postId)) throw invalid(`"${parent.postId}" is not a Facebook post id`);
    if (text.trim() === '') throw invalid('The follow-up has no text');
    const res = await this.graph<{ id?: string }>({
      method: 'POST', path: `${parent.postId}/comments`, params: { message: text },
    }, { idempotent: false, what: 'comments', permission: 'pages_manage_engagement' });
    if (!res.id || !POST_ID_RE.test(res.id)) {
      throw new NetworkError({
        network: 'facebook', code: 'unknown', permanent: false, ambiguous: true,
        userMessage: 'Facebook accepted the comment but did not say its id; look at the post before trying again',
      });
    }
    this.logger.info({ postId: res.id, replyTo: parent.postId }, 'Facebook: commented');
    return { postId: res.id, url: postUrl(res.id), extra: { replyTo: [parent.postId] } };
  }

  async withdraw(post: PublishedPost): Promise<void> {
    if (post.extra?.replyTo) {
      if (!POST_ID_RE.test(post.postId)) throw invalid(`"${post.postId}" is not a Facebook comment id`);
      try {
        await this.graph({ method: 'DELETE', path: post.postId }, { idempotent: true, what: 'deletions', permission: 'pages_manage_engagement' });
      } catch (err) {
        if (!(err instanceof NetworkError && err.code === 'not_found')) throw err;
        this.logger.info({ id: post.postId }, 'Facebook: the comment was already gone');
      }
      return;
    }
    const photos = post.extra?.photos ?? [];
    for (const id of [post.postId, ...photos]) {
      if (!POST_ID_RE.test(id)) throw invalid(`"${id}" is not a Facebook post or photo id`);
    }
    for (const id of [post.postId, ...photos]) {
      try {
        await this.graph({ method: 'DELETE', path: id }, { idempotent: true, what: 'deletions', permission: 'pages_manage_posts' });
      } catch (err) {
        if (err instanceof NetworkError && err.code === 'not_found') {
          this.logger.info({ id }, 'Facebook: already gone');
          continue;
        }
        throw err;
      }
    }
  }

  /** The one request that creates the post, with the fence right before it. */
  private async create(req: PublishRequest, photos: string[]): Promise<{ postId: string; photos: string[] }> {
    const opts = { idempotent: false, what: 'posts', permission: 'pages_manage_posts' };
    const fence = () => req.fence?.();
    if (req.media.length === 1) {
      const res = await this.graph<{ id?: string; post_id?: string }>({
        method: 'POST', path: `${this.page}/photos`, params: { message: req.text, published: true }, file: photoFile(req.media[0]!), before: fence,
      }, opts);
      if (!res.post_id || !POST_ID_RE.test(res.post_id)) throw lostId();
      return { postId: res.post_id, photos: res.id && POST_ID_RE.test(res.id) ? [res.id] : [] };
    }
    const attached: Record<string, string> = {};
    photos.forEach((id, i) => { attached[`attached_media[${i}]`] = JSON.stringify({ media_fbid: id }); });
    const res = await this.graph<{ id?: string }>({
      method: 'POST', path: `${this.page}/feed`, params: { message: req.text, ...attached }, before: fence,
    }, opts);
    if (!res.id || !POST_ID_RE.test(res.id)) throw lostId();
    return { postId: res.id, photos };
  }

  /** After a refusal: the unpublished photos are of no use (best effort, never fails the caller). */
  private async discardPhotos(photos: string[], log: Logger): Promise<void> {
    for (const id of photos) {
      try {
        await this.graph({ method: 'DELETE', path: id }, { idempotent: true, what: 'deletions' });
      } catch (err) {
        log.warn({ photo: id, error: err instanceof Error ? err.message : String(err) }, 'Facebook: could not remove an unused photo');
      }
    }
  }

  private async findQuietly(reference: string, since: number, log: Logger): Promise<PublishedPost | undefined> {
    try {
      return await this.findPublished(reference, since);
    } catch (err) {
      log.warn({ error: err instanceof Error ? err.message : String(err) }, 'Facebook: could not look for an earlier post');
      return undefined;
    }
  }
}

/** Refuses what Facebook would refuse, before anything is sent. */
function checkImage(file: MediaFile): void {
  if (!IMAGE_TYPES.has(file.mime)) throw invalid(`Facebook takes JPEG, PNG, GIF, WebP, BMP or TIFF images; "${file.name}" is ${file.mime}`);
  if (file.bytes.length === 0) throw invalid(`"${file.name}" is empty`);
  if (file.bytes.length > FACEBOOK_IMAGE_MAX_BYTES) {
    throw invalid(`"${file.name}" is ${(file.bytes.length / (1024 * 1024)).toFixed(1)} MB; Facebook takes photos up to 10 MB`);
  }
}

function photoFile(file: MediaFile) {
  return { field: 'source', bytes: file.bytes, mime: file.mime, filename: file.name || 'image' };
}

/** The query of Graph's `paging.next` link, without its access_token (the choke point adds ours). */
function nextParams(next: string | undefined): Record<string, string> | undefined {
  if (!next) return undefined;
  try {
    const params = Object.fromEntries(new URL(next).searchParams);
    delete params.access_token;
    return params;
  } catch {
    return undefined;
  }
}

function graphMessage(err: NetworkError): string {
  const cause = err.cause as { error?: { message?: string } } | undefined;
  return cause?.error?.message ?? '';
}

/** The ids a "(#803) Some of the aliases you requested do not exist: a,b" names, among `ids`. */
function missingIds(err: NetworkError, ids: string[]): string[] | undefined {
  if (err.code !== 'not_found') return undefined;
  const listed = /do not exist:\s*(.+)$/i.exec(graphMessage(err))?.[1]?.split(/\s*,\s*/);
  const gone = ids.filter((id) => listed?.includes(id));
  if (gone.length > 0) return gone;
  return ids.length === 1 ? ids : undefined;
}

function postUrl(id: string): string {
  return `https://www.facebook.com/${id}`;
}

function invalid(userMessage: string): NetworkError {
  return new NetworkError({ network: 'facebook', code: 'invalid', userMessage, permanent: true });
}

function unknown(userMessage: string): NetworkError {
  return new NetworkError({ network: 'facebook', code: 'unknown', userMessage, permanent: false });
}

function lostId(): NetworkError {
  return new NetworkError({ network: 'facebook', code: 'unknown', permanent: false, ambiguous: true, userMessage: 'Facebook accepted the post but did not say its id' });
}
