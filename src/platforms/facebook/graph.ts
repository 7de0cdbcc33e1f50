/**
 * The one choke point for calls to the Facebook Graph API, over Node's fetch (no SDK).
 * Every request goes through `graph(request, opts)`:
 *
 * - The Page access token travels as the `access_token` form field (POST) or an
 *   `Authorization: Bearer` header (GET, DELETE), never in a URL. Each call is logged at debug as `METHOD url - status`, with the URL built
 *   before the token is added: the token is never logged, nor put in an error.
 * - Throttling (codes 4, 17, 32, 613, 80001, or HTTP 429): waits for the Page's
 *   `X-Business-Use-Case-Usage` `estimated_time_to_regain_access` (minutes) plus jitter, or backs
 *   off when the header doesn't say, as long as the total stays within `maxRateLimitWaitMs`;
 *   beyond that NetworkError 'rate_limited' with `retryAfterMs`. A throttled request was not
 *   acted on, so even a write is repeated.
 * - 5xx, Graph's transient codes (1, 2), timeouts and network errors: backs off with jitter up
 *   to `maxAttempts`, for idempotent calls only. A write gets NetworkError 'unavailable' with
 *   `ambiguous` (the caller looks before repeating), unless the request never left.
 * - Anything else is permanent and never repeated: 190 → 'auth', 10/200-299 → 'forbidden'
 *   (naming the missing permission), 506 → 'duplicate', 100/33, 803 and 404 → 'not_found',
 *   100 → 'invalid'.
 */
import type { FacebookConfig } from '../../config.js';
import { NetworkError, type Logger, type NetworkErrorCode } from '../../core/ports.js';

export type Params = Record<string, string | number | boolean | undefined>;

export interface GraphRequest {
  method: 'GET' | 'POST' | 'DELETE';
  /** Relative to the Graph base: "123/feed"; "" is the root (the multi-id read). */
  path: string;
  /** Query (GET, DELETE) or body (POST) parameters. */
  params?: Params;
  /** POST as multipart/form-data with this file. */
  file?: { field: string; bytes: Buffer; mime: string; filename: string };
  /** Runs right before each try is sent, after any wait (the publish fence). Its error goes through untouched. */
  before?: () => Promise<void> | void;
}

export interface CallOptions {
  /** Safe to repeat after a 5xx or a network error (reads, deletes, unpublished photo uploads). */
  idempotent: boolean;
  /** What a limit or refusal holds up, for the user message: "posts", "reach lookups", … */
  what: string;
  /** The permission this call needs, named when Facebook refuses for lack of one. */
  permission?: string;
}

export type Graph = <T>(req: GraphRequest, opts: CallOptions) => Promise<T>;

export interface GraphDeps {
  config: FacebookConfig;
  logger: Logger;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  maxRateLimitWaitMs: number;
  maxAttempts: number;
  timeoutMs: number;
  random?: () => number;
}

/** What Graph answered with an error, without the request (whose URL or body holds the token). */
export class GraphApiError extends Error {
  constructor(
    readonly label: string,
    readonly status: number,
    readonly error: { message?: string; type?: string; code?: number; subcode?: number; fbtraceId?: string; transient?: boolean },
  ) {
    const code = error.code !== undefined ? ` (#${error.code}${error.subcode !== undefined ? `/${error.subcode}` : ''})` : '';
    super(`${label} - ${status}${code}${error.message ? ` ${error.message}` : ''}`);
    this.name = 'GraphApiError';
  }
}

/** A request that got no (complete, readable) answer: timeout, reset, refused. */
export class GraphTransportError extends Error {
  constructor(readonly label: string, message: string, readonly errno?: string) {
    super(`${label} - ${message}${errno ? ` (${errno})` : ''}`);
    this.name = 'GraphTransportError';
  }
}

const NETWORK = 'facebook';
export const THROTTLE_CODES: ReadonlySet<number> = new Set([4, 17, 32, 613, 80001]);
const TRANSIENT_CODES = new Set([1, 2]);
const AUTH_CODES = new Set([102, 104, 190]);
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const PERMISSION_RE = /\b(pages_[a-z_]+|read_insights|publish_video|business_management)\b/;
const MAX_RATE_LIMIT_ROUNDS = 10;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 30_000;
/** Throttled without a time to wait: Meta advises waiting minutes, not seconds. */
const THROTTLE_BACKOFF_BASE_MS = 30_000;
const THROTTLE_BACKOFF_CAP_MS = 5 * 60_000;

type Classified =
  | { kind: 'rate'; waitHintMs: number | undefined; error: GraphApiError }
  | { kind: 'server'; error: GraphApiError }
  | { kind: 'client'; error: GraphApiError }
  | { kind: 'transport'; neverSent: boolean; error: GraphTransportError };

type Outcome<T> = { ok: true; value: T } | { ok: false; c: Classified };

function clip(s: string | undefined, max = 200): string {
  if (!s) return '';
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** "14:05 UTC", with the date when it isn't within the next 20 hours. */
function utcTime(ms: number, now: number): string {
  const d = new Date(ms);
  const hhmm = `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')} UTC`;
  return ms - now > 20 * 3_600_000 ? `${hhmm} on ${d.toISOString().slice(0, 10)}` : hhmm;
}

/** The longest `estimated_time_to_regain_access` (minutes) in X-Business-Use-Case-Usage, as ms. */
export function regainAccessMs(header: string | null): number | undefined {
  if (!header) return undefined;
  try {
    const usage = JSON.parse(header) as Record<string, Array<{ estimated_time_to_regain_access?: unknown }>>;
    let minutes = 0;
    for (const entries of Object.values(usage)) {
      for (const e of Array.isArray(entries) ? entries : []) {
        const m = Number(e?.estimated_time_to_regain_access);
        if (Number.isFinite(m) && m > minutes) minutes = m;
      }
    }
    return minutes > 0 ? Math.round(minutes * 60_000) : undefined;
  } catch {
    return undefined;
  }
}

/** The NetworkError for a permanent refusal. */
function clientError(c: Extract<Classified, { kind: 'client' }>, opts: CallOptions): NetworkError {
  const { status, error: e } = c.error;
  const detail = e.message ?? '';
  const code = e.code ?? 0;
  const make = (kind: NetworkErrorCode, userMessage: string) =>
    new NetworkError({ network: NETWORK, code: kind, userMessage, status, permanent: true, cause: c.error });
  if (AUTH_CODES.has(code) || status === 401) return make('auth', 'Facebook refused the page token: check FACEBOOK_PAGE_TOKEN');
  if (code === 10 || (code >= 200 && code <= 299)) {
    const missing = PERMISSION_RE.exec(detail)?.[1] ?? opts.permission;
    return make('forbidden', missing
      ? `Facebook refused ${opts.what}: the page token lacks the "${missing}" permission; grant it to the app and issue a new FACEBOOK_PAGE_TOKEN`
      : `Facebook refused ${opts.what} for lack of permission${detail ? `: ${clip(detail)}` : ''}`);
  }
  if (code === 506) return make('duplicate', 'Facebook refused the post as a duplicate of an earlier one');
  if (code === 368) return make('forbidden', `Facebook has blocked the Page from doing this for now (a policy block)${detail ? `: ${clip(detail)}` : ''}`);
  if ((code === 100 && e.subcode === 33) || code === 803 || status === 404) {
    return make('not_found', 'Facebook has no such post (it may have been deleted)');
  }
  if (code === 100 || code === 324 || status === 400 || status === 413) {
    return make('invalid', `Facebook rejected the request as invalid${detail ? `: ${clip(detail)}` : ''}`);
  }
  return make('unknown', `Facebook refused the request (HTTP ${status}${code ? `, code ${code}` : ''})${detail ? `: ${clip(detail)}` : ''}`);
}

export function createGraph(deps: GraphDeps): Graph {
  const random = deps.random ?? Math.random;
  const log = deps.logger;
  const base = deps.config.graphUrl.replace(/\/+$/, '');
  const token = deps.config.pageToken;
  /** Graph's messages don't echo the token; this makes sure of it. */
  const scrub = (s: string | undefined): string | undefined => (s && token ? s.split(token).join('[token]') : s);

  const backoffMs = (failures: number, baseMs = BACKOFF_BASE_MS, capMs = BACKOFF_CAP_MS): number => {
    const b = Math.min(capMs, baseMs * 2 ** (failures - 1));
    return Math.round(b / 2 + (random() * b) / 2);
  };

  async function send<T>(req: GraphRequest, label: string): Promise<Outcome<T>> {
    const url = new URL(`${base}/${req.path}`);
    const fields = Object.entries(req.params ?? {}).filter((e): e is [string, string | number | boolean] => e[1] !== undefined);
    let body: URLSearchParams | FormData | undefined;
    if (req.method === 'POST') {
      if (req.file) {
        const form = new FormData();
        for (const [k, v] of fields) form.append(k, String(v));
        form.append('access_token', token);
        form.append(req.file.field, new Blob([req.file.bytes], { type: req.file.mime }), req.file.filename);
        body = form;
      } else {
        body = new URLSearchParams(fields.map(([k, v]): [string, string] => [k, String(v)]));
        body.append('access_token', token);
      }
    } else {
      for (const [k, v] of fields) url.searchParams.append(k, String(v));
    }
    const shown = `${req.method} ${url.toString()}`;
    // Reads and deletes carry the token in a header (the Graph API takes a Bearer token), so it
    // never sits in a URL that a proxy or an access log could keep.
    const auth = req.method !== 'POST' ? { authorization: `Bearer ${token}` } : undefined;

    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, deps.timeoutMs);
    let status: number;
    let text: string;
    let headers: Headers;
    try {
      const res = await fetch(url, { method: req.method, ...(body ? { body } : {}), ...(auth ? { headers: auth } : {}), signal: ac.signal });
      status = res.status;
      headers = res.headers;
      text = await res.text();
    } catch (err) {
      const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
      const errno = typeof cause?.code === 'string' ? cause.code : undefined;
      const what = timedOut ? `no answer within ${deps.timeoutMs} ms` : (typeof cause?.message === 'string' ? cause.message : 'request failed');
      log.debug({ error: errno ?? what }, `${shown} - ${errno ?? what}`);
      return { ok: false, c: { kind: 'transport', neverSent: !timedOut && errno !== undefined && NEVER_SENT.has(errno), error: new GraphTransportError(label, scrub(what) ?? '', errno) } };
    } finally {
      clearTimeout(timer);
    }
    log.debug({ status }, `${shown} - ${status}`);

    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    const fbError = typeof json === 'object' && json !== null ? (json as { error?: Record<string, unknown> }).error : undefined;
    if (status >= 200 && status < 300 && fbError === undefined) {
      if (json === undefined) return { ok: false, c: { kind: 'transport', neverSent: false, error: new GraphTransportError(label, 'the answer was not JSON') } };
      return { ok: true, value: json as T };
    }
    const e = fbError ?? {};
    const error = new GraphApiError(label, status, {
      ...(typeof e.message === 'string' ? { message: scrub(e.message) } : {}),
      ...(typeof e.type === 'string' ? { type: e.type } : {}),
      ...(typeof e.code === 'number' ? { code: e.code } : {}),
      ...(typeof e.error_subcode === 'number' ? { subcode: e.error_subcode } : {}),
      ...(typeof e.fbtrace_id === 'string' ? { fbtraceId: e.fbtrace_id } : {}),
      ...(typeof e.is_transient === 'boolean' ? { transient: e.is_transient } : {}),
    });
    const code = error.error.code;
    if (status === 429 || (code !== undefined && THROTTLE_CODES.has(code))) {
      return { ok: false, c: { kind: 'rate', waitHintMs: regainAccessMs(headers.get('x-business-use-case-usage')), error } };
    }
    if (status >= 500 || (code !== undefined && TRANSIENT_CODES.has(code)) || error.error.transient === true) {
      return { ok: false, c: { kind: 'server', error } };
    }
    return { ok: false, c: { kind: 'client', error } };
  }

  return async function graph<T>(req: GraphRequest, opts: CallOptions): Promise<T> {
    const label = `${req.method} ${req.path.replace(/^\d+(?=\/)/, '{page}') || '/'}`;
    let failures = 0;
    let rateRounds = 0;
    let waitedMs = 0;
    for (;;) {
      await req.before?.();
      const out = await send<T>(req, label);
      if (out.ok) return out.value;
      const c = out.c;

      if (c.kind === 'rate') {
        const now = deps.now();
        rateRounds += 1;
        const untilMs = c.waitHintMs ?? backoffMs(rateRounds, THROTTLE_BACKOFF_BASE_MS, THROTTLE_BACKOFF_CAP_MS);
        const waitMs = untilMs + Math.round(250 + random() * 750);
        if (waitedMs + waitMs > deps.maxRateLimitWaitMs || rateRounds > MAX_RATE_LIMIT_ROUNDS) {
          throw new NetworkError({
            network: NETWORK, code: 'rate_limited', status: c.error.status, permanent: false, retryAfterMs: untilMs, cause: c.error,
            userMessage: `Facebook is rate-limiting ${opts.what} until about ${utcTime(now + untilMs, now)}`,
          });
        }
        log.warn({ call: label, waitMs, code: c.error.error.code }, 'Facebook rate limit: waiting');
        await deps.sleep(waitMs);
        waitedMs += waitMs;
        continue;
      }

      if (c.kind === 'client') throw clientError(c, opts);

      failures += 1;
      const what = c.kind === 'server'
        ? `Facebook is having problems (HTTP ${c.error.status})`
        : `Facebook could not be reached (${clip(c.error.message.replace(`${label} - `, ''), 80)})`;
      const status = c.kind === 'server' ? { status: c.error.status } : {};
      if (!(opts.idempotent || (c.kind === 'transport' && c.neverSent))) {
        throw new NetworkError({
          network: NETWORK, code: 'unavailable', permanent: false, ambiguous: true, cause: c.error, ...status,
          userMessage: `${what}, and did not confirm whether it acted on the request`,
        });
      }
      if (failures >= deps.maxAttempts) {
        throw new NetworkError({
          network: NETWORK, code: 'unavailable', permanent: false, cause: c.error, ...status,
          userMessage: `${what}; gave up after ${failures} tries, try again later`,
        });
      }
      const waitMs = backoffMs(failures);
      log.warn({ call: label, attempt: failures, waitMs, error: c.error.message }, 'Facebook call failed; backing off');
      await deps.sleep(waitMs);
    }
  };
}
