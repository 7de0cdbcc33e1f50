/**
 * The wire to YouTube: googleapis (`google.youtube`, with our root URL and no retries of its
 * own: call.ts decides) for the JSON calls, plain fetch for the resumable upload (googleapis
 * only does `uploadType=multipart|media`), and one google-auth-library OAuth2 client (refresh
 * token → access token at `config.tokenUrl`) behind both. Every request is logged at debug as
 * `METHOD url - status`; every failure becomes a sanitised YouTubeApiError/YouTubeTransportError.
 */
import { google, type youtube_v3 } from 'googleapis';
import type { YouTubeConfig } from '../../config.js';
import type { Logger } from '../../core/ports.js';
import { NEVER_SENT, readErrorBody, YouTubeApiError, YouTubeTransportError } from './call.js';

export interface YouTubeHttp {
  /** The googleapis YouTube client (rootUrl = config.apiUrl, retry off). */
  readonly api: youtube_v3.Youtube;
  /** The API root, ending in "/". */
  readonly root: string;
  /** Runs one googleapis call, converting its errors and logging it. */
  sdk<T>(label: string, timeoutMs: number, fn: (opts: { timeout: number }) => Promise<{ data: T }>): Promise<T>;
  /** One raw request with the Bearer token (resumable upload). Error answers (≥ 400) throw; 2xx/3xx are returned. */
  send(label: string, method: string, url: string, init: { headers?: Record<string, string>; body?: Buffer | string; timeoutMs: number }): Promise<Response>;
}

interface GaxiosLike {
  response?: { status?: number; data?: unknown; headers?: unknown; config?: { url?: unknown; method?: unknown } };
  config?: { url?: unknown; method?: unknown };
  code?: unknown;
  cause?: { code?: unknown; name?: unknown };
  error?: { code?: unknown; name?: unknown };
  name?: unknown;
  message?: unknown;
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const v = (headers as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : undefined;
}

function errnoOf(e: GaxiosLike): string | undefined {
  for (const c of [e.code, e.cause?.code, e.error?.code]) if (typeof c === 'string' && /^E[A-Z_]+$|^UND_ERR/.test(c)) return c;
  // googleapis' `timeout` aborts the request: a GaxiosError (named "Error") whose cause is an AbortError.
  if ([e.name, e.cause?.name, e.error?.name].some((n) => n === 'AbortError' || n === 'TimeoutError')) return 'ETIMEDOUT';
  return undefined;
}

export function createYouTubeHttp(config: YouTubeConfig, logger: Logger): YouTubeHttp {
  const root = config.apiUrl.endsWith('/') ? config.apiUrl : `${config.apiUrl}/`;
  const oauth = new google.auth.OAuth2({ clientId: config.clientId, clientSecret: config.clientSecret, endpoints: { oauth2TokenUrl: config.tokenUrl } });
  oauth.setCredentials({ refresh_token: config.refreshToken });
  const api = google.youtube({ version: 'v3', auth: oauth, rootUrl: root, retry: false });
  const isTokenUrl = (url: unknown) => String(url ?? '').startsWith(config.tokenUrl);

  /** A Gaxios (or fetch) failure, without its request (headers, form body). */
  function convert(label: string, err: unknown): YouTubeApiError | YouTubeTransportError | undefined {
    if (typeof err !== 'object' || err === null) return undefined;
    const e = err as GaxiosLike;
    const fromToken = isTokenUrl(e.config?.url ?? e.response?.config?.url);
    if (e.response && typeof e.response.status === 'number') {
      const out = readErrorBody(label, e.response.status, e.response.data, headerOf(e.response.headers, 'retry-after'));
      if (fromToken && !out.fromTokenEndpoint) return new YouTubeApiError(label, out.status, out.reasons, out.detail, undefined, true);
      return out;
    }
    const errno = errnoOf(e);
    if (fromToken) return new YouTubeTransportError(label, 'Google\'s token endpoint could not be reached', true, errno);
    if (errno || e.name === 'GaxiosError' || e.name === 'TypeError') {
      return new YouTubeTransportError(label, errno === 'ETIMEDOUT' ? 'no answer in time' : 'request failed', errno !== undefined && NEVER_SENT.has(errno), errno);
    }
    return undefined;
  }

  async function token(label: string): Promise<string> {
    try {
      const { token: t } = await oauth.getAccessToken();
      if (!t) throw new YouTubeApiError(label, 401, ['no_token'], 'the token endpoint returned no access token', undefined, true);
      return t;
    } catch (err) {
      if (err instanceof YouTubeApiError) throw err;
      const c = convert(label, err);
      if (c instanceof YouTubeApiError && !c.fromTokenEndpoint) throw new YouTubeApiError(label, c.status, c.reasons, c.detail, undefined, true);
      if (c instanceof YouTubeTransportError) throw new YouTubeTransportError(label, 'Google\'s token endpoint could not be reached', true, c.errno);
      throw c ?? new YouTubeTransportError(label, 'could not get an access token', true);
    }
  }

  return {
    api,
    root,
    async sdk<T>(label: string, timeoutMs: number, fn: (opts: { timeout: number }) => Promise<{ data: T }>): Promise<T> {
      try {
        const res = await fn({ timeout: timeoutMs }) as { data: T; status?: number; config?: { url?: unknown; method?: unknown } };
        logger.debug({}, `${String(res.config?.method ?? 'GET')} ${String(res.config?.url ?? label)} - ${res.status ?? 200}`);
        return res.data;
      } catch (err) {
        const e = err as GaxiosLike;
        const cfg = e.response?.config ?? e.config;
        const c = convert(label, err);
        logger.debug({}, `${String(cfg?.method ?? 'GET')} ${String(cfg?.url ?? label)} - ${e.response?.status ?? 0}`);
        throw c ?? err;
      }
    },
    async send(label, method, url, init) {
      const bearer = await token(label);
      let res: Response;
      try {
        res = await fetch(url, {
          method, redirect: 'manual', signal: AbortSignal.timeout(init.timeoutMs),
          headers: { ...init.headers, authorization: `Bearer ${bearer}` },
          ...(init.body !== undefined ? { body: init.body } : {}),
        });
      } catch (err) {
        logger.debug({}, `${method} ${withoutQuery(url)} - 0`);
        const errno = errnoOf(err as GaxiosLike);
        throw new YouTubeTransportError(label, errno === 'ETIMEDOUT' ? 'no answer in time' : 'the connection failed', errno !== undefined && NEVER_SENT.has(errno), errno);
      }
      logger.debug({}, `${method} ${withoutQuery(url)} - ${res.status}`);
      if (res.status >= 400) {
        const text = await res.text().catch(() => '');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = {};
        }
        throw readErrorBody(label, res.status, body, res.headers.get('retry-after'));
      }
      return res;
    },
  };
}

/** An upload session URL without its query (the upload_id is as good as a credential for the session). */
function withoutQuery(url: string): string {
  const i = url.indexOf('?');
  return i < 0 ? url : `${url.slice(0, i)}?…`;
}
