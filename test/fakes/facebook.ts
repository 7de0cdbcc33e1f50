/**
 * A wire-level fake of the Facebook Graph API (Pages) for tests: a real HTTP server on 127.0.0.1
 * (random port) that checks the Page access token (`access_token` query/form field, or
 * `Authorization: Bearer`) on every request and serves what Loudhailer uses, under /v25.0:
 *
 *   POST   /{page-id}/photos            multipart `source` (+ message|caption, published) → {id, post_id?}
 *   POST   /{page-id}/feed              form message, attached_media[i]={"media_fbid":…} → {id}
 *   GET    /{page-id}/published_posts   (and /feed) newest first; fields, since, until, limit ≤ 100, paging
 *   GET    /?ids=a,b&fields=…           multi-id read (≤ 50): insights.metric(…), reactions/comments summaries, shares
 *   POST   /{object-id}/comments        form message (or attachment_*) on a live post or photo → {id:"<object>_<comment>"}
 *   DELETE /{id}                        a post, a photo or a comment → {success:true}
 *   GET    /me, /{page-id}              the token's node: fields id, name (+ Page.json's category, link, fan_count,
 *                                       can_post); `metadata=1` adds {metadata:{type:"page"|"user"}}. With `userToken`
 *                                       (a Page admin's user token), GET /me answers the user, not the Page
 *   GET    /{page-id}/insights          Page insights (Page.json `insights` edge): metric=page_post_engagements|
 *                                       page_media_view, period; needs `read_insights` among `pagePermissions`
 *
 * For `loudhailer auth facebook` (Meta's "long-lived access tokens" and Page-token docs), with user tokens:
 *   GET    /oauth/access_token?grant_type=fb_exchange_token&client_id&client_secret&fb_exchange_token
 *                                       `userToken` (or a long-lived one) → {access_token (long-lived), token_type, expires_in};
 *                                       wrong client_id 101, wrong client_secret 1, bad or revoked user token 190 (/460)
 *   GET    /me/accounts                 with a user token: the Pages it manages, each with its Page token (`pageToken`
 *                                       for the fake's Page, then `extraPages`), fields id,name,access_token,tasks,
 *                                       category; `limit` + paging.next. With the Page token: 100, as on a Page node
 *
 * Errors are Meta's shape, `{"error":{"message","type","code","error_subcode"?,"fbtrace_id"}}`:
 * bad token 190, unknown object 100/33, missing aliases in a multi-id read 803 (HTTP 404),
 * an invalid metric 100 — and **`post_impressions` is always an invalid metric** (deprecated
 * 15 Nov 2025), so a client that still asks for it fails here as it would on Facebook. Posting
 * the message of a live feed post again is refused with 506. Every answer carries
 * `X-Business-Use-Case-Usage`. Comments take the POST params of PagePost.json's `comments`
 * edge (others: 100); one on a deleted or unknown object is 100/33; a comment without message
 * or attachment is 100. Deleting a post takes its comments with it (deleting one of them then
 * answers 100/33, as for anything gone).
 *
 *   const fb = await startFakeFacebook({ pageId: '1234', pageToken: 'tok' });
 *   // app: FACEBOOK_GRAPH_URL=fb.url, FACEBOOK_PAGE_ID=fb.pageId, FACEBOOK_PAGE_TOKEN=…
 *   fb.rateLimitNext('feed', { minutes: 2 });            // code 80001, regain access in 2 min
 *   fb.failNext('read', { status: 503 });                // (#2) Service temporarily unavailable
 *   const arrived = fb.hangNext('feed', { commit: true }); // Facebook takes it, never answers
 *   fb.setViews(fb.livePosts()[0]!.id, 1234);
 *   fb.commentsOn(postId);                                // live comments, oldest first
 *
 * Scripts are per route and consumed by requests that pass the token check, in this order:
 * hang, rate limit, failure.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { parseMultipart } from './multipart.js';

export type FacebookRoute = 'photos' | 'feed' | 'posts' | 'read' | 'comments' | 'delete' | 'node' | 'insights';
export const FACEBOOK_ROUTES: readonly FacebookRoute[] = ['photos', 'feed', 'posts', 'read', 'comments', 'delete', 'node', 'insights'];
/** What the fake's Page token is granted unless `pagePermissions` says otherwise. */
export const FAKE_PAGE_PERMISSIONS: readonly string[] = ['pages_show_list', 'pages_read_engagement', 'pages_manage_posts', 'pages_manage_engagement', 'read_insights'];
/** Page-level insights metrics the fake knows (GET /{page-id}/insights). */
export const PAGE_METRICS: readonly string[] = ['page_post_engagements', 'page_media_view'];
/** The POST params of the `comments` edge (PagePost.json, Post.json). */
export const COMMENT_PARAMS: ReadonlySet<string> = new Set([
  'attachment_id', 'attachment_share_url', 'attachment_url', 'comment', 'comment_privacy_value', 'feedback_source', 'message',
  'nectar_module', 'parent_comment_id', 'post_id', 'tracking',
]);
/** The POST params of a Photo's `comments` edge (Photo.json). */
export const PHOTO_COMMENT_PARAMS: ReadonlySet<string> = new Set([
  'attachment_id', 'attachment_share_url', 'attachment_url', 'comment_privacy_value', 'facepile_mentioned_ids', 'feedback_source',
  'is_offline', 'message', 'nectar_module', 'object_id', 'parent_comment_id', 'text', 'tracking',
]);
/** Params any Graph request may carry. */
const GENERIC_PARAMS: ReadonlySet<string> = new Set(['fields', 'appsecret_proof', 'method', 'format', 'pretty', 'suppress_http_code']);
export const FACEBOOK_THROTTLE_CODES = [4, 17, 32, 613, 80001] as const;
export const GRAPH_VERSION = 'v25.0';
/** Insights metrics the fake knows. post_impressions* are deliberately not among them. */
export const VALID_METRICS: readonly string[] = ['post_media_view', 'post_clicks', 'post_reactions_by_type_total', 'post_video_views'];

export interface FakeFacebookOptions {
  pageId?: string;
  pageToken?: string;
  /** The fake's clock (ms). Default Date.now. */
  now?: () => number;
  /** Metrics the insights edge accepts. Default VALID_METRICS; [] makes every metric invalid. */
  metrics?: readonly string[];
  /** The Page's name (GET /me, /{page-id}). Default 'Loudhailer Test Police'. */
  pageName?: string;
  /** A user access token of the Page's admin: GET /me with it answers `user`, not the Page. Default: none. */
  userToken?: string;
  /** The user `userToken` belongs to. Default { id: '10160000000000001', name: 'Pat Admin' }. */
  user?: { id: string; name: string };
  /** Permissions the Page token carries (checked by GET /{page-id}/insights: read_insights). Default FAKE_PAGE_PERMISSIONS. */
  pagePermissions?: readonly string[];
  /** The app (auth: fb_exchange_token's client_id / client_secret). Defaults FAKE_FACEBOOK_APP. */
  appId?: string;
  appSecret?: string;
  /** More Pages the user manages (GET /me/accounts lists the fake's Page first, then these). */
  extraPages?: ReadonlyArray<{ id: string; name: string; token?: string; tasks?: readonly string[] }>;
}

/** The app the fake knows unless `appId` / `appSecret` say otherwise. */
export const FAKE_FACEBOOK_APP = Object.freeze({ appId: '1234567890123456', appSecret: 'fake-facebook-app-secret' });
/** Page roles' tasks (what /me/accounts lists for a Page admin). */
export const PAGE_ADMIN_TASKS: readonly string[] = ['ANALYZE', 'ADVERTISE', 'MESSAGING', 'MODERATE', 'CREATE_CONTENT', 'MANAGE'];

export interface FakeFacebookPhoto {
  id: string;
  bytes: Buffer;
  filename?: string;
  contentType?: string;
  published: boolean;
  caption?: string;
  /** The post it is in (its own story, or the feed post it is attached to). */
  postId?: string;
  deleted: boolean;
  createdAt: number;
}

export interface FakeFacebookPost {
  id: string;
  message: string;
  photoIds: string[];
  /** How it was made: a feed post, or a published photo's story. */
  via: 'feed' | 'photo';
  createdAt: number;
  deleted: boolean;
  views: number;
  reactions: number;
  comments: number;
  shares: number;
}

export interface FakeFacebookComment {
  /** "<object id without the page part>_<comment id>", as Graph gives them. */
  id: string;
  /** The post (or photo) it is on. */
  parentId: string;
  message: string;
  /** Made by the Page (the token's owner). */
  fromPageId: string;
  createdAt: number;
  deleted: boolean;
}

export interface FakeFacebookRequest {
  method: string;
  path: string;
  /** Query parameters without access_token. */
  query: Record<string, string>;
  /** Form / multipart fields (not files), without access_token. */
  fields: Record<string, string>;
  route?: FacebookRoute;
  status: number;
  at: number;
  /** Where the token came from, when one came. */
  tokenVia?: 'query' | 'form' | 'header';
}

export interface FacebookFailure {
  /** HTTP status. Default 400 for a Graph code, else 503. */
  status?: number;
  /** Graph error code. Default: 2 for a 5xx, else 100. */
  code?: number;
  subcode?: number;
  message?: string;
  type?: string;
  times?: number;
  /** Do the work first, then answer the failure. */
  commit?: boolean;
}

export interface FacebookRateLimit {
  /** estimated_time_to_regain_access in X-Business-Use-Case-Usage (minutes; may be fractional in tests). 0: no estimate. */
  minutes: number;
  /** Throttle code. Default 80001 (too many calls to this Page account). */
  code?: (typeof FACEBOOK_THROTTLE_CODES)[number];
  /** HTTP status. Default 400, as Graph answers most throttles; 429 is seen too. */
  status?: number;
  times?: number;
}

type Json = Record<string, unknown>;
interface Answer { status: number; body: unknown; headers?: Record<string, string> }
class Reply extends Error {
  constructor(readonly answer: Answer) { super(`reply ${answer.status}`); }
}

const THROTTLE_MESSAGES: Record<number, string> = {
  4: '(#4) Application request limit reached',
  17: '(#17) User request limit reached',
  32: '(#32) Page request limit reached',
  613: '(#613) Calls to this api have exceeded the rate limit.',
  80001: '(#80001) There have been too many calls to this Page account. Wait a bit and try again.',
};

export function graphError(status: number, code: number, message: string, extra: { subcode?: number; type?: string; transient?: boolean } = {}): Answer {
  return {
    status,
    body: {
      error: {
        message, type: extra.type ?? (code === 100 || code === 803 ? 'GraphMethodException' : 'OAuthException'), code,
        ...(extra.subcode !== undefined ? { error_subcode: extra.subcode } : {}),
        ...(extra.transient !== undefined ? { is_transient: extra.transient } : {}),
        fbtrace_id: randomBytes(8).toString('base64url'),
      },
    },
  };
}

const fail = (status: number, code: number, message: string, subcode?: number): Reply =>
  new Reply(graphError(status, code, message, subcode !== undefined ? { subcode } : {}));
const noObject = (id: string, verb: string): Reply => fail(400, 100,
  `Unsupported ${verb} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`, 33);

function sniffImage(b: Buffer): boolean {
  return (b[0] === 0xff && b[1] === 0xd8) || b.subarray(1, 4).toString('latin1') === 'PNG' || b.subarray(0, 3).toString('latin1') === 'GIF'
    || (b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP');
}

function fbTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+0000');
}

/** Top-level fields of a Graph `fields` parameter: "a,b.metric(x,y){c,d},e". */
function splitFields(raw: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of raw) {
    if (ch === '(' || ch === '{') depth++;
    if (ch === ')' || ch === '}') depth--;
    if (ch === ',' && depth === 0) { out.push(cur.trim()); cur = ''; } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

export class FakeFacebook {
  /** The Graph base, `http://127.0.0.1:PORT/v25.0`: give it to the app as FACEBOOK_GRAPH_URL. */
  readonly url: string;
  readonly pageId: string;
  readonly pageToken: string;
  readonly pageName: string;
  readonly userToken: string | undefined;
  readonly user: { id: string; name: string };
  /** Permissions of the Page token; change it to script a token without read_insights. */
  pagePermissions: string[];
  readonly posts: FakeFacebookPost[] = [];
  readonly photos: FakeFacebookPhoto[] = [];
  readonly comments: FakeFacebookComment[] = [];
  readonly requests: FakeFacebookRequest[] = [];
  /** Every insights metric a client asked for, in order (post_impressions included). */
  readonly metricsRequested: string[] = [];

  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly now: () => number;
  private readonly metrics: ReadonlySet<string>;
  private readonly failures = new Map<FacebookRoute, Array<{ script: FacebookFailure; left: number }>>();
  private readonly limits = new Map<FacebookRoute, Array<{ script: FacebookRateLimit; left: number }>>();
  private readonly hangs = new Map<FacebookRoute, Array<{ commit: boolean; arrived: () => void }>>();
  private nextId = 100_000_000_000_000n;
  private closed = false;
  // ----- auth (fb_exchange_token, /me/accounts) ----------------------------------------------
  /** Long-lived user tokens issued by the exchange. */
  readonly longLivedUserTokens: string[] = [];
  private userTokensRevoked = false;
  private readonly authOpts: FakeFacebookOptions;

  /** @internal Use startFakeFacebook(). */
  constructor(server: Server, origin: string, opts: FakeFacebookOptions) {
    this.server = server;
    this.url = `${origin}/${GRAPH_VERSION}`;
    this.pageId = opts.pageId ?? '104000000000001';
    this.pageToken = opts.pageToken ?? 'EAAfakePageToken';
    this.pageName = opts.pageName ?? 'Loudhailer Test Police';
    this.userToken = opts.userToken;
    this.authOpts = opts;
    this.user = opts.user ?? { id: '10160000000000001', name: 'Pat Admin' };
    this.pagePermissions = [...(opts.pagePermissions ?? FAKE_PAGE_PERMISSIONS)];
    this.now = opts.now ?? Date.now;
    this.metrics = new Set(opts.metrics ?? VALID_METRICS);
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) this.send(res, undefined, graphError(500, 1, `fake Facebook: ${String(err)}`));
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await done;
  }

  // ----- state for assertions -----------------------------------------------------------------

  /** Posts not deleted, oldest first. */
  livePosts(): FakeFacebookPost[] {
    return this.posts.filter((p) => !p.deleted);
  }
  post(id: string): FakeFacebookPost | undefined {
    return this.posts.find((p) => p.id === id);
  }
  photo(id: string): FakeFacebookPhoto | undefined {
    return this.photos.find((p) => p.id === id);
  }
  comment(id: string): FakeFacebookComment | undefined {
    return this.comments.find((c) => c.id === id);
  }
  /** Live comments on a post (or photo), oldest first. */
  commentsOn(parentId: string): FakeFacebookComment[] {
    return this.comments.filter((c) => c.parentId === parentId && !c.deleted);
  }
  /** The bytes of a post's photos, in order. */
  photoBytes(postId: string): Buffer[] {
    return (this.post(postId)?.photoIds ?? []).map((id) => this.photo(id)!.bytes);
  }
  /** Ids deleted (posts and photos), in order. */
  readonly deleted: string[] = [];
  requestsTo(route: FacebookRoute): FakeFacebookRequest[] {
    return this.requests.filter((r) => r.route === route);
  }

  // ----- scripting ----------------------------------------------------------------------------

  setViews(postId: string, views: number): void {
    this.mustPost(postId).views = views;
  }
  setEngagement(postId: string, e: Partial<Pick<FakeFacebookPost, 'reactions' | 'comments' | 'shares'>>): void {
    Object.assign(this.mustPost(postId), e);
  }
  /** A post made outside the client under test. */
  seedPost(input: { message: string; createdAt?: number }): FakeFacebookPost {
    return this.newPost(input.message, [], 'feed', input.createdAt ?? this.now());
  }
  failNext(route: FacebookRoute, script: FacebookFailure = {}): void {
    this.queue(this.failures, route, script, script.times ?? 1);
  }
  /** The next request(s) to `route` are throttled, with Meta's error and usage header. */
  rateLimitNext(route: FacebookRoute, script: FacebookRateLimit): void {
    this.queue(this.limits, route, script, script.times ?? 1);
  }
  /** The next request to `route` is read and never answered (until close()); `commit` does the work first. */
  hangNext(route: FacebookRoute, script: { commit?: boolean } = {}): Promise<void> {
    return new Promise((resolve) => {
      const list = this.hangs.get(route) ?? [];
      list.push({ commit: script.commit ?? false, arrived: resolve });
      this.hangs.set(route, list);
    });
  }

  private queue<T>(map: Map<FacebookRoute, Array<{ script: T; left: number }>>, route: FacebookRoute, script: T, times: number): void {
    const list = map.get(route) ?? [];
    list.push({ script, left: times });
    map.set(route, list);
  }
  private take<T>(map: Map<FacebookRoute, Array<{ script: T; left: number }>>, route: FacebookRoute): T | undefined {
    const head = map.get(route)?.[0];
    if (!head) return undefined;
    if (--head.left <= 0) map.get(route)!.shift();
    return head.script;
  }

  // ----- HTTP ---------------------------------------------------------------------------------

  /** Every request is answered this many ms late (benchmarks: a network's latency). */
  delayMs = 0;

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const method = (req.method ?? 'GET').toUpperCase();
    const u = new URL(req.url ?? '/', 'http://fake');
    const record: FakeFacebookRequest = { method, path: u.pathname, query: {}, fields: {}, status: 0, at: this.now() };
    this.requests.push(record);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);

    let token: string | undefined;
    for (const [k, v] of u.searchParams) {
      if (k === 'access_token') { token = v; record.tokenVia = 'query'; } else record.query[k] = v;
    }
    const contentType = String(req.headers['content-type'] ?? '');
    const files: Record<string, { data: Buffer; filename?: string; contentType?: string }> = {};
    try {
      if (/^multipart\/form-data/i.test(contentType)) {
        for (const part of parseMultipart(body, contentType)) {
          if (!part.name) continue;
          if (part.filename !== undefined) files[part.name] = { data: Buffer.from(part.data), filename: part.filename, ...(part.contentType ? { contentType: part.contentType } : {}) };
          else record.fields[part.name] = part.data.toString('utf8');
        }
      } else if (/^application\/x-www-form-urlencoded/i.test(contentType)) {
        for (const [k, v] of new URLSearchParams(body.toString('utf8'))) record.fields[k] = v;
      }
    } catch {
      return this.send(res, record, graphError(400, 100, '(#100) The request body could not be parsed'));
    }
    if (record.fields.access_token !== undefined) {
      token = record.fields.access_token;
      record.tokenVia = 'form';
      delete record.fields.access_token;
    }
    const bearer = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
    if (token === undefined && bearer) { token = bearer; record.tokenVia = 'header'; }

    const version = `/${GRAPH_VERSION}`;
    const path = u.pathname.startsWith(version) ? u.pathname.slice(version.length).replace(/\/+$/, '') : undefined;
    const route = path === undefined ? undefined : this.routeOf(method, path);
    if (route) record.route = route.route;
    // auth: the token exchange (no access_token) and a user's Pages (a user token).
    if (method === 'GET' && (path === '/oauth/access_token' || path === '/me/accounts')) {
      return this.send(res, record, path === '/me/accounts' ? this.accounts(token, record.query) : this.exchangeUserToken(record.query));
    }
    if (token === undefined) return this.send(res, record, graphError(400, 104, 'An access token is required to request this resource.'));
    // A user token (not the Page's, short- or long-lived): GET /me is the user.
    if (((this.userToken !== undefined && token === this.userToken) || this.longLivedUserTokens.includes(token)) && route?.route === 'node' && path === '/me') {
      let answer: Answer;
      try {
        answer = this.nodeAnswer('user', { ...record.query, ...record.fields });
      } catch (err) {
        if (!(err instanceof Reply)) throw err;
        answer = err.answer;
      }
      return this.send(res, record, answer);
    }
    if (token !== this.pageToken) return this.send(res, record, graphError(400, 190, 'Invalid OAuth access token - Cannot parse access token'));
    if (!route) return this.send(res, record, graphError(400, 100, `Unknown path components: ${u.pathname}`, { type: 'OAuthException' }));

    const params = { ...record.query, ...record.fields };
    const work = (): Answer => {
      try {
        return route.handler(params, files);
      } catch (err) {
        if (err instanceof Reply) return err.answer;
        throw err;
      }
    };
    const hang = this.hangs.get(route.route)?.shift();
    if (hang) {
      if (hang.commit) work();
      hang.arrived();
      return;
    }
    const limited = this.take(this.limits, route.route);
    if (limited) {
      const code = limited.code ?? 80001;
      const answer = graphError(limited.status ?? 400, code, THROTTLE_MESSAGES[code]!, { transient: true });
      answer.headers = { 'x-business-use-case-usage': this.usage(100, limited.minutes) };
      return this.send(res, record, answer);
    }
    const failure = this.take(this.failures, route.route);
    if (failure) {
      if (failure.commit) work();
      const status = failure.status ?? (failure.code !== undefined ? 400 : 503);
      const code = failure.code ?? (status >= 500 ? 2 : 100);
      const message = failure.message ?? (status >= 500 ? (code === 1 ? 'An unknown error occurred' : '(#2) Service temporarily unavailable') : `(#${code}) Invalid parameter`);
      return this.send(res, record, graphError(status, code, message, {
        ...(failure.subcode !== undefined ? { subcode: failure.subcode } : {}),
        ...(failure.type !== undefined ? { type: failure.type } : {}),
        ...(status >= 500 ? { transient: true } : {}),
      }));
    }
    return this.send(res, record, work());
  }

  private usage(callCount: number, minutes: number): string {
    return JSON.stringify({ [this.pageId]: [{ type: 'pages', call_count: callCount, total_cputime: 1, total_time: 1, estimated_time_to_regain_access: minutes }] });
  }

  private send(res: ServerResponse, record: FakeFacebookRequest | undefined, answer: Answer): void {
    if (record) record.status = answer.status;
    if (res.destroyed || res.headersSent) return;
    const payload = JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      'content-type': 'application/json; charset=UTF-8',
      'content-length': String(Buffer.byteLength(payload)),
      'x-business-use-case-usage': this.usage(1, 0),
      ...answer.headers,
    });
    res.end(payload);
  }

  private routeOf(method: string, path: string):
    { route: FacebookRoute; handler: (p: Record<string, string>, f: Record<string, { data: Buffer; filename?: string; contentType?: string }>) => Answer } | undefined {
    const m = /^\/([^/]+)(?:\/([a-z_]+))?$/.exec(path);
    if (method === 'GET' && path === '') return { route: 'read', handler: (p) => this.read(p) };
    if (!m) return undefined;
    const [, id, edge] = m as unknown as [string, string, string | undefined];
    if (method === 'GET' && !edge && (id === 'me' || id === this.pageId)) return { route: 'node', handler: (p) => this.nodeAnswer('page', p) };
    if (method === 'POST' && edge === 'comments') return { route: 'comments', handler: (p) => this.postComment(id, p) };
    if (edge && id !== this.pageId && id !== 'me') return undefined;
    if (method === 'POST' && edge === 'photos') return { route: 'photos', handler: (p, f) => this.postPhoto(p, f) };
    if (method === 'POST' && edge === 'feed') return { route: 'feed', handler: (p) => this.postFeed(p) };
    if (method === 'GET' && (edge === 'published_posts' || edge === 'feed' || edge === 'posts')) return { route: 'posts', handler: (p) => this.listPosts(p) };
    if (method === 'DELETE' && !edge) return { route: 'delete', handler: () => this.remove(id) };
    if (method === 'GET' && edge === 'insights') return { route: 'insights', handler: (p) => this.pageInsights(p) };
    return undefined;
  }

  // ----- auth: user tokens --------------------------------------------------------------------

  /** Every user token stops working (the user changed their password, or removed the app): 190/460. */
  revokeUserTokens(): void {
    this.userTokensRevoked = true;
  }

  private userTokenError(token: string | undefined): Answer | undefined {
    const known = token !== undefined && (token === this.userToken || this.longLivedUserTokens.includes(token));
    if (!known) return graphError(400, 190, 'Invalid OAuth access token - Cannot parse access token');
    if (this.userTokensRevoked) {
      return graphError(400, 190, 'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.', { subcode: 460 });
    }
    return undefined;
  }

  /** GET /oauth/access_token?grant_type=fb_exchange_token&client_id&client_secret&fb_exchange_token. */
  private exchangeUserToken(q: Record<string, string>): Answer {
    const appId = this.authOpts.appId ?? FAKE_FACEBOOK_APP.appId;
    const appSecret = this.authOpts.appSecret ?? FAKE_FACEBOOK_APP.appSecret;
    if (q.client_id === undefined) return graphError(400, 101, 'Missing client_id parameter.', { type: 'OAuthException' });
    if (q.client_id !== appId) return graphError(400, 101, 'Error validating application. Invalid application ID.', { type: 'OAuthException' });
    if (q.grant_type !== 'fb_exchange_token') return graphError(400, 100, 'Unsupported grant_type', { type: 'OAuthException' });
    if (q.client_secret !== appSecret) return graphError(400, 1, 'Error validating client secret.', { type: 'OAuthException' });
    if (q.fb_exchange_token === undefined) return graphError(400, 100, 'Missing fb_exchange_token parameter.', { type: 'OAuthException' });
    const bad = this.userTokenError(q.fb_exchange_token);
    if (bad) return bad;
    const token = `EAAfakeLongLivedUser${randomBytes(12).toString('hex')}`;
    this.longLivedUserTokens.push(token);
    return { status: 200, body: { access_token: token, token_type: 'bearer', expires_in: 5_183_944 } };
  }

  /** GET /me/accounts with a user token: the Pages, each with its Page token. */
  private accounts(token: string | undefined, q: Record<string, string>): Answer {
    if (token === undefined) return graphError(400, 104, 'An access token is required to request this resource.');
    if (token === this.pageToken) return graphError(400, 100, '(#100) Tried accessing nonexisting field (accounts) on node type (Page)', { type: 'OAuthException' });
    const bad = this.userTokenError(token);
    if (bad) return bad;
    const pages = [
      { id: this.pageId, name: this.pageName, token: this.pageToken, tasks: PAGE_ADMIN_TASKS },
      ...(this.authOpts.extraPages ?? []).map((p) => ({ id: p.id, name: p.name, token: p.token ?? `EAAfakePage${p.id}`, tasks: p.tasks ?? PAGE_ADMIN_TASKS })),
    ];
    const known = new Set(['id', 'name', 'access_token', 'tasks', 'category', 'category_list']);
    const fields = q.fields === undefined ? [...known] : splitFields(q.fields);
    const badField = fields.find((f) => !known.has(f));
    if (badField !== undefined) return graphError(400, 100, `(#100) Tried accessing nonexisting field (${badField}) on node type (Page)`);
    const limit = q.limit === undefined ? 25 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) return graphError(400, 100, '(#100) The parameter limit must be between 1 and 100');
    const offset = q.after === undefined ? 0 : Number(Buffer.from(q.after, 'base64url').toString('latin1')) || 0;
    const data = pages.slice(offset, offset + limit).map((p) => {
      const all: Json = { id: p.id, name: p.name, access_token: p.token, tasks: [...p.tasks], category: 'Police Station', category_list: [{ id: '2235', name: 'Police Station' }] };
      return Object.fromEntries(fields.map((f) => [f, all[f]]));
    });
    const body: Json = { data, paging: { cursors: { before: Buffer.from(String(offset), 'latin1').toString('base64url'), after: Buffer.from(String(offset + data.length), 'latin1').toString('base64url') } } };
    if (offset + limit < pages.length) {
      const next = new URL(`${this.url}/me/accounts`);
      for (const [k, v] of Object.entries({ ...q, access_token: token, limit: String(limit), after: Buffer.from(String(offset + limit), 'latin1').toString('base64url') })) next.searchParams.set(k, v);
      (body.paging as Json).next = next.toString();
    }
    return { status: 200, body };
  }

  /** GET /me or /{page-id}: the Page (or, for `userToken`, the user), with the fields asked for. */
  private nodeAnswer(type: 'page' | 'user', p: Record<string, string>): Answer {
    const fields = splitFields(p.fields ?? 'id,name');
    const values: Json = type === 'page'
      ? { id: this.pageId, name: this.pageName, category: 'Police Station', link: `https://www.facebook.com/${this.pageId}`, fan_count: 1200, can_post: true }
      : { id: this.user.id, name: this.user.name };
    const bad = fields.find((f) => !(f in values));
    if (bad !== undefined) throw fail(400, 100, `(#100) Tried accessing nonexisting field (${bad}) on node type (${type === 'page' ? 'Page' : 'User'})`);
    const out: Json = Object.fromEntries(fields.map((f) => [f, values[f]]));
    out.id = values.id;
    if (p.metadata === '1' || p.metadata === 'true') out.metadata = { type };
    return { status: 200, body: out };
  }

  /** GET /{page-id}/insights?metric=…&period=…: needs read_insights. */
  private pageInsights(p: Record<string, string>): Answer {
    if (!this.pagePermissions.includes('read_insights')) {
      throw fail(403, 10, '(#10) This endpoint requires the \'read_insights\' permission or the \'pages_read_engagement\' permission.');
    }
    const names = (p.metric ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    if (names.length === 0 || names.some((n) => !PAGE_METRICS.includes(n))) throw fail(400, 100, '(#100) The value must be a valid insights metric');
    const period = p.period ?? 'day';
    const endTime = fbTime(this.now());
    return {
      status: 200,
      body: {
        data: names.map((name) => ({
          name, period, values: [{ value: 0, end_time: endTime }], title: name, description: `${period}: fake`, id: `${this.pageId}/insights/${name}/${period}`,
        })),
        paging: {},
      },
    };
  }

  // ----- endpoints ----------------------------------------------------------------------------

  private postPhoto(p: Record<string, string>, files: Record<string, { data: Buffer; filename?: string; contentType?: string }>): Answer {
    const source = files.source;
    if (!source) throw fail(400, 324, '(#324) Requires upload file');
    if (!sniffImage(source.data)) throw fail(400, 324, '(#324) Missing or invalid image file');
    const published = p.published === undefined ? true : !/^(false|0)$/i.test(p.published);
    const caption = p.message ?? p.caption;
    const photo: FakeFacebookPhoto = {
      id: this.id(), bytes: source.data, published, deleted: false, createdAt: this.now(),
      ...(source.filename !== undefined ? { filename: source.filename } : {}),
      ...(source.contentType !== undefined ? { contentType: source.contentType } : {}),
      ...(caption !== undefined ? { caption } : {}),
    };
    this.photos.push(photo);
    if (!published) return { status: 200, body: { id: photo.id } };
    const post = this.newPost(caption ?? '', [photo.id], 'photo', photo.createdAt);
    photo.postId = post.id;
    return { status: 200, body: { id: photo.id, post_id: post.id } };
  }

  private postFeed(p: Record<string, string>): Answer {
    const photoIds: string[] = [];
    const entries = Object.entries(p).filter(([k]) => /^attached_media\[\d+\]$/.test(k))
      .sort(([a], [b]) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]));
    for (const [k, v] of entries) {
      let fbid: unknown;
      try { fbid = (JSON.parse(v) as { media_fbid?: unknown }).media_fbid; } catch { /* below */ }
      const photo = typeof fbid === 'string' ? this.photo(fbid) : undefined;
      if (!photo || photo.deleted) throw fail(400, 100, `(#100) param ${k} has invalid media_fbid`);
      if (photo.published || photo.postId) throw fail(400, 100, `(#100) ${k}: the photo is already published`);
      photoIds.push(photo.id);
    }
    const message = p.message ?? '';
    if (message.trim() === '' && photoIds.length === 0 && !p.link) throw fail(400, 100, '(#100) Missing message or attachment');
    if (message !== '' && this.posts.some((x) => !x.deleted && x.via === 'feed' && x.message === message)) {
      throw fail(400, 506, '(#506) Duplicate status message');
    }
    const post = this.newPost(message, photoIds, 'feed', this.now());
    for (const id of photoIds) this.photo(id)!.postId = post.id;
    return { status: 200, body: { id: post.id } };
  }

  private postComment(parentId: string, p: Record<string, string>): Answer {
    const post = this.post(parentId);
    const photo = post ? undefined : this.photo(parentId);
    if ((!post || post.deleted) && (!photo || photo.deleted)) throw noObject(parentId, 'post');
    // Stricter than Graph may be, on purpose: a wrong field name (`text`, which a Photo's edge
    // takes but a post's does not) would otherwise post an empty comment unnoticed.
    const known = post ? COMMENT_PARAMS : PHOTO_COMMENT_PARAMS;
    const unknown = Object.keys(p).find((k) => !known.has(k) && !GENERIC_PARAMS.has(k));
    if (unknown !== undefined) throw fail(400, 100, `(#100) Param ${unknown} is not a valid parameter for this edge`);
    const message = p.message ?? (post ? p.comment : p.text) ?? '';
    if (message.trim() === '' && !p.attachment_id && !p.attachment_url && !p.attachment_share_url) {
      throw fail(400, 100, '(#100) Missing message or attachment');
    }
    const objectPart = parentId.includes('_') ? parentId.split('_')[1]! : parentId;
    const comment: FakeFacebookComment = {
      id: `${objectPart}_${this.id()}`, parentId, message, fromPageId: this.pageId, createdAt: this.now(), deleted: false,
    };
    this.comments.push(comment);
    if (post) post.comments += 1;
    return { status: 200, body: { id: comment.id } };
  }

  private listPosts(p: Record<string, string>): Answer {
    const limit = p.limit === undefined ? 25 : Number(p.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw fail(400, 100, '(#100) The parameter limit must be between 1 and 100');
    const fields = splitFields(p.fields ?? 'id,message,created_time');
    const known = new Set(['id', 'message', 'created_time', 'permalink_url', 'updated_time']);
    const bad = fields.find((f) => !known.has(f));
    if (bad) throw fail(400, 100, `(#100) Tried accessing nonexisting field (${bad}) on node type (PagePost)`);
    const since = p.since === undefined ? undefined : Number(p.since) * 1000;
    const until = p.until === undefined ? undefined : Number(p.until) * 1000;
    const offset = p.after === undefined ? 0 : Number(Buffer.from(p.after, 'base64url').toString('latin1'));
    const matching = this.posts.filter((x) => !x.deleted)
      .filter((x) => (since === undefined || Math.floor(x.createdAt / 1000) * 1000 >= since) && (until === undefined || x.createdAt <= until))
      .sort((a, b) => b.createdAt - a.createdAt);
    const page = matching.slice(offset, offset + limit).map((x) => {
      const out: Json = { id: x.id };
      if (fields.includes('message') && x.message) out.message = x.message;
      if (fields.includes('created_time')) out.created_time = fbTime(x.createdAt);
      if (fields.includes('updated_time')) out.updated_time = fbTime(x.createdAt);
      if (fields.includes('permalink_url')) out.permalink_url = `https://www.facebook.com/${this.pageId}/posts/pfbid0${x.id.split('_')[1]}`;
      return out;
    });
    const body: Json = { data: page };
    if (offset + limit < matching.length) {
      const after = Buffer.from(String(offset + limit), 'latin1').toString('base64url');
      const next = new URL(`${this.url}/${this.pageId}/published_posts`);
      for (const [k, v] of Object.entries({ ...p, access_token: this.pageToken, after })) next.searchParams.set(k, v);
      body.paging = { cursors: { before: 'MA', after }, next: next.toString() };
    }
    return { status: 200, body };
  }

  private read(p: Record<string, string>): Answer {
    const ids = (p.ids ?? '').split(',').filter(Boolean);
    if (ids.length === 0) throw fail(400, 100, '(#100) Missing ids');
    if (ids.length > 50) throw fail(400, 100, `(#100) Too many IDs. Maximum: 50. Provided: ${ids.length}.`);
    const fields = splitFields(p.fields ?? 'id');
    for (const f of fields) {
      const metric = /^insights\.metric\(([^)]*)\)/.exec(f)?.[1];
      if (f.startsWith('insights')) {
        const names = (metric ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        this.metricsRequested.push(...names);
        const badMetric = names.find((n) => !this.metrics.has(n));
        if (badMetric !== undefined || names.length === 0) throw fail(400, 100, '(#100) The value must be a valid insights metric');
      } else if (!/^(id|message|created_time|shares|reactions|comments)\b/.test(f)) {
        throw fail(400, 100, `(#100) Tried accessing nonexisting field (${f}) on node type (PagePost)`);
      }
    }
    const missing = ids.filter((id) => !this.post(id) || this.post(id)!.deleted);
    if (missing.length) throw fail(404, 803, `(#803) Some of the aliases you requested do not exist: ${missing.join(',')}`);
    const body: Json = {};
    for (const id of ids) {
      const post = this.post(id)!;
      const out: Json = { id };
      for (const f of fields) {
        if (f.startsWith('insights')) {
          const names = /^insights\.metric\(([^)]*)\)/.exec(f)![1]!.split(',').map((s) => s.trim());
          const period = /\.period\(([a-z_]+)\)/.exec(f)?.[1] ?? 'lifetime';
          out.insights = {
            data: names.map((name) => ({
              name, period, values: [{ value: name === 'post_media_view' ? post.views : 0 }],
              title: name === 'post_media_view' ? 'Views' : name, description: 'Lifetime: fake', id: `${id}/insights/${name}/${period}`,
            })),
            paging: {},
          };
        }
        if (f.startsWith('reactions')) out.reactions = { data: [], summary: { total_count: post.reactions, viewer_reaction: 'NONE' } };
        if (f.startsWith('comments')) out.comments = { data: [], summary: { order: 'ranked', total_count: post.comments, can_comment: true } };
        if (f === 'shares' && post.shares > 0) out.shares = { count: post.shares };
        if (f === 'message') out.message = post.message;
        if (f === 'created_time') out.created_time = fbTime(post.createdAt);
      }
      body[id] = out;
    }
    return { status: 200, body };
  }

  private remove(id: string): Answer {
    const post = this.post(id);
    const photo = this.photo(id);
    const comment = this.comment(id);
    if (post && !post.deleted) {
      post.deleted = true;
      this.deleted.push(id);
      for (const c of this.commentsOn(id)) c.deleted = true; // a post's comments go with it
      return { status: 200, body: { success: true } };
    }
    if (comment && !comment.deleted) {
      comment.deleted = true;
      this.deleted.push(id);
      const parent = this.post(comment.parentId);
      if (parent && parent.comments > 0) parent.comments -= 1;
      return { status: 200, body: { success: true } };
    }
    if (photo && !photo.deleted) {
      photo.deleted = true;
      this.deleted.push(id);
      // A published photo's story goes with it.
      const story = photo.postId ? this.post(photo.postId) : undefined;
      if (story && story.via === 'photo' && !story.deleted) { story.deleted = true; this.deleted.push(story.id); }
      return { status: 200, body: { success: true } };
    }
    throw noObject(id, 'delete');
  }

  // ----- records ------------------------------------------------------------------------------

  private id(): string {
    return String(this.nextId++);
  }
  private newPost(message: string, photoIds: string[], via: FakeFacebookPost['via'], createdAt: number): FakeFacebookPost {
    const post: FakeFacebookPost = { id: `${this.pageId}_${this.id()}`, message, photoIds, via, createdAt, deleted: false, views: 0, reactions: 0, comments: 0, shares: 0 };
    this.posts.push(post);
    return post;
  }
  private mustPost(id: string): FakeFacebookPost {
    const post = this.post(id);
    if (!post) throw new Error(`fake Facebook: no post ${id}`);
    return post;
  }
}

export async function startFakeFacebook(opts: FakeFacebookOptions = {}): Promise<FakeFacebook> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return new FakeFacebook(server, `http://127.0.0.1:${port}`, opts);
}
