/**
 * twitter-api-v2 (1.29), pointed at `config.apiUrl`, with OAuth 1.0a user context.
 *
 * What 1.29 needs to talk to anything but https://api.x.com/2/:
 * - Its URL prefixes are constants. `setPrefix` is protected and `cloneWithPrefix` throws
 *   ("Class constructor … cannot be invoked without 'new'"), so every call passes `prefix`.
 * - It sends through Node's `https.request`: an http:// base needs an `http.Agent`.
 * - It picks the body encoding from the URL path (JSON only under `/2/`), so JSON bodies are
 *   forced explicitly: a base such as http://proxy/x/2/ would otherwise be form-encoded.
 *
 * Each request is logged at debug as `METHOD url - status` from Node's http diagnostics channels,
 * for requests made through this client's own agent. Headers are never logged.
 */
import dc from 'node:diagnostics_channel';
import { Agent as HttpAgent, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { TwitterApi } from 'twitter-api-v2';
import type { XConfig } from '../../config.js';
import type { Logger } from '../../core/ports.js';

type Query = Record<string, string | number | undefined>;

/** The few verbs the adapter uses, relative to the v2 base ("tweets", "users/:id/tweets"). */
export interface XHttp {
  /** The v2 base, with a trailing slash. */
  readonly base: string;
  get<T>(path: string, query: Query, opts: { timeoutMs: number; params?: Record<string, string> }): Promise<T>;
  postJson<T>(path: string, body: Record<string, unknown>, opts: { timeoutMs: number }): Promise<T>;
  postForm<T>(path: string, body: Record<string, string | number | Buffer>, opts: { timeoutMs: number }): Promise<T>;
  delete<T>(path: string, opts: { timeoutMs: number; params?: Record<string, string> }): Promise<T>;
}

const agentLoggers = new WeakMap<object, Logger>();
let subscribed = false;

function describe(request: ClientRequest): string {
  const host = request.getHeader('host') ?? request.host;
  return `${request.method} ${request.protocol}//${String(host)}${request.path}`;
}

function subscribeOnce(): void {
  if (subscribed) return;
  subscribed = true;
  const loggerFor = (request: ClientRequest): Logger | undefined => {
    const agent = (request as unknown as { agent?: unknown }).agent;
    return typeof agent === 'object' && agent !== null ? agentLoggers.get(agent) : undefined;
  };
  dc.subscribe('http.client.response.finish', (message) => {
    try {
      const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
      const logger = loggerFor(request);
      if (logger && logger.isLevelEnabled?.('debug') !== false) {
        logger.debug({ status: response.statusCode }, `${describe(request)} - ${response.statusCode}`);
      }
    } catch {
      // Logging must never break a request.
    }
  });
  dc.subscribe('http.client.request.error', (message) => {
    try {
      const { request, error } = message as { request: ClientRequest; error: Error & { code?: string } };
      const logger = loggerFor(request);
      if (logger) logger.debug({ error: error.code ?? error.message }, `${describe(request)} - ${error.code ?? error.message}`);
    } catch {
      // Logging must never break a request.
    }
  });
}

export function createXHttp(config: XConfig, logger: Logger): XHttp {
  const base = config.apiUrl.endsWith('/') ? config.apiUrl : `${config.apiUrl}/`;
  const agent = base.startsWith('http:') ? new HttpAgent({ keepAlive: true }) : new HttpsAgent({ keepAlive: true });
  agentLoggers.set(agent, logger);
  subscribeOnce();
  const client = new TwitterApi(
    { appKey: config.appKey, appSecret: config.appSecret, accessToken: config.accessToken, accessSecret: config.accessSecret },
    { httpAgent: agent },
  );
  const clean = (q: Query): Record<string, string> =>
    Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));

  return {
    base,
    get: (path, query, { timeoutMs, params }) =>
      client.get(path, clean(query), { prefix: base, timeout: timeoutMs, ...(params ? { params } : {}) }),
    postJson: (path, body, { timeoutMs }) =>
      client.post(path, body, { prefix: base, timeout: timeoutMs, forceBodyMode: 'json' }),
    postForm: (path, body, { timeoutMs }) =>
      client.post(path, body, { prefix: base, timeout: timeoutMs, forceBodyMode: 'form-data' }),
    delete: (path, { timeoutMs, params }) =>
      client.delete(path, undefined, { prefix: base, timeout: timeoutMs, ...(params ? { params } : {}) }),
  };
}
