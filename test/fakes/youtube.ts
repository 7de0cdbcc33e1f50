/**
 * A wire-level fake of the YouTube Data API v3 and Google's OAuth token endpoint, for tests: a
 * real HTTP server on 127.0.0.1 (random port) serving what Loudhailer uses:
 *
 *   POST   /token                                   refresh_token grant → {access_token, expires_in}; wrong → 400 invalid_grant
 *   POST   /upload/youtube/v3/videos?uploadType=resumable&part=snippet,status
 *                                                  JSON Video metadata → 200, Location: session URI
 *   PUT    <session>  Content-Range: bytes a-b/N    → 308 Resume Incomplete + Range: bytes=0-b, or 200 + the Video
 *   PUT    <session>  Content-Range: bytes * /N     status query → 308 (+ Range) or 200 + the Video
 *   GET    /youtube/v3/videos?part=…&id=a,b          statistics (counts are strings) / snippet (full description)
 *   DELETE /youtube/v3/videos?id=                    204, or 404 videoNotFound
 *   GET    /youtube/v3/channels?part=contentDetails,snippet&mine=true   the token's channel (only the parts asked for);
 *                                                  `channelless: true` → no items, as for an account without a channel
 *   GET    /youtube/v3/playlistItems?part=snippet&playlistId=UU…   newest first, 50 a page,
 *                                                  descriptions cut to `playlistDescriptionChars`
 *   POST   /youtube/v3/commentThreads?part=snippet  JSON CommentThread {snippet:{videoId, topLevelComment:{snippet:
 *                                                  {textOriginal}}}} → 200 CommentThread (a top-level comment on the video)
 *   DELETE /youtube/v3/comments?id=                 204, or 404 commentNotFound (also once its video is deleted)
 *
 * Google's OAuth 2.0 for installed apps (`loudhailer auth youtube`), as Google's "OAuth 2.0 for Mobile & Desktop
 * Apps" describes it:
 *   GET    /o/oauth2/v2/auth (`authUrl`)             the consent screen, answered as if the user chose Allow: 302 to
 *                                                  the loopback redirect_uri with code, state and scope (or
 *                                                  error=access_denied after setConsent({ deny: true })); a bad
 *                                                  client_id (401 invalid_client), a redirect_uri that is not a
 *                                                  loopback address (400 redirect_uri_mismatch) or an unknown scope
 *                                                  (400 invalid_scope) get Google's error page instead
 *   POST   /token  grant_type=authorization_code    code (once, 10 min) + redirect_uri (as authorized) + code_verifier
 *                                                  (PKCE, S256 or plain, when a code_challenge was sent) →
 *                                                  {access_token, expires_in, refresh_token (access_type=offline:
 *                                                  the fake's `refreshToken`), scope, token_type}; else 400 invalid_grant
 *
 * Shapes follow /work/shared/api-specs/youtube/youtube-v3.json; errors are Google's
 * `{error:{code,message,errors:[{domain,reason,message}],status}}`. Every API call must carry a
 * Bearer token the token endpoint issued (else 401 authError); the comment routes also need the
 * token's scopes (option `scopes`) to include youtube.force-ssl, as the Discovery document says
 * (else 403 insufficientPermissions). googleapis' multipart insert is not served (the adapter
 * uploads with the resumable protocol).
 *
 *   const yt = await startFakeYouTube({ clientId, clientSecret, refreshToken });
 *   // config: apiUrl = yt.url, tokenUrl = yt.tokenUrl
 *   yt.cutUploadAt(0.5);                     // the next upload PUT loses its connection half-way
 *   yt.failNext('insertFinal', { status: 503 });
 *   yt.quotaExceededNext('insertStart');
 *   const arrived = yt.hangNext('insertFinal', { commit: true });
 *   yt.setViews(id, 1234);
 *   yt.commentsOn(videoId);                  // live top-level comments, oldest first
 *   yt.disableComments(videoId);             // commentThreads.insert → 403 commentsDisabled
 *   yt.sessions[0].bytesReceived;            // every body byte that arrived, resends included
 *
 * Scripts are per route and consumed by requests that pass the token check, in this order:
 * hang, rate limit, failure.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

export type YouTubeRoute =
  | 'token' | 'insertStart' | 'insertChunk' | 'insertFinal' | 'insertStatus'
  | 'videosStats' | 'videosSnippet' | 'videosDelete' | 'channels' | 'playlistItems'
  /** commentThreads.insert and comments.delete. */
  | 'comment' | 'deleteComment';

export const YOUTUBE_FORCE_SSL_SCOPE = 'https://www.googleapis.com/auth/youtube.force-ssl';
/** What the fake's tokens carry unless `scopes` says otherwise. */
export const FAKE_YOUTUBE_SCOPES: readonly string[] = [
  'https://www.googleapis.com/auth/youtube.upload', 'https://www.googleapis.com/auth/youtube', YOUTUBE_FORCE_SSL_SCOPE,
];

export interface FakeYouTubeOptions {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  /** The channel's id (default UC + 22 chars). */
  channelId?: string;
  /** Playlist item snippets carry at most this many characters of the description (default 60). */
  playlistDescriptionChars?: number;
  /** Clock for publishedAt, ms. Default Date.now. */
  now?: () => number;
  /** The scopes the refresh token was granted (full URLs). Default FAKE_YOUTUBE_SCOPES. */
  scopes?: readonly string[];
  /** The channel's title (channels.list snippet.title). Default 'Fake Police'. */
  channelTitle?: string;
  /** The Google account has no YouTube channel: channels.list?mine=true answers no items. */
  channelless?: boolean;
}

export interface FakeVideo {
  id: string;
  title: string;
  description: string;
  privacy: string;
  mime: string;
  bytes: Buffer;
  publishedAt: number;
  views: number;
  deleted: boolean;
  /** commentThreads.insert on it answers 403 commentsDisabled. */
  commentsDisabled?: boolean;
}

/** A top-level comment (its thread has the same id, as on YouTube). */
export interface FakeComment {
  id: string;
  videoId: string;
  /** snippet.topLevelComment.snippet.textOriginal, as received. */
  text: string;
  /** ms */
  publishedAt: number;
  deleted: boolean;
}

export interface FakeSession {
  id: string;
  metadata: { snippet?: { title?: string; description?: string }; status?: { privacyStatus?: string } };
  total: number;
  mime: string;
  /** The bytes kept so far, from 0. */
  received: Buffer;
  /** Every body byte that arrived for this session, including bytes sent again. */
  bytesReceived: number;
  /** PUTs carrying bytes. */
  puts: number;
  videoId?: string;
}

export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  route?: YouTubeRoute;
  /** 0 while held (hang) or when the connection was dropped. */
  status: number;
}

export interface Failure {
  status: number;
  reason?: string;
  domain?: string;
  message?: string;
  times?: number;
  /** Do the work, then answer the error (insertFinal: the video is created). */
  commit?: boolean;
  headers?: Record<string, string>;
}

export interface FakeYouTube {
  url: string;
  tokenUrl: string;
  /** Google's authorization endpoint on the fake: GOOGLE_AUTH_URL. */
  authUrl: string;
  /** Every authorization request (the consent screen's query), in order. */
  authorizations: Array<Record<string, string>>;
  /** How the next consents go: the user denies, or grants only some scopes (granular consent). */
  setConsent(consent: { deny?: boolean; grant?: readonly string[] }): void;
  channelId: string;
  uploadsPlaylistId: string;
  videos: FakeVideo[];
  sessions: FakeSession[];
  requests: FakeRequest[];
  requestsTo(route: YouTubeRoute): FakeRequest[];
  liveVideos(): FakeVideo[];
  /** Every request is answered this many ms late (benchmarks: a network's latency). */
  setDelay(ms: number): void;
  video(id: string): FakeVideo | undefined;
  setViews(id: string, views: number): void;
  /** Every comment made, in order (deleted ones stay, with `deleted: true`). */
  comments: FakeComment[];
  /** Live top-level comments on a live video, oldest first. */
  commentsOn(videoId: string): FakeComment[];
  /** Turns comments off on a video (commentThreads.insert → 403 commentsDisabled). */
  disableComments(videoId: string): void;
  failNext(route: YouTubeRoute, f: Failure): void;
  /** 429 rateLimitExceeded with Retry-After: seconds. */
  rateLimitNext(route: YouTubeRoute, retryAfterSeconds: number): void;
  /** 403 quotaExceeded (domain youtube.quota). */
  quotaExceededNext(route: YouTubeRoute, times?: number): void;
  /** Holds the next request without answering (until close); `commit` does its work first. Resolves when it arrives. */
  hangNext(route: YouTubeRoute, opts?: { commit?: boolean }): Promise<void>;
  /** The next upload PUT keeps the bytes up to `fraction` of the file, then the connection drops. */
  cutUploadAt(fraction: number): void;
  /** Revokes every access token issued so far (the next API call gets 401 until a refresh). */
  revokeTokens(): void;
  close(): Promise<void>;
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const QUANTUM = 256 * 1024;
const randomId = (n: number): string => [...randomBytes(n)].map((b) => ID_CHARS[b % 64]).join('');

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function googleError(status: number, reason: string, message: string, domain = 'global'): object {
  const statusName: Record<number, string> = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 409: 'ALREADY_EXISTS', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE' };
  return { error: { code: status, message, errors: [{ message, domain, reason }], status: statusName[status] ?? 'UNKNOWN' } };
}

export async function startFakeYouTube(opts: FakeYouTubeOptions): Promise<FakeYouTube> {
  const now = opts.now ?? Date.now;
  const channelId = opts.channelId ?? `UC${randomId(22)}`;
  const uploadsPlaylistId = `UU${channelId.slice(2)}`;
  const descriptionChars = opts.playlistDescriptionChars ?? 60;
  const videos: FakeVideo[] = [];
  const sessions: FakeSession[] = [];
  const requests: FakeRequest[] = [];
  /** Access token → the scopes it carries. */
  const tokens = new Map<string, ReadonlySet<string>>();
  // Installed-app OAuth: authorization codes issued by the consent screen.
  const codes = new Map<string, { redirectUri: string; challenge?: string; method: string; scopes: string[]; offline: boolean; used: boolean; expiresAt: number }>();
  const authorizations: Array<Record<string, string>> = [];
  let consent: { deny?: boolean; grant?: readonly string[] } = {};
  const scopes = opts.scopes ?? FAKE_YOUTUBE_SCOPES;
  const comments: FakeComment[] = [];
  const failures = new Map<YouTubeRoute, Failure[]>();
  const hangs = new Map<YouTubeRoute, Array<{ commit: boolean; arrived: () => void }>>();
  let cutAt: number | undefined;
  const sockets = new Set<Socket>();
  const held: ServerResponse[] = [];
  let url = '';

  const videoJson = (v: FakeVideo, parts: string[]) => ({
    kind: 'youtube#video', etag: randomId(27), id: v.id,
    ...(parts.includes('snippet') ? {
      snippet: {
        publishedAt: new Date(v.publishedAt).toISOString(), channelId, title: v.title, description: v.description,
        thumbnails: {}, channelTitle: 'Fake Police', categoryId: '22', liveBroadcastContent: 'none', localized: { title: v.title, description: v.description },
      },
    } : {}),
    ...(parts.includes('status') ? { status: { uploadStatus: 'uploaded', privacyStatus: v.privacy, license: 'youtube', embeddable: true, publicStatsViewable: true, madeForKids: false } } : {}),
    ...(parts.includes('statistics') ? { statistics: { viewCount: String(v.views), likeCount: '0', favoriteCount: '0', commentCount: String(commentsOn(v.id).length) } } : {}),
  });

  const send = (res: ServerResponse, status: number, body?: object, headers: Record<string, string> = {}) => {
    res.writeHead(status, { ...(body ? { 'content-type': 'application/json; charset=UTF-8' } : {}), ...headers });
    res.end(body ? JSON.stringify(body) : undefined);
  };

  const complete = (s: FakeSession): FakeVideo => {
    const v: FakeVideo = {
      id: randomId(11), title: s.metadata.snippet?.title ?? 'unknown', description: s.metadata.snippet?.description ?? '',
      privacy: s.metadata.status?.privacyStatus ?? 'public', mime: s.mime, bytes: Buffer.from(s.received), publishedAt: now(), views: 0, deleted: false,
    };
    videos.push(v);
    s.videoId = v.id;
    return v;
  };

  const readBody = (req: IncomingMessage): Promise<Buffer> => new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

  /** Classifies the request (route), or undefined for an unknown path. */
  function routeOf(req: IncomingMessage, path: string, q: Record<string, string>): YouTubeRoute | undefined {
    const m = req.method;
    if (m === 'POST' && path === '/token') return 'token';
    if (/^\/(resumable\/)?upload\/youtube\/v3\/videos$/.test(path)) {
      if (m === 'POST') return 'insertStart';
      if (m === 'PUT') {
        const cr = String(req.headers['content-range'] ?? '');
        if (/^bytes \*\/\d+$/.test(cr)) return 'insertStatus';
        const r = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(cr);
        return r && Number(r[2]) + 1 === Number(r[3]) ? 'insertFinal' : 'insertChunk';
      }
    }
    if (path === '/youtube/v3/videos') {
      if (m === 'GET') return (q.part ?? '').split(',').includes('statistics') ? 'videosStats' : 'videosSnippet';
      if (m === 'DELETE') return 'videosDelete';
    }
    if (m === 'GET' && path === '/youtube/v3/channels') return 'channels';
    if (m === 'GET' && path === '/youtube/v3/playlistItems') return 'playlistItems';
    if (m === 'POST' && path === '/youtube/v3/commentThreads') return 'comment';
    if (m === 'DELETE' && path === '/youtube/v3/comments') return 'deleteComment';
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', url);
    // Repeated parameters (googleapis sends `id=a&id=b` for a list) count like comma lists.
    const query = Object.fromEntries([...new Set(u.searchParams.keys())].map((k) => [k, u.searchParams.getAll(k).join(',')]));
    const route = routeOf(req, u.pathname, query);
    const record: FakeRequest = { method: req.method ?? '', path: u.pathname, query, status: 0, ...(route ? { route } : {}) };
    requests.push(record);
    const answer = (status: number, body?: object, headers?: Record<string, string>) => {
      record.status = status;
      send(res, status, body, headers);
    };
    // Google's authorization endpoint (the consent screen): not an API route.
    if (!route && req.method === 'GET' && u.pathname === '/o/oauth2/v2/auth') {
      await readBody(req);
      return consentScreen(query, record, res);
    }
    if (!route) {
      await readBody(req);
      return answer(404, googleError(404, 'notFound', `No route for ${req.method} ${u.pathname}`));
    }

    if (route === 'token') {
      const form = new URLSearchParams((await readBody(req)).toString('utf8'));
      const failure = takeFailure(route);
      if (failure) return answer(failure.status, { error: failure.reason ?? 'internal_failure', error_description: failure.message ?? 'scripted' });
      if (form.get('client_id') !== opts.clientId || form.get('client_secret') !== opts.clientSecret) {
        return answer(401, { error: 'invalid_client', error_description: 'The OAuth client was not found.' });
      }
      if (form.get('grant_type') === 'authorization_code') {
        const [status, body] = exchangeCode(form);
        return answer(status, body);
      }
      if (form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== opts.refreshToken) {
        return answer(400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
      }
      const token = `ya29.fake-${randomId(32)}`;
      tokens.set(token, new Set(scopes));
      return answer(200, { access_token: token, expires_in: 3599, scope: scopes.join(' '), token_type: 'Bearer' });
    }

    const bearer = /^Bearer (\S+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    if (!bearer || !tokens.has(bearer)) {
      await readBody(req);
      return answer(401, googleError(401, 'authError', 'Request had invalid authentication credentials. Expected OAuth 2 access token.'));
    }
    if ((route === 'comment' || route === 'deleteComment') && !tokens.get(bearer)!.has(YOUTUBE_FORCE_SSL_SCOPE)) {
      await readBody(req);
      return answer(403, googleError(403, 'insufficientPermissions', 'Request had insufficient authentication scopes.'));
    }

    const hang = hangs.get(route)?.shift();
    const failure = hang ? undefined : takeFailure(route);

    // The upload PUTs: bytes arrive (maybe cut), then the script decides what is kept.
    if (route === 'insertChunk' || route === 'insertFinal' || route === 'insertStatus') {
      const s = sessions.find((x) => x.id === query.upload_id);
      if (!s) {
        await readBody(req);
        return answer(404, googleError(404, 'notFound', 'The upload session does not exist or has expired.'));
      }
      if (route === 'insertStatus') {
        await readBody(req);
        if (failure) return answer(failure.status, googleError(failure.status, failure.reason ?? 'backendError', failure.message ?? 'scripted', failure.domain), failure.headers);
        if (s.videoId) return answer(200, videoJson(videos.find((v) => v.id === s.videoId)!, ['snippet', 'status']));
        return answer(308, undefined, s.received.length ? { range: `bytes=0-${s.received.length - 1}` } : {});
      }
      const [, a, b, total] = (/^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(req.headers['content-range'])) ?? []).map(Number);
      const cut = cutAt !== undefined ? Math.floor(s.total * cutAt) : undefined;
      const body = await new Promise<Buffer | undefined>((resolve) => {
        const chunks: Buffer[] = [];
        let got = 0;
        req.on('data', (c: Buffer) => {
          chunks.push(c);
          got += c.length;
          s.bytesReceived += c.length;
          if (cut !== undefined && a! + got >= cut && cut > a!) {
            cutAt = undefined;
            const kept = Buffer.concat(chunks).subarray(0, cut - a!);
            if (a === s.received.length) s.received = Buffer.concat([s.received, kept]);
            req.socket.destroy();
            resolve(undefined);
          }
        });
        req.on('end', () => resolve(Buffer.concat(chunks)));
        req.on('error', () => resolve(undefined));
        req.on('close', () => resolve(undefined));
      });
      if (!body) return; // connection dropped
      s.puts += 1;
      if (hang) {
        if (hang.commit) accept(s, a!, b!, total!, body);
        record.status = 0;
        held.push(res);
        hang.arrived();
        return;
      }
      if (failure) {
        if (failure.commit) accept(s, a!, b!, total!, body);
        return answer(failure.status, googleError(failure.status, failure.reason ?? 'backendError', failure.message ?? 'scripted', failure.domain), failure.headers);
      }
      const problem = accept(s, a!, b!, total!, body);
      if (problem) return answer(400, googleError(400, 'badContent', problem));
      if (s.videoId) return answer(201, videoJson(videos.find((v) => v.id === s.videoId)!, ['snippet', 'status']));
      return answer(308, undefined, s.received.length ? { range: `bytes=0-${s.received.length - 1}` } : {});
    }

    const raw = await readBody(req);
    if (hang) {
      if (hang.commit && route === 'insertStart') start(raw, req);
      if (hang.commit && route === 'comment') insertComment(raw, query);
      if (hang.commit && route === 'deleteComment') deleteComment(query);
      held.push(res);
      hang.arrived();
      return;
    }
    if (failure) {
      if (failure.commit && route === 'videosDelete') remove(query.id);
      if (failure.commit && route === 'comment') insertComment(raw, query);
      if (failure.commit && route === 'deleteComment') deleteComment(query);
      return answer(failure.status, googleError(failure.status, failure.reason ?? 'backendError', failure.message ?? 'scripted', failure.domain), failure.headers);
    }

    switch (route) {
      case 'insertStart': {
        if (query.uploadType !== 'resumable') return answer(400, googleError(400, 'invalidParameter', 'only uploadType=resumable is served'));
        const s = start(raw, req);
        if (typeof s === 'string') return answer(400, googleError(400, 'invalidMetadata', s, 'youtube.video'));
        return answer(200, undefined, { location: `${url}/upload/youtube/v3/videos?uploadType=resumable&upload_id=${s.id}` });
      }
      case 'videosStats':
      case 'videosSnippet': {
        const ids = (query.id ?? '').split(',').filter(Boolean);
        if (ids.length > 50) return answer(400, googleError(400, 'invalidParameter', 'at most 50 ids'));
        const parts = (query.part ?? '').split(',');
        const items = ids.map((id) => videos.find((v) => v.id === id && !v.deleted)).filter((v): v is FakeVideo => !!v).map((v) => videoJson(v, parts));
        return answer(200, { kind: 'youtube#videoListResponse', etag: randomId(27), items, pageInfo: { totalResults: items.length, resultsPerPage: items.length } });
      }
      case 'videosDelete': {
        if (!remove(query.id)) return answer(404, googleError(404, 'videoNotFound', 'The video that you are trying to delete cannot be found.', 'youtube.video'));
        record.status = 204;
        res.writeHead(204).end();
        return;
      }
      case 'channels': {
        if (query.mine !== 'true') return answer(400, googleError(400, 'missingRequiredParameter', 'mine=true expected'));
        // Only the parts asked for (youtube-v3.json channels.list: `part` is required, a comma list).
        const parts = (query.part ?? '').split(',').map((x) => x.trim()).filter(Boolean);
        if (parts.length === 0) return answer(400, googleError(400, 'missingRequiredParameter', 'No filter selected. Expected one of: part'));
        const title = opts.channelTitle ?? 'Fake Police';
        const items = opts.channelless ? [] : [{
          kind: 'youtube#channel', etag: randomId(27), id: channelId,
          ...(parts.includes('snippet') ? {
            snippet: {
              title, description: '', customUrl: `@${title.toLowerCase().replace(/[^a-z0-9]+/g, '')}`, publishedAt: '2015-01-01T00:00:00Z',
              thumbnails: {}, localized: { title, description: '' },
            },
          } : {}),
          ...(parts.includes('contentDetails') ? { contentDetails: { relatedPlaylists: { likes: '', uploads: uploadsPlaylistId } } } : {}),
        }];
        return answer(200, { kind: 'youtube#channelListResponse', etag: randomId(27), pageInfo: { totalResults: items.length, resultsPerPage: 5 }, items });
      }
      case 'playlistItems': {
        if (query.playlistId !== uploadsPlaylistId) return answer(404, googleError(404, 'playlistNotFound', 'The playlist cannot be found.', 'youtube.playlistItem'));
        const max = Math.min(50, Number(query.maxResults ?? 5));
        const from = Number(query.pageToken ?? 0);
        const live = videos.filter((v) => !v.deleted).sort((x, y) => y.publishedAt - x.publishedAt);
        const page = live.slice(from, from + max);
        const items = page.map((v, i) => ({
          kind: 'youtube#playlistItem', id: randomId(20),
          snippet: {
            publishedAt: new Date(v.publishedAt).toISOString(), channelId, title: v.title,
            description: v.description.length > descriptionChars ? `${v.description.slice(0, descriptionChars)}…` : v.description,
            playlistId: uploadsPlaylistId, position: from + i, resourceId: { kind: 'youtube#video', videoId: v.id },
          },
        }));
        return answer(200, {
          kind: 'youtube#playlistItemListResponse', items, pageInfo: { totalResults: live.length, resultsPerPage: max },
          ...(from + max < live.length ? { nextPageToken: String(from + max) } : {}),
        });
      }
      case 'comment': {
        const [status, body] = insertComment(raw, query);
        return answer(status, body);
      }
      case 'deleteComment': {
        const [status, body] = deleteComment(query);
        if (status !== 204) return answer(status, body);
        record.status = 204;
        res.writeHead(204).end();
        return;
      }
      default:
        return answer(404, googleError(404, 'notFound', 'no such route'));
    }
  }

  /**
   * commentThreads.insert, checked as the Discovery document and the method's error table say:
   * `part` (required; id, replies, snippet), a CommentThread body with snippet.videoId (and
   * snippet.channelId, when given, the video's channel) and a non-empty
   * snippet.topLevelComment.snippet.textOriginal of at most 10,000 characters.
   */
  function insertComment(raw: Buffer, query: Record<string, string>): [number, object?] {
    if (query.part === undefined || query.part === '') return [400, googleError(400, 'required', 'Required parameter: part')];
    const parts = query.part.split(',');
    const unknownPart = parts.find((x) => !['id', 'replies', 'snippet'].includes(x));
    if (unknownPart !== undefined) return [400, googleError(400, 'unknownPart', `'${unknownPart}'`, 'youtube.part')];
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return [400, googleError(400, 'parseError', 'Parse Error')];
    }
    const invalid = (message: string): [number, object] => [400, googleError(400, 'invalidCommentThreadMetadata', message, 'youtube.commentThread')];
    if (!isObject(body) || !isObject(body.snippet)) return invalid('The request metadata is invalid: snippet is required.');
    const snippet = body.snippet;
    const videoId = snippet.videoId;
    if (typeof videoId !== 'string' || videoId === '') {
      return [400, googleError(400, 'channelOrVideoIdMissing', 'The comment thread must be linked to a video: snippet.videoId is required.', 'youtube.commentThread')];
    }
    const top = snippet.topLevelComment;
    const text = isObject(top) && isObject(top.snippet) ? top.snippet.textOriginal : undefined;
    if (text !== undefined && typeof text !== 'string') return invalid('snippet.topLevelComment.snippet.textOriginal must be a string.');
    if (text === undefined || text.trim() === '') {
      return [400, googleError(400, 'commentTextRequired', 'The comment resource that is being inserted must specify a value for the snippet.topLevelComment.snippet.textOriginal property.', 'youtube.commentThread')];
    }
    if ([...text].length > 10_000) return [400, googleError(400, 'commentTextTooLong', 'The comment text is too long.', 'youtube.commentThread')];
    const v = videos.find((x) => x.id === videoId && !x.deleted);
    if (!v) return [404, googleError(404, 'videoNotFound', 'The video identified by the videoId parameter could not be found.', 'youtube.commentThread')];
    if (snippet.channelId !== undefined && snippet.channelId !== channelId) return invalid('snippet.channelId is not the channel of the video.');
    if (v.commentsDisabled) return [403, googleError(403, 'commentsDisabled', 'The video identified by the videoId parameter has disabled comments.', 'youtube.commentThread')];
    const c: FakeComment = { id: `Ugz${randomId(20)}4AaABAg`, videoId, text, publishedAt: now(), deleted: false };
    comments.push(c);
    return [200, commentThreadJson(c, parts)];
  }

  /** comments.delete: `id` required; an unknown comment, a deleted one, or one whose video is gone is 404 commentNotFound. */
  function deleteComment(query: Record<string, string>): [number, object?] {
    if (query.id === undefined || query.id === '') return [400, googleError(400, 'required', 'Required parameter: id')];
    const c = comments.find((x) => x.id === query.id && !x.deleted && videos.some((v) => v.id === x.videoId && !v.deleted));
    if (!c) return [404, googleError(404, 'commentNotFound', 'The comment identified by the id parameter could not be found.', 'youtube.comment')];
    c.deleted = true;
    return [204];
  }

  function commentThreadJson(c: FakeComment, parts: string[]): object {
    const published = new Date(c.publishedAt).toISOString();
    return {
      kind: 'youtube#commentThread', etag: randomId(27), id: c.id,
      ...(parts.includes('snippet') ? {
        snippet: {
          channelId, videoId: c.videoId,
          topLevelComment: {
            kind: 'youtube#comment', etag: randomId(27), id: c.id,
            snippet: {
              channelId, videoId: c.videoId, textDisplay: c.text, textOriginal: c.text,
              authorDisplayName: '@fakepolice', authorProfileImageUrl: 'https://yt3.ggpht.com/fake', authorChannelUrl: `http://www.youtube.com/channel/${channelId}`,
              authorChannelId: { value: channelId }, canRate: true, viewerRating: 'none', likeCount: 0, publishedAt: published, updatedAt: published,
            },
          },
          canReply: true, totalReplyCount: 0, isPublic: true,
        },
      } : {}),
      ...(parts.includes('replies') ? { replies: { comments: [] } } : {}),
    };
  }

  const commentsOn = (videoId: string): FakeComment[] =>
    videos.some((v) => v.id === videoId && !v.deleted) ? comments.filter((c) => c.videoId === videoId && !c.deleted) : [];

  // ----- installed-app OAuth ------------------------------------------------------------------

  /** The consent screen, as if the user chose Allow (or Deny, see setConsent): a redirect to the loopback address. */
  function consentScreen(q: Record<string, string>, record: FakeRequest, res: ServerResponse): void {
    authorizations.push({ ...q });
    const errorPage = (status: number, error: string, text: string) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html><body><h1>Access blocked: authorization error</h1><p>${text}</p><p>Error ${status}: ${error}</p></body></html>`);
    };
    if (q.client_id !== opts.clientId) return errorPage(401, 'invalid_client', 'The OAuth client was not found.');
    let redirect: URL | undefined;
    try {
      redirect = new URL(q.redirect_uri ?? '');
    } catch {
      redirect = undefined;
    }
    // Desktop clients may only redirect to a loopback address over http (any port, any path).
    if (!redirect || redirect.protocol !== 'http:' || !['127.0.0.1', '[::1]', 'localhost'].includes(redirect.hostname) || redirect.search || redirect.hash) {
      return errorPage(400, 'redirect_uri_mismatch', 'You can\'t sign in to this app because it doesn\'t comply with Google\'s OAuth 2.0 policy.');
    }
    if (q.response_type !== 'code') return errorPage(400, 'invalid_request', 'Invalid response_type.');
    const asked = (q.scope ?? '').split(' ').filter(Boolean);
    if (asked.length === 0 || asked.some((sc) => !FAKE_YOUTUBE_SCOPES.includes(sc))) return errorPage(400, 'invalid_scope', 'Some requested scopes were invalid.');
    const method = q.code_challenge_method ?? 'plain';
    if (q.code_challenge !== undefined && method !== 'S256' && method !== 'plain') return errorPage(400, 'invalid_request', 'Invalid code_challenge_method.');
    const back = new URL(redirect.toString());
    if (q.state !== undefined) back.searchParams.set('state', q.state);
    if (consent.deny) {
      back.searchParams.set('error', 'access_denied');
    } else {
      const code = `4/0A${randomId(60)}`;
      const granted = asked.filter((sc) => !consent.grant || consent.grant.includes(sc));
      codes.set(code, {
        redirectUri: q.redirect_uri!, method, scopes: granted, offline: q.access_type === 'offline', used: false, expiresAt: Date.now() + 10 * 60_000,
        ...(q.code_challenge !== undefined ? { challenge: q.code_challenge } : {}),
      });
      back.searchParams.set('code', code);
      back.searchParams.set('scope', granted.join(' '));
    }
    record.status = 302;
    res.writeHead(302, { location: back.toString() });
    res.end();
  }

  /** POST /token grant_type=authorization_code (the client is already checked). */
  function exchangeCode(form: URLSearchParams): [number, object] {
    const c = codes.get(form.get('code') ?? '');
    if (!c) return [400, { error: 'invalid_grant', error_description: 'Malformed auth code.' }];
    if (c.used || Date.now() > c.expiresAt) return [400, { error: 'invalid_grant', error_description: 'Bad Request' }];
    if (form.get('redirect_uri') !== c.redirectUri) return [400, { error: 'redirect_uri_mismatch', error_description: 'Bad Request' }];
    if (c.challenge !== undefined) {
      const verifier = form.get('code_verifier');
      if (!verifier) return [400, { error: 'invalid_request', error_description: 'code_verifier or verifier is not specified.' }];
      const derived = c.method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
      if (derived !== c.challenge) return [400, { error: 'invalid_grant', error_description: 'Invalid code verifier.' }];
    }
    c.used = true;
    const token = `ya29.fake-${randomId(32)}`;
    tokens.set(token, new Set(c.scopes));
    return [200, {
      access_token: token, expires_in: 3599, scope: c.scopes.join(' '), token_type: 'Bearer',
      ...(c.offline ? { refresh_token: opts.refreshToken } : {}),
    }];
  }

  function start(raw: Buffer, req: IncomingMessage): FakeSession | string {
    let metadata: FakeSession['metadata'];
    try {
      metadata = JSON.parse(raw.toString('utf8') || '{}') as FakeSession['metadata'];
    } catch {
      return 'the metadata is not JSON';
    }
    const title = metadata.snippet?.title ?? '';
    if (!title || [...title].length > 100 || /[<>]/.test(title)) return 'invalid title';
    const total = Number(req.headers['x-upload-content-length']);
    const s: FakeSession = { id: randomId(24), metadata, total: Number.isFinite(total) ? total : -1, mime: String(req.headers['x-upload-content-type'] ?? 'video/*'), received: Buffer.alloc(0), bytesReceived: 0, puts: 0 };
    sessions.push(s);
    return s;
  }

  /** Keeps a chunk's bytes; completes the video when all are in. A problem in words, or undefined. */
  function accept(s: FakeSession, a: number, b: number, total: number, body: Buffer): string | undefined {
    if (s.total >= 0 && total !== s.total) return `the total ${total} differs from the announced ${s.total}`;
    if (body.length !== b - a + 1) return 'Content-Range does not match the body';
    if (a > s.received.length) return `a gap: the session has ${s.received.length} bytes, the chunk starts at ${a}`;
    if (b + 1 < total && body.length % QUANTUM !== 0) return 'a chunk that is not the last must be a multiple of 256 KiB';
    s.total = total;
    s.received = Buffer.concat([s.received.subarray(0, a), body]);
    if (s.received.length === total && !s.videoId) complete(s);
    return undefined;
  }

  function remove(id: string | undefined): boolean {
    const v = videos.find((x) => x.id === id && !x.deleted);
    if (v) v.deleted = true;
    return !!v;
  }

  function takeFailure(route: YouTubeRoute): Failure | undefined {
    const list = failures.get(route);
    const f = list?.[0];
    if (!f) return undefined;
    f.times = (f.times ?? 1) - 1;
    if (f.times <= 0) list!.shift();
    return f;
  }

  let delayMs = 0;
  const server: Server = createServer((req, res) => {
    const wait = delayMs > 0 ? new Promise<void>((r) => setTimeout(r, delayMs)) : Promise.resolve();
    wait.then(() => handle(req, res)).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, googleError(500, 'backendError', String(err)));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url, tokenUrl: `${url}/token`, authUrl: `${url}/o/oauth2/v2/auth`, authorizations,
    setConsent: (c) => {
      consent = { ...c };
    },
    channelId, uploadsPlaylistId, videos, sessions, requests,
    requestsTo: (route) => requests.filter((r) => r.route === route),
    liveVideos: () => videos.filter((v) => !v.deleted),
    setDelay: (ms: number) => {
      delayMs = ms;
    },
    video: (id) => videos.find((v) => v.id === id),
    comments,
    commentsOn,
    disableComments: (id) => {
      const v = videos.find((x) => x.id === id);
      if (v) v.commentsDisabled = true;
    },
    setViews: (id, views) => {
      const v = videos.find((x) => x.id === id);
      if (v) v.views = views;
    },
    failNext: (route, f) => {
      failures.set(route, [...(failures.get(route) ?? []), { ...f }]);
    },
    rateLimitNext: (route, seconds) => {
      failures.set(route, [...(failures.get(route) ?? []), { status: 429, reason: 'rateLimitExceeded', domain: 'youtube.quota', message: 'Too many requests', headers: { 'retry-after': String(seconds) } }]);
    },
    quotaExceededNext: (route, times = 1) => {
      failures.set(route, [...(failures.get(route) ?? []), {
        status: 403, reason: 'quotaExceeded', domain: 'youtube.quota', times,
        message: 'The request cannot be completed because you have exceeded your <a href="/youtube/v3/getting-started#quota">quota</a>.',
      }]);
    },
    hangNext: (route, o = {}) => new Promise<void>((resolve) => {
      hangs.set(route, [...(hangs.get(route) ?? []), { commit: o.commit ?? false, arrived: resolve }]);
    }),
    cutUploadAt: (fraction) => {
      cutAt = fraction;
    },
    revokeTokens: () => tokens.clear(),
    close: async () => {
      for (const s of sockets) s.destroy();
      held.length = 0;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
