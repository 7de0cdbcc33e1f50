/**
 * The one choke point for calls to X. Every SDK call goes through `call(label, fn, opts)`:
 *
 * - 429: waits until `x-rate-limit-reset` (epoch seconds; also the 24-hour limits when those are
 *   exhausted) plus a little jitter, as long as the total wait stays within `maxRateLimitWaitMs`;
 *   beyond that it throws NetworkError 'rate_limited' with `retryAfterMs`. A 429 means X did
 *   not act on the request, so even a write is repeated.
 * - 5xx, timeouts and network errors: backs off exponentially with jitter, up to `maxAttempts`,
 *   but only for idempotent calls. A write gets NetworkError 'unavailable' with `ambiguous`
 *   (the caller decides how to recover), unless the request never left (connection refused).
 * - Any other 4xx is permanent and never repeated: 401 → 'auth', duplicate → 'duplicate',
 *   400 → 'invalid', 404 and a reply to a deleted post → 'not_found', other 403 → 'forbidden'.
 *
 * Errors carry plain words for the thread and a sanitised `cause`: never the SDK error itself,
 * whose request object holds the Authorization header.
 */
import { NetworkError, type Logger, type NetworkErrorCode } from '../../core/ports.js';

export interface CallOptions {
  /** Safe to repeat after a 5xx or a network error (reads, media upload steps, delete). */
  idempotent: boolean;
  /** What a rate limit holds up, for the user message: "posts", "reach lookups", … */
  what: string;
}

/** Runs one X request; `timeoutMs` is for the SDK's request timeout. */
export type Call = <T>(label: string, fn: (timeoutMs: number) => Promise<T>, opts: CallOptions) => Promise<T>;

export interface CallDeps {
  logger: Logger;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  maxRateLimitWaitMs: number;
  maxAttempts: number;
  timeoutMs: number;
  random?: () => number;
}

/** A request X answered with an error status, without the SDK's request/response objects. */
export class XApiError extends Error {
  constructor(
    readonly label: string,
    readonly status: number,
    readonly problem: { title?: string; detail?: string; type?: string; errors?: unknown },
  ) {
    super(`${label} - ${status}${problem.title ? ` ${problem.title}` : ''}${problem.detail ? `: ${problem.detail}` : ''}`);
    this.name = 'XApiError';
  }
}

/** A request that got no (complete) answer: timeout, reset, refused. */
export class XTransportError extends Error {
  constructor(
    readonly label: string,
    message: string,
    readonly errno?: string,
  ) {
    super(`${label} - ${message}${errno ? ` (${errno})` : ''}`);
    this.name = 'XTransportError';
  }
}

const NETWORK = 'x';
const DUPLICATE_RE = /duplicate content/i;
const TOO_LONG_RE = /too long/i;
/** X's 403 for a reply to a post that is gone: "You attempted to reply to a Tweet that is deleted or not visible to you." */
const REPLY_TO_GONE_RE = /reply to a (tweet|post) that is deleted or not visible/i;
/** Errors raised before anything was sent: repeating can't duplicate a write. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const MAX_RATE_LIMIT_ROUNDS = 10;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 30_000;
const JITTER_MS = 1_000;

type Classified =
  | { kind: 'rate'; status: 429; resetMs: number | undefined; error: XApiError }
  | { kind: 'server'; status: number; error: XApiError }
  | { kind: 'client'; status: number; error: XApiError }
  | { kind: 'transport'; neverSent: boolean; error: XTransportError };

interface SdkRateLimit {
  limit?: number;
  remaining?: number;
  reset?: number;
  day?: { remaining?: number; reset?: number };
  userDay?: { remaining?: number; reset?: number };
}

/**
 * Reads a twitter-api-v2 error by its `type` (not instanceof: the package ships CJS and ESM
 * builds, and a bundler may load the other one). Anything else is not X's: rethrown as is.
 */
function classify(label: string, err: unknown): Classified | undefined {
  if (typeof err !== 'object' || err === null || (err as { error?: unknown }).error !== true) return undefined;
  const e = err as {
    type?: string; code?: number; data?: unknown; headers?: Record<string, unknown>; rateLimit?: SdkRateLimit;
    requestError?: { message?: string; code?: string }; message?: string;
  };
  if (e.type === 'response' && typeof e.code === 'number') {
    const data = (typeof e.data === 'object' && e.data !== null ? e.data : {}) as XApiError['problem'] & { errors?: Array<{ message?: string }> };
    const problem: XApiError['problem'] = {};
    if (typeof data.title === 'string') problem.title = data.title;
    if (typeof data.detail === 'string') problem.detail = data.detail;
    else if (typeof data.errors?.[0]?.message === 'string') problem.detail = data.errors[0].message;
    if (typeof data.type === 'string') problem.type = data.type;
    if (Array.isArray(data.errors)) problem.errors = data.errors;
    const error = new XApiError(label, e.code, problem);
    if (e.code === 429) return { kind: 'rate', status: 429, resetMs: rateLimitResetMs(e.rateLimit, e.headers), error };
    if (e.code >= 500) return { kind: 'server', status: e.code, error };
    return { kind: 'client', status: e.code, error };
  }
  if (e.type === 'request') {
    // 1.29's `requestError` getter reads a field the constructor never sets (always undefined);
    // the socket error is kept as `_options.error`.
    const cause = e.requestError ?? (err as { _options?: { error?: { message?: string; code?: string } } })._options?.error;
    const code = typeof cause?.code === 'string' ? cause.code : undefined;
    return { kind: 'transport', neverSent: code !== undefined && NEVER_SENT.has(code), error: new XTransportError(label, cause?.message || 'request failed', code) };
  }
  if (e.type === 'partial-response') {
    return { kind: 'transport', neverSent: false, error: new XTransportError(label, 'the answer was cut off or unreadable') };
  }
  return undefined;
}

/** When the exhausted limit resets (ms): the latest of the exhausted windows, else the header. */
function rateLimitResetMs(rl: SdkRateLimit | undefined, headers: Record<string, unknown> | undefined): number | undefined {
  const exhausted = [rl, rl?.day, rl?.userDay]
    .filter((w): w is { remaining?: number; reset?: number } => w !== undefined && w.remaining === 0 && Number.isFinite(w.reset))
    .map((w) => w.reset as number);
  if (exhausted.length > 0) return Math.max(...exhausted) * 1000;
  const header = Number(headers?.['x-rate-limit-reset']);
  if (Number.isFinite(header) && header > 0) return header * 1000;
  return undefined;
}

/** "14:05 UTC", with the date when it isn't within the next 20 hours. */
export function utcTime(ms: number, now: number): string {
  const d = new Date(ms);
  const hhmm = `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')} UTC`;
  return ms - now > 20 * 3_600_000 ? `${hhmm} on ${d.toISOString().slice(0, 10)}` : hhmm;
}

function clip(s: string | undefined, max = 200): string {
  if (!s) return '';
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** The NetworkError for a permanent 4xx. */
function clientError(c: Extract<Classified, { kind: 'client' }>): NetworkError {
  const { status, error } = c;
  const detail = error.problem.detail ?? '';
  const type = error.problem.type ?? '';
  const make = (code: NetworkErrorCode, userMessage: string) =>
    new NetworkError({ network: NETWORK, code, userMessage, status, permanent: true, cause: error });
  if (status === 401) {
    return make('auth', "X refused the account's credentials: check X_ACCESS_TOKEN and X_ACCESS_SECRET (and X_APP_KEY and X_APP_SECRET)");
  }
  if (status === 403) {
    if (DUPLICATE_RE.test(detail)) return make('duplicate', 'X refused the post as a duplicate of an earlier one');
    if (TOO_LONG_RE.test(detail)) return make('invalid', 'X refused the post because its text is too long');
    if (REPLY_TO_GONE_RE.test(detail)) return make('not_found', 'X says the post being replied to is deleted or not visible to the account');
    if (/oauth1-permissions|unsupported-authentication/.test(type)) {
      return make('auth', 'X says the app may not do this with these credentials: give the X app "Read and write" permission, then regenerate X_ACCESS_TOKEN and X_ACCESS_SECRET');
    }
    return make('forbidden', `X refused the request${detail ? `: ${clip(detail)}` : ''}`);
  }
  if (status === 404) return make('not_found', 'X has no such post (it may have been deleted)');
  if (status === 400 || status === 413 || status === 422) {
    return make('invalid', `X rejected the request as invalid${detail ? `: ${clip(detail)}` : ''}`);
  }
  return make('unknown', `X refused the request (HTTP ${status})${detail ? `: ${clip(detail)}` : ''}`);
}

export function createCall(deps: CallDeps): Call {
  const random = deps.random ?? Math.random;
  const log = deps.logger;

  const backoffMs = (failures: number): number => {
    const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (failures - 1));
    return Math.round(base / 2 + (random() * base) / 2);
  };

  return async function call<T>(label: string, fn: (timeoutMs: number) => Promise<T>, opts: CallOptions): Promise<T> {
    let failures = 0;
    let rateRounds = 0;
    let waitedMs = 0;
    for (;;) {
      let c: Classified | undefined;
      try {
        return await fn(deps.timeoutMs);
      } catch (err) {
        c = classify(label, err);
        if (!c) throw err;
      }

      if (c.kind === 'rate') {
        const now = deps.now();
        // No reset, or one already past (clock skew): back off instead of hammering X.
        const resetMs = c.resetMs !== undefined && c.resetMs > now ? c.resetMs : now + backoffMs(rateRounds + 1);
        const waitMs = Math.max(0, resetMs - now) + Math.round(250 + random() * (JITTER_MS - 250));
        rateRounds += 1;
        if (waitedMs + waitMs > deps.maxRateLimitWaitMs || rateRounds > MAX_RATE_LIMIT_ROUNDS) {
          throw new NetworkError({
            network: NETWORK, code: 'rate_limited', status: 429, permanent: false,
            retryAfterMs: Math.max(0, resetMs - now), cause: c.error,
            userMessage: `X is rate-limiting ${opts.what} until ${utcTime(resetMs, now)}`,
          });
        }
        log.warn({ call: label, waitMs, resetAt: new Date(resetMs).toISOString() }, 'X rate limit: waiting for the reset');
        await deps.sleep(waitMs);
        waitedMs += waitMs;
        continue;
      }

      if (c.kind === 'client') throw clientError(c);

      // 5xx or no (complete) answer.
      failures += 1;
      const what = c.kind === 'server' ? `X is having problems (HTTP ${c.status})` : `X could not be reached (${clip(c.error.message.replace(`${label} - `, ''), 80)})`;
      const retryable = opts.idempotent || (c.kind === 'transport' && c.neverSent);
      if (!retryable) {
        throw new NetworkError({
          network: NETWORK, code: 'unavailable', permanent: false, ambiguous: true, cause: c.error,
          ...(c.kind === 'server' ? { status: c.status } : {}),
          userMessage: `${what}, and did not confirm whether it acted on the request`,
        });
      }
      if (failures >= deps.maxAttempts) {
        throw new NetworkError({
          network: NETWORK, code: 'unavailable', permanent: false, cause: c.error,
          ...(c.kind === 'server' ? { status: c.status } : {}),
          userMessage: `${what}; gave up after ${failures} tries, try again later`,
        });
      }
      const waitMs = backoffMs(failures);
      log.warn({ call: label, attempt: failures, waitMs, error: c.error.message }, 'X call failed; backing off');
      await deps.sleep(waitMs);
    }
  };
}
