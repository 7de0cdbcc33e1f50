/**
 * Flickr, through the adapter's wire (flickr-sdk 7 signing with OAuth 1.0a, FlickrTransport
 * sending to FLICKR_API_URL) and choke point (one try): `flickr.test.login` (the account) and
 * `flickr.auth.oauth.checkToken` (the token's permission: the bot uploads, so it needs
 * "write"; withdrawing deletes photos, which needs "delete").
 */
import { createFlickr as createFlickrSdk } from 'flickr-sdk';
import type { FlickrConfig } from '../../config.js';
import { NetworkError } from '../../core/ports.js';
import { createCall, FlickrApiError, FlickrHttpError, FlickrTransport, FlickrTransportError } from '../../platforms/flickr/call.js';
import { hostOf, ok, problem, silentLogger, unreachable, type CheckContext, type Verdict } from './verdict.js';

type Rest = (method: string, params: Record<string, string>) => Promise<unknown>;

const APPS_PAGE = 'flickr.com/services/apps/by/me → your app';
const AUTH = 'run `loudhailer auth flickr` for a new FLICKR_OAUTH_TOKEN and FLICKR_OAUTH_SECRET';

interface Login { user?: { id?: string; username?: { _content?: string } } }
interface CheckToken { oauth?: { perms?: { _content?: string } | string; user?: { nsid?: string; username?: string; fullname?: string } } }

export async function checkFlickr(config: FlickrConfig, ctx: CheckContext): Promise<Verdict> {
  ctx.host = hostOf(config.apiUrl);
  const transport = new FlickrTransport({ apiUrl: config.apiUrl, uploadUrl: config.uploadUrl, logger: silentLogger, timeoutMs: ctx.requestTimeoutMs });
  const sdk = createFlickrSdk({ consumerKey: config.apiKey, consumerSecret: config.apiSecret, oauthToken: config.oauthToken, oauthTokenSecret: config.oauthSecret }, transport);
  const rest = sdk.flickr as unknown as Rest;
  const call = createCall({ logger: silentLogger, sleep: async () => undefined, now: Date.now, maxRateLimitWaitMs: 0, maxAttempts: 1 });
  const opts = { idempotent: true, what: 'account checks' };

  const [login, token] = await Promise.allSettled([
    call('flickr.test.login', () => rest('flickr.test.login', {}) as Promise<Login>, opts),
    call('flickr.auth.oauth.checkToken', () => rest('flickr.auth.oauth.checkToken', {}) as Promise<CheckToken>, opts),
  ]);
  if (login.status === 'rejected') return explain(login.reason, config, ctx);
  if (token.status === 'rejected') return explain(token.reason, config, ctx);

  const user = login.value.user;
  const name = user?.username?._content ?? token.value.oauth?.user?.username ?? user?.id;
  if (!name) return problem(`${ctx.host} answered flickr.test.login without an account: is FLICKR_API_URL (${config.apiUrl}) Flickr's REST API?`);
  const who = `${name}${user?.id ? ` (${user.id})` : ''}`;
  const raw = token.value.oauth?.perms;
  const perms = typeof raw === 'string' ? raw : raw?._content;
  if (perms === 'delete') return ok(`${who}, delete permission`);
  // Write publishes, but a withdrawal (a suspect arrested) couldn't take the photos down.
  if (perms === 'write') return problem(`${who}, but FLICKR_OAUTH_TOKEN has "write" permission only: publishing works, withdrawing can't delete the photos, which needs "delete": ${AUTH}`);
  return problem(`${who}, but FLICKR_OAUTH_TOKEN has ${perms ? `"${perms}"` : 'no'} permission; the bot uploads, which needs write (and delete, to withdraw): ${AUTH}`);
}

function explain(err: unknown, config: FlickrConfig, ctx: CheckContext): Verdict {
  if (!(err instanceof NetworkError)) throw err;
  const cause = err.cause;
  if (cause instanceof FlickrTransportError) {
    // An answer that came but could not be read is not "unreachable".
    if (cause.errno === undefined && /not JSON|unreadable/.test(cause.message)) {
      return problem(`${ctx.host} answered something that is not Flickr's JSON: is FLICKR_API_URL (${config.apiUrl}) Flickr's REST API?`);
    }
    return unreachable(ctx.host, cause.errno, ctx.timeoutMs, 'FLICKR_API_URL');
  }
  if (err.code === 'rate_limited') return problem(`${err.userMessage}: run the doctor again then (the credentials were not checked)`);
  if (cause instanceof FlickrApiError) {
    switch (cause.code) {
      case 98: return problem(`Flickr refused FLICKR_OAUTH_TOKEN (98 ${cause.flickrMessage || 'Invalid auth token'}: revoked, or not this app's): ${AUTH}`);
      case 96:
      case 97: return problem(`Flickr refused the signature (${cause.code} ${cause.flickrMessage}): FLICKR_API_SECRET or FLICKR_OAUTH_SECRET is wrong: check the secret on ${APPS_PAGE}, or ${AUTH}`);
      case 100: return problem(`Flickr refused FLICKR_API_KEY (100 ${cause.flickrMessage || 'Invalid API Key'}): copy the key and secret from ${APPS_PAGE} into FLICKR_API_KEY and FLICKR_API_SECRET`);
      case 99: return problem(`Flickr refused: the token lacks permission (99): ${AUTH}`);
      case 95: return problem(`Flickr requires HTTPS (95): check FLICKR_API_URL (${config.apiUrl})`);
      case 105:
      case 106: return problem(`Flickr is having problems (${cause.code} ${cause.flickrMessage}): try again later (the credentials were not checked)`);
      default: return problem(`Flickr refused the account check (${cause.code} ${cause.flickrMessage})`);
    }
  }
  if (cause instanceof FlickrHttpError) {
    if (cause.status >= 500) return problem(`Flickr is having problems (HTTP ${cause.status}): try again later (the credentials were not checked)`);
    return problem(`${ctx.host} answered HTTP ${cause.status}: is FLICKR_API_URL (${config.apiUrl}) Flickr's REST API?`);
  }
  return problem(`Flickr refused the account check: ${err.userMessage}`);
}
