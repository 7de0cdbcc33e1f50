/**
 * The one choke point for calls to YouTube (and to Google's token endpoint on their behalf).
 * Every request goes through `call(label, fn, opts)`, whose `fn` throws only the two sanitised
 * errors below (or something that is not YouTube's, e.g. a fence error, which passes untouched):
 *
 * - Quota: YouTube counts units per project per Pacific day (videos.insert 1600, list 1, commentThreads.insert 50,
 *   delete 50; 10,000 a day by default). The ledger counts what this process spent; a call
 *   that would not fit, or a 403 `quotaExceeded`, is NetworkError 'rate_limited' until
 *   midnight America/Los_Angeles, and no further call is made until then.
 * - 429, or 403 `rateLimitExceeded`/`userRateLimitExceeded`: waits for `Retry-After` when
 *   given (YouTube normally sends none: then it backs off), within `maxRateLimitWaitMs`.
 * - 5xx and network errors: backs off with jitter up to `maxAttempts`, for idempotent calls
 *   and for requests that never left. A write gets 'unavailable' with `ambiguous`.
 * - Other 4xx are permanent: 401/authError or an OAuth `invalid_grant` → 'auth'; 404 → 'not_found';
 *   409 duplicate → 'duplicate'; 400 `uploadLimitExceeded` → 'rate_limited'; 400 → 'invalid'; 403 → 'forbidden'.
 *
 * Errors carry plain words and a sanitised cause: never a Gaxios error, whose config holds
 * the Authorization header (and, for the token endpoint, the refresh token).
 */
import { NetworkError, type Logger, type NetworkErrorCode } from '../../core/ports.js';

export const NETWORK = 'youtube';

/** A request that got an error answer, reduced to what is safe to keep. */
export class YouTubeApiError extends Error {
  constructor(
    readonly label: string,
    readonly status: number,
    /** `errors[].reason` (API), or the OAuth `error` code from the token endpoint. */
    readonly reasons: string[],
    readonly detail: string,
    readonly retryAfterMs?: number,
    /** True when Google's token endpoint answered (the API call itself was never sent). */
    readonly fromTokenEndpoint = false,
  ) {
    super(`${label} - ${status}${reasons.length ? ` ${reasons.join(',')}` : ''}${detail ? `: ${clip(detail)}` : ''}`);
    this.name = 'YouTubeApiError';
  }
}

/** A request that got no (complete) answer: timeout, reset, refused. */
export class YouTubeTransportError extends Error {
  constructor(
    readonly label: string,
    message: string,
    /** Nothing reached YouTube (refused, DNS, or the token could not be had). */
    readonly neverSent: boolean,
    readonly errno?: string,
  ) {
    super(`${label} - ${message}${errno ? ` (${errno})` : ''}`);
    this.name = 'YouTubeTransportError';
  }
}

export interface CallOptions {
  /** Safe to repeat after a 5xx or network error. */
  idempotent: boolean;
  /** What a limit holds up, for the user message: "uploads", "reach lookups", … */
  what: string;
  /** Quota units the call costs. */
  units: number;
}

export type Call = <T>(label: string, fn: (timeoutMs: number) => Promise<T>, opts: CallOptions) => Promise<T>;

export interface CallDeps {
  logger: Logger;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  maxRateLimitWaitMs: number;
  maxAttempts: number;
  timeoutMs: number;
  quota: QuotaLedger;
  random?: () => number;
}

/** Errors raised before anything was sent: repeating can't duplicate a write. */
export const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const QUOTA_REASONS = new Set(['quotaExceeded', 'dailyLimitExceeded']);
const RATE_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded']);
const MAX_RATE_LIMIT_ROUNDS = 10;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 30_000;
const JITTER_MS = 1_000;

// ---------------------------------------------------------------- the Pacific quota day

const LA = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/Los_Angeles', hourCycle: 'h23',
  year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
});

function laWall(ms: number): { y: number; m: number; d: number; wallMs: number } {
  const p = Object.fromEntries(LA.formatToParts(new Date(ms)).map((x) => [x.type, Number(x.value)])) as Record<string, number>;
  const [y, m, d] = [p.year!, p.month!, p.day!];
  return { y, m, d, wallMs: Date.UTC(y, m - 1, d, p.hour!, p.minute!, p.second!) };
}

/** The quota day ("2026-03-03") in California. */
export function pacificDay(ms: number): string {
  const { y, m, d } = laWall(ms);
  return `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/** The next midnight in America/Los_Angeles after `ms` (when YouTube's quota resets). */
export function pacificMidnightAfter(ms: number): number {
  const { y, m, d } = laWall(ms);
  const wall = Date.UTC(y, m - 1, d + 1);
  const offset = (at: number) => laWall(at).wallMs - Math.floor(at / 1000) * 1000;
  const guess = wall - offset(wall);
  return wall - offset(guess);
}

function utcHhmm(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')} UTC`;
}

/** Quota units this process spent today (Pacific), and whether YouTube said the day's quota is gone. */
export class QuotaLedger {
  private day = '';
  private spentUnits = 0;
  private exhaustedUntil = 0;

  constructor(private readonly now: () => number, readonly dailyUnits: number) {}

  spentToday(): number {
    this.roll();
    return this.spentUnits;
  }

  charge(units: number): void {
    this.roll();
    this.spentUnits += units;
  }

  /** Refuses (before anything is sent) a call that can't fit in today's quota. */
  check(units: number): void {
    this.roll();
    // A call that costs nothing (the rest of an upload already paid for) is never stopped.
    if (units === 0) return;
    if (this.now() < this.exhaustedUntil || this.spentUnits + units > this.dailyUnits) throw this.exhausted();
  }

  /** YouTube said so: nothing more until midnight Pacific. */
  exhausted(cause?: unknown): NetworkError {
    const now = this.now();
    const until = pacificMidnightAfter(now);
    if (cause !== undefined) this.exhaustedUntil = until;
    return new NetworkError({
      network: NETWORK, code: 'rate_limited', permanent: false, retryAfterMs: until - now,
      ...(cause instanceof YouTubeApiError ? { status: cause.status, cause } : {}),
      userMessage: `YouTube quota exhausted until midnight Pacific (${utcHhmm(until)})`,
    });
  }

  private roll(): void {
    const day = pacificDay(this.now());
    if (day !== this.day) {
      this.day = day;
      this.spentUnits = 0;
    }
  }
}

// ---------------------------------------------------------------- errors

export function clip(s: string | undefined, max = 200): string {
  if (!s) return '';
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Google's error body `{error:{code,message,errors:[{domain,reason,message}]}}`, or OAuth's `{error, error_description}`. */
export function readErrorBody(label: string, status: number, body: unknown, retryAfter: string | null | undefined): YouTubeApiError {
  const b = (typeof body === 'object' && body !== null ? body : {}) as { error?: unknown; error_description?: unknown };
  const retryAfterMs = parseRetryAfter(retryAfter);
  if (typeof b.error === 'string') {
    return new YouTubeApiError(label, status, [b.error], typeof b.error_description === 'string' ? b.error_description : '', retryAfterMs, true);
  }
  const e = (typeof b.error === 'object' && b.error !== null ? b.error : {}) as { message?: unknown; errors?: unknown; status?: unknown };
  const reasons = Array.isArray(e.errors)
    ? e.errors.map((x: unknown) => (x as { reason?: unknown })?.reason).filter((r): r is string => typeof r === 'string')
    : [];
  if (reasons.length === 0 && typeof e.status === 'string') reasons.push(e.status);
  return new YouTubeApiError(label, status, reasons, typeof e.message === 'string' ? e.message : '', retryAfterMs);
}

function parseRetryAfter(v: string | null | undefined): number | undefined {
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

/** The NetworkError for a permanent 4xx. */
function clientError(e: YouTubeApiError, quota: QuotaLedger): NetworkError {
  const has = (...r: string[]) => r.some((x) => e.reasons.includes(x));
  const make = (code: NetworkErrorCode, userMessage: string, extra: { permanent?: boolean; retryAfterMs?: number } = {}) =>
    new NetworkError({ network: NETWORK, code, userMessage, status: e.status, permanent: extra.permanent ?? true, cause: e, ...(extra.retryAfterMs !== undefined ? { retryAfterMs: extra.retryAfterMs } : {}) });
  if (has(...QUOTA_REASONS)) return quota.exhausted(e);
  if (e.fromTokenEndpoint) {
    if (has('invalid_client', 'unauthorized_client')) return make('auth', 'YouTube refused the credentials: check YOUTUBE_CLIENT_ID and YOUTUBE_CLIENT_SECRET');
    return make('auth', 'YouTube refused the credentials: check YOUTUBE_REFRESH_TOKEN');
  }
  if (e.status === 401 || has('authError', 'unauthorized')) return make('auth', 'YouTube refused the credentials: check YOUTUBE_REFRESH_TOKEN');
  if (has('insufficientPermissions', 'ACCESS_TOKEN_SCOPE_INSUFFICIENT')) {
    return make('auth', 'YouTube says the token may not do this: create YOUTUBE_REFRESH_TOKEN with the youtube.upload, youtube and youtube.force-ssl scopes (force-ssl is for follow-up comments)');
  }
  if (has('commentsDisabled')) return make('forbidden', 'YouTube says comments are turned off on this video, so the follow-up cannot go there');
  if (has('uploadLimitExceeded')) {
    return make('rate_limited', 'YouTube says the channel has uploaded as many videos as it may for now; try again tomorrow', { permanent: false, retryAfterMs: 24 * 3_600_000 });
  }
  if (e.status === 409 || has('duplicate')) return make('duplicate', 'YouTube refused the video as a duplicate of an earlier one');
  if (has('commentNotFound')) return make('not_found', 'YouTube has no such comment (it may have been deleted)');
  if (e.status === 404 || has('videoNotFound', 'notFound')) return make('not_found', 'YouTube has no such video (it may have been deleted)');
  if (e.status === 400 || e.status === 413 || e.status === 422) {
    return make('invalid', `YouTube rejected the request as invalid${e.reasons.length ? ` (${e.reasons.join(', ')})` : ''}${e.detail ? `: ${clip(e.detail)}` : ''}`);
  }
  if (e.status === 403) return make('forbidden', `YouTube refused the request${e.detail ? `: ${clip(e.detail)}` : ''}`);
  return make('unknown', `YouTube refused the request (HTTP ${e.status})${e.detail ? `: ${clip(e.detail)}` : ''}`);
}

// ---------------------------------------------------------------- the choke point

export function createCall(deps: CallDeps): Call {
  const random = deps.random ?? Math.random;
  const log = deps.logger;
  const backoffMs = (n: number): number => {
    const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (n - 1));
    return Math.round(base / 2 + (random() * base) / 2);
  };

  return async function call<T>(label: string, fn: (timeoutMs: number) => Promise<T>, opts: CallOptions): Promise<T> {
    let failures = 0;
    let rateRounds = 0;
    let waitedMs = 0;
    for (;;) {
      deps.quota.check(opts.units);
      let e: YouTubeApiError | YouTubeTransportError;
      try {
        const result = await fn(deps.timeoutMs);
        deps.quota.charge(opts.units);
        return result;
      } catch (err) {
        if (!(err instanceof YouTubeApiError) && !(err instanceof YouTubeTransportError)) throw err;
        e = err;
      }

      if (e instanceof YouTubeApiError && !e.fromTokenEndpoint && e.status < 500) deps.quota.charge(opts.units);
      if (e instanceof YouTubeApiError && !e.fromTokenEndpoint
        && (e.status === 429 || (e.status === 403 && e.reasons.some((r) => RATE_REASONS.has(r))))) {
        const now = deps.now();
        rateRounds += 1;
        const resetIn = e.retryAfterMs ?? backoffMs(rateRounds);
        const waitMs = resetIn + Math.round(250 + random() * (JITTER_MS - 250));
        if (waitedMs + waitMs > deps.maxRateLimitWaitMs || rateRounds > MAX_RATE_LIMIT_ROUNDS) {
          throw new NetworkError({
            network: NETWORK, code: 'rate_limited', status: e.status, permanent: false, retryAfterMs: resetIn, cause: e,
            userMessage: `YouTube is rate-limiting ${opts.what} until ${utcHhmm(now + resetIn)}`,
          });
        }
        log.warn({ call: label, waitMs }, 'YouTube rate limit: waiting');
        await deps.sleep(waitMs);
        waitedMs += waitMs;
        continue;
      }
      if (e instanceof YouTubeApiError && e.status < 500) throw clientError(e, deps.quota);

      failures += 1;
      const what = e instanceof YouTubeApiError
        ? `YouTube is having problems (HTTP ${e.status})`
        : `YouTube could not be reached (${clip(e.message.replace(`${label} - `, ''), 80)})`;
      const neverSent = e instanceof YouTubeTransportError ? e.neverSent : e.fromTokenEndpoint;
      const status = e instanceof YouTubeApiError ? { status: e.status } : {};
      if (!opts.idempotent && !neverSent) {
        throw new NetworkError({
          network: NETWORK, code: 'unavailable', permanent: false, ambiguous: true, cause: e, ...status,
          userMessage: `${what}, and did not confirm whether it acted on the request`,
        });
      }
      if (failures >= deps.maxAttempts) {
        throw new NetworkError({
          network: NETWORK, code: 'unavailable', permanent: false, cause: e, ...status,
          userMessage: `${what}; gave up after ${failures} tries, try again later`,
        });
      }
      const waitMs = backoffMs(failures);
      log.warn({ call: label, attempt: failures, waitMs, error: e.message }, 'YouTube call failed; backing off');
      await deps.sleep(waitMs);
    }
  };
}
