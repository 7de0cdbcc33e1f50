/**
 * What one doctor check says, and the words every check shares: "can't reach <host>: …" for a
 * request that got no answer (never blamed on a credential), the silent logger the SDK wrappers
 * get, and the per-check context (its timeout, and the host it is talking to right now, so a
 * check cut short by its deadline names the right one).
 */
import type { Logger } from '../../core/ports.js';

export type Status = 'ok' | 'problem' | 'off' | 'note';

export interface Verdict {
  status: Status;
  /** The rest of the line after "<Platform>: ". */
  text: string;
}

export const ok = (text: string): Verdict => ({ status: 'ok', text: `ok ${text}` });
export const problem = (text: string): Verdict => ({ status: 'problem', text });
export const off = (text: string): Verdict => ({ status: 'off', text });
export const note = (text: string): Verdict => ({ status: 'note', text });

export interface CheckContext {
  /** The check's deadline, ms: it is reported as "timed out after …" when it passes. */
  readonly timeoutMs: number;
  /** What the SDKs get as their own request timeout: a little more, so the deadline (which names the host) wins. */
  readonly requestTimeoutMs: number;
  /** The host the check is talking to now ("api.x.com", "127.0.0.1:4000"). */
  host: string;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
  isLevelEnabled: () => false,
};

/** "api.x.com", or "127.0.0.1:4000" when the URL names a port. Never the path or query. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return '(unparseable URL)';
  }
}

/** "10 s", "1.5 s", "300 ms". */
export function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

const CODE_RE = /^(E[A-Z0-9_]+|UND_ERR_[A-Z_]+|ERR_TLS_[A-Z_]+|CERT_[A-Z_]+|[A-Z_]*_CERT(?:_[A-Z_]+)?|UNABLE_TO_[A-Z_]+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)$/;

/**
 * The socket-level code behind a failed request (ECONNREFUSED, ENOTFOUND, ETIMEDOUT, a TLS
 * code), looking through the wrappers the SDKs and our choke points put around it
 * (`cause`, Slack's `original`, AggregateError's `errors`, our transport errors' `errno`).
 * A fetch abort by timeout counts as ETIMEDOUT. Undefined when there is none.
 */
export function findErrno(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0) {
    const e = queue.shift();
    if (typeof e !== 'object' || e === null || seen.has(e) || seen.size > 20) continue;
    seen.add(e);
    const r = e as Record<string, unknown>;
    for (const key of ['errno', 'code'] as const) {
      const v = r[key];
      if (typeof v === 'string' && CODE_RE.test(v)) return v;
    }
    if (r.name === 'TimeoutError' || r.name === 'AbortError') return 'ETIMEDOUT';
    for (const key of ['cause', 'original', 'error', 'socketError']) queue.push(r[key]);
    if (Array.isArray(r.errors)) queue.push(...(r.errors as unknown[]));
  }
  return undefined;
}

/** Plain words for a socket-level code. */
export function transportWords(errno: string | undefined, timeoutMs: number): string {
  switch (errno) {
    case undefined: return 'no answer';
    case 'ECONNREFUSED': return 'connection refused';
    case 'ENOTFOUND': return 'DNS lookup failed';
    case 'EAI_AGAIN': return 'DNS lookup failed (temporarily)';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return `timed out after ${duration(timeoutMs)}`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
    case 'EPIPE':
      return 'the connection was cut';
    case 'EHOSTUNREACH': return 'host unreachable';
    case 'ENETUNREACH': return 'network unreachable';
    default:
      return /CERT|TLS|SSL|UNABLE_TO/.test(errno) ? `TLS certificate problem (${errno})` : errno;
  }
}

/**
 * "can't reach api.x.com: connection refused (check X_API_URL and the network; the credentials
 * were not checked)". `setting` names the URL variable that points there.
 */
export function unreachable(host: string, errno: string | undefined, timeoutMs: number, setting: string): Verdict {
  return problem(`can't reach ${host}: ${transportWords(errno, timeoutMs)} (check ${setting} and the network; the credentials were not checked)`);
}

/** The first line of an unexpected error's message, clipped (the output is scrubbed of secrets anyway). */
export function brief(err: unknown, max = 160): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const line = text.split('\n')[0] ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
