/**
 * `loudhailer auth flickr`: Flickr's OAuth 1.0a with the out-of-band verifier, through
 * flickr-sdk's OAuth service (`request('oob')`, `verify(code)`), which signs HMAC-SHA1 with
 * FLICKR_API_KEY/SECRET for Flickr's own URLs (https://www.flickr.com/services/oauth/…); a
 * transport sends the signed request to FLICKR_OAUTH_URL instead (tests, a proxy) and turns a
 * refusal (`oauth_problem=…`) into a plain reason.
 *
 * The authorize address asks for `perms=delete`: the bot deletes its photos when an appeal is
 * withdrawn. Flickr then shows a 9-digit code (123-456-789), typed in here; the access token
 * and its secret are printed as FLICKR_OAUTH_TOKEN and FLICKR_OAUTH_SECRET.
 */
import { createFlickr, type GET, type POST, type Transport } from 'flickr-sdk';
import { AuthFailure, fetchOrUnreachable, hostOf, textOrUnreachable, type EnvLine, type Session } from './common.js';

export const FLICKR_OAUTH_URL = 'https://www.flickr.com/services/oauth/';
/** What flickr-sdk signs for and asks its transport for. */
const SDK_OAUTH_URL = 'https://www.flickr.com/services/oauth/';
const APPS_PAGE = 'https://www.flickr.com/services/apps/by/me';

type Step = 'request_token' | 'access_token';

/** Flickr refused (HTTP ≥ 400, or an answer without a token). */
class FlickrRefusal extends Error {
  constructor(readonly step: Step, readonly status: number, readonly problem: string | undefined) {
    super(`Flickr refused ${step}: HTTP ${status}${problem ? ` ${problem}` : ''}`);
  }
}

/** Sends flickr-sdk's signed OAuth requests to FLICKR_OAUTH_URL, with a timeout. */
class OAuthTransport implements Transport {
  constructor(private readonly s: Session, private readonly base: string) {}

  async get(url: string, params: GET): Promise<Response> {
    if (!url.startsWith(SDK_OAUTH_URL)) throw new Error(`flickr-sdk asked for an unexpected URL (${hostOf(url)})`);
    const step = url.slice(SDK_OAUTH_URL.length) as Step;
    const target = new URL(step, this.base);
    for (const [k, v] of params.entries()) target.searchParams.append(k, v);
    const res = await fetchOrUnreachable(this.s, target.toString(), { method: 'GET' }, 'FLICKR_OAUTH_URL');
    const text = await textOrUnreachable(this.s, target.toString(), res, 'FLICKR_OAUTH_URL');
    if (res.status >= 400) throw new FlickrRefusal(step, res.status, problemOf(text));
    // flickr-sdk reads the form-encoded answer itself.
    return new Response(text, { status: res.status, headers: { 'content-type': res.headers.get('content-type') ?? 'text/plain' } });
  }

  post(url: string, _params: POST): Promise<Response> {
    return Promise.reject(new Error(`flickr-sdk asked to POST ${hostOf(url)}: not expected`));
  }
}

/** `oauth_problem` of a refusal (form-encoded), or a short, known word from its text. */
function problemOf(text: string): string | undefined {
  const p = new URLSearchParams(text.trim()).get('oauth_problem');
  if (p && /^[a-z_]{1,40}$/.test(p)) return p;
  return /oauth_problem=([a-z_]{1,40})/.exec(text)?.[1];
}

/** "123456789", "123 456 789" or "123-456-789" → "123-456-789"; undefined when it isn't 9 digits. */
export function normalizeFlickrCode(raw: string): string | undefined {
  const digits = raw.replace(/[\s-]/g, '');
  return /^\d{9}$/.test(digits) ? `${digits.slice(0, 3)}-${digits.slice(3, 6)}-${digits.slice(6)}` : undefined;
}

export async function flickrAuth(s: Session): Promise<EnvLine[]> {
  const rawBase = s.url('FLICKR_OAUTH_URL', FLICKR_OAUTH_URL);
  const base = rawBase.endsWith('/') ? rawBase : `${rawBase}/`;
  s.say(`Flickr: sign-in with a code (OAuth 1.0a, out of band). You need the app's key and secret (${APPS_PAGE}).`);
  const noSpace = (v: string) => (/\s/.test(v) ? 'it has spaces in it' : undefined);
  const consumerKey = await s.value('FLICKR_API_KEY', 'API key', { check: noSpace });
  const consumerSecret = await s.value('FLICKR_API_SECRET', 'API secret', { secret: true, check: noSpace });
  const transport = new OAuthTransport(s, base);

  let request: { requestToken: string; requestTokenSecret: string };
  try {
    request = await createFlickr({ consumerKey, consumerSecret, oauthToken: false, oauthTokenSecret: false }, transport).oauth.request('oob');
  } catch (err) {
    throw failure(err);
  }
  if (!request.requestToken || !request.requestTokenSecret) throw new AuthFailure('Flickr\'s answer to the request for a sign-in had no token in it. Try again in a few minutes.');
  s.secret(request.requestTokenSecret);

  const authorize = new URL('authorize', base);
  authorize.searchParams.set('oauth_token', request.requestToken);
  authorize.searchParams.set('perms', 'delete');
  s.say('Open this address in a browser, sign in as the Flickr account the bot posts as, and choose "OK, I\'ll authorize it" (delete permission: the bot removes its photos when an appeal is withdrawn):');
  s.say(authorize.toString());
  // The code is shown while typed (it is single-use and worthless without this run's secret), but kept out of errors.
  const code = await s.ask('Then type the 9-digit code Flickr shows (like 123-456-789):', {
    check: (v) => (normalizeFlickrCode(v) ? undefined : 'Flickr\'s code is 9 digits, like 123-456-789'),
  });

  s.secret(code);
  s.secret(normalizeFlickrCode(code)!);
  let access: { nsid: string; oauthToken: string; oauthTokenSecret: string; username: string };
  try {
    access = await createFlickr({ consumerKey, consumerSecret, oauthToken: request.requestToken, oauthTokenSecret: request.requestTokenSecret }, transport)
      .oauth.verify(normalizeFlickrCode(code)!);
  } catch (err) {
    throw failure(err);
  }
  if (!access.oauthToken || !access.oauthTokenSecret) throw new AuthFailure('Flickr\'s answer to the code had no access token in it. Run `loudhailer auth flickr` again.');
  s.secret(access.oauthToken);
  s.secret(access.oauthTokenSecret);
  s.say(`Authorized as ${access.username ? `${access.username} ` : ''}(${access.nsid ?? 'unknown id'}).`);
  return [
    ['FLICKR_API_KEY', consumerKey], ['FLICKR_API_SECRET', consumerSecret],
    ['FLICKR_OAUTH_TOKEN', access.oauthToken], ['FLICKR_OAUTH_SECRET', access.oauthTokenSecret],
  ];
}

function failure(err: unknown): Error {
  if (err instanceof AuthFailure) return err;
  if (!(err instanceof FlickrRefusal)) return err instanceof Error ? err : new Error(String(err));
  const { step, status, problem } = err;
  const said = problem ? ` (oauth_problem=${problem})` : '';
  if (problem === 'timestamp_refused') return new AuthFailure(`Flickr refused the request's time${said}: this machine's clock is off. Set it right (NTP) and try again.`);
  if (status >= 500 || status === 429) return new AuthFailure(`Flickr answered HTTP ${status} to ${step}${said}: try again in a few minutes.`);
  if (step === 'request_token') {
    return new AuthFailure(`Flickr refused the app's key or secret${said}: check FLICKR_API_KEY and FLICKR_API_SECRET against ${APPS_PAGE}.`);
  }
  if (problem === 'consumer_key_unknown' || problem === 'consumer_key_rejected') {
    return new AuthFailure(`Flickr refused the app's key${said}: check FLICKR_API_KEY against ${APPS_PAGE}.`);
  }
  return new AuthFailure(`Flickr rejected the code${said}: it was mistyped, already used, or the sign-in expired. Run \`loudhailer auth flickr\` again.`);
}
