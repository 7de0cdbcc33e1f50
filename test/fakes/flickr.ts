/**
 * A wire-level fake of Flickr for tests: a real HTTP server on 127.0.0.1 (random port) with
 *
 *   GET|POST /services/rest     ?method=…&format=json&nojsoncallback=1 (reads GET, writes POST
 *                               multipart, as flickr-sdk 7 sends them); JSON answers, failures as
 *                               HTTP 200 {"stat":"fail","code","message"}
 *   POST     /services/upload   multipart: photo (file), title, description, tags, is_public, …;
 *                               XML answers <rsp stat="ok"><photoid secret originalsecret>ID</photoid></rsp>
 *
 * Methods: flickr.test.login, flickr.auth.oauth.checkToken (the token's perms and user, as in
 * flickr.auth.oauth.checkToken.json; signed, any permission), flickr.people.getPhotos, flickr.photos.delete,
 * flickr.photosets.{create,addPhoto,getList,getPhotos,delete},
 * flickr.photos.comments.{addComment,deleteComment}. Shapes follow
 * /work/shared/api-specs/flickr (text as {"_content"}, counts such as `views` as strings).
 * The comment methods follow flickr-sdk's reflection dump (src/flickr.photos.comments.*.json;
 * not among the copied specs): addComment(photo_id, comment_text) needs write permission, answers
 * 1 "Photo not found." (unknown or deleted photo) and 8 "Blank comment."; deleteComment(comment_id)
 * needs write permission, answers 2 "Comment not found." and 1 "Photo not found." (the photo it was
 * on is gone). addComment answers {"comment":{id, author, authorname, datecreate, permalink,
 * _content}} (`commentAnswer = 'id-only'`: just {"comment":{"id"}}, as the reflection's example).
 *
 * Every request is checked for OAuth 1.0a HMAC-SHA1 with the oauth_* params in the query or
 * the form body (never a header), signed — like flickr-sdk does — for Flickr's own URL
 * (https://api.flickr.com/services/rest, https://up.flickr.com/services/upload), not the
 * fake's; the upload's `photo` part is not signed. Failures are Flickr's: 96 invalid
 * signature, 97 missing signature, 98 invalid token, 99 insufficient permissions, 100 invalid key.
 *
 * The sign-in (`loudhailer auth flickr`; Flickr's "User Authentication" OAuth 1.0a flow) under
 * `oauthUrl` (…/services/oauth/), signed for https://www.flickr.com/services/oauth/… as flickr-sdk does:
 *   GET /services/oauth/request_token   oauth_callback (oob) → oauth_callback_confirmed=true&oauth_token&oauth_token_secret
 *   GET /services/oauth/authorize       ?oauth_token&perms=read|write|delete: the page the user sees after "OK, I'll
 *                                       authorize it", with the 9-digit code (oob) in <span id="verifier">123-456-789</span>
 *   GET /services/oauth/access_token    oauth_token (the request token) + oauth_verifier → fullname, oauth_token,
 *                                       oauth_token_secret, user_nsid, username: the fake's own token (`perms` become
 *                                       the ones authorized). Refusals are HTTP 401 `oauth_problem=…`
 *                                       (signature_invalid, consumer_key_unknown, parameter_absent, timestamp_refused,
 *                                       nonce_used, token_rejected, verifier_invalid), as Flickr answers.
 *
 *   const f = await startFakeFlickr({ apiKey, apiSecret, oauthToken, oauthSecret });
 *   // FLICKR_API_URL=f.apiUrl FLICKR_UPLOAD_URL=f.uploadUrl
 *   f.failNext('upload', { status: 503, commit: true });          // takes it, answers 503
 *   f.failNext('flickr.photos.delete', { code: 1, message: 'Photo not found' });
 *   f.rateLimitNext('upload', 30);                                // HTTP 429, Retry-After: 30
 *   const arrived = f.hangNext('upload', { commit: true });       // takes it, never answers
 *   f.setViews(photoId, 120);
 *   f.livePhotos(); f.photosets; f.requests; f.commentsOn(photoId);
 *
 * Scripts are per route (a method name or 'upload'), optionally only for requests whose params
 * match `when`; they are used by requests that pass the OAuth check: hang, rate limit, failure.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { parseMultipart } from './multipart.js';
import { decodeParams, hmacSha1Signature, signatureBaseString, type Param } from './x-oauth.js';

export const FLICKR_SIGNED_REST_URL = 'https://api.flickr.com/services/rest';
export const FLICKR_SIGNED_UPLOAD_URL = 'https://up.flickr.com/services/upload';

export interface FlickrCredentials { apiKey: string; apiSecret: string; oauthToken: string; oauthSecret: string }

export const FAKE_FLICKR_CREDENTIALS: Readonly<FlickrCredentials> = Object.freeze({
  apiKey: 'fake-flickr-api-key', apiSecret: 'fake-flickr-api-secret',
  oauthToken: '72157700000000000-fakeflickrtoken', oauthSecret: 'fake-flickr-oauth-secret',
});

export type FlickrMethod =
  | 'flickr.test.login' | 'flickr.people.getPhotos' | 'flickr.photos.delete'
  | 'flickr.photosets.create' | 'flickr.photosets.addPhoto' | 'flickr.photosets.getList'
  | 'flickr.photosets.getPhotos' | 'flickr.photosets.delete'
  | 'flickr.photos.comments.addComment' | 'flickr.photos.comments.deleteComment'
  | 'flickr.auth.oauth.checkToken';
export type FlickrRoute = FlickrMethod | 'upload';

export interface FakeFlickrOptions extends Partial<FlickrCredentials> {
  /** The account's NSID. Default '190000001@N02'. */
  nsid?: string;
  username?: string;
  /** What the token may do. Default 'delete' (everything). */
  perms?: 'read' | 'write' | 'delete';
  /** The account's full name (flickr.auth.oauth.checkToken user.fullname). Default 'Loudhailer Test Police'. */
  fullname?: string;
  /** Clock (ms) for upload dates. OAuth timestamps are checked against the real clock. */
  now?: () => number;
}

export interface FakeFlickrPhoto {
  id: string; secret: string; title: string; description: string; tags: string[];
  bytes: Buffer; filename?: string; contentType?: string;
  isPublic: boolean; isFriend: boolean; isFamily: boolean;
  uploadedAt: number; views: number; deleted: boolean;
}

export interface FakeFlickrPhotoset {
  id: string; title: string; description: string; primary: string; photoIds: string[];
  createdAt: number; deleted: boolean;
}

export interface FakeFlickrComment {
  /** "<author number>-<photo id>-<serial>", the shape of Flickr's comment ids. */
  id: string;
  photoId: string;
  /** The author's NSID (the account the token belongs to). */
  author: string;
  text: string;
  createdAt: number;
  deleted: boolean;
}

export interface FakeFlickrRequest {
  route?: FlickrRoute;
  httpMethod: string;
  path: string;
  /** Signed and unsigned params (oauth_signature left out; never the photo bytes). */
  params: Record<string, string>;
  /** HTTP status; 0 while (or when) the request hangs. */
  status: number;
  /** Flickr's error code when it answered stat=fail. */
  errorCode?: number;
  /** Why the OAuth check failed. */
  authError?: string;
}

export interface FailureScript {
  /** HTTP status to answer (e.g. 503). */
  status?: number;
  /** Or a Flickr error: HTTP 200 with stat=fail and this code. */
  code?: number;
  message?: string;
  times?: number;
  /** Do the work first, then answer the failure. */
  commit?: boolean;
  /** Only requests whose params match. */
  when?: (params: Record<string, string>) => boolean;
}

interface Pending<T> { script: T; left: number }

const READ_METHODS = new Set<string>(['flickr.test.login', 'flickr.people.getPhotos', 'flickr.photosets.getList', 'flickr.photosets.getPhotos']);
const DELETE_METHODS = new Set<string>(['flickr.photos.delete']);
const TOLERANCE_S = 300;

class Answer {
  constructor(readonly code: number, readonly message: string) {}
}

export class FakeFlickr {
  readonly apiUrl: string;
  readonly uploadUrl: string;
  readonly nsid: string;
  readonly username: string;
  readonly photos: FakeFlickrPhoto[] = [];
  readonly photosets: FakeFlickrPhotoset[] = [];
  readonly comments: FakeFlickrComment[] = [];
  readonly requests: FakeFlickrRequest[] = [];
  perms: 'read' | 'write' | 'delete';
  readonly fullname: string;
  /** How addComment answers: the whole comment (with its permalink), or only its id. */
  commentAnswer: 'full' | 'id-only' = 'full';

  private readonly creds: FlickrCredentials;
  private readonly now: () => number;
  private readonly nonces = new Set<string>();
  private readonly failures = new Map<FlickrRoute, Array<Pending<FailureScript>>>();
  private readonly rateLimits = new Map<FlickrRoute, Array<Pending<{ seconds: number; when?: FailureScript['when'] }>>>();
  private readonly hangs = new Map<FlickrRoute, Array<{ commit: boolean; when?: FailureScript['when']; arrived: () => void }>>();
  private readonly sockets = new Set<Socket>();
  private nextPhoto = 53_100_000_001n;
  private nextSet = 72_177_720_300_000_001n;
  private nextComment = 72_157_720_400_000_001n;
  private closed = false;
  // ----- sign-in (services/oauth) --------------------------------------------------------------
  /** The sign-in endpoints' base, `http://127.0.0.1:PORT/services/oauth/`: FLICKR_OAUTH_URL. */
  readonly oauthUrl: string;
  /** Request tokens issued, by token: their secret, and once authorized, the perms and the code. */
  readonly requestTokens = new Map<string, { secret: string; perms?: 'read' | 'write' | 'delete'; verifier?: string; used: boolean }>();

  constructor(private readonly server: Server, origin: string, opts: FakeFlickrOptions) {
    this.apiUrl = `${origin}/services/rest`;
    this.oauthUrl = `${origin}/services/oauth/`;
    this.uploadUrl = `${origin}/services/upload`;
    this.creds = { ...FAKE_FLICKR_CREDENTIALS, ...pick(opts) };
    this.nsid = opts.nsid ?? '190000001@N02';
    this.username = opts.username ?? 'loudhailer_test_police';
    this.perms = opts.perms ?? 'delete';
    this.fullname = opts.fullname ?? 'Loudhailer Test Police';
    this.now = opts.now ?? Date.now;
    server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    server.on('request', (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) { res.writeHead(500, { 'content-type': 'text/plain' }); res.end(`fake Flickr: ${String(err)}`); }
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

  // ----- state and scripting ----------------------------------------------------------------

  livePhotos(): FakeFlickrPhoto[] { return this.photos.filter((p) => !p.deleted); }
  livePhotosets(): FakeFlickrPhotoset[] { return this.photosets.filter((s) => !s.deleted); }
  photo(id: string): FakeFlickrPhoto | undefined { return this.photos.find((p) => p.id === id); }
  photoset(id: string): FakeFlickrPhotoset | undefined { return this.photosets.find((s) => s.id === id); }
  requestsTo(route: FlickrRoute): FakeFlickrRequest[] { return this.requests.filter((r) => r.route === route); }
  comment(id: string): FakeFlickrComment | undefined { return this.comments.find((c) => c.id === id); }
  /** Live comments on a live photo, oldest first (a deleted photo's comments go with it). */
  commentsOn(photoId: string): FakeFlickrComment[] {
    const p = this.photo(photoId);
    if (!p || p.deleted) return [];
    return this.comments.filter((c) => c.photoId === photoId && !c.deleted);
  }

  setViews(photoId: string, views: number): void {
    const p = this.photo(photoId);
    if (!p) throw new Error(`fake Flickr: no photo ${photoId}`);
    p.views = views;
  }

  /** A photo as if uploaded earlier (by hand, or by another run). */
  seedPhoto(input: Partial<Omit<FakeFlickrPhoto, 'id' | 'secret'>>): FakeFlickrPhoto {
    const photo: FakeFlickrPhoto = {
      id: String(this.nextPhoto++), secret: randomBytes(5).toString('hex'), title: '', description: '', tags: [], bytes: Buffer.alloc(0),
      isPublic: true, isFriend: false, isFamily: false, uploadedAt: this.now(), views: 0, deleted: false, ...input,
    };
    this.photos.push(photo);
    return photo;
  }

  failNext(route: FlickrRoute, script: FailureScript): void {
    this.queue(this.failures, route, { script, left: script.times ?? 1 });
  }

  /** Forgets every scripted failure, rate limit and hang still waiting (Flickr is healthy again). */
  clearScripts(): void {
    this.failures.clear();
    this.rateLimits.clear();
    this.hangs.clear();
  }

  /** HTTP 429 with Retry-After: `seconds`, once. */
  rateLimitNext(route: FlickrRoute, seconds: number, when?: FailureScript['when']): void {
    this.queue(this.rateLimits, route, { script: { seconds, ...(when ? { when } : {}) }, left: 1 });
  }

  /** The next request holds forever (until close); resolves when it arrives. `commit`: the work is done first. */
  hangNext(route: FlickrRoute, opts: { commit?: boolean; when?: FailureScript['when'] } = {}): Promise<void> {
    return new Promise((arrived) => {
      const list = this.hangs.get(route) ?? [];
      list.push({ commit: opts.commit ?? false, ...(opts.when ? { when: opts.when } : {}), arrived });
      this.hangs.set(route, list);
    });
  }

  private queue<T>(map: Map<FlickrRoute, T[]>, route: FlickrRoute, item: T): void {
    const list = map.get(route) ?? [];
    list.push(item);
    map.set(route, list);
  }

  private take<T extends { when?: FailureScript['when'] }>(list: Array<Pending<T>> | undefined, params: Record<string, string>): T | undefined {
    const i = list?.findIndex((p) => !p.script.when || p.script.when(params)) ?? -1;
    if (!list || i < 0) return undefined;
    const p = list[i]!;
    if (--p.left <= 0) list.splice(i, 1);
    return p.script;
  }

  // ----- HTTP ----------------------------------------------------------------------------------

  /** Every request is answered this many ms late (benchmarks: a network's latency). */
  delayMs = 0;

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname.replace(/\/+$/, '');
    const isUpload = path === '/services/upload';
    if (path.startsWith('/services/oauth/')) { this.signIn(req.method ?? 'GET', path.slice('/services/oauth/'.length), url, res); return; }
    if (!isUpload && path !== '/services/rest') { res.writeHead(404, { 'content-type': 'text/plain' }); res.end('Not Found'); return; }

    const signed: Param[] = decodeParams(url.search.slice(1));
    let photo: { data: Buffer; filename?: string; contentType?: string } | undefined;
    const contentType = req.headers['content-type'] ?? '';
    if (req.method === 'POST' && /multipart\/form-data/i.test(contentType)) {
      for (const part of parseMultipart(body, contentType)) {
        if (part.name === 'photo' && isUpload) photo = { data: part.data, ...(part.filename ? { filename: part.filename } : {}), ...(part.contentType ? { contentType: part.contentType } : {}) };
        else if (part.name !== undefined) signed.push([part.name, part.data.toString('utf8')]);
      }
    } else if (req.method === 'POST' && /application\/x-www-form-urlencoded/i.test(contentType)) {
      signed.push(...decodeParams(body.toString('utf8')));
    }
    const params = Object.fromEntries(signed.filter(([k]) => k !== 'oauth_signature'));
    const route: FlickrRoute | undefined = isUpload ? 'upload' : (params.method as FlickrMethod | undefined);
    const record: FakeFlickrRequest = { ...(route ? { route } : {}), httpMethod: req.method ?? 'GET', path, params, status: 0 };
    this.requests.push(record);
    const xml = isUpload || params.format !== 'json';
    const reply = (status: number, answer: object | Answer, headers: Record<string, string> = {}) => {
      record.status = status;
      if (answer instanceof Answer) record.errorCode = answer.code;
      if (xml) {
        const inner = answer instanceof Answer ? `<err code="${answer.code}" msg="${escapeXml(answer.message)}" />` : (answer as { xml: string }).xml;
        res.writeHead(status, { 'content-type': 'text/xml; charset=utf-8', ...headers });
        res.end(`<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="${answer instanceof Answer ? 'fail' : 'ok'}">\n${inner}\n</rsp>\n`);
        return;
      }
      const json = JSON.stringify(answer instanceof Answer ? { stat: 'fail', code: answer.code, message: answer.message } : { ...answer, stat: 'ok' });
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(params.nojsoncallback === '1' ? json : `jsonFlickrApi(${json})`);
    };

    const auth = this.verify(req.method ?? 'GET', isUpload ? FLICKR_SIGNED_UPLOAD_URL : FLICKR_SIGNED_REST_URL, signed, route);
    if (auth) { record.authError = auth.reason; reply(200, auth.answer); return; }
    if (!route) { reply(200, new Answer(112, 'Method "" not found')); return; }

    const work = (): object | Answer => {
      try {
        return isUpload ? this.upload(params, photo) : this.rest(route as FlickrMethod, params);
      } catch (err) {
        if (err instanceof Answer) return err;
        throw err;
      }
    };
    const hangs = this.hangs.get(route);
    const hi = hangs?.findIndex((h) => !h.when || h.when(params)) ?? -1;
    if (hangs && hi >= 0) {
      const [hang] = hangs.splice(hi, 1);
      if (hang!.commit) work();
      hang!.arrived();
      return; // never answered; close() destroys the socket
    }
    const rate = this.take(this.rateLimits.get(route), params);
    if (rate) { reply(429, new Answer(429, 'Too Many Requests'), { 'retry-after': String(rate.seconds) }); return; }
    const failure = this.take(this.failures.get(route), params);
    if (failure) {
      if (failure.commit) work();
      if (failure.code !== undefined) reply(200, new Answer(failure.code, failure.message ?? 'Scripted failure'));
      else reply(failure.status ?? 503, new Answer(105, 'Service currently unavailable'));
      return;
    }
    reply(200, work());
  }

  /** The OAuth 1.0a check; undefined when it passes. */
  private verify(method: string, signedUrl: string, params: Param[], route: FlickrRoute | undefined): { answer: Answer; reason: string } | undefined {
    const get = (k: string) => params.find(([key]) => key === k)?.[1];
    const fail = (code: number, message: string, reason: string) => ({ answer: new Answer(code, message), reason });
    const signature = get('oauth_signature');
    const key = get('oauth_consumer_key') ?? get('api_key');
    if (key !== this.creds.apiKey) return fail(100, 'Invalid API Key (Key not found)', 'unknown consumer key');
    if (!signature) {
      if (route && READ_METHODS.has(route) && route !== 'flickr.test.login' && get('user_id') !== 'me') return undefined; // api_key-only public read
      return fail(97, 'Missing signature', 'oauth_signature missing');
    }
    if (get('oauth_signature_method') !== 'HMAC-SHA1') return fail(96, 'Invalid signature', 'signature method is not HMAC-SHA1');
    const ts = Number(get('oauth_timestamp'));
    if (!Number.isFinite(ts) || Math.abs(Date.now() / 1000 - ts) > TOLERANCE_S) return fail(96, 'Invalid signature', 'oauth_timestamp out of range');
    const base = signatureBaseString(method, signedUrl, params.filter(([k]) => k !== 'oauth_signature'));
    if (get('oauth_token') !== this.creds.oauthToken) return fail(98, 'Invalid auth token', 'unknown oauth_token');
    const expected = Buffer.from(hmacSha1Signature(base, this.creds.apiSecret, this.creds.oauthSecret));
    const got = Buffer.from(signature);
    if (expected.length !== got.length || !timingSafeEqual(expected, got)) return fail(96, 'Invalid signature', 'signature mismatch');
    const nonce = get('oauth_nonce') ?? '';
    if (!nonce || this.nonces.has(nonce)) return fail(96, 'Invalid signature', 'oauth_nonce missing or reused');
    this.nonces.add(nonce);
    // flickr.auth.oauth.checkToken: requiredperms 0 (any token may ask about itself), but signed.
    const needs = !route || READ_METHODS.has(route) || route === 'flickr.auth.oauth.checkToken' ? 'read' : DELETE_METHODS.has(route) ? 'delete' : 'write';
    const rank = { read: 1, write: 2, delete: 3 } as const;
    if (rank[this.perms] < rank[needs]) return fail(99, 'Insufficient permissions. Method requires ' + needs + ' privileges; ' + this.perms + ' granted.', 'insufficient permissions');
    return undefined;
  }

  // ----- sign-in (services/oauth) --------------------------------------------------------------

  private signIn(method: string, step: string, url: URL, res: ServerResponse): void {
    const params: Param[] = decodeParams(url.search.slice(1));
    const get = (k: string) => params.find(([key]) => key === k)?.[1];
    this.requests.push({ httpMethod: method, path: url.pathname, params: Object.fromEntries(params.filter(([k]) => k !== 'oauth_signature')), status: 0 });
    const record = this.requests[this.requests.length - 1]!;
    const form = (status: number, body: Record<string, string>) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'text/plain;charset=UTF-8' });
      res.end(new URLSearchParams(body).toString().replace(/\+/g, '%20'));
    };
    const problem = (p: string, extra: Record<string, string> = {}) => {
      record.authError = p;
      form(401, { oauth_problem: p, ...extra });
    };
    if (step === 'authorize') {
      const entry = this.requestTokens.get(get('oauth_token') ?? '');
      const perms = get('perms') ?? 'read';
      const html = (status: number, text: string) => {
        record.status = status;
        res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
        res.end(`<!doctype html><html><body>${text}</body></html>`);
      };
      if (!entry || entry.used) return html(400, '<p>Oops! Flickr can\'t find a valid callback URL.</p>');
      if (perms !== 'read' && perms !== 'write' && perms !== 'delete') return html(400, '<p>Invalid perms.</p>');
      const digits = String(100_000_000 + (randomBytes(4).readUInt32BE() % 900_000_000));
      entry.perms = perms;
      entry.verifier = `${digits.slice(0, 3)}-${digits.slice(3, 6)}-${digits.slice(6)}`;
      return html(200, `<p>You have successfully authorized the application. Your code is:</p><p><span id="verifier">${entry.verifier}</span></p>`);
    }
    if (method !== 'GET' || (step !== 'request_token' && step !== 'access_token')) { record.status = 404; res.writeHead(404, { 'content-type': 'text/plain' }); res.end('Not Found'); return; }

    const required = ['oauth_consumer_key', 'oauth_nonce', 'oauth_signature', 'oauth_signature_method', 'oauth_timestamp', ...(step === 'request_token' ? ['oauth_callback'] : ['oauth_token', 'oauth_verifier'])];
    const absent = required.filter((k) => !get(k));
    if (absent.length > 0) return problem('parameter_absent', { oauth_parameters_absent: absent.join('&') });
    if (get('oauth_consumer_key') !== this.creds.apiKey) return problem('consumer_key_unknown');
    if (get('oauth_signature_method') !== 'HMAC-SHA1') return problem('signature_method_rejected');
    if (Math.abs(Date.now() / 1000 - Number(get('oauth_timestamp'))) > TOLERANCE_S) return problem('timestamp_refused');
    const entry = step === 'access_token' ? this.requestTokens.get(get('oauth_token')!) : undefined;
    if (step === 'access_token' && (!entry || entry.used)) return problem('token_rejected');
    const base = signatureBaseString('GET', `https://www.flickr.com/services/oauth/${step}`, params.filter(([k]) => k !== 'oauth_signature'));
    const expected = Buffer.from(hmacSha1Signature(base, this.creds.apiSecret, entry?.secret ?? ''));
    const got = Buffer.from(get('oauth_signature')!);
    if (expected.length !== got.length || !timingSafeEqual(expected, got)) return problem('signature_invalid', { debug_sbs: base });
    const nonce = get('oauth_nonce')!;
    if (this.nonces.has(nonce)) return problem('nonce_used');
    this.nonces.add(nonce);

    if (step === 'request_token') {
      const token = `72157720${randomBytes(6).readUIntBE(0, 6).toString().padStart(12, '0').slice(0, 9)}-${randomBytes(8).toString('hex')}`;
      this.requestTokens.set(token, { secret: randomBytes(8).toString('hex'), used: false });
      return form(200, { oauth_callback_confirmed: 'true', oauth_token: token, oauth_token_secret: this.requestTokens.get(token)!.secret });
    }
    if (!entry!.verifier || get('oauth_verifier') !== entry!.verifier) return problem('verifier_invalid');
    entry!.used = true;
    this.perms = entry!.perms ?? 'read';
    return form(200, { fullname: this.fullname, oauth_token: this.creds.oauthToken, oauth_token_secret: this.creds.oauthSecret, user_nsid: this.nsid, username: this.username });
  }

  // ----- Flickr ---------------------------------------------------------------------------------

  private upload(params: Record<string, string>, photo: { data: Buffer; filename?: string; contentType?: string } | undefined): object {
    if (!photo) throw new Answer(2, 'No photo specified');
    if (photo.data.length === 0) throw new Answer(4, 'Filesize was zero');
    if (!isImage(photo.data)) throw new Answer(5, 'Filetype was not recognised');
    const p = this.seedPhoto({
      title: params.title ?? '', description: params.description ?? '', tags: splitTags(params.tags ?? ''), bytes: Buffer.from(photo.data),
      ...(photo.filename ? { filename: photo.filename } : {}), ...(photo.contentType ? { contentType: photo.contentType } : {}),
      isPublic: params.is_public === '1', isFriend: params.is_friend === '1', isFamily: params.is_family === '1',
    });
    return { xml: `<photoid secret="${p.secret}" originalsecret="${randomBytes(5).toString('hex')}">${p.id}</photoid>` };
  }

  private rest(method: FlickrMethod, q: Record<string, string>): object {
    const mine = (userId: string | undefined) => userId === undefined || userId === 'me' || userId === this.nsid;
    switch (method) {
      case 'flickr.test.login':
        return { user: { id: this.nsid, username: { _content: this.username }, path_alias: null } };
      case 'flickr.auth.oauth.checkToken':
        // <oauth><token>…</token><perms>write</perms><user nsid username fullname/></oauth>, as JSON.
        return {
          oauth: {
            token: { _content: q.oauth_token ?? this.creds.oauthToken }, perms: { _content: this.perms },
            user: { nsid: this.nsid, username: this.username, fullname: this.fullname },
          },
        };
      case 'flickr.people.getPhotos': {
        if (!mine(q.user_id)) throw new Answer(2, 'Unknown user');
        const min = q.min_upload_date !== undefined ? Number(q.min_upload_date) * 1000 : -Infinity;
        const max = q.max_upload_date !== undefined ? Number(q.max_upload_date) * 1000 : Infinity;
        const list = this.livePhotos().filter((p) => p.uploadedAt >= min && p.uploadedAt <= max)
          .sort((a, b) => b.uploadedAt - a.uploadedAt || (BigInt(b.id) > BigInt(a.id) ? 1 : -1));
        return { photos: this.page(list, q, (p) => this.listed(p, q.extras)) };
      }
      case 'flickr.photos.delete': {
        const p = this.photo(q.photo_id ?? '');
        if (!p || p.deleted) throw new Answer(1, 'Photo not found');
        p.deleted = true;
        for (const s of this.livePhotosets()) {
          s.photoIds = s.photoIds.filter((id) => id !== p.id);
          if (s.photoIds.length === 0) s.deleted = true; // Flickr drops an empty album
          else if (s.primary === p.id) s.primary = s.photoIds[0]!;
        }
        return {};
      }
      case 'flickr.photosets.create': {
        if (!q.title) throw new Answer(1, 'No title specified');
        const primary = this.photo(q.primary_photo_id ?? '');
        if (!primary || primary.deleted) throw new Answer(2, 'Photo not found');
        const set: FakeFlickrPhotoset = { id: String(this.nextSet++), title: q.title, description: q.description ?? '', primary: primary.id, photoIds: [primary.id], createdAt: this.now(), deleted: false };
        this.photosets.push(set);
        return { photoset: { id: set.id, url: `https://www.flickr.com/photos/${this.nsid}/sets/${set.id}/` } };
      }
      case 'flickr.photosets.addPhoto': {
        const set = this.photoset(q.photoset_id ?? '');
        if (!set || set.deleted) throw new Answer(1, 'Photoset not found');
        const p = this.photo(q.photo_id ?? '');
        if (!p || p.deleted) throw new Answer(2, 'Photo not found');
        if (set.photoIds.includes(p.id)) throw new Answer(3, 'Photo already in set');
        set.photoIds.push(p.id);
        return {};
      }
      case 'flickr.photosets.getList': {
        if (!mine(q.user_id)) throw new Answer(1, 'User not found');
        const list = this.livePhotosets().slice().reverse();
        return { photosets: { ...this.page(list, q, (s) => ({
          id: s.id, owner: this.nsid, primary: s.primary, secret: 'abc123', server: '65535', farm: 66, count_views: '0', count_comments: '0',
          count_photos: s.photoIds.length, count_videos: 0, photos: s.photoIds.length, videos: 0,
          title: { _content: s.title }, description: { _content: s.description }, can_comment: 0,
          date_create: String(Math.floor(s.createdAt / 1000)), date_update: String(Math.floor(s.createdAt / 1000)),
        }), 'photoset'), cancreate: 1 } };
      }
      case 'flickr.photosets.getPhotos': {
        const set = this.photoset(q.photoset_id ?? '');
        if (!set || set.deleted) throw new Answer(1, 'Photoset not found');
        if (q.user_id !== undefined && q.user_id !== this.nsid) throw new Answer(2, 'User not found');
        const list = set.photoIds.map((id) => this.photo(id)!).filter((p) => !p.deleted);
        const page = this.page(list, q, (p) => ({ ...this.listed(p, q.extras), isprimary: p.id === set.primary ? '1' : '0' }));
        return { photoset: { id: set.id, primary: set.primary, owner: this.nsid, ownername: this.username, photo: page.photo, page: page.page, per_page: page.perpage, perpage: page.perpage, pages: page.pages, title: set.title, total: String(page.total) } };
      }
      case 'flickr.photosets.delete': {
        const set = this.photoset(q.photoset_id ?? '');
        if (!set || set.deleted) throw new Answer(1, 'Photoset not found');
        set.deleted = true;
        return {};
      }
      case 'flickr.photos.comments.addComment': {
        const p = this.photo(q.photo_id ?? '');
        if (!p || p.deleted) throw new Answer(1, 'Photo not found.');
        if ((q.comment_text ?? '').trim() === '') throw new Answer(8, 'Blank comment.');
        const serial = String(this.nextComment++);
        const c: FakeFlickrComment = {
          id: `${this.nsid.split('@')[0]}-${p.id}-${serial}`, photoId: p.id, author: this.nsid, text: q.comment_text!, createdAt: this.now(), deleted: false,
        };
        this.comments.push(c);
        if (this.commentAnswer === 'id-only') return { comment: { id: c.id } };
        return { comment: {
          id: c.id, author: c.author, author_is_deleted: 0, authorname: this.username, datecreate: String(Math.floor(c.createdAt / 1000)),
          permalink: `https://www.flickr.com/photos/${this.nsid}/${p.id}/#comment${serial}`, path_alias: null, realname: '', _content: c.text,
        } };
      }
      case 'flickr.photos.comments.deleteComment': {
        const c = this.comment(q.comment_id ?? '');
        if (!c || c.deleted) throw new Answer(2, 'Comment not found.');
        const p = this.photo(c.photoId);
        if (!p || p.deleted) throw new Answer(1, 'Photo not found.');
        c.deleted = true;
        return {};
      }
      default:
        throw new Answer(112, `Method "${String(method)}" not found`);
    }
  }

  private page<T>(all: T[], q: Record<string, string>, shape: (t: T) => object, key = 'photo'): { page: number; pages: number; perpage: number; total: number; photo: object[] } {
    const perpage = Math.min(500, Math.max(1, Number(q.per_page ?? 100) || 100));
    const page = Math.max(1, Number(q.page ?? 1) || 1);
    const out = { page, pages: Math.max(1, Math.ceil(all.length / perpage)), perpage, total: all.length, [key]: all.slice((page - 1) * perpage, page * perpage).map(shape) };
    return out as ReturnType<FakeFlickr['page']>;
  }

  private listed(p: FakeFlickrPhoto, extras = ''): object {
    const want = new Set(extras.split(',').map((s) => s.trim()));
    return {
      id: p.id, owner: this.nsid, secret: p.secret, server: '65535', farm: 66, title: p.title,
      ispublic: p.isPublic ? 1 : 0, isfriend: p.isFriend ? 1 : 0, isfamily: p.isFamily ? 1 : 0,
      ...(want.has('description') ? { description: { _content: p.description } } : {}),
      ...(want.has('date_upload') ? { dateupload: String(Math.floor(p.uploadedAt / 1000)) } : {}),
      ...(want.has('views') ? { views: String(p.views) } : {}),
      ...(want.has('tags') ? { tags: p.tags.join(' ') } : {}),
    };
  }
}

export async function startFakeFlickr(opts: FakeFlickrOptions = {}): Promise<FakeFlickr> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return new FakeFlickr(server, `http://127.0.0.1:${port}`, opts);
}

function pick(o: FakeFlickrOptions): Partial<FlickrCredentials> {
  const out: Partial<FlickrCredentials> = {};
  for (const k of ['apiKey', 'apiSecret', 'oauthToken', 'oauthSecret'] as const) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function isImage(b: Buffer): boolean {
  return (b[0] === 0xff && b[1] === 0xd8) || b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) || b.subarray(0, 4).toString('latin1') === 'GIF8';
}

/** Flickr's tag syntax: space-separated, "double quotes" around a tag with spaces. */
function splitTags(s: string): string[] {
  return [...s.matchAll(/"([^"]+)"|(\S+)/g)].map((m) => (m[1] ?? m[2])!);
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
