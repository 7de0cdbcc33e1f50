/**
 * A wire-level fake of the X API v2 for tests: a real HTTP server on 127.0.0.1 (random port) that
 * checks OAuth 1.0a user-context signatures on every request and serves what Loudhailer uses:
 *
 *   GET    /2/users/me                         the account
 *   POST   /2/media/upload/initialize          chunked upload: JSON {media_type,total_bytes,media_category}
 *   POST   /2/media/upload/{id}/append         multipart `media` + `segment_index` (or JSON, base64 media)
 *   POST   /2/media/upload/{id}/finalize       → {data:{id,media_key,size,expires_after_secs,processing_info?}}
 *   GET    /2/media/upload?command=STATUS&media_id=
 *   POST   /2/media/upload                     one-shot: multipart `media` + `media_category` (or JSON)
 *   POST   /2/tweets                           JSON {text, media:{media_ids}} → 201
 *   POST   /2/tweets (route 'reply')           JSON {text, reply:{in_reply_to_tweet_id}} → 201: a reply to a live
 *                                              post (403 "deleted or not visible" otherwise); kept as a post with `inReplyTo`
 *   GET    /2/tweets?ids=…&tweet.fields=…      lookup (≤100 ids); unknown/deleted ids in `errors`
 *   DELETE /2/tweets/{id}                      → {data:{deleted:true}}
 *   GET    /2/users/{id}/tweets                the account's posts, newest first, paginated; `exclude=replies` leaves replies out
 *
 * Shapes follow /work/shared/api-specs/x/latest-openapi.json (v2.159: `tweet.fields`,
 * `retweet_count`; `post.fields` is accepted as an alias). Errors are application/problem+json
 * like X's ({title, detail, type, status}); every answer carries x-rate-limit-* headers.
 * Like X, the stored text of a post has its URLs rewritten to t.co, and a post with media ends
 * with the media's t.co link (`sentText` keeps what the
 * client sent), and posting the text of a live post again is refused as a duplicate (403).
 *
 *   const x = await startFakeX();                       // FAKE_X_CREDENTIALS unless given
 *   // app: X_API_URL=x.url, X_APP_KEY=…, X_APP_SECRET=…, X_ACCESS_TOKEN=…, X_ACCESS_SECRET=…
 *   x.rateLimitNext('createPost', { resetInSeconds: 30 });   // 429 until now+30 s, once
 *   x.failNext('lookup', { status: 503, times: 2 });
 *   const arrived = x.hangNext('createPost', { commit: true }); // X takes it, never answers
 *   await arrived;                                      // now SIGKILL the app, restart, …
 *   expect(x.livePosts()).toHaveLength(1);
 *   x.setImpressions(x.posts[0]!.id, 1234);
 *   await x.close();
 *
 * The sign-in (`loudhailer auth x`: X's 3-legged OAuth 1.0a with a PIN, "oob"), beside /2/ under /oauth/:
 *   POST /oauth/request_token   signed with the app's key/secret only; oauth_callback (header, query or form) must be
 *                               'oob' (else 403 code 415) → oauth_token=…&oauth_token_secret=…&oauth_callback_confirmed=true
 *   GET  /oauth/authorize       ?oauth_token=…: the page after "Authorize app", with the 7-digit PIN in
 *                               <kbd><code>1234567</code></kbd> (a browser's GET; not signed)
 *   POST /oauth/access_token    signed with the request token and its secret, oauth_verifier = the PIN →
 *                               oauth_token=…&oauth_token_secret=…&user_id=…&screen_name=… (the fake's own access token)
 * Bad app key or signature: 401 {"errors":[{"code":32,"message":"Could not authenticate you."}]}; unknown or used
 * request token: 401 "Invalid request token."; wrong PIN: 401 "Error processing your OAuth request: Invalid
 * oauth_verifier parameter" (plain text, as X answers).
 *
 * Scripting is per route (`XRoute`); scripts are consumed by requests that pass the OAuth check,
 * in this order: hang, rate limit, failure. A request that fails the OAuth check gets X's 401.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import twitterText from 'twitter-text';
import { decodeParams, hmacSha1Signature, OAuth1Verifier, parseOAuthHeader, signatureBaseString, type OAuth1Credentials, type Param } from './x-oauth.js';
import { parseMultipart, type MultipartPart } from './multipart.js';

export type { OAuth1Credentials } from './x-oauth.js';
export { oauth1Header } from './x-oauth.js';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

export type XRoute =
  | 'me' | 'mediaInit' | 'mediaAppend' | 'mediaFinalize' | 'mediaStatus' | 'mediaUpload'
  | 'createPost' | 'reply' | 'lookup' | 'delete' | 'timeline';

/** `reply` is POST /2/tweets with a `reply` object in the body; `createPost` is the same path without one. */
export const X_ROUTES: readonly XRoute[] = [
  'me', 'mediaInit', 'mediaAppend', 'mediaFinalize', 'mediaStatus', 'mediaUpload', 'createPost', 'reply', 'lookup', 'delete', 'timeline',
];

/** Credentials the fake accepts unless others are given. */
export const FAKE_X_CREDENTIALS: Readonly<OAuth1Credentials> = Object.freeze({
  appKey: 'fake-x-app-key',
  appSecret: 'fake-x-app-secret',
  accessToken: '1500000000000000001-fakeXaccessToken',
  accessSecret: 'fake-x-access-secret',
});

export interface FakeXUser {
  id: string;
  name: string;
  username: string;
}

export interface FakeXOptions extends Partial<OAuth1Credentials> {
  /** The account. Default { id: '1500000000000000001', name: 'Loudhailer Test Police', username: 'loudhailer_test' }. */
  user?: Partial<FakeXUser>;
  /** Answer after this many ms: one number for every route, or per route. The work (e.g. creating
   * the post) happens first, then the answer waits. */
  delayMs?: number | Partial<Record<XRoute, number>>;
  /** The fake's clock (ms) for created_at and rate-limit windows and resets. Default Date.now.
   * OAuth timestamps are always checked against the real clock (the SDK signs with it). */
  now?: () => number;
  /** OAuth timestamps further than this from now are refused. Default 300 (X's ±5 min). */
  timestampToleranceSeconds?: number;
  /** > 0: finalize answers processing_info {state:'pending', check_after_secs: 1} and STATUS answers
   * 'in_progress' this many times before 'succeeded'. Default 0: no processing_info (as for images). */
  processingPolls?: number;
  /** DELETE of an unknown or already deleted post: X's 404 problem (default), or 200 {deleted:false}. */
  deleteMissing?: 'not-found' | 'deleted-false';
  /** Rewrite URLs in stored post text to t.co links, as X does. Default true. */
  rewriteUrls?: boolean;
}

export interface PublicMetrics {
  retweet_count: number;
  reply_count: number;
  like_count: number;
  quote_count: number;
  bookmark_count: number;
  impression_count: number;
}

export interface FakeXPost {
  id: string;
  /** The text as X shows it (URLs rewritten to t.co). */
  text: string;
  /** The text exactly as the client sent it. */
  sentText: string;
  mediaIds: string[];
  /** ms */
  createdAt: number;
  deleted: boolean;
  authorId: string;
  metrics: PublicMetrics;
  /** For a reply: the id of the post it replies to. */
  inReplyTo?: string;
}

export interface FakeXMedia {
  id: string;
  mediaKey: string;
  mediaType: string;
  category: string;
  /** total_bytes declared at initialize. */
  totalBytes: number;
  /** The appended segments in segment_index order, reassembled. */
  bytes: Buffer;
  segments: Map<number, Buffer>;
  finalized: boolean;
  /** How the media came: chunked (initialize/append/finalize) or the one-shot upload. */
  via: 'chunked' | 'one-shot';
  /** STATUS polls left before processing succeeds. */
  processingPollsLeft: number;
}

export interface FakeXRequest {
  method: string;
  /** Path without query, e.g. /2/tweets. */
  path: string;
  /** Decoded query parameters (last value wins). */
  query: Record<string, string>;
  route?: XRoute;
  /** Status answered; 0 while (or when) the request hangs. */
  status: number;
  /** ms when it arrived. */
  at: number;
  /** Why the OAuth check failed, when it did. */
  authError?: string;
  /** Parsed JSON body, for JSON requests. */
  body?: unknown;
  /** Content-Type of the request body, if any. */
  contentType?: string;
}

export interface FailureScript {
  /** HTTP status to answer, e.g. 503, 500, 400, 401, 403. */
  status: number;
  /** Consecutive requests that fail. Default 1. */
  times?: number;
  /** Body to send instead of X's problem for `status`: an object is sent as problem+json, a string as text/html (as X's edge does for some 5xx). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Do the work first (create the post, delete it, …), then answer the failure: X took it, the client hears otherwise. */
  commit?: boolean;
}

export interface RateLimitScript {
  /** x-rate-limit-reset = now + this (epoch seconds). */
  resetInSeconds: number;
  /** Consecutive requests that get 429. Default 1. */
  times?: number;
}

export interface HangScript {
  /** Do the work first (createPost: the post exists), then never answer. Default false. */
  commit?: boolean;
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  description?: string;
}

// ---------------------------------------------------------------------------------------------
// Constants and helpers
// ---------------------------------------------------------------------------------------------

const PROBLEM = 'https://api.twitter.com/2/problems/';
const IMAGE_MAX_BYTES = 5 * 1024 * 1024;
const GIF_MAX_BYTES = 15 * 1024 * 1024;
const VIDEO_MAX_BYTES = 512 * 1024 * 1024;
const BODY_MAX_BYTES = 12 * 1024 * 1024;
const MEDIA_EXPIRES_SECS = 86_400;
const WINDOW_SECS = 15 * 60;
const MAX_TWEET_WEIGHTED_LENGTH = 280;
export const DUPLICATE_DETAIL = 'You are not allowed to create a Tweet with duplicate content.';

/** Per-user limits per 15-minute window (X's published numbers, roughly). */
const RATE_LIMITS: Record<XRoute, number> = {
  me: 75, mediaInit: 500, mediaAppend: 500, mediaFinalize: 500, mediaStatus: 500, mediaUpload: 500,
  createPost: 100, reply: 100, lookup: 900, delete: 50, timeline: 900,
};

const MEDIA_TYPES = new Set([
  'video/mp4', 'video/webm', 'video/mp2t', 'video/quicktime', 'text/srt', 'text/vtt', 'image/jpeg', 'image/gif', 'image/bmp',
  'image/png', 'image/webp', 'image/pjpeg', 'image/tiff', 'model/gltf-binary', 'model/vnd.usdz+zip',
]);
const MEDIA_CATEGORIES = new Set(['amplify_video', 'tweet_gif', 'tweet_image', 'tweet_video', 'dm_gif', 'dm_image', 'dm_video', 'subtitles']);
const ONE_SHOT_CATEGORIES = new Set(['tweet_image', 'dm_image', 'subtitles']);
const TWEET_FIELDS = new Set([
  'article', 'attachments', 'author_id', 'card_uri', 'community_id', 'context_annotations', 'conversation_id', 'created_at',
  'display_text_range', 'edit_controls', 'edit_history_tweet_ids', 'entities', 'geo', 'id', 'in_reply_to_user_id', 'lang',
  'media_metadata', 'non_public_metrics', 'note_tweet', 'organic_metrics', 'possibly_sensitive', 'promoted_metrics',
  'public_metrics', 'referenced_tweets', 'reply_settings', 'scopes', 'source', 'suggested_source_links',
  'suggested_source_links_with_counts', 'text', 'withheld',
]);
const ID_RE = /^[0-9]{1,19}$/;
/** TweetCreateRequest's properties (the spec says additionalProperties: false). */
const CREATE_FIELDS = new Set([
  'card_uri', 'community_id', 'direct_message_deep_link', 'edit_options', 'for_super_followers_only', 'geo', 'media', 'nullcast',
  'poll', 'quote_tweet_id', 'reply', 'reply_settings', 'share_with_followers', 'text',
]);
/** TweetCreateRequest.reply's properties (additionalProperties: false; in_reply_to_tweet_id required). */
const REPLY_FIELDS = new Set(['auto_populate_reply_metadata', 'exclude_reply_user_ids', 'in_reply_to_tweet_id']);
export const REPLY_TO_DELETED_DETAIL = 'You attempted to reply to a Tweet that is deleted or not visible to you.';
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

const STATUS_TITLES: Record<number, string> = {
  400: 'Invalid Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found Error', 409: 'Conflict',
  413: 'Payload Too Large', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};

type Json = Record<string, unknown>;

interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Thrown by handlers: becomes the answer. */
class Reply extends Error {
  constructor(readonly answer: Answer) {
    super(`reply ${answer.status}`);
  }
}

function problem(status: number, detail?: string, type = 'about:blank', extra: Json = {}): Answer {
  const title = STATUS_TITLES[status] ?? 'Error';
  return { status, body: { title, detail: detail ?? title, type, status, ...extra } };
}

/** X's 400 for a bad parameter: an invalid-request problem listing what was wrong. */
function invalidRequest(message: string, parameters: Record<string, string[]> = {}): Reply {
  return new Reply({
    status: 400,
    body: {
      errors: [{ parameters, message }],
      title: 'Invalid Request',
      detail: 'One or more parameters to your request was invalid.',
      type: `${PROBLEM}invalid-request`,
    },
  });
}

function notFoundProblem(resourceType: string, parameter: string, id: string): Json {
  const what = resourceType === 'tweet' ? 'tweet' : resourceType;
  return {
    value: id,
    detail: `Could not find ${what} with ${parameter}: [${id}].`,
    title: 'Not Found Error',
    resource_type: resourceType,
    parameter,
    resource_id: id,
    type: `${PROBLEM}resource-not-found`,
  };
}

function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > BODY_MAX_BYTES) tooLarge = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(tooLarge ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}


function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sniffImage(b: Buffer): string | undefined {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (b.length >= 6 && /^GIF8[79]a$/.test(b.subarray(0, 6).toString('latin1'))) return 'image/gif';
  if (b.length >= 12 && b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return undefined;
}

function maxBytesFor(category: string): number {
  if (category.endsWith('_image')) return IMAGE_MAX_BYTES;
  if (category.endsWith('_gif')) return GIF_MAX_BYTES;
  return VIDEO_MAX_BYTES;
}

function tco(url: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const digest = createHash('sha1').update(url).digest();
  let out = '';
  for (let i = 0; i < 10; i++) out += alphabet[digest[i]! % alphabet.length];
  return `https://t.co/${out}`;
}

function emptyMetrics(): PublicMetrics {
  return { retweet_count: 0, reply_count: 0, like_count: 0, quote_count: 0, bookmark_count: 0, impression_count: 0 };
}

interface Pending<T> {
  script: T;
  remaining: number;
}

interface HangPending {
  commit: boolean;
  arrived: () => void;
}

// ---------------------------------------------------------------------------------------------
// The fake
// ---------------------------------------------------------------------------------------------

export class FakeX {
  /** The v2 base, `http://127.0.0.1:PORT/2/`: give it to the app as X_API_URL. */
  readonly url: string;
  readonly origin: string;
  readonly user: FakeXUser;
  readonly credentials: Readonly<OAuth1Credentials>;

  /** Every post, in creation order (deleted ones stay, with `deleted: true`). */
  readonly posts: FakeXPost[] = [];
  /** Uploaded media, in upload order. */
  readonly media: FakeXMedia[] = [];
  /** Every request, in arrival order. */
  readonly requests: FakeXRequest[] = [];
  /** Authenticated GET /2/tweets calls (X bills reads per post: see postsRead). */
  lookupCalls = 0;
  /** Posts returned by lookups, summed over calls. */
  postsRead = 0;
  /** Authenticated POST /2/tweets calls that create a post (not replies), whatever they were answered. */
  createCalls = 0;
  /** Authenticated POST /2/tweets calls that reply to a post, whatever they were answered. */
  replyCalls = 0;
  /** Authenticated GET /2/users/:id/tweets calls, and the posts they returned. */
  timelineCalls = 0;
  timelinePostsRead = 0;

  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly oauth: OAuth1Verifier;
  private readonly now: () => number;
  private readonly opts: FakeXOptions;
  private readonly failures = new Map<XRoute, Pending<FailureScript>[]>();
  private readonly rateLimits = new Map<XRoute, Pending<RateLimitScript>[]>();
  private readonly hangs = new Map<XRoute, HangPending[]>();
  private readonly delays = new Map<XRoute | '*', number>();
  private readonly windows = new Map<XRoute, { start: number; used: number }>();
  private readonly postIndex = new Map<string, FakeXPost>();
  private readonly mediaIndex = new Map<string, FakeXMedia>();
  private nextPostId = 1_860_000_000_000_000_000n;
  private nextMediaId = 1_870_000_000_000_000_000n;
  private closed = false;
  // ----- sign-in (oauth/request_token, authorize, access_token) ------------------------------
  /** Request tokens issued, by token: their secret, and once authorized, the PIN. */
  readonly requestTokens = new Map<string, { secret: string; pin?: string; used: boolean }>();
  private readonly signInNonces = new Set<string>();

  /** @internal Use startFakeX(). */
  constructor(server: Server, origin: string, opts: FakeXOptions) {
    this.server = server;
    this.origin = origin;
    this.url = `${origin}/2/`;
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.credentials = Object.freeze({
      appKey: opts.appKey ?? FAKE_X_CREDENTIALS.appKey,
      appSecret: opts.appSecret ?? FAKE_X_CREDENTIALS.appSecret,
      accessToken: opts.accessToken ?? FAKE_X_CREDENTIALS.accessToken,
      accessSecret: opts.accessSecret ?? FAKE_X_CREDENTIALS.accessSecret,
    });
    this.user = { id: '1500000000000000001', name: 'Loudhailer Test Police', username: 'loudhailer_test', ...opts.user };
    this.oauth = new OAuth1Verifier(this.credentials, { toleranceSeconds: opts.timestampToleranceSeconds ?? 300, now: Date.now });
    if (typeof opts.delayMs === 'number') this.delays.set('*', opts.delayMs);
    else for (const [route, ms] of Object.entries(opts.delayMs ?? {})) this.delays.set(route as XRoute, ms);
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((err: unknown) => {
        // Never crash: a bug in the fake shows as a 500 problem.
        if (!res.headersSent && !res.destroyed) this.send(res, undefined, { ...problem(500, `fake X: ${String(err)}`) });
      });
    });
  }

  // ----- lifecycle ----------------------------------------------------------------------------

  /** Stops the server and destroys every socket (hung requests included). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await done;
  }

  // ----- state for assertions -----------------------------------------------------------------

  /** Posts not deleted, in creation order. */
  livePosts(): FakeXPost[] {
    return this.posts.filter((p) => !p.deleted);
  }

  post(id: string): FakeXPost | undefined {
    return this.postIndex.get(id);
  }

  /** Live (not deleted) replies to the post `postId`, in creation order. */
  replies(postId: string): FakeXPost[] {
    return this.posts.filter((p) => !p.deleted && p.inReplyTo === postId);
  }

  mediaById(id: string): FakeXMedia | undefined {
    return this.mediaIndex.get(id);
  }

  /** Requests served by a route (authenticated or not). */
  requestsTo(route: XRoute): FakeXRequest[] {
    return this.requests.filter((r) => r.route === route);
  }

  /** Polls `fn` until it returns something truthy. */
  async waitFor<T>(fn: (x: FakeX) => T | undefined | null | false, opts: WaitForOptions = {}): Promise<T> {
    const deadline = Date.now() + (opts.timeoutMs ?? 5_000);
    for (;;) {
      const v = fn(this);
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`fake X: timed out waiting${opts.description ? ` for ${opts.description}` : ''}`);
      await sleep(opts.intervalMs ?? 10);
    }
  }

  // ----- scripting ----------------------------------------------------------------------------

  setImpressions(postId: string, n: number): void {
    this.setMetrics(postId, { impression_count: n });
  }

  setMetrics(postId: string, metrics: Partial<PublicMetrics>): void {
    const post = this.postIndex.get(postId);
    if (!post) throw new Error(`fake X: no post ${postId}`);
    Object.assign(post.metrics, metrics);
  }

  /** A post made outside the client under test (earlier, or by hand on x.com). */
  seedPost(input: { text: string; createdAt?: number; mediaIds?: string[]; deleted?: boolean; inReplyTo?: string }): FakeXPost {
    return this.createPostRecord(input.text, input.mediaIds ?? [], input.createdAt ?? this.now(), input.deleted ?? false, input.inReplyTo);
  }

  /** The next `times` (default 1) authenticated requests to `route` are answered `status`. */
  failNext(route: XRoute, script: FailureScript): void {
    this.queue(this.failures, route, script, script.times ?? 1);
  }

  /** The next `times` (default 1) authenticated requests to `route` get 429 with
   * x-rate-limit-remaining: 0 and x-rate-limit-reset = now + resetInSeconds (no Retry-After, like X). */
  rateLimitNext(route: XRoute, script: RateLimitScript): void {
    this.queue(this.rateLimits, route, script, script.times ?? 1);
  }

  /**
   * The next authenticated request to `route` is read and never answered (until close()). With
   * `commit`, the work is done first (createPost: the post exists). Resolves when it arrived.
   */
  hangNext(route: XRoute, script: HangScript = {}): Promise<void> {
    return new Promise((resolve) => {
      const list = this.hangs.get(route) ?? [];
      list.push({ commit: script.commit ?? false, arrived: resolve });
      this.hangs.set(route, list);
    });
  }

  /** Answer `route` (or every route: '*') after `ms`. 0 removes the delay. */
  setDelay(route: XRoute | '*', ms: number): void {
    if (ms > 0) this.delays.set(route, ms);
    else this.delays.delete(route);
  }

  /** Forgets pending failure, rate-limit and hang scripts (hung requests stay hung). */
  clearScripts(): void {
    this.failures.clear();
    this.rateLimits.clear();
    this.hangs.clear();
  }

  private queue<T>(map: Map<XRoute, Pending<T>[]>, route: XRoute, script: T, times: number): void {
    const list = map.get(route) ?? [];
    list.push({ script, remaining: times });
    map.set(route, list);
  }

  private take<T>(map: Map<XRoute, Pending<T>[]>, route: XRoute): T | undefined {
    const list = map.get(route);
    const head = list?.[0];
    if (!list || !head) return undefined;
    head.remaining -= 1;
    if (head.remaining <= 0) list.shift();
    return head.script;
  }

  // ----- HTTP plumbing ------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const rawQuery = q === -1 ? '' : rawUrl.slice(q + 1);
    const contentType = String(req.headers['content-type'] ?? '');
    const record: FakeXRequest = { method, path, query: {}, status: 0, at: this.now() };
    if (contentType) record.contentType = contentType;
    this.requests.push(record);

    const body = await readBody(req);
    let queryPairs: Param[];
    try {
      queryPairs = decodeParams(rawQuery);
    } catch {
      return this.send(res, record, problem(400, 'The query string is not valid.'));
    }
    for (const [k, v] of queryPairs) record.query[k] = v;
    if (path.startsWith('/oauth/')) return this.signIn(req, res, record, path.slice('/oauth/'.length), queryPairs, body, contentType);
    const route = routeOf(method, path);
    // A reply is POST /2/tweets with a `reply` object: its own route, for scripting and counts.
    if (route?.route === 'createPost' && /^application\/json/i.test(contentType) && body !== 'too-large' && isReplyBody(body)) route.route = 'reply';
    if (route) record.route = route.route;
    if (body === 'too-large') return this.send(res, record, problem(413, 'The request body is too large.'));

    // OAuth 1.0a, on every request (unknown paths included, like X).
    let formPairs: Param[] = [];
    if (/^application\/x-www-form-urlencoded/i.test(contentType)) {
      try {
        formPairs = decodeParams(body.toString('utf8'));
      } catch {
        return this.send(res, record, problem(400, 'The form body is not valid.'));
      }
    }
    const auth = this.oauth.verify({
      method,
      baseUrl: `http://${String(req.headers.host ?? '').toLowerCase()}${path}`,
      query: queryPairs,
      form: formPairs,
      authorization: req.headers.authorization,
    });
    if (!auth.ok) {
      record.authError = auth.reason;
      return this.send(res, record, { status: 401, body: { title: 'Unauthorized', type: 'about:blank', status: 401, detail: 'Unauthorized' } });
    }
    if (!route) {
      return this.send(res, record, { status: 404, body: { errors: [{ message: 'Sorry, that page does not exist', code: 34 }] } });
    }

    this.countCall(route.route);
    const ctx: Ctx = { record, params: route.params, query: record.query, body, contentType };
    if (/^application\/json/i.test(contentType) && body.length > 0) {
      try {
        ctx.json = JSON.parse(body.toString('utf8')) as unknown;
        record.body = ctx.json;
      } catch {
        return this.send(res, record, invalidRequest('Request body is not valid JSON.').answer, route.route);
      }
    }

    const hang = this.hangs.get(route.route)?.shift();
    if (hang) {
      if (hang.commit) this.run(route.route, ctx);
      hang.arrived();
      return; // never answered; close() destroys the socket
    }
    const limited = this.take(this.rateLimits, route.route);
    if (limited) {
      const reset = Math.floor(this.now() / 1000) + limited.resetInSeconds;
      return this.send(res, record, { ...problem(429), headers: { 'x-rate-limit-remaining': '0', 'x-rate-limit-reset': String(reset) } }, route.route);
    }
    const failure = this.take(this.failures, route.route);
    if (failure) {
      if (failure.commit) this.run(route.route, ctx);
      const answer: Answer = failure.body !== undefined ? { status: failure.status, body: failure.body } : problem(failure.status);
      if (failure.headers) answer.headers = failure.headers;
      await this.delay(route.route);
      return this.send(res, record, answer, route.route);
    }
    const answer = this.run(route.route, ctx);
    await this.delay(route.route);
    return this.send(res, record, answer, route.route);
  }

  private run(route: XRoute, ctx: Ctx): Answer {
    try {
      return this.handlers[route](ctx);
    } catch (err) {
      if (err instanceof Reply) return err.answer;
      throw err;
    }
  }

  private async delay(route: XRoute): Promise<void> {
    const ms = this.delays.get(route) ?? this.delays.get('*') ?? 0;
    if (ms > 0) await sleep(ms);
  }

  private countCall(route: XRoute): void {
    if (route === 'lookup') this.lookupCalls += 1;
    if (route === 'createPost') this.createCalls += 1;
    if (route === 'reply') this.replyCalls += 1;
    if (route === 'timeline') this.timelineCalls += 1;
  }

  private rateHeaders(route: XRoute | undefined): Record<string, string> {
    const r = route ?? 'me';
    const nowSec = Math.floor(this.now() / 1000);
    let w = this.windows.get(r);
    if (!w || nowSec >= w.start + WINDOW_SECS) {
      w = { start: nowSec, used: 0 };
      this.windows.set(r, w);
    }
    w.used += 1;
    const limit = RATE_LIMITS[r];
    return {
      'x-rate-limit-limit': String(limit),
      'x-rate-limit-remaining': String(Math.max(0, limit - w.used)),
      'x-rate-limit-reset': String(w.start + WINDOW_SECS),
    };
  }

  private send(res: ServerResponse, record: FakeXRequest | undefined, answer: Answer, route?: XRoute): void {
    if (record) record.status = answer.status;
    if (res.destroyed || res.headersSent) return;
    const headers: Record<string, string> = { ...this.rateHeaders(route ?? record?.route), ...answer.headers };
    let payload = '';
    if (typeof answer.body === 'string') {
      headers['content-type'] = 'text/html; charset=utf-8';
      payload = answer.body;
    } else if (answer.body !== undefined) {
      const isProblem = answer.status >= 400 && isRecord(answer.body) && ('title' in answer.body || 'type' in answer.body);
      headers['content-type'] = isProblem ? 'application/problem+json' : 'application/json; charset=utf-8';
      payload = JSON.stringify(answer.body);
    }
    headers['content-length'] = String(Buffer.byteLength(payload));
    res.writeHead(answer.status, headers);
    res.end(payload);
  }

  // ----- sign-in (oauth/…) ----------------------------------------------------------------------

  private signIn(req: IncomingMessage, res: ServerResponse, record: FakeXRequest, step: string, query: Param[], body: Buffer | 'too-large', contentType: string): void {
    const write = (status: number, payload: string, type: string) => {
      record.status = status;
      res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(payload)) });
      res.end(payload);
    };
    const refuse = (reason: string, status = 401, text?: string) => {
      record.authError = reason;
      if (text !== undefined) return write(status, text, 'text/html; charset=utf-8');
      return write(status, JSON.stringify({ errors: [{ code: 32, message: 'Could not authenticate you.' }] }), 'application/json; charset=utf-8');
    };
    const method = record.method;
    if (step === 'authorize' && method === 'GET') {
      const entry = this.requestTokens.get(record.query.oauth_token ?? '');
      if (!entry || entry.used) return write(403, '<p>This page is no longer valid. It looks like someone already used the token information you provided.</p>', 'text/html; charset=utf-8');
      entry.pin ??= String(1_000_000 + (randomBytes(4).readUInt32BE() % 9_000_000));
      return write(200, `<div id="oauth_pin"><p><span id="code-desc">Next, return to the app and enter this PIN to complete the authorization process:</span><kbd aria-labelledby="code-desc"><code>${entry.pin}</code></kbd></p></div>`, 'text/html; charset=utf-8');
    }
    if (method !== 'POST' || (step !== 'request_token' && step !== 'access_token')) {
      return write(404, JSON.stringify({ errors: [{ message: 'Sorry, that page does not exist', code: 34 }] }), 'application/json; charset=utf-8');
    }
    if (body === 'too-large') return write(413, '', 'text/plain');
    let form: Param[] = [];
    if (/^application\/x-www-form-urlencoded/i.test(contentType)) {
      try {
        form = decodeParams(body.toString('utf8'));
      } catch {
        return refuse('form body is not valid');
      }
    }
    const header = parseOAuthHeader(req.headers.authorization);
    if (!header) return refuse('no OAuth Authorization header');
    const all: Param[] = [...query, ...form];
    const param = (k: string) => header[k] ?? all.find(([key]) => key === k)?.[1];
    if (header.oauth_consumer_key !== this.credentials.appKey) return refuse('unknown oauth_consumer_key');
    if (header.oauth_signature_method !== 'HMAC-SHA1' || !header.oauth_signature || !header.oauth_nonce) return refuse('oauth_signature, _method or _nonce missing');
    if (Math.abs(Date.now() / 1000 - Number(header.oauth_timestamp)) > (this.opts.timestampToleranceSeconds ?? 300)) return refuse('oauth_timestamp out of range');
    const token = param('oauth_token');
    const entry = step === 'access_token' ? this.requestTokens.get(token ?? '') : undefined;
    if (step === 'access_token' && (!entry || entry.used)) return refuse('unknown or used request token', 401, 'Invalid request token.');
    if (step === 'request_token' && token !== undefined) return refuse('request_token takes no oauth_token');
    // The header's oauth_* params, plus query and form (a param sent in both the header and the form counts once).
    const oauthParams = Object.entries(header).filter(([k]) => k !== 'oauth_signature' && k !== 'realm');
    const signed = [...oauthParams, ...all.filter(([k, v]) => header[k] !== v)];
    const base = signatureBaseString(method, `http://${String(req.headers.host ?? '').toLowerCase()}${record.path}`, signed);
    const expected = Buffer.from(hmacSha1Signature(base, this.credentials.appSecret, entry?.secret ?? ''));
    const got = Buffer.from(header.oauth_signature);
    if (expected.length !== got.length || !timingSafeEqual(expected, got)) return refuse('signature mismatch');
    if (this.signInNonces.has(header.oauth_nonce)) return refuse('oauth_nonce reused');
    this.signInNonces.add(header.oauth_nonce);

    if (step === 'request_token') {
      const callback = param('oauth_callback');
      if (callback !== 'oob') {
        record.authError = `oauth_callback ${callback ?? '(none)'} is not oob`;
        return write(403, JSON.stringify({ errors: [{ code: 415, message: 'Callback URL not approved for this client application. Approved callback URLs can be adjusted in your application settings' }] }), 'application/json; charset=utf-8');
      }
      const requestToken = randomBytes(16).toString('base64url');
      this.requestTokens.set(requestToken, { secret: randomBytes(24).toString('base64url'), used: false });
      return write(200, `oauth_token=${requestToken}&oauth_token_secret=${this.requestTokens.get(requestToken)!.secret}&oauth_callback_confirmed=true`, 'text/html; charset=utf-8');
    }
    const verifier = param('oauth_verifier');
    if (!entry!.pin || verifier !== entry!.pin) return refuse('wrong oauth_verifier (PIN)', 401, 'Error processing your OAuth request: Invalid oauth_verifier parameter');
    entry!.used = true;
    const c = this.credentials;
    return write(200, `oauth_token=${encodeURIComponent(c.accessToken)}&oauth_token_secret=${encodeURIComponent(c.accessSecret)}&user_id=${this.user.id}&screen_name=${encodeURIComponent(this.user.username)}`, 'text/html; charset=utf-8');
  }

  // ----- endpoints ----------------------------------------------------------------------------

  private readonly handlers: Record<XRoute, (ctx: Ctx) => Answer> = {
    me: () => ({ status: 200, body: { data: { ...this.user } } }),
    mediaInit: (ctx) => this.mediaInit(ctx),
    mediaAppend: (ctx) => this.mediaAppend(ctx),
    mediaFinalize: (ctx) => this.mediaFinalize(ctx),
    mediaStatus: (ctx) => this.mediaStatus(ctx),
    mediaUpload: (ctx) => this.mediaUpload(ctx),
    createPost: (ctx) => this.createPost(ctx),
    reply: (ctx) => this.createPost(ctx),
    lookup: (ctx) => this.lookup(ctx),
    delete: (ctx) => this.deletePost(ctx),
    timeline: (ctx) => this.timeline(ctx),
  };

  private mediaInit(ctx: Ctx): Answer {
    const body = jsonObject(ctx);
    const mediaType = body.media_type;
    if (typeof mediaType !== 'string' || !MEDIA_TYPES.has(mediaType)) throw invalidRequest(`media_type ${JSON.stringify(mediaType)} is not supported.`, { media_type: [String(mediaType)] });
    const total = body.total_bytes;
    if (typeof total !== 'number' || !Number.isInteger(total) || total < 0) throw invalidRequest('total_bytes must be a whole number of bytes.', { total_bytes: [String(total)] });
    const category = body.media_category ?? defaultCategory(mediaType);
    if (typeof category !== 'string' || !MEDIA_CATEGORIES.has(category)) throw invalidRequest(`media_category ${JSON.stringify(category)} is not supported.`, { media_category: [String(category)] });
    if (total > maxBytesFor(category)) throw invalidRequest(`File size exceeds ${maxBytesFor(category)} bytes.`, { total_bytes: [String(total)] });
    const m = this.newMedia(mediaType, category, total, 'chunked');
    return { status: 200, body: { data: { id: m.id, media_key: m.mediaKey, expires_after_secs: MEDIA_EXPIRES_SECS } } };
  }

  private mediaAppend(ctx: Ctx): Answer {
    const m = this.mediaFor(ctx.params.id ?? '');
    if (m.finalized) throw invalidRequest(`Media ${m.id} is already finalized.`, { id: [m.id] });
    let segment: string | undefined;
    let bytes: Buffer | undefined;
    if (/^multipart\/form-data/i.test(ctx.contentType)) {
      for (const part of multipartOf(ctx)) {
        if (part.name === 'segment_index') segment = part.data.toString('utf8');
        if (part.name === 'media') bytes = Buffer.from(part.data);
      }
    } else {
      const body = jsonObject(ctx);
      if (body.segment_index !== undefined) segment = String(body.segment_index);
      if (typeof body.media === 'string') bytes = Buffer.from(body.media, 'base64');
    }
    if (segment === undefined || !/^\d{1,3}$/.test(segment)) throw invalidRequest('segment_index must be a number from 0 to 999.', { segment_index: [String(segment)] });
    if (!bytes) throw invalidRequest('media is required.', { media: [] });
    m.segments.set(Number(segment), bytes);
    m.bytes = Buffer.concat([...m.segments.entries()].sort(([a], [b]) => a - b).map(([, b]) => b));
    return { status: 200, body: { data: { expires_at: Math.floor(this.now() / 1000) + MEDIA_EXPIRES_SECS } } };
  }

  private mediaFinalize(ctx: Ctx): Answer {
    const m = this.mediaFor(ctx.params.id ?? '');
    if (!m.finalized) {
      if (m.bytes.length !== m.totalBytes) {
        throw invalidRequest(`Segments add up to ${m.bytes.length} bytes, not the ${m.totalBytes} declared (total_bytes).`, { id: [m.id] });
      }
      m.finalized = true;
      m.processingPollsLeft = this.opts.processingPolls ?? 0;
    }
    const data: Json = { id: m.id, media_key: m.mediaKey, size: m.bytes.length, expires_after_secs: MEDIA_EXPIRES_SECS };
    if ((this.opts.processingPolls ?? 0) > 0) data.processing_info = this.processingInfo(m, false);
    return { status: 200, body: { data } };
  }

  private mediaStatus(ctx: Ctx): Answer {
    if (ctx.query.command !== 'STATUS') throw invalidRequest('command must be STATUS.', { command: [ctx.query.command ?? ''] });
    const id = ctx.query.media_id ?? '';
    const m = this.mediaIndex.get(id);
    if (!m) return { status: 404, body: { ...notFoundProblem('media', 'media_id', id), status: 404 } };
    const info = this.processingInfo(m, true);
    return { status: 200, body: { data: { id: m.id, media_key: m.mediaKey, size: m.bytes.length, processing_info: info } } };
  }

  private processingInfo(m: FakeXMedia, poll: boolean): Json {
    if (!m.finalized) return { state: 'pending', check_after_secs: 1, progress_percent: 0 };
    if (m.processingPollsLeft <= 0) return { state: 'succeeded', progress_percent: 100 };
    if (!poll) return { state: 'pending', check_after_secs: 1, progress_percent: 0 };
    m.processingPollsLeft -= 1;
    return m.processingPollsLeft <= 0
      ? { state: 'succeeded', progress_percent: 100 }
      : { state: 'in_progress', check_after_secs: 1, progress_percent: 50 };
  }

  private mediaUpload(ctx: Ctx): Answer {
    let bytes: Buffer | undefined;
    let category: string | undefined;
    let mediaType: string | undefined;
    if (/^multipart\/form-data/i.test(ctx.contentType)) {
      for (const part of multipartOf(ctx)) {
        if (part.name === 'media') bytes = Buffer.from(part.data);
        if (part.name === 'media_category') category = part.data.toString('utf8');
        if (part.name === 'media_type') mediaType = part.data.toString('utf8');
      }
    } else {
      const body = jsonObject(ctx);
      if (typeof body.media === 'string') bytes = Buffer.from(body.media, 'base64');
      if (typeof body.media_category === 'string') category = body.media_category;
      if (typeof body.media_type === 'string') mediaType = body.media_type;
    }
    if (!bytes) throw invalidRequest('media is required.', { media: [] });
    if (!category || !ONE_SHOT_CATEGORIES.has(category)) throw invalidRequest(`media_category ${JSON.stringify(category)} is not supported.`, { media_category: [String(category)] });
    const type = mediaType ?? sniffImage(bytes);
    if (!type || !MEDIA_TYPES.has(type)) throw invalidRequest('The media type is not supported.', { media: [] });
    if (bytes.length > maxBytesFor(category)) throw invalidRequest(`File size exceeds ${maxBytesFor(category)} bytes.`, { media: [] });
    const m = this.newMedia(type, category, bytes.length, 'one-shot');
    m.segments.set(0, bytes);
    m.bytes = bytes;
    m.finalized = true;
    return { status: 200, body: { data: { id: m.id, media_key: m.mediaKey, size: bytes.length, expires_after_secs: MEDIA_EXPIRES_SECS } } };
  }

  private createPost(ctx: Ctx): Answer {
    const body = jsonObject(ctx);
    const unknown = Object.keys(body).filter((k) => !CREATE_FIELDS.has(k));
    if (unknown.length > 0) throw invalidRequest(`$: property '${unknown[0]}' is not defined in the schema and the schema does not allow additional properties`, { [unknown[0]!]: [] });
    let inReplyTo: string | undefined;
    if (body.reply !== undefined) inReplyTo = replyTarget(body.reply);
    const text = body.text ?? '';
    if (typeof text !== 'string') throw invalidRequest('text must be a string.', { text: [] });
    let mediaIds: string[] = [];
    if (body.media !== undefined) {
      const ids = isRecord(body.media) ? body.media.media_ids : undefined;
      if (!Array.isArray(ids) || ids.length < 1 || ids.length > 4 || !ids.every((i) => typeof i === 'string' && ID_RE.test(i))) {
        throw invalidRequest('media.media_ids must hold 1 to 4 media ids.', { 'media.media_ids': (Array.isArray(ids) ? ids : []).map(String) });
      }
      const bad = (ids as string[]).filter((i) => {
        const m = this.mediaIndex.get(i);
        return !m || !m.finalized || m.processingPollsLeft > 0;
      });
      if (bad.length > 0) throw invalidRequest('Your media IDs are invalid.', { 'media.media_ids': bad });
      mediaIds = ids as string[];
    }
    if (text.trim() === '' && mediaIds.length === 0) throw invalidRequest('Post text or media is required.', { text: [] });
    if (twitterText.parseTweet(text).weightedLength > MAX_TWEET_WEIGHTED_LENGTH) {
      return problem(403, 'Your Tweet text is too long. For more information on how Twitter determines text length see https://github.com/twitter/twitter-text.');
    }
    if (inReplyTo !== undefined) {
      const parent = this.postIndex.get(inReplyTo);
      if (!parent || parent.deleted) return problem(403, REPLY_TO_DELETED_DETAIL);
    }
    if (this.posts.some((p) => !p.deleted && p.authorId === this.user.id && p.sentText === text)) {
      return problem(403, DUPLICATE_DETAIL);
    }
    const post = this.createPostRecord(text, mediaIds, this.now(), false, inReplyTo);
    return { status: 201, body: { data: { id: post.id, text: post.text, edit_history_tweet_ids: [post.id] } } };
  }

  private lookup(ctx: Ctx): Answer {
    const raw = ctx.query.ids;
    if (raw === undefined || raw === '') throw invalidRequest('The `ids` query parameter can not be empty', { ids: [] });
    const ids = raw.split(',');
    if (ids.length > 100) throw invalidRequest(`The number of values in the \`ids\` query parameter list [${ids.length}] is not between 1 and 100`, { ids: [raw] });
    const badId = ids.find((i) => !ID_RE.test(i));
    if (badId !== undefined) throw invalidRequest(`The \`ids\` query parameter value [${badId}] is not valid`, { ids: [badId] });
    const fields = tweetFields(ctx.query);
    const data: Json[] = [];
    const errors: Json[] = [];
    for (const id of ids) {
      const post = this.postIndex.get(id);
      if (!post || post.deleted) errors.push(notFoundProblem('tweet', 'ids', id));
      else data.push(this.render(post, fields));
    }
    this.postsRead += data.length;
    const body: Json = {};
    if (data.length) body.data = data;
    if (errors.length) body.errors = errors;
    return { status: 200, body };
  }

  private deletePost(ctx: Ctx): Answer {
    const id = ctx.params.id ?? '';
    if (!ID_RE.test(id)) throw invalidRequest(`The \`id\` query parameter value [${id}] is not valid`, { id: [id] });
    const post = this.postIndex.get(id);
    if (post && post.authorId !== this.user.id) return problem(403, 'You are not allowed to delete this Tweet.');
    if (!post || post.deleted) {
      if (this.opts.deleteMissing === 'deleted-false') return { status: 200, body: { data: { deleted: false } } };
      return { status: 404, body: { ...notFoundProblem('tweet', 'id', id), status: 404 } };
    }
    post.deleted = true;
    const parent = post.inReplyTo !== undefined ? this.postIndex.get(post.inReplyTo) : undefined;
    if (parent) parent.metrics.reply_count = Math.max(0, parent.metrics.reply_count - 1);
    return { status: 200, body: { data: { deleted: true } } };
  }

  private timeline(ctx: Ctx): Answer {
    const userId = ctx.params.id ?? '';
    if (!ID_RE.test(userId)) throw invalidRequest(`The \`id\` query parameter value [${userId}] is not valid`, { id: [userId] });
    if (userId !== this.user.id) return { status: 200, body: { errors: [notFoundProblem('user', 'id', userId)] } };
    const q = ctx.query;
    const max = q.max_results === undefined ? 10 : Number(q.max_results);
    if (!Number.isInteger(max) || max < 5 || max > 100) {
      throw invalidRequest(`The \`max_results\` query parameter value [${q.max_results}] is not between 5 and 100`, { max_results: [String(q.max_results)] });
    }
    const start = timeParam(q, 'start_time');
    const end = timeParam(q, 'end_time');
    for (const k of ['since_id', 'until_id'] as const) {
      if (q[k] !== undefined && !ID_RE.test(q[k])) throw invalidRequest(`The \`${k}\` query parameter value [${q[k]}] is not valid`, { [k]: [q[k]] });
    }
    let offset = 0;
    if (q.pagination_token !== undefined) {
      const m = /^p([0-9]+)$/.exec(Buffer.from(q.pagination_token, 'base64url').toString('latin1'));
      if (!m) throw invalidRequest(`The \`pagination_token\` query parameter value [${q.pagination_token}] is not valid`, { pagination_token: [q.pagination_token] });
      offset = Number(m[1]);
    }
    const fields = tweetFields(q);
    const exclude = excludeParam(q);
    const matching = this.posts
      .filter((p) => !p.deleted && p.authorId === userId)
      .filter((p) => !(exclude.has('replies') && p.inReplyTo !== undefined))
      .filter((p) => (start === undefined || p.createdAt >= start) && (end === undefined || p.createdAt <= end))
      .filter((p) => (q.since_id === undefined || BigInt(p.id) > BigInt(q.since_id)) && (q.until_id === undefined || BigInt(p.id) < BigInt(q.until_id)))
      .sort((a, b) => b.createdAt - a.createdAt || (BigInt(b.id) > BigInt(a.id) ? 1 : -1));
    const page = matching.slice(offset, offset + max);
    this.timelinePostsRead += page.length;
    const meta: Json = { result_count: page.length };
    if (page.length) {
      meta.newest_id = page[0]!.id;
      meta.oldest_id = page[page.length - 1]!.id;
    }
    if (offset + max < matching.length) meta.next_token = Buffer.from(`p${offset + max}`, 'latin1').toString('base64url');
    const body: Json = { meta };
    if (page.length) body.data = page.map((p) => this.render(p, fields));
    return { status: 200, body };
  }

  // ----- records ------------------------------------------------------------------------------

  private render(post: FakeXPost, fields: Set<string>): Json {
    const out: Json = { id: post.id, text: post.text, edit_history_tweet_ids: [post.id] };
    if (fields.has('created_at')) out.created_at = new Date(post.createdAt).toISOString();
    if (fields.has('author_id')) out.author_id = post.authorId;
    if (fields.has('public_metrics')) out.public_metrics = { ...post.metrics };
    if (post.inReplyTo !== undefined) {
      const parent = this.postIndex.get(post.inReplyTo);
      if (fields.has('referenced_tweets')) out.referenced_tweets = [{ type: 'replied_to', id: post.inReplyTo }];
      if (fields.has('in_reply_to_user_id') && parent) out.in_reply_to_user_id = parent.authorId;
      if (fields.has('conversation_id')) out.conversation_id = this.conversationOf(post);
    } else if (fields.has('conversation_id')) out.conversation_id = post.id;
    if (fields.has('attachments') && post.mediaIds.length) {
      out.attachments = { media_keys: post.mediaIds.map((id) => this.mediaIndex.get(id)?.mediaKey ?? `3_${id}`) };
    }
    return out;
  }

  /** The root of a reply chain (the post the first reply answered). */
  private conversationOf(post: FakeXPost): string {
    let p = post;
    for (let i = 0; i < 100 && p.inReplyTo !== undefined; i++) {
      const parent = this.postIndex.get(p.inReplyTo);
      if (!parent) return p.inReplyTo;
      p = parent;
    }
    return p.id;
  }

  private createPostRecord(sentText: string, mediaIds: string[], createdAt: number, deleted: boolean, inReplyTo?: string): FakeXPost {
    const id = String(this.nextPostId++);
    let text = this.opts.rewriteUrls === false ? sentText : sentText.replace(/https?:\/\/[^\s]+/g, (u) => tco(u));
    // Like X, a post with media reads back with the media's t.co link appended.
    if (mediaIds.length > 0 && this.opts.rewriteUrls !== false) text = `${text} ${tco(`https://x.com/i/media/${id}`)}`;
    const post: FakeXPost = { id, text, sentText, mediaIds: [...mediaIds], createdAt, deleted, authorId: this.user.id, metrics: emptyMetrics() };
    if (inReplyTo !== undefined) {
      post.inReplyTo = inReplyTo;
      const parent = this.postIndex.get(inReplyTo);
      if (parent && !deleted) parent.metrics.reply_count += 1;
    }
    this.posts.push(post);
    this.postIndex.set(id, post);
    return post;
  }

  private newMedia(mediaType: string, category: string, totalBytes: number, via: FakeXMedia['via']): FakeXMedia {
    const id = String(this.nextMediaId++);
    const prefix = category.endsWith('_video') || category === 'amplify_video' ? 7 : category.endsWith('_gif') ? 16 : 3;
    const m: FakeXMedia = {
      id, mediaKey: `${prefix}_${id}`, mediaType, category, totalBytes, bytes: Buffer.alloc(0),
      segments: new Map(), finalized: false, via, processingPollsLeft: 0,
    };
    this.media.push(m);
    this.mediaIndex.set(id, m);
    return m;
  }

  private mediaFor(id: string): FakeXMedia {
    const m = ID_RE.test(id) ? this.mediaIndex.get(id) : undefined;
    if (!m) throw invalidRequest(`Media id ${id} is not valid or has expired.`, { id: [id] });
    return m;
  }
}

interface Ctx {
  record: FakeXRequest;
  params: Record<string, string>;
  query: Record<string, string>;
  body: Buffer;
  contentType: string;
  json?: unknown;
}

function jsonObject(ctx: Ctx): Json {
  if (ctx.json === undefined) {
    if (ctx.body.length === 0) return {};
    throw invalidRequest('The request body must be JSON (Content-Type: application/json).');
  }
  if (!isRecord(ctx.json)) throw invalidRequest('The request body must be a JSON object.');
  return ctx.json;
}

function defaultCategory(mediaType: string): string {
  if (mediaType === 'image/gif') return 'tweet_gif';
  if (mediaType.startsWith('video/')) return 'tweet_video';
  return 'tweet_image';
}

function tweetFields(query: Record<string, string>): Set<string> {
  const raw = query['tweet.fields'] ?? query['post.fields'];
  const fields = new Set(raw === undefined || raw === '' ? [] : raw.split(','));
  for (const f of fields) {
    if (!TWEET_FIELDS.has(f)) throw invalidRequest(`The \`tweet.fields\` query parameter value [${f}] is not one of [${[...TWEET_FIELDS].join(',')}]`, { 'tweet.fields': [f] });
  }
  return fields;
}

/** `exclude` on a user's timeline: a comma list of 'replies' and 'retweets' (unique). */
function excludeParam(query: Record<string, string>): Set<string> {
  const raw = query.exclude;
  if (raw === undefined) return new Set();
  const values = raw.split(',');
  for (const v of values) {
    if (v !== 'replies' && v !== 'retweets') throw invalidRequest(`The \`exclude\` query parameter value [${v}] is not one of [replies,retweets]`, { exclude: [v] });
  }
  if (new Set(values).size !== values.length) throw invalidRequest('The `exclude` query parameter values must be unique', { exclude: [raw] });
  return new Set(values);
}

/** Whether a POST /2/tweets body is a reply (has a `reply` member); unreadable bodies are not. */
function isReplyBody(body: Buffer): boolean {
  try {
    const json = JSON.parse(body.toString('utf8')) as unknown;
    return isRecord(json) && json.reply !== undefined;
  } catch {
    return false;
  }
}

/** Checks TweetCreateRequest.reply and returns in_reply_to_tweet_id. */
function replyTarget(reply: unknown): string {
  if (!isRecord(reply)) throw invalidRequest('$.reply: must be an object', { '$.reply': [JSON.stringify(reply) ?? ''] });
  const unknown = Object.keys(reply).filter((k) => !REPLY_FIELDS.has(k));
  if (unknown.length > 0) throw invalidRequest(`$.reply: property '${unknown[0]}' is not defined in the schema and the schema does not allow additional properties`, { '$.reply': [JSON.stringify(reply)] });
  const id = reply.in_reply_to_tweet_id;
  if (id === undefined) throw invalidRequest('$.reply.in_reply_to_tweet_id: is missing but it is required', { '$.reply': [JSON.stringify(reply)] });
  if (typeof id !== 'string' || !ID_RE.test(id)) throw invalidRequest(`$.reply.in_reply_to_tweet_id: does not match the regex pattern ^[0-9]{1,19}$`, { '$.reply.in_reply_to_tweet_id': [String(id)] });
  const excluded = reply.exclude_reply_user_ids;
  if (excluded !== undefined && (!Array.isArray(excluded) || !excluded.every((u) => typeof u === 'string' && ID_RE.test(u)))) {
    throw invalidRequest('$.reply.exclude_reply_user_ids: must be an array of user ids', { '$.reply.exclude_reply_user_ids': [JSON.stringify(excluded)] });
  }
  if (reply.auto_populate_reply_metadata !== undefined && typeof reply.auto_populate_reply_metadata !== 'boolean') {
    throw invalidRequest('$.reply.auto_populate_reply_metadata: must be a boolean', { '$.reply.auto_populate_reply_metadata': [String(reply.auto_populate_reply_metadata)] });
  }
  return id;
}

function timeParam(query: Record<string, string>, name: string): number | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  const t = TIME_RE.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw invalidRequest(`Invalid '${name}':'${v}'. '${name}' must be of the form YYYY-MM-DDTHH:mm:ssZ`, { [name]: [v] });
  return t;
}

function routeOf(method: string, path: string): { route: XRoute; params: Record<string, string> } | undefined {
  const p = path.replace(/\/+$/, '');
  let m: RegExpExecArray | null;
  if (method === 'GET' && p === '/2/users/me') return { route: 'me', params: {} };
  if (method === 'POST' && p === '/2/media/upload/initialize') return { route: 'mediaInit', params: {} };
  if (method === 'POST' && (m = /^\/2\/media\/upload\/([^/]+)\/append$/.exec(p))) return { route: 'mediaAppend', params: { id: safeDecode(m[1]!) } };
  if (method === 'POST' && (m = /^\/2\/media\/upload\/([^/]+)\/finalize$/.exec(p))) return { route: 'mediaFinalize', params: { id: safeDecode(m[1]!) } };
  if (method === 'GET' && p === '/2/media/upload') return { route: 'mediaStatus', params: {} };
  if (method === 'POST' && p === '/2/media/upload') return { route: 'mediaUpload', params: {} };
  if (method === 'POST' && p === '/2/tweets') return { route: 'createPost', params: {} };
  if (method === 'GET' && p === '/2/tweets') return { route: 'lookup', params: {} };
  if (method === 'DELETE' && (m = /^\/2\/tweets\/([^/]+)$/.exec(p))) return { route: 'delete', params: { id: safeDecode(m[1]!) } };
  if (method === 'GET' && (m = /^\/2\/users\/([^/]+)\/tweets$/.exec(p))) return { route: 'timeline', params: { id: safeDecode(m[1]!) } };
  return undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export async function startFakeX(opts: FakeXOptions = {}): Promise<FakeX> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return new FakeX(server, `http://127.0.0.1:${port}`, opts);
}

/** The multipart parts of a request; a malformed body is X's 400. */
function multipartOf(ctx: { body: Buffer; contentType: string }): MultipartPart[] {
  try {
    return parseMultipart(ctx.body, ctx.contentType);
  } catch {
    throw invalidRequest('multipart body without boundary');
  }
}
