/**
 * YouTube as a `Network`: each appeal is one video (title, description = the appeal text,
 * privacy from config), follow-ups as a top-level comment on the video (commentThreads.insert),
 * reach as view counts, withdrawal (of a video, or of a follow-up comment: comments.delete),
 * and recovery by reference among the channel's uploads. JSON calls go through googleapis
 * (rooted at config.apiUrl); the video goes up with the resumable protocol (upload.ts: fetch,
 * with the access token from google-auth-library's OAuth2 client, since googleapis only knows
 * multipart uploads). Every call goes through call.ts.
 *
 *   const yt = createYouTube(config.networks.youtube, { logger });
 *   const post = await yt.publish({ appealId, hash, title, text, media: [video], reference });
 *   const followUp = await yt.reply(post, 'Found safe, thank you.'); // a comment; extra.replyTo = [videoId]
 *
 * Scopes: uploads need youtube.upload (or youtube); replies (commentThreads.insert,
 * comments.delete) need **youtube.force-ssl**, so YOUTUBE_REFRESH_TOKEN must be granted
 * youtube.upload, youtube and youtube.force-ssl. Quota: a comment costs 50 units, as does
 * deleting one.
 *
 * A video whose upload ended without an answer is never uploaded again blindly: the upload
 * session is asked first (it knows whether the video was created), then the channel's uploads.
 * A comment whose answer was lost is never sent again: NetworkError `ambiguous`.
 */
import type { YouTubeConfig } from '../../config.js';
import { NetworkError, type Logger, type MediaFile, type Network, type PublishedPost, type PublishRequest, type ReachCount } from '../../core/ports.js';
import { carriesReference } from '../reference.js';
import { createCall, NETWORK, QuotaLedger, type Call } from './call.js';
import { createYouTubeHttp, type YouTubeHttp } from './client.js';
import { CHUNK_QUANTUM, resumableInsert, type VideoResource } from './upload.js';
import type { youtube_v3 } from 'googleapis';

export { pacificMidnightAfter } from './call.js';

export interface YouTubeDeps {
  logger: Logger;
  /** Waits for rate limits and back-off. Default: a real timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Clock, ms. Default Date.now. Also decides the Pacific quota day. */
  now?: () => number;
  /** Longest a call waits, in total, for rate limits before it throws 'rate_limited'. Default 15 min. */
  maxRateLimitWaitMs?: number;
  /** Tries of one idempotent call on 5xx or network errors. Default 4. */
  maxAttempts?: number;
  /** Per request (a chunk gets more, by its size): an answer that doesn't come counts as a network error. Default 30 s. */
  timeoutMs?: number;
  /** Bytes per upload PUT, rounded down to a multiple of 256 KiB (YouTube's rule). Default 8 MiB. */
  chunkBytes?: number;
  /** The project's daily quota, in units. Default 10,000 (YouTube's default). */
  dailyQuotaUnits?: number;
}

/** What YouTube takes here: one video per appeal. */
export const YOUTUBE_VIDEO_MIMES: ReadonlySet<string> = new Set(['video/mp4', 'video/quicktime']);
const TITLE_MAX = 100;
const DESCRIPTION_MAX_BYTES = 5000;
const ID_RE = /^[A-Za-z0-9_-]{11}$/;
/** Comment ids: "UgzX…4AaABAg" for top-level comments ("<parent>.<reply>" for replies). */
const COMMENT_ID_RE = /^[A-Za-z0-9_.-]{10,128}$/;
/** YouTube's longest comment, in characters. */
const COMMENT_MAX_CHARS = 10_000;
const BATCH = 50;
/** Uploads pages (of 50) read when looking for a video. */
const FIND_MAX_PAGES = 4;
/** Recovery looks this much before the publish began (clock skew). */
const RECOVERY_SLACK_MS = 60_000;

const sleepReal = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function createYouTube(config: YouTubeConfig, deps: YouTubeDeps): Network {
  return new YouTubeNetwork(config, deps);
}

class YouTubeNetwork implements Network {
  readonly name = 'youtube' as const;
  readonly reachBatchSize = BATCH;

  private readonly http: YouTubeHttp;
  private readonly call: Call;
  private readonly logger: Logger;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private readonly chunkBytes: number;
  private readonly quota: QuotaLedger;
  private uploads?: Promise<string>;

  constructor(private readonly config: YouTubeConfig, deps: YouTubeDeps) {
    this.logger = deps.logger;
    this.sleep = deps.sleep ?? sleepReal;
    this.now = deps.now ?? Date.now;
    this.maxAttempts = Math.max(1, deps.maxAttempts ?? 4);
    this.timeoutMs = deps.timeoutMs ?? 30_000;
    this.chunkBytes = Math.max(CHUNK_QUANTUM, Math.floor((deps.chunkBytes ?? 8 * 1024 * 1024) / CHUNK_QUANTUM) * CHUNK_QUANTUM);
    this.quota = new QuotaLedger(this.now, deps.dailyQuotaUnits ?? 10_000);
    this.http = createYouTubeHttp(config, this.logger);
    this.call = createCall({
      logger: this.logger, sleep: this.sleep, now: this.now, quota: this.quota,
      maxRateLimitWaitMs: deps.maxRateLimitWaitMs ?? 15 * 60_000, maxAttempts: this.maxAttempts, timeoutMs: this.timeoutMs,
    });
  }

  async publish(req: PublishRequest): Promise<PublishedPost> {
    const startedAt = this.now();
    const log = this.logger.child({ appealId: req.appealId, hash: req.hash });
    const video = checkVideo(req.media);
    const title = titleOf(req);
    if (/[<>]/.test(req.text)) throw invalid('YouTube does not allow < or > in a description');
    if (Buffer.byteLength(req.text) > DESCRIPTION_MAX_BYTES) throw invalid(`YouTube takes descriptions up to ${DESCRIPTION_MAX_BYTES} bytes; this one has ${Buffer.byteLength(req.text)}`);

    const metadata = { snippet: { title, description: req.text }, status: { privacyStatus: this.config.privacy, selfDeclaredMadeForKids: false } };
    let created: VideoResource;
    try {
      created = await resumableInsert(
        { http: this.http, call: this.call, logger: log, sleep: this.sleep, maxAttempts: this.maxAttempts, chunkBytes: this.chunkBytes, timeoutMs: this.timeoutMs },
        video, metadata, req.fence,
      );
    } catch (err) {
      if (!(err instanceof NetworkError) || !err.ambiguous) throw err;
      log.warn({ error: err.message }, 'YouTube: the video may or may not exist; looking for it');
      let found: PublishedPost | undefined;
      try {
        found = await this.findPublished(req.reference, startedAt - RECOVERY_SLACK_MS);
      } catch (findErr) {
        log.warn({ error: findErr instanceof Error ? findErr.message : String(findErr) }, 'YouTube: could not look for the video');
      }
      if (found) return found;
      throw new NetworkError({
        network: NETWORK, code: 'unavailable', permanent: false, ambiguous: true, cause: err,
        ...(err.status !== undefined ? { status: err.status } : {}),
        userMessage: `${err.userMessage}; the video is not on the channel yet, so look at the YouTube channel before trying again`,
      });
    }
    const id = created.id!;
    log.info({ postId: id, bytes: video.bytes.length, quotaSpentToday: this.quota.spentToday() }, 'YouTube: uploaded');
    const createdAt = created.snippet?.publishedAt ? Date.parse(created.snippet.publishedAt) : NaN;
    return { postId: id, url: watchUrl(id), ...(Number.isFinite(createdAt) ? { createdAt } : {}) };
  }

  async findPublished(reference: string, since: number): Promise<PublishedPost | undefined> {
    const playlistId = await this.uploadsPlaylist();
    const floor = Math.floor(since / 1000) * 1000;
    const candidates: string[] = [];
    let pageToken: string | undefined;
    pages: for (let page = 0; page < FIND_MAX_PAGES; page++) {
      const res = await this.call('GET playlistItems', (timeoutMs) => this.http.sdk('playlistItems.list', timeoutMs, (o) =>
        this.http.api.playlistItems.list({ part: ['snippet'], playlistId, maxResults: BATCH, ...(pageToken ? { pageToken } : {}) }, o)),
      { idempotent: true, what: 'reads of the channel\'s videos', units: 1 });
      for (const item of res.items ?? []) {
        const at = Date.parse(item.snippet?.publishedAt ?? '');
        if (Number.isFinite(at) && at < floor) break pages; // newest first: the rest are older
        const id = item.snippet?.resourceId?.videoId;
        if (id && ID_RE.test(id)) candidates.push(id);
      }
      pageToken = res.nextPageToken ?? undefined;
      if (!pageToken) break;
    }
    // Playlist snippets may carry a shortened description: read the videos' own.
    for (let i = 0; i < candidates.length; i += BATCH) {
      const ids = candidates.slice(i, i + BATCH);
      const res = await this.call('GET videos (snippet)', (timeoutMs) => this.http.sdk('videos.list', timeoutMs, (o) =>
        this.http.api.videos.list({ part: ['snippet'], id: ids, maxResults: BATCH }, o)),
      { idempotent: true, what: 'reads of the channel\'s videos', units: 1 });
      const byId = new Map((res.items ?? []).map((v) => [v.id, v]));
      for (const id of ids) {
        const v = byId.get(id);
        const at = Date.parse(v?.snippet?.publishedAt ?? '');
        if (!v || (Number.isFinite(at) && at < floor)) continue;
        if (carriesReference(v.snippet?.description ?? '', reference)) return { postId: id, url: watchUrl(id), ...(Number.isFinite(at) ? { createdAt: at } : {}) };
      }
    }
    return undefined;
  }

  async reach(postIds: readonly string[]): Promise<Map<string, ReachCount>> {
    if (postIds.length > BATCH) throw invalid(`YouTube reads the reach of at most ${BATCH} videos at a time; ${postIds.length} were asked for`);
    const out = new Map<string, ReachCount>();
    const ids = [...new Set(postIds)].filter((id) => ID_RE.test(id));
    if (ids.length === 0) return out;
    const res = await this.call('GET videos (statistics)', (timeoutMs) => this.http.sdk('videos.list', timeoutMs, (o) =>
      this.http.api.videos.list({ part: ['statistics'], id: ids, maxResults: BATCH }, o)),
    { idempotent: true, what: 'reach lookups', units: 1 });
    for (const v of res.items ?? []) {
      const views = Number(v.statistics?.viewCount);
      if (v.id && Number.isFinite(views)) out.set(v.id, { count: views, kind: 'views' });
    }
    return out;
  }

  async reply(parent: PublishedPost, text: string): Promise<PublishedPost> {
    const videoId = parent.postId;
    if (!ID_RE.test(videoId)) throw invalid(`"${videoId}" is not a YouTube video id`);
    if (text.trim() === '') throw invalid('A comment needs some text');
    if ([...text].length > COMMENT_MAX_CHARS) throw invalid(`YouTube takes comments up to ${COMMENT_MAX_CHARS} characters; this one has ${[...text].length}`);
    const log = this.logger.child({ replyTo: videoId });
    let thread: youtube_v3.Schema$CommentThread;
    try {
      thread = await this.call('POST commentThreads', (timeoutMs) => this.http.sdk('commentThreads.insert', timeoutMs, (o) =>
        this.http.api.commentThreads.insert({ part: ['snippet'], requestBody: { snippet: { videoId, topLevelComment: { snippet: { textOriginal: text } } } } }, o)),
      { idempotent: false, what: 'comments', units: 50 });
    } catch (err) {
      if (err instanceof NetworkError && err.ambiguous) {
        throw new NetworkError({
          network: NETWORK, code: err.code, permanent: false, ambiguous: true, cause: err,
          ...(err.status !== undefined ? { status: err.status } : {}),
          userMessage: `${err.userMessage}; look at the video's comments before posting the follow-up again`,
        });
      }
      throw err;
    }
    const commentId = thread.snippet?.topLevelComment?.id ?? thread.id;
    if (!commentId || !COMMENT_ID_RE.test(commentId)) {
      throw new NetworkError({
        network: NETWORK, code: 'unknown', permanent: false, ambiguous: true,
        userMessage: 'YouTube accepted the comment but did not say its id; look at the video\'s comments before posting the follow-up again',
      });
    }
    log.info({ postId: commentId }, 'YouTube: commented');
    const createdAt = Date.parse(thread.snippet?.topLevelComment?.snippet?.publishedAt ?? '');
    return {
      postId: commentId, url: `${watchUrl(videoId)}&lc=${encodeURIComponent(commentId)}`,
      ...(Number.isFinite(createdAt) ? { createdAt } : {}), extra: { replyTo: [videoId] },
    };
  }

  /** Deletes a video, or a follow-up comment (`extra.replyTo` set: comments.delete). */
  async withdraw(post: PublishedPost): Promise<void> {
    if (post.extra?.replyTo?.length) return this.withdrawComment(post.postId, post.extra.replyTo[0]!);
    if (!ID_RE.test(post.postId)) throw invalid(`"${post.postId}" is not a YouTube video id`);
    try {
      await this.call('DELETE videos', (timeoutMs) => this.http.sdk('videos.delete', timeoutMs, (o) =>
        this.http.api.videos.delete({ id: post.postId }, o)), { idempotent: true, what: 'deletions', units: 50 });
    } catch (err) {
      if (err instanceof NetworkError && err.code === 'not_found') {
        this.logger.info({ postId: post.postId }, 'YouTube: the video was already gone');
        return;
      }
      throw err;
    }
  }

  /**
   * comments.delete. Already gone counts as done: 404 (deleted, or its video was), and a
   * refusal when the video itself no longer exists (its comments went with it).
   */
  private async withdrawComment(commentId: string, videoId: string): Promise<void> {
    if (!COMMENT_ID_RE.test(commentId)) throw invalid(`"${commentId}" is not a YouTube comment id`);
    try {
      await this.call('DELETE comments', (timeoutMs) => this.http.sdk('comments.delete', timeoutMs, (o) =>
        this.http.api.comments.delete({ id: commentId }, o)), { idempotent: true, what: 'deletions', units: 50 });
    } catch (err) {
      if (err instanceof NetworkError && err.code === 'not_found') {
        this.logger.info({ postId: commentId, replyTo: videoId }, 'YouTube: the comment was already gone');
        return;
      }
      if (err instanceof NetworkError && err.code === 'forbidden' && ID_RE.test(videoId) && !(await this.videoExists(videoId).catch(() => true))) {
        this.logger.info({ postId: commentId, replyTo: videoId }, 'YouTube: the video is gone, and its comments with it');
        return;
      }
      throw err;
    }
  }

  private async videoExists(videoId: string): Promise<boolean> {
    const res = await this.call('GET videos (id)', (timeoutMs) => this.http.sdk('videos.list', timeoutMs, (o) =>
      this.http.api.videos.list({ part: ['id'], id: [videoId] }, o)), { idempotent: true, what: 'video reads', units: 1 });
    return (res.items ?? []).some((v) => v.id === videoId);
  }

  /** The channel's uploads playlist (channels.list mine=true), once per process (again after a failure). */
  private uploadsPlaylist(): Promise<string> {
    if (!this.uploads) {
      const p = this.call('GET channels', (timeoutMs) => this.http.sdk('channels.list', timeoutMs, (o) =>
        this.http.api.channels.list({ part: ['contentDetails'], mine: true }, o)), { idempotent: true, what: 'channel reads', units: 1 })
        .then((res) => {
          const id = res.items?.[0]?.contentDetails?.relatedPlaylists?.uploads;
          if (!id) throw new NetworkError({ network: NETWORK, code: 'not_found', permanent: true, userMessage: 'YouTube says the account has no channel: create one for the account behind YOUTUBE_REFRESH_TOKEN' });
          return id;
        });
      this.uploads = p;
      p.catch(() => {
        if (this.uploads === p) this.uploads = undefined;
      });
    }
    return this.uploads;
  }
}

function checkVideo(media: MediaFile[]): MediaFile {
  if (media.length !== 1) throw invalid(`YouTube takes exactly one video per appeal; this one has ${media.length} files`);
  const file = media[0]!;
  if (!YOUTUBE_VIDEO_MIMES.has(file.mime)) throw invalid(`"${file.name}" is ${file.mime}; YouTube here takes MP4 or QuickTime video`);
  if (file.bytes.length === 0) throw invalid(`"${file.name}" is empty`);
  return file;
}

/** The given title (checked), else the text's first line (tidied to fit). */
function titleOf(req: PublishRequest): string {
  if (req.title !== undefined) {
    const t = req.title.trim();
    if (!t) throw invalid('YouTube needs a title');
    if (/[<>]/.test(t)) throw invalid('YouTube does not allow < or > in a title');
    if ([...t].length > TITLE_MAX) throw invalid(`YouTube takes titles up to ${TITLE_MAX} characters; this one has ${[...t].length}`);
    return t;
  }
  const line = (req.text.split('\n').find((l) => l.trim()) ?? req.reference).replace(/[<>]/g, '').replace(/\s+/g, ' ').trim();
  const chars = [...line];
  return chars.length > TITLE_MAX ? `${chars.slice(0, TITLE_MAX - 1).join('')}…` : line || req.reference;
}

function watchUrl(id: string): string {
  return `https://www.youtube.com/watch?v=${id}`;
}

function invalid(userMessage: string): NetworkError {
  return new NetworkError({ network: NETWORK, code: 'invalid', userMessage, permanent: true });
}
