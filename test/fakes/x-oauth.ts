/**
 * OAuth 1.0a (RFC 5849) HMAC-SHA1 for the fake X: the verifier the fake runs on every request,
 * and a signer tests use to send raw, correctly (or deliberately wrongly) signed requests.
 *
 *   const header = oauth1Header(FAKE_X_CREDENTIALS, 'GET', `${fake.url}users/me`);
 *   await fetch(`${fake.url}users/me`, { headers: { authorization: header } });
 *
 * The signature base string is METHOD & enc(base URL) & enc(sorted params), where the params are
 * the query parameters, the oauth_* header parameters (minus oauth_signature and realm) and, only
 * for application/x-www-form-urlencoded bodies, the body parameters (never JSON or multipart).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface OAuth1Credentials {
  appKey: string;
  appSecret: string;
  accessToken: string;
  accessSecret: string;
}

export type Param = [key: string, value: string];

/** RFC 3986 percent-encoding, as OAuth 1.0a wants it (also `!*'()`). */
export function percentEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!*'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Decodes a query string or form body into pairs ('+' is a space); throws URIError on bad escapes. */
export function decodeParams(raw: string): Param[] {
  if (raw === '') return [];
  return raw.split('&').filter((p) => p !== '').map((pair) => {
    const eq = pair.indexOf('=');
    const k = eq === -1 ? pair : pair.slice(0, eq);
    const v = eq === -1 ? '' : pair.slice(eq + 1);
    return [decodeURIComponent(k.replace(/\+/g, ' ')), decodeURIComponent(v.replace(/\+/g, ' '))];
  });
}

export function signatureBaseString(method: string, baseUrl: string, params: readonly Param[]): string {
  const normalized = params
    .map(([k, v]): Param => [percentEncode(k), percentEncode(v)])
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  return `${method.toUpperCase()}&${percentEncode(baseUrl)}&${percentEncode(normalized)}`;
}

export function hmacSha1Signature(baseString: string, consumerSecret: string, tokenSecret: string): string {
  return createHmac('sha1', `${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`).update(baseString).digest('base64');
}

/** The URL without query or fragment, scheme and host lower-cased (what the client signed). */
export function baseUrlOf(url: string): string {
  const u = new URL(url); // lower-cases scheme and host, drops a default port
  return `${u.protocol}//${u.host}${u.pathname}`;
}

export interface SignOptions {
  /** Form (application/x-www-form-urlencoded) body params, which are signed too. */
  form?: Record<string, string>;
  nonce?: string;
  /** Epoch seconds. Default: now. */
  timestamp?: number;
}

/** An `Authorization: OAuth …` header for `method url` (query params of `url` are signed). */
export function oauth1Header(creds: OAuth1Credentials, method: string, url: string, opts: SignOptions = {}): string {
  const oauth: Record<string, string> = {
    oauth_consumer_key: creds.appKey,
    oauth_nonce: opts.nonce ?? randomBytes(16).toString('hex'),
    oauth_signature_method: 'HMAC-SHA1',
    oauth_timestamp: String(opts.timestamp ?? Math.floor(Date.now() / 1000)),
    oauth_token: creds.accessToken,
    oauth_version: '1.0',
  };
  const u = new URL(url);
  const params: Param[] = [...decodeParams(u.search.slice(1)), ...Object.entries(opts.form ?? {}), ...Object.entries(oauth)];
  const signature = hmacSha1Signature(signatureBaseString(method, baseUrlOf(url), params), creds.appSecret, creds.accessSecret);
  const all = { ...oauth, oauth_signature: signature };
  return `OAuth ${Object.entries(all).map(([k, v]) => `${percentEncode(k)}="${percentEncode(v)}"`).join(', ')}`;
}

/** The parameters of an `Authorization: OAuth …` header, decoded; undefined when it isn't one. */
export function parseOAuthHeader(header: string | undefined): Record<string, string> | undefined {
  if (!header || !/^OAuth\s/i.test(header)) return undefined;
  const out: Record<string, string> = {};
  const re = /([A-Za-z0-9_%.-]+)\s*=\s*"([^"]*)"/g;
  for (const m of header.slice(6).matchAll(re)) {
    try {
      out[decodeURIComponent(m[1]!)] = decodeURIComponent(m[2]!);
    } catch {
      return undefined;
    }
  }
  return out;
}

export interface OAuthRequest {
  method: string;
  /** The URL as the client requested it: `http://127.0.0.1:PORT/2/…` (no query). */
  baseUrl: string;
  query: readonly Param[];
  /** Body params, only for application/x-www-form-urlencoded bodies. */
  form: readonly Param[];
  authorization: string | undefined;
}

export type OAuthResult = { ok: true } | { ok: false; reason: string };

/**
 * Checks user-context OAuth 1.0a signatures: the consumer key and access token are the expected
 * ones, the signature matches, the timestamp is within ±tolerance, and no nonce is used twice.
 */
export class OAuth1Verifier {
  private readonly nonces = new Map<string, number>();

  constructor(
    private readonly creds: OAuth1Credentials,
    private readonly opts: { toleranceSeconds: number; now: () => number },
  ) {}

  verify(req: OAuthRequest): OAuthResult {
    const oauth = parseOAuthHeader(req.authorization);
    if (!oauth) return { ok: false, reason: 'no OAuth Authorization header' };
    const { oauth_signature: signature, oauth_consumer_key: key, oauth_token: token } = oauth;
    if (!signature) return { ok: false, reason: 'oauth_signature missing' };
    if (oauth.oauth_signature_method !== 'HMAC-SHA1') return { ok: false, reason: `unsupported oauth_signature_method ${oauth.oauth_signature_method ?? '(none)'}` };
    if (oauth.oauth_version !== undefined && oauth.oauth_version !== '1.0') return { ok: false, reason: 'oauth_version is not 1.0' };
    if (key !== this.creds.appKey) return { ok: false, reason: 'unknown oauth_consumer_key' };
    if (token !== this.creds.accessToken) return { ok: false, reason: 'unknown oauth_token' };
    const nonce = oauth.oauth_nonce;
    if (!nonce) return { ok: false, reason: 'oauth_nonce missing' };
    const ts = Number(oauth.oauth_timestamp);
    if (!/^\d+$/.test(oauth.oauth_timestamp ?? '')) return { ok: false, reason: 'oauth_timestamp missing or not a number' };
    const nowSec = this.opts.now() / 1000;
    if (Math.abs(nowSec - ts) > this.opts.toleranceSeconds) return { ok: false, reason: `oauth_timestamp ${ts} is more than ${this.opts.toleranceSeconds}s from now` };

    const oauthParams = Object.entries(oauth).filter(([k]) => k !== 'oauth_signature' && k !== 'realm');
    const base = signatureBaseString(req.method, req.baseUrl, [...req.query, ...req.form, ...oauthParams]);
    const expected = Buffer.from(hmacSha1Signature(base, this.creds.appSecret, this.creds.accessSecret));
    const got = Buffer.from(signature);
    if (expected.length !== got.length || !timingSafeEqual(expected, got)) return { ok: false, reason: 'signature mismatch' };

    // Checked after the signature, so a forged request can't burn a legitimate nonce.
    this.prune(nowSec);
    if (this.nonces.has(nonce)) return { ok: false, reason: 'oauth_nonce reused' };
    this.nonces.set(nonce, ts);
    return { ok: true };
  }

  private prune(nowSec: number): void {
    for (const [nonce, ts] of this.nonces) {
      if (Math.abs(nowSec - ts) > 2 * this.opts.toleranceSeconds) this.nonces.delete(nonce);
    }
  }
}
