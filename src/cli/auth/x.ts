/**
 * `loudhailer auth x`: X's OAuth 1.0a PIN flow (3-legged, `oauth_callback=oob`), signed by
 * twitter-api-v2 with X_APP_KEY/SECRET.
 *
 * twitter-api-v2's `generateAuthLink('oob')` and `login(pin)` post to the constant
 * https://api.x.com/oauth/… and can't be pointed elsewhere, so this sends the same two requests
 * through the same client and signer with a `prefix`: the OAuth base next to X_API_URL
 * (https://api.x.com/2/ → https://api.x.com/oauth/). `POST oauth/request_token`
 * (oauth_callback=oob) → the authorize address → the PIN X shows → `POST oauth/access_token`
 * (oauth_verifier) → X_ACCESS_TOKEN, X_ACCESS_SECRET and the account's @name.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { TwitterApi } from 'twitter-api-v2';
import { AuthFailure, hostOf, transportCause, unreachableReason, type EnvLine, type Session } from './common.js';

export const X_API_URL = 'https://api.x.com/2/';
const KEYS_PAGE = 'the developer portal (https://developer.x.com/en/portal/dashboard) → your app → Keys and tokens';

type Step = 'request_token' | 'access_token';

/** The OAuth 1.0a base next to the v2 base: …/2/ → …/oauth/. */
export function oauthBaseOf(apiUrl: string): string {
  const v2 = apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`;
  return new URL(/\/2\/$/.test(new URL(v2).pathname) ? '../oauth/' : 'oauth/', v2).toString();
}

export async function xAuth(s: Session): Promise<EnvLine[]> {
  const base = oauthBaseOf(s.url('X_API_URL', X_API_URL));
  s.say(`X: sign-in with a PIN (OAuth 1.0a). You need the app's API key and secret (${KEYS_PAGE}); the app's permissions must be "Read and write" (User authentication settings).`);
  const noSpace = (v: string) => (/\s/.test(v) ? 'it has spaces in it' : undefined);
  const appKey = await s.value('X_APP_KEY', 'API key (consumer key)', { check: noSpace });
  const appSecret = await s.value('X_APP_SECRET', 'API key secret (consumer secret)', { secret: true, check: noSpace });
  // twitter-api-v2 sends through Node's https module: an http:// base (tests) needs an http.Agent.
  const httpAgent = base.startsWith('http:') ? new HttpAgent() : new HttpsAgent();

  const app = new TwitterApi({ appKey, appSecret }, { httpAgent });
  const request = await call(s, base, 'request_token', () => app.post<string>('request_token', { oauth_callback: 'oob' }, {
    prefix: base, forceBodyMode: 'url', forceParseMode: 'text', timeout: s.httpTimeoutMs,
  }));
  const requestToken = request.get('oauth_token');
  const requestSecret = request.get('oauth_token_secret');
  if (!requestToken || !requestSecret) throw new AuthFailure('X\'s answer to the request for a sign-in had no token in it. Try again in a few minutes.');
  if (request.get('oauth_callback_confirmed') !== 'true') throw new AuthFailure('X did not confirm the PIN sign-in (oauth_callback_confirmed is not true). Try again in a few minutes.');
  s.secret(requestSecret);

  const authorize = new URL('authorize', base);
  authorize.searchParams.set('oauth_token', requestToken);
  s.say('Open this address in a browser, sign in as the X account the bot posts as, and choose "Authorize app":');
  s.say(authorize.toString());
  // The PIN is shown while typed (single-use, worthless without this run's secret), but kept out of errors.
  const pin = (await s.ask('Then type the PIN X shows (7 digits):', {
    check: (v) => (/^\d{4,10}$/.test(v.replace(/\s/g, '')) ? undefined : 'X\'s PIN is digits only, like 1234567'),
  })).replace(/\s/g, '');
  s.secret(pin);

  const user = new TwitterApi({ appKey, appSecret, accessToken: requestToken, accessSecret: requestSecret }, { httpAgent });
  const access = await call(s, base, 'access_token', () => user.post<string>('access_token', { oauth_verifier: pin }, {
    prefix: base, forceBodyMode: 'url', forceParseMode: 'text', timeout: s.httpTimeoutMs,
  }));
  const accessToken = access.get('oauth_token');
  const accessSecret = access.get('oauth_token_secret');
  if (!accessToken || !accessSecret) throw new AuthFailure('X\'s answer to the PIN had no access token in it. Run `loudhailer auth x` again.');
  s.secret(accessToken);
  s.secret(accessSecret);
  const name = access.get('screen_name');
  s.say(`Authorized as ${name ? `@${name}` : 'the account'}${access.get('user_id') ? ` (user id ${access.get('user_id')})` : ''}.`);
  return [['X_APP_KEY', appKey], ['X_APP_SECRET', appSecret], ['X_ACCESS_TOKEN', accessToken], ['X_ACCESS_SECRET', accessSecret]];
}

/** One OAuth call: its form-encoded answer, or a plain reason. */
async function call(s: Session, base: string, step: Step, send: () => Promise<string>): Promise<URLSearchParams> {
  let text: string;
  try {
    text = await send();
  } catch (err) {
    throw new AuthFailure(refusal(s, base, step, err));
  }
  return new URLSearchParams(typeof text === 'string' ? text.trim() : '');
}

interface ApiErrorLike {
  code?: unknown;
  data?: unknown;
  rateLimit?: { reset?: number };
  requestError?: unknown;
}

/** What X said, as far as it is safe and short: its error codes and messages, or the text. */
function saidBy(s: Session, data: unknown): { codes: number[]; text: string } {
  let parsed: unknown = data;
  if (typeof data === 'string') {
    try {
      parsed = JSON.parse(data);
    } catch {
      return { codes: [], text: s.redact(data.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim()).slice(0, 160) };
    }
  }
  const errors = (parsed as { errors?: Array<{ code?: unknown; message?: unknown }> } | undefined)?.errors;
  if (Array.isArray(errors)) {
    return {
      codes: errors.map((e) => Number(e.code)).filter(Number.isFinite),
      text: s.redact(errors.map((e) => `${String(e.message ?? '')}${e.code !== undefined ? ` (code ${String(e.code)})` : ''}`).join('; ')).slice(0, 200),
    };
  }
  const p = parsed as { title?: unknown; detail?: unknown } | undefined;
  return { codes: [], text: s.redact([p?.title, p?.detail].filter((x) => typeof x === 'string').join(': ')).slice(0, 200) };
}

function refusal(s: Session, base: string, step: Step, err: unknown): string {
  const e = (typeof err === 'object' && err !== null ? err : {}) as ApiErrorLike;
  const status = typeof e.code === 'number' && e.code >= 100 ? e.code : undefined;
  if (status === undefined) {
    const cause = transportCause(err);
    if (cause) return unreachableReason(hostOf(base), cause, s.httpTimeoutMs, 'X_API_URL');
    return `the ${step} request failed: ${s.redact(err instanceof Error ? err.message : String(err)).slice(0, 200)}`;
  }
  const said = saidBy(s, e.data);
  const quoted = said.text ? ` (X: "${said.text}")` : '';
  if (status === 429) {
    const reset = e.rateLimit?.reset;
    const minutes = reset ? Math.max(1, Math.ceil((reset * 1000 - Date.now()) / 60_000)) : undefined;
    return `X's limit on sign-ins was reached: try again${minutes ? ` in ${minutes} min` : ' later'}.`;
  }
  if (status >= 500) return `X answered HTTP ${status}${quoted}: try again in a few minutes.`;
  if (step === 'request_token') {
    if (said.codes.includes(415) || said.codes.includes(417)) {
      return `X refused the PIN sign-in for this app${quoted}: in ${KEYS_PAGE.replace('Keys and tokens', 'User authentication settings')}, set up OAuth 1.0a (type "Native app" or "Web app", Read and write).`;
    }
    if (status === 401 || said.codes.includes(32)) return `X refused the app's key or secret${quoted}: check X_APP_KEY and X_APP_SECRET in ${KEYS_PAGE}.`;
    return `X refused the request for a sign-in: HTTP ${status}${quoted}.`;
  }
  if (status === 401) return `X rejected the PIN${quoted}: it was mistyped, already used, or the sign-in expired. Run \`loudhailer auth x\` again.`;
  return `X refused the PIN exchange: HTTP ${status}${quoted}.`;
}
