/**
 * The public-side view of a rehearsal (`REHEARSAL=1`): what the public would see on each
 * network, served by the bot on PORT so an exercise can watch it.
 *
 *   GET /rehearsal               the page (self-contained: inline CSS and script, no CDN)
 *   GET /rehearsal/state.json    the world as the public sees it, as JSON (no media bytes)
 *   GET /rehearsal/media/<id>    a live post's image or video
 *   GET /rehearsal/cards         the page's columns alone (the page's script swaps changed cards from it)
 *
 * Anything else under /rehearsal is a 404, any method but GET and HEAD a 405. Paths outside
 * /rehearsal are not handled (the handler returns false and the server's own routes go on).
 *
 * "What the public sees": a withdrawn post shows only "This post has been removed" — its
 * text, media and replies are no longer in the page, nor in state.json, and its media are
 * no longer served; a withdrawn reply disappears. Everything from the world is
 * HTML-escaped, the page runs under a nonce-based Content-Security-Policy, and media ids are
 * opaque keys looked up in the world's map (never a path on disk).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NETWORK_LABELS, type NetworkName } from '../../core/networks.js';
import { systemClock, type Clock } from '../../core/ports.js';
import type { RehearsalWorld, WorldMedia, WorldPost } from './world.js';
import { renderColumns, renderPage } from './view-page.js';

export const REHEARSAL_PATH = '/rehearsal';
export const REHEARSAL_STATE_PATH = '/rehearsal/state.json';
export const REHEARSAL_CARDS_PATH = '/rehearsal/cards';
export const REHEARSAL_MEDIA_PREFIX = '/rehearsal/media/';

/** At most this many history points per post in state.json (the sparkline). */
const HISTORY_POINTS = 60;
const MAX_MEDIA_ID_LENGTH = 256;

export interface RehearsalViewOptions {
  /** "Now" for the page's "3 min ago" and state.json's `now` (the demo and tests may run a fake clock). */
  clock?: Clock;
  /** How often the page polls state.json, in ms (default 1000). */
  pollMs?: number;
}

/** Handles the request if it is under /rehearsal (returns true), else leaves it alone (false). */
export type RehearsalViewHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface PublicMedia {
  id: string;
  mime: string;
  name: string;
  /** Where the page loads it from: /rehearsal/media/<id>. */
  url: string;
}

export interface PublicReply {
  id: string;
  text: string;
  at: number;
}

/** One post as the public sees it. A removed post keeps only what identifies it and its views. */
export interface PublicPost {
  /** `<network>|<postId>`: unique in the world. */
  key: string;
  network: NetworkName;
  networkLabel: string;
  postId: string;
  kind: WorldPost['kind'];
  createdAt: number;
  views: number;
  /** The last views readings, oldest first. */
  history: Array<{ at: number; views: number }>;
  removed: boolean;
  removedAt?: number;
  /** Only while live: the public link, title, text, media and replies. */
  url?: string;
  title?: string;
  text?: string;
  media: PublicMedia[];
  replies: PublicReply[];
  /** Changes whenever the card's layout changes (a reply, a removal): the page re-renders that card. */
  sig: string;
}

export interface RehearsalState {
  rehearsal: true;
  now: number;
  /** Views of every post, removed ones included (the reach they had). */
  totalViews: number;
  /** Newest first. */
  posts: PublicPost[];
}

export function mediaUrl(id: string): string {
  return REHEARSAL_MEDIA_PREFIX + encodeURIComponent(id);
}

/** The world as the public sees it now (its views brought up to now first, as a reader may). */
export function publicState(world: RehearsalWorld, now: number): RehearsalState {
  world.refresh();
  const posts = world.posts().map(toPublicPost);
  return { rehearsal: true, now, totalViews: posts.reduce((sum, p) => sum + p.views, 0), posts };
}

function toPublicPost(post: WorldPost): PublicPost {
  const removed = post.withdrawnAt !== undefined;
  const replies: PublicReply[] = removed
    ? []
    : post.replies.filter((r) => r.withdrawnAt === undefined).map((r) => ({ id: r.id, text: r.text, at: r.at }));
  const base: PublicPost = {
    key: `${post.network}|${post.postId}`,
    network: post.network,
    networkLabel: NETWORK_LABELS[post.network] ?? post.network,
    postId: post.postId,
    kind: post.kind,
    createdAt: post.createdAt,
    views: finite(post.views),
    history: post.history.slice(-HISTORY_POINTS).map((h) => ({ at: h.at, views: finite(h.views) })),
    removed,
    media: [],
    replies,
    sig: cardSignature(removed, replies),
  };
  if (removed) return { ...base, removedAt: post.withdrawnAt };
  return {
    ...base,
    url: post.url,
    ...(post.title !== undefined ? { title: post.title } : {}),
    text: post.text,
    media: post.media.map((m) => ({ id: m.id, mime: m.mime, name: m.name, url: mediaUrl(m.id) })),
  };
}

/** The page's inline script computes the same string from state.json: keep the two in step. */
function cardSignature(removed: boolean, replies: PublicReply[]): string {
  return `${removed ? 'removed' : 'live'}:${replies.map((r) => r.id).join(',')}`;
}

function finite(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/** The media a live post shows, by id; undefined for unknown ids and for media only withdrawn posts carried. */
function liveMedia(world: RehearsalWorld, id: string): WorldMedia | undefined {
  const media = world.media(id);
  if (!media) return undefined;
  const shown = world.posts().some((p) => p.withdrawnAt === undefined && p.media.some((m) => m.id === id));
  return shown ? media : undefined;
}

/** The types served as themselves; anything else is served as a download that the browser won't render. */
const INLINE_MIMES = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'video/mp4', 'video/quicktime', 'video/webm']);

const COMMON_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
} as const;

/** For everything but the page: nothing in the response may run or load anything. */
const LOCKED_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox";

export function pageCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "img-src 'self'",
    "media-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function createRehearsalView(world: RehearsalWorld, options: RehearsalViewOptions = {}): RehearsalViewHandler {
  const clock = options.clock ?? systemClock;
  const pollMs = options.pollMs ?? 1000;

  return (req, res) => {
    const raw = req.url ?? '/';
    const cut = raw.search(/[?#]/);
    // The raw path, never normalised: "/rehearsal/../x" is not ours to resolve.
    const path = cut >= 0 ? raw.slice(0, cut) : raw;
    if (path !== REHEARSAL_PATH && !path.startsWith(`${REHEARSAL_PATH}/`)) return false;

    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(req, res, 405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD', 'content-security-policy': LOCKED_CSP }, 'method not allowed\n');
        return true;
      }
      if (path === REHEARSAL_PATH || path === `${REHEARSAL_PATH}/`) {
        const nonce = randomBytes(16).toString('base64');
        const html = renderPage(publicState(world, clock.now()), { nonce, pollMs });
        send(req, res, 200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': pageCsp(nonce) }, html);
        return true;
      }
      if (path === REHEARSAL_STATE_PATH) {
        const body = JSON.stringify(publicState(world, clock.now()));
        send(req, res, 200, { 'content-type': 'application/json; charset=utf-8', 'content-security-policy': LOCKED_CSP }, body);
        return true;
      }
      if (path === REHEARSAL_CARDS_PATH) {
        const html = renderColumns(publicState(world, clock.now()));
        send(req, res, 200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': LOCKED_CSP }, html);
        return true;
      }
      if (path.startsWith(REHEARSAL_MEDIA_PREFIX)) {
        const media = lookUpMedia(world, path.slice(REHEARSAL_MEDIA_PREFIX.length));
        if (media) {
          serveMedia(req, res, media);
          return true;
        }
      }
      notFound(req, res);
    } catch {
      if (!res.headersSent) send(req, res, 500, { 'content-type': 'text/plain; charset=utf-8', 'content-security-policy': LOCKED_CSP }, 'internal error\n');
      else res.destroy();
    }
    return true;
  };
}

function lookUpMedia(world: RehearsalWorld, segment: string): WorldMedia | undefined {
  if (segment === '' || segment.includes('/') || segment.length > MAX_MEDIA_ID_LENGTH * 3) return undefined;
  let id: string;
  try {
    id = decodeURIComponent(segment);
  } catch {
    return undefined;
  }
  if (id.length > MAX_MEDIA_ID_LENGTH) return undefined;
  return liveMedia(world, id);
}

function notFound(req: IncomingMessage, res: ServerResponse): void {
  send(req, res, 404, { 'content-type': 'text/plain; charset=utf-8', 'content-security-policy': LOCKED_CSP }, 'not found\n');
}

function send(req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...COMMON_HEADERS, ...headers, 'content-length': String(bytes.length) });
  if (req.method === 'HEAD') res.end();
  else res.end(bytes);
}

/** The bytes, with a single byte range honoured (a <video> seeks with them). */
function serveMedia(req: IncomingMessage, res: ServerResponse, media: WorldMedia): void {
  const inline = INLINE_MIMES.has(media.mime);
  const headers: Record<string, string> = {
    'content-type': inline ? media.mime : 'application/octet-stream',
    'content-security-policy': LOCKED_CSP,
    'accept-ranges': 'bytes',
  };
  if (!inline) headers['content-disposition'] = 'attachment';
  const size = media.bytes.length;
  const range = parseRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    send(req, res, 416, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-range': `bytes */${size}` }, '');
    return;
  }
  if (range) {
    const [start, end] = range;
    send(req, res, 206, { ...headers, 'content-range': `bytes ${start}-${end}/${size}` }, media.bytes.subarray(start, end + 1));
    return;
  }
  send(req, res, 200, headers, media.bytes);
}

/** One `bytes=` range as [start, end] (inclusive); undefined to send everything (no or several ranges). */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined; // several ranges, or not bytes: the whole file is a valid answer
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return [start, end];
}
