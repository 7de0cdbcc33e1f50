/**
 * Flickr's wire and the one choke point for calls to it.
 *
 * flickr-sdk 7 signs every request (OAuth 1.0a, the oauth_* params in the query or the form
 * body) for its constant URLs (https://api.flickr.com/services/rest,
 * https://up.flickr.com/services/upload) and then hands it to a transport. `FlickrTransport`
 * sends it to the configured `apiUrl` / `uploadUrl` instead, with a timeout, logs it as
 * `METHOD url method - status` (never the query: it holds oauth_token and the signature), and
 * turns Flickr's answers into typed errors before the SDK sees them:
 *
 * - HTTP 429 → FlickrHttpError with `retryAfterMs` (from `Retry-After`, when Flickr sends one);
 * - any other non-2xx → FlickrHttpError;
 * - HTTP 200 with `{"stat":"fail","code","message"}` (REST) or
 *   `<rsp stat="fail"><err code msg/></rsp>` (upload) → FlickrApiError with Flickr's code;
 * - no (complete) answer → FlickrTransportError.
 *
 * `call(label, fn, opts)` then decides: waits out 429s (within `maxRateLimitWaitMs`), backs off
 * on 5xx / 105 / network errors for idempotent calls only (a write gets an `ambiguous`
 * NetworkError and the caller looks before repeating it), and never repeats anything else.
 * Errors carry plain words and a sanitised `cause`, never a secret.
 */
import { randomBytes } from 'node:crypto';
import type { GET, POST, Transport } from 'flickr-sdk';
import { NetworkError, type Logger, type NetworkErrorCode } from '../../core/ports.js';

/** The URLs flickr-sdk 7 signs for (constants in the SDK). */
export const SDK_REST_URL = 'https://api.flickr.com/services/rest';
export const SDK_UPLOAD_URL = 'https://up.flickr.com/services/upload';

const NETWORK = 'flickr';

/** Flickr answered `stat: fail` (HTTP 200). */
export class FlickrApiError extends Error {
  constructor(readonly label: string, readonly code: number, readonly flickrMessage: string) {
    super(`${label} - Flickr error ${code}: ${flickrMessage}`);
    this.name = 'FlickrApiError';
  }
}

/** Flickr answered an HTTP error status. */
export class FlickrHttpError extends Error {
  constructor(readonly label: string, readonly status: number, readonly retryAfterMs?: number) {
    super(`${label} - HTTP ${status}`);
    this.name = 'FlickrHttpError';
  }
}

/** No (complete) answer: timeout, reset, refused. */
export class FlickrTransportError extends Error {
  constructor(readonly label: string, message: string, readonly errno?: string) {
    super(`${label} - ${message}${errno ? ` (${errno})` : ''}`);
    this.name = 'FlickrTransportError';
  }
}

/** Errors raised before anything was sent: repeating can't duplicate a write. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export interface TransportDeps {
  apiUrl: string;
  uploadUrl: string;
  logger: Logger;
  timeoutMs: number;
}

/** A flickr-sdk Transport that sends to the configured URLs and checks every answer. */
export class FlickrTransport implements Transport {
  constructor(private readonly deps: TransportDeps) {}

  async get(url: string, params: GET): Promise<Response> {
    const target = new URL(this.target(url));
    for (const [k, v] of params.entries()) target.searchParams.set(k, v);
    return this.send('GET', target.toString(), labelOf(url, params.entries()), undefined, url === SDK_UPLOAD_URL);
  }

  async post(url: string, params: POST): Promise<Response> {
    return this.send('POST', this.target(url), labelOf(url, params.entries()), await multipart(params.getFormData()), url === SDK_UPLOAD_URL);
  }

  private target(url: string): string {
    if (url === SDK_REST_URL) return this.deps.apiUrl;
    if (url === SDK_UPLOAD_URL) return this.deps.uploadUrl;
    throw new Error(`flickr-sdk asked for an unexpected URL (${new URL(url).host}${new URL(url).pathname})`);
  }

  private async send(method: 'GET' | 'POST', url: string, label: string, body: { type: string; bytes: Buffer } | undefined, xml: boolean): Promise<Response> {
    const shown = `${method} ${url.split('?')[0]}${label.startsWith('flickr.') ? ` ${label}` : ''}`;
    let status = 0;
    let text: string;
    let headers: Headers;
    try {
      const res = await fetch(url, {
        method, signal: AbortSignal.timeout(this.deps.timeoutMs),
        ...(body ? { body: body.bytes, headers: { 'content-type': body.type } } : {}),
      });
      status = res.status;
      headers = res.headers;
      text = await res.text();
    } catch (err) {
      this.deps.logger.debug({}, `${shown} - ${status || 'no answer'}`);
      throw transportError(label, err, this.deps.timeoutMs);
    }
    this.deps.logger.debug({}, `${shown} - ${status}`);
    if (status === 429) throw new FlickrHttpError(label, status, retryAfter(headers.get('retry-after')));
    if (status < 200 || status >= 300) throw new FlickrHttpError(label, status);
    if (xml) {
      const stat = /<rsp\b[^>]*\bstat="([^"]*)"/.exec(text)?.[1];
      if (stat !== 'ok') {
        const err = /<err\b[^>]*>/.exec(text)?.[0] ?? '';
        const code = Number(/\bcode="(\d+)"/.exec(err)?.[1] ?? NaN);
        if (!Number.isFinite(code)) throw new FlickrTransportError(label, 'the upload answer was unreadable');
        throw new FlickrApiError(label, code, unescapeXml(/\bmsg="([^"]*)"/.exec(err)?.[1] ?? ''));
      }
    } else {
      let json: { stat?: unknown; code?: unknown; message?: unknown };
      try {
        json = JSON.parse(text) as typeof json;
      } catch {
        throw new FlickrTransportError(label, 'the answer was not JSON');
      }
      if (json.stat !== 'ok') {
        throw new FlickrApiError(label, Number(json.code ?? NaN), typeof json.message === 'string' ? json.message : '');
      }
    }
    return new Response(text, { status, headers: { 'content-type': xml ? 'text/xml' : 'application/json' } });
  }
}

/**
 * multipart/form-data with every value exactly as signed. fetch's own FormData encoding turns
 * each "\n" in a value into "\r\n" (as the HTML spec says), so a description with line
 * breaks would no longer match the signature flickr-sdk computed over the "\n" version.
 */
async function multipart(form: FormData): Promise<{ type: string; bytes: Buffer }> {
  const boundary = `----loudhailer${randomBytes(12).toString('hex')}`;
  const chunks: Buffer[] = [];
  const quote = (s: string) => s.replace(/["\r\n]/g, (c) => encodeURIComponent(c));
  for (const [name, value] of form.entries()) {
    if (typeof value === 'string') {
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n`), Buffer.from(value, 'utf8'), Buffer.from('\r\n'));
    } else {
      const filename = (value as { name?: string }).name || 'blob';
      chunks.push(
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"; filename="${quote(filename)}"\r\nContent-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`),
        Buffer.from(await value.arrayBuffer()), Buffer.from('\r\n'),
      );
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { type: `multipart/form-data; boundary=${boundary}`, bytes: Buffer.concat(chunks) };
}

function labelOf(url: string, entries: IterableIterator<[string, string]>): string {
  if (url === SDK_UPLOAD_URL) return 'upload';
  for (const [k, v] of entries) if (k === 'method') return v;
  return 'rest';
}

function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const secs = Number(header);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

function transportError(label: string, err: unknown, timeoutMs: number): FlickrTransportError {
  const e = err as { name?: string; message?: string; cause?: { code?: unknown; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return new FlickrTransportError(label, `no answer within ${timeoutMs} ms`, 'ETIMEDOUT');
  const code = typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
  return new FlickrTransportError(label, e?.cause?.message || e?.message || 'request failed', code);
}

function unescapeXml(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

// ---------------------------------------------------------------------------------------------
// The choke point
// ---------------------------------------------------------------------------------------------

export interface CallOptions {
  /** Safe to repeat after a 5xx or a network error (reads, deletes, addPhoto). */
  idempotent: boolean;
  /** What a rate limit holds up, for the user message: "uploads", "reach lookups", … */
  what: string;
  /** Method-specific Flickr codes (below 95) and what they mean here. Default: 1 → not_found, others → invalid. */
  codes?: Record<number, { code: NetworkErrorCode; userMessage: string; permanent?: boolean }>;
}

export type Call = <T>(label: string, fn: () => Promise<T>, opts: CallOptions) => Promise<T>;

export interface CallDeps {
  logger: Logger;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  maxRateLimitWaitMs: number;
  maxAttempts: number;
  random?: () => number;
}

const AUTH_MESSAGE = 'Flickr refused the credentials: check FLICKR_OAUTH_TOKEN and FLICKR_OAUTH_SECRET';
const MAX_RATE_LIMIT_ROUNDS = 10;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 30_000;
/** A 429 without Retry-After: Flickr's limit is per hour, so wait a minute, doubling. */
const RATE_BACKOFF_MS = 60_000;
const JITTER_MS = 1_000;

/** "14:05 UTC", with the date when it isn't within the next 20 hours. */
function utcTime(ms: number, now: number): string {
  const d = new Date(ms);
  const hhmm = `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')} UTC`;
  return ms - now > 20 * 3_600_000 ? `${hhmm} on ${d.toISOString().slice(0, 10)}` : hhmm;
}

function clip(s: string, max = 200): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** A Flickr `stat: fail` that trying again can't fix. Transient ones (105, 106) are handled by the caller. */
function apiError(err: FlickrApiError, opts: CallOptions): NetworkError {
  const make = (code: NetworkErrorCode, userMessage: string, permanent = true) =>
    new NetworkError({ network: NETWORK, code, userMessage, permanent, cause: err });
  const c = err.code;
  if (c === 96 || c === 97 || c === 98) return make('auth', AUTH_MESSAGE);
  if (c === 100) return make('auth', 'Flickr refused the API key: check FLICKR_API_KEY and FLICKR_API_SECRET');
  if (c === 99) {
    return make('forbidden', 'Flickr refused: the token needs write permission (and delete permission to withdraw); authorise the app again and set FLICKR_OAUTH_TOKEN and FLICKR_OAUTH_SECRET');
  }
  if (c === 95) return make('invalid', 'Flickr requires HTTPS: check FLICKR_API_URL and FLICKR_UPLOAD_URL');
  const specific = opts.codes?.[c];
  if (specific) return make(specific.code, specific.userMessage, specific.permanent ?? true);
  if (c === 1) return make('not_found', 'Flickr has no such photo or album (it may have been deleted)');
  return make(c >= 111 ? 'invalid' : 'unknown', `Flickr refused the request${err.flickrMessage ? `: ${clip(err.flickrMessage)}` : ` (error ${c})`}`);
}

export function createCall(deps: CallDeps): Call {
  const random = deps.random ?? Math.random;
  const log = deps.logger;
  const backoffMs = (failures: number): number => {
    const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (failures - 1));
    return Math.round(base / 2 + (random() * base) / 2);
  };

  return async function call<T>(label: string, fn: () => Promise<T>, opts: CallOptions): Promise<T> {
    let failures = 0;
    let rateRounds = 0;
    let waitedMs = 0;
    for (;;) {
      let error: FlickrApiError | FlickrHttpError | FlickrTransportError;
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof FlickrApiError || err instanceof FlickrHttpError || err instanceof FlickrTransportError)) throw err;
        error = err;
      }

      if (error instanceof FlickrHttpError && error.status === 429) {
        const now = deps.now();
        rateRounds += 1;
        const untilMs = error.retryAfterMs ?? RATE_BACKOFF_MS * 2 ** (rateRounds - 1);
        const waitMs = untilMs + Math.round(250 + random() * (JITTER_MS - 250));
        if (waitedMs + waitMs > deps.maxRateLimitWaitMs || rateRounds > MAX_RATE_LIMIT_ROUNDS) {
          throw new NetworkError({
            network: NETWORK, code: 'rate_limited', status: 429, permanent: false, retryAfterMs: untilMs, cause: error,
            userMessage: `Flickr is rate-limiting ${opts.what} (3600 calls an hour per API key) until ${utcTime(now + untilMs, now)}`,
          });
        }
        log.warn({ call: label, waitMs }, 'Flickr rate limit: waiting');
        await deps.sleep(waitMs);
        waitedMs += waitMs;
        continue;
      }

      const transient = error instanceof FlickrTransportError
        || (error instanceof FlickrHttpError && error.status >= 500)
        || (error instanceof FlickrApiError && (error.code === 105 || error.code === 106));
      if (!transient) {
        if (error instanceof FlickrApiError) throw apiError(error, opts);
        const status = (error as FlickrHttpError).status;
        const code: NetworkErrorCode = status === 401 ? 'auth' : status === 403 ? 'forbidden' : status === 404 ? 'not_found' : status === 400 || status === 413 ? 'invalid' : 'unknown';
        throw new NetworkError({
          network: NETWORK, code, status, permanent: true, cause: error,
          userMessage: code === 'auth' ? AUTH_MESSAGE : `Flickr refused the request (HTTP ${status})`,
        });
      }

      failures += 1;
      const status = error instanceof FlickrHttpError ? error.status : undefined;
      const what = error instanceof FlickrTransportError
        ? `Flickr could not be reached (${clip(error.message.replace(`${label} - `, ''), 80)})`
        : error instanceof FlickrApiError ? `Flickr is having problems (${clip(error.flickrMessage || `error ${error.code}`, 80)})` : `Flickr is having problems (HTTP ${status})`;
      const neverSent = error instanceof FlickrTransportError && error.errno !== undefined && NEVER_SENT.has(error.errno);
      if (!opts.idempotent && !neverSent) {
        throw new NetworkError({
          network: NETWORK, code: 'unavailable', permanent: false, ambiguous: true, cause: error,
          ...(status !== undefined ? { status } : {}),
          userMessage: `${what}, and did not confirm whether it acted on the request`,
        });
      }
      if (failures >= deps.maxAttempts) {
        throw new NetworkError({
          network: NETWORK, code: 'unavailable', permanent: false, cause: error,
          ...(status !== undefined ? { status } : {}),
          userMessage: `${what}; gave up after ${failures} tries, try again later`,
        });
      }
      const waitMs = backoffMs(failures);
      log.warn({ call: label, attempt: failures, waitMs, error: error.message }, 'Flickr call failed; backing off');
      await deps.sleep(waitMs);
    }
  };
}
