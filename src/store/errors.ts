import { inspect } from 'node:util';

export type BackendName = 'sqlite' | 'redis' | 'postgres';

/**
 * A persistence failure. Every Store method throws this (never "not found") when the
 * backend fails. The message names the backend and the store URL with its password
 * redacted; `causeCode` carries the driver's code (ECONNREFUSED, SQLITE_BUSY, 23505…).
 */
export class StoreError extends Error {
  readonly code = 'store_error';
  constructor(
    message: string,
    readonly backend: BackendName | undefined,
    readonly operation: string,
    readonly causeCode?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}

const SCHEME = /^([a-z][a-z0-9+.-]*:\/\/)/i;

/** The URL as it may be shown: the password (or the whole userinfo if unparseable) replaced by `***`. */
export function redactUrl(url: string): string {
  return redactUserinfo(url).replace(/([?&](?:password|pass|pwd|sslpassword|sslkey)=)[^&#]*/gi, '$1***');
}

function redactUserinfo(url: string): string {
  const scheme = SCHEME.exec(url)?.[1];
  if (!scheme) return url.includes('@') ? '<unparseable URL>' : url;
  const rest = url.slice(scheme.length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  if (at !== -1) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    const shown = colon === -1 ? userinfo : `${userinfo.slice(0, colon)}:***`;
    return `${scheme}${shown}@${rest.slice(at + 1)}`;
  }
  // No '@' in the authority, but a password containing '/', '?' or '#' could push the '@' later.
  if (rest.includes('@') && !scheme.toLowerCase().startsWith('sqlite')) {
    return `${scheme}***@${rest.slice(rest.lastIndexOf('@') + 1)}`;
  }
  return url;
}

/** Every form of the URL's secret that could turn up in a driver's message. */
function secretsOf(url: string): string[] {
  const secrets = new Set<string>();
  const scheme = SCHEME.exec(url)?.[1];
  if (!scheme || scheme.toLowerCase().startsWith('sqlite')) return [];
  const rest = url.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    if (colon !== -1) secrets.add(userinfo.slice(colon + 1));
  }
  try {
    const parsed = new URL(url);
    if (parsed.password) secrets.add(parsed.password);
  } catch {
    // unparseable: the raw userinfo above is all we have
  }
  for (const secret of [...secrets]) {
    try {
      secrets.add(decodeURIComponent(secret));
    } catch {
      // not percent-encoded
    }
  }
  secrets.delete('');
  // Longest first, so a secret that contains another is replaced whole.
  return [...secrets].sort((a, b) => b.length - a.length);
}

/** What a thrown thing says, including AggregateError's inner errors (Node's happy-eyeballs ECONNREFUSED has an empty message). */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    const inner = [...new Set(error.errors.map(describeError))].join('; ');
    return error.message ? `${error.message} (${inner})` : inner;
  }
  if (error instanceof Error) {
    const code = errorCode(error);
    if (error.message) return error.message;
    return code ?? error.name;
  }
  return String(error);
}

export function errorCode(error: unknown, depth = 0): string | undefined {
  if (typeof error !== 'object' || error === null || depth > 4) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code) return code;
  // node-redis's ReconnectStrategyError keeps the socket's error aside; Error.cause elsewhere.
  for (const nested of ['socketError', 'cause'] as const) {
    const innerCode = errorCode((error as Record<string, unknown>)[nested], depth + 1);
    if (innerCode) return innerCode;
  }
  if (error instanceof AggregateError) {
    for (const inner of error.errors) {
      const innerCode = errorCode(inner, depth + 1);
      if (innerCode) return innerCode;
    }
  }
  return undefined;
}

/** Builds StoreErrors for one store URL, making sure its password never appears in them. */
export class ErrorFactory {
  readonly shownUrl: string;
  private readonly secrets: string[];

  constructor(
    url: string,
    private readonly backend: BackendName | undefined,
  ) {
    this.shownUrl = redactUrl(url);
    this.secrets = secretsOf(url);
  }

  scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('***');
    return out;
  }

  /** True when the value, fully inspected, mentions no secret: safe to keep as `cause`. */
  private isClean(value: unknown): boolean {
    if (this.secrets.length === 0) return true;
    const text = inspect(value, { depth: 6, showHidden: true, breakLength: Infinity });
    return this.secrets.every((secret) => !text.includes(secret));
  }

  wrap(operation: string, error: unknown, context?: string): StoreError {
    if (error instanceof StoreError) return error;
    const where = context ?? `${this.backend ?? 'store'} ${this.shownUrl}`;
    const message = this.scrub(`Store ${operation} failed (${where}): ${describeError(error)}`);
    const code = errorCode(error);
    return new StoreError(
      message,
      this.backend,
      operation,
      code === undefined ? undefined : this.scrub(code),
      this.isClean(error) ? { cause: error } : undefined,
    );
  }

  /** A StoreError of our own making (not wrapping a driver error). */
  make(operation: string, message: string): StoreError {
    return new StoreError(this.scrub(message), this.backend, operation);
  }
}
