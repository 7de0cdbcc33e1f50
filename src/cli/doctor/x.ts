/**
 * X: `GET /2/users/me` with the OAuth 1.0a user context, through the adapter's own client
 * (twitter-api-v2 at X_API_URL) and choke point (one try, no waiting for rate limits), so the
 * errors are the adapter's sanitised ones.
 */
import type { XConfig } from '../../config.js';
import { NetworkError } from '../../core/ports.js';
import { createCall, XApiError, XTransportError } from '../../platforms/x/call.js';
import { createXHttp } from '../../platforms/x/client.js';
import { hostOf, ok, problem, silentLogger, unreachable, type CheckContext, type Verdict } from './verdict.js';

const KEYS_PAGE = 'developer.x.com → Projects & Apps → your app → "Keys and tokens"';

export async function checkX(config: XConfig, ctx: CheckContext): Promise<Verdict> {
  ctx.host = hostOf(config.apiUrl);
  const http = createXHttp(config, silentLogger);
  const call = createCall({
    logger: silentLogger, sleep: async () => undefined, now: Date.now,
    maxRateLimitWaitMs: 0, maxAttempts: 1, timeoutMs: ctx.requestTimeoutMs,
  });
  let me: { data?: { id?: string; name?: string; username?: string } };
  try {
    me = await call('GET users/me', (timeoutMs) => http.get('users/me', {}, { timeoutMs }), { idempotent: true, what: 'account checks' });
  } catch (err) {
    if (!(err instanceof NetworkError)) throw err;
    return explain(err, config, ctx);
  }
  const user = me.data;
  if (!user?.username) return problem(`${ctx.host} answered /2/users/me without an account: is X_API_URL (${config.apiUrl}) X's API v2?`);
  return ok(`@${user.username}${user.name ? ` (${user.name})` : ''}`);
}

function explain(err: NetworkError, config: XConfig, ctx: CheckContext): Verdict {
  const cause = err.cause;
  if (cause instanceof XTransportError) return unreachable(ctx.host, cause.errno, ctx.timeoutMs, 'X_API_URL');
  if (err.code === 'rate_limited') return problem(`${err.userMessage}: run the doctor again then (the credentials were not checked)`);
  if (err.code === 'unavailable') return problem(`X is having problems (HTTP ${err.status ?? '?'}): try again later (the credentials were not checked)`);
  if (err.status === 401) {
    return problem(
      'X refused the credentials (HTTP 401: the access token was revoked or regenerated, or a key is wrong): '
      + `on ${KEYS_PAGE}, regenerate "Access Token and Secret" and put them in X_ACCESS_TOKEN and X_ACCESS_SECRET (or run \`loudhailer auth x\`); `
      + 'if "API Key and Secret" were regenerated too, put those in X_APP_KEY and X_APP_SECRET',
    );
  }
  // 403 for OAuth 1.0a permissions: the adapter's words already say which setting to change and where.
  if (err.status === 403 && err.code === 'auth') return problem(err.userMessage);
  if (err.status === 403) {
    const detail = cause instanceof XApiError ? cause.problem.detail ?? cause.problem.title ?? '' : '';
    return problem(`X refused the account check (HTTP 403${detail ? `: ${detail}` : ''}): on developer.x.com → Projects & Apps, check that the app sits in a Project with API access and that the account is not suspended`);
  }
  if (err.status === 404) return problem(`${ctx.host} has no /2/users/me (HTTP 404): is X_API_URL (${config.apiUrl}) X's API v2?`);
  return problem(`X refused the account check: ${err.userMessage}`);
}
