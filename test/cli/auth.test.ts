/**
 * `loudhailer auth youtube|flickr|x|facebook`, end to end against the fakes' OAuth endpoints:
 * answers are typed through io.input, the browser's part is played with fetch (the consent
 * screen's redirect to the loopback address, the pages that show a PIN or code), and the
 * printed `.env` lines are then used against the same fakes. Failures: a wrong PIN or code, a
 * state mismatch on the loopback callback, a refused or revoked token, an unreachable API
 * (refused, DNS, timeout) reported as unreachable. No secret appears outside the final lines,
 * and the built command writes nothing to disk.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runAuth } from '../../src/cli/auth/index.js';
import { MAIN, requireBuild } from '../e2e/harness.js';
import { startFakeFacebook, FAKE_FACEBOOK_APP, type FakeFacebook } from '../fakes/facebook.js';
import { FLICKR_SIGNED_REST_URL, startFakeFlickr, type FakeFlickr } from '../fakes/flickr.js';
import { oauth1Header, startFakeX, type FakeX } from '../fakes/x.js';
import { hmacSha1Signature, signatureBaseString } from '../fakes/x-oauth.js';
import { startFakeYouTube, type FakeYouTube } from '../fakes/youtube.js';

const ENV_LINE = /^([A-Z][A-Z0-9_]*)=(.*)$/;

const YT = {
  clientId: '123456789012-fakeclient.apps.googleusercontent.com',
  clientSecret: 'GOCSPX-fake-youtube-client-SECRET',
  refreshToken: '1//0gFakeRefreshToken-SECRET',
};
const X_APP = { appKey: 'fake-x-app-key', appSecret: 'fake-x-app-secret' };
const FLICKR = { apiKey: 'fake-flickr-api-key', apiSecret: 'fake-flickr-api-secret' };
const FB_USER_TOKEN = 'EAAfakeShortLivedUserToken-SECRET';

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

interface Run {
  lines: string[];
  type(line: string): void;
  /** The first line (already printed or to come) matching `re`. */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
  exit: Promise<number>;
  /** The `.env` lines printed, by name. */
  envLines(): Record<string, string>;
}

function run(network: string | undefined, env: Record<string, string>, opts: { httpTimeoutMs?: number; callbackTimeoutMs?: number } = {}): Run {
  const input = new PassThrough();
  const lines: string[] = [];
  const io = {
    out: { write: (line: string) => void lines.push(...line.split('\n')) },
    input,
    httpTimeoutMs: opts.httpTimeoutMs ?? 5_000,
    callbackTimeoutMs: opts.callbackTimeoutMs ?? 20_000,
  };
  const exit = runAuth(network, env, io).finally(() => input.end());
  return {
    lines,
    type: (line) => void input.write(`${line}\n`),
    line: async (re, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find((l) => re.test(l));
        if (found !== undefined) return found;
        if (Date.now() > deadline) throw new Error(`no line matching ${re} in:\n${lines.join('\n')}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    exit,
    envLines: () => Object.fromEntries(lines.map((l) => ENV_LINE.exec(l)).filter((m): m is RegExpExecArray => m !== null).map((m) => [m[1]!, m[2]!])),
  };
}

/** No secret anywhere but in the final `.env` lines (and, after a failure, no `.env` lines at all). */
function expectNoSecretsOutsideEnvLines(r: Run, secrets: string[], opts: { failed?: boolean } = {}): void {
  const others = r.lines.filter((l) => !ENV_LINE.test(l));
  for (const secret of secrets) {
    for (const line of others) expect(line, `a secret in "${line}"`).not.toContain(secret);
  }
  if (opts.failed) expect(Object.keys(r.envLines())).toEqual([]);
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A server that takes requests and never answers. */
async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<import('node:net').Socket>();
  const s: Server = createServer(() => {});
  s.on('connection', (c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => {
      for (const c of sockets) c.destroy();
      s.close(() => resolve());
    }),
  };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function fakeX(): Promise<FakeX> {
  const x = await startFakeX();
  closers.push(() => x.close());
  return x;
}
async function fakeYouTube(): Promise<FakeYouTube> {
  const yt = await startFakeYouTube(YT);
  closers.push(() => yt.close());
  return yt;
}
async function fakeFlickr(): Promise<FakeFlickr> {
  const f = await startFakeFlickr({ perms: 'read' });
  closers.push(() => f.close());
  return f;
}
async function fakeFacebook(opts: Parameters<typeof startFakeFacebook>[0] = {}): Promise<FakeFacebook> {
  const fb = await startFakeFacebook({ userToken: FB_USER_TOKEN, ...opts });
  closers.push(() => fb.close());
  return fb;
}

/** The PIN X shows after "Authorize app". */
async function xPin(authorizeUrl: string): Promise<string> {
  const page = await (await fetch(authorizeUrl)).text();
  return /<code>(\d+)<\/code>/.exec(page)![1]!;
}

/** The code Flickr shows after "OK, I'll authorize it". */
async function flickrCode(authorizeUrl: string): Promise<string> {
  const page = await (await fetch(authorizeUrl)).text();
  return /<span id="verifier">([\d-]+)<\/span>/.exec(page)![1]!;
}

function xEnv(x: FakeX): Record<string, string> {
  return { X_API_URL: x.url, X_APP_KEY: X_APP.appKey, X_APP_SECRET: X_APP.appSecret };
}

// ---------------------------------------------------------------------------------------------
// Usage
// ---------------------------------------------------------------------------------------------

describe('loudhailer auth: usage', () => {
  it('an unknown network prints the usage line and exits 2', async () => {
    const r = run('myspace', {});
    expect(await r.exit).toBe(2);
    expect(r.lines.join('\n')).toMatch(/unknown network "myspace".*usage: loudhailer auth youtube\|flickr\|x\|facebook/);
  });

  it('no network prints the usage line and exits 2', async () => {
    const r = run(undefined, {});
    expect(await r.exit).toBe(2);
    expect(r.lines[0]).toMatch(/^usage: loudhailer auth youtube\|flickr\|x\|facebook/);
  });

  it('a malformed URL setting stops before anything is asked, exit 2', async () => {
    const r = run('x', { X_API_URL: 'ftp://example.org/2/' });
    expect(await r.exit).toBe(2);
    expect(r.lines.join('\n')).toMatch(/X_API_URL: expected an http\(s\) URL/);
  });
});

// ---------------------------------------------------------------------------------------------
// X
// ---------------------------------------------------------------------------------------------

describe('loudhailer auth x (OAuth 1.0a PIN)', () => {
  it('prints the .env lines and the account, and the printed token signs users/me', async () => {
    const x = await fakeX();
    const r = run('x', xEnv(x));
    const authorize = await r.line(/^http:\/\/127\.0\.0\.1:\d+\/oauth\/authorize\?oauth_token=/);
    r.type(await xPin(authorize));
    expect(await r.exit).toBe(0);

    const env = r.envLines();
    expect(env).toEqual({ X_APP_KEY: X_APP.appKey, X_APP_SECRET: X_APP.appSecret, X_ACCESS_TOKEN: x.credentials.accessToken, X_ACCESS_SECRET: x.credentials.accessSecret });
    expect(r.lines.join('\n')).toContain('@loudhailer_test');
    // The request token's call carried oauth_callback=oob, both calls were signed (the fake checks).
    const signIns = x.requests.filter((q) => q.path.startsWith('/oauth/'));
    expect(signIns.map((q) => [q.method, q.path, q.status])).toEqual([
      ['POST', '/oauth/request_token', 200], ['GET', '/oauth/authorize', 200], ['POST', '/oauth/access_token', 200],
    ]);

    const me = `${x.url}users/me`;
    const creds = { appKey: env.X_APP_KEY!, appSecret: env.X_APP_SECRET!, accessToken: env.X_ACCESS_TOKEN!, accessSecret: env.X_ACCESS_SECRET! };
    const res = await fetch(me, { headers: { authorization: oauth1Header(creds, 'GET', me) } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: { username: string } }).data.username).toBe('loudhailer_test');
    expectNoSecretsOutsideEnvLines(r, [X_APP.appSecret, x.credentials.accessToken, x.credentials.accessSecret]);
  });

  it('asks for the app key and secret when they are not set, and never echoes the secret', async () => {
    const x = await fakeX();
    const r = run('x', { X_API_URL: x.url });
    await r.line(/X_APP_KEY/);
    r.type(X_APP.appKey);
    await r.line(/X_APP_SECRET/);
    r.type(X_APP.appSecret);
    r.type(await xPin(await r.line(/\/oauth\/authorize\?oauth_token=/)));
    expect(await r.exit).toBe(0);
    expect(r.envLines().X_ACCESS_SECRET).toBe(x.credentials.accessSecret);
    expectNoSecretsOutsideEnvLines(r, [X_APP.appSecret, x.credentials.accessToken, x.credentials.accessSecret]);
  });

  it('a wrong PIN: "rejected the PIN", exit 1, no secret, no .env lines', async () => {
    const x = await fakeX();
    const r = run('x', xEnv(x));
    const pin = await xPin(await r.line(/\/oauth\/authorize\?oauth_token=/));
    r.type(pin === '1111111' ? '2222222' : '1111111');
    expect(await r.exit).toBe(1);
    expect(r.lines.at(-1)).toMatch(/^auth x: failed: X rejected the PIN .*run `loudhailer auth x` again/i);
    expectNoSecretsOutsideEnvLines(r, [X_APP.appSecret, x.credentials.accessToken, x.credentials.accessSecret], { failed: true });
  });

  it('a wrong app secret: names X_APP_KEY / X_APP_SECRET, without the secret', async () => {
    const x = await fakeX();
    const wrong = 'wrong-x-app-secret-SECRET';
    const r = run('x', { ...xEnv(x), X_APP_SECRET: wrong });
    expect(await r.exit).toBe(1);
    expect(r.lines.at(-1)).toMatch(/refused the app's key or secret.*X_APP_KEY and X_APP_SECRET/);
    expectNoSecretsOutsideEnvLines(r, [wrong], { failed: true });
  });

  it('a malformed PIN is asked again', async () => {
    const x = await fakeX();
    const r = run('x', xEnv(x));
    const pin = await xPin(await r.line(/\/oauth\/authorize\?oauth_token=/));
    r.type('twelve');
    await r.line(/That won't do: X's PIN is digits only/);
    r.type(pin);
    expect(await r.exit).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// YouTube
// ---------------------------------------------------------------------------------------------

describe('loudhailer auth youtube (installed app: loopback, PKCE, state)', () => {
  function ytEnv(yt: FakeYouTube): Record<string, string> {
    return { GOOGLE_AUTH_URL: yt.authUrl, GOOGLE_TOKEN_URL: yt.tokenUrl, YOUTUBE_CLIENT_ID: YT.clientId };
  }
  const consentLine = (yt: FakeYouTube) => new RegExp(`^${yt.authUrl.replace(/[.?*+^$[\]\\(){}|-]/g, '\\$&')}\\?`);

  it('the browser allows, the loopback page says so, and the refresh token printed works', async () => {
    const yt = await fakeYouTube();
    const r = run('youtube', ytEnv(yt));
    await r.line(/YOUTUBE_CLIENT_SECRET/);
    r.type(YT.clientSecret);
    const consent = await r.line(consentLine(yt));
    // The user clicks "Allow": Google redirects the browser to the loopback address.
    const page = await fetch(consent);
    expect(page.status).toBe(200);
    expect(new URL(page.url).hostname).toBe('127.0.0.1');
    expect(await page.text()).toMatch(/You can close this tab/);
    expect(await r.exit).toBe(0);

    expect(r.envLines()).toEqual({ YOUTUBE_CLIENT_ID: YT.clientId, YOUTUBE_CLIENT_SECRET: YT.clientSecret, YOUTUBE_REFRESH_TOKEN: YT.refreshToken });
    const asked = yt.authorizations[0]!;
    expect(asked).toMatchObject({ client_id: YT.clientId, response_type: 'code', access_type: 'offline', prompt: 'consent', code_challenge_method: 'S256' });
    expect(asked.scope!.split(' ').sort()).toEqual([
      'https://www.googleapis.com/auth/youtube', 'https://www.googleapis.com/auth/youtube.force-ssl', 'https://www.googleapis.com/auth/youtube.upload',
    ]);
    expect(asked.state).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(asked.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(asked.redirect_uri).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    // The printed values work: a refresh, then a call with the access token.
    const env = r.envLines();
    const token = await fetch(yt.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: env.YOUTUBE_CLIENT_ID!, client_secret: env.YOUTUBE_CLIENT_SECRET!, refresh_token: env.YOUTUBE_REFRESH_TOKEN! }),
    });
    expect(token.status).toBe(200);
    const { access_token } = (await token.json()) as { access_token: string };
    const channels = await fetch(`${yt.url}/youtube/v3/channels?part=contentDetails&mine=true`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(channels.status).toBe(200);
    expectNoSecretsOutsideEnvLines(r, [YT.clientSecret, YT.refreshToken]);
  });

  it('the address the browser ended on can be pasted instead (a browser on another machine)', async () => {
    const yt = await fakeYouTube();
    const r = run('youtube', { ...ytEnv(yt), YOUTUBE_CLIENT_SECRET: YT.clientSecret });
    const consent = await r.line(consentLine(yt));
    const redirect = await fetch(consent, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    r.type('not an address');
    await r.line(/That is not the address Google sent the browser to/);
    r.type(redirect.headers.get('location')!);
    expect(await r.exit).toBe(0);
    expect(r.envLines().YOUTUBE_REFRESH_TOKEN).toBe(YT.refreshToken);
  });

  it('a callback whose state does not match is refused: the page says so, exit 1, no token asked for', async () => {
    const yt = await fakeYouTube();
    const r = run('youtube', { ...ytEnv(yt), YOUTUBE_CLIENT_SECRET: YT.clientSecret });
    const consent = await r.line(consentLine(yt));
    const redirect = await fetch(consent, { redirect: 'manual' });
    const forged = new URL(redirect.headers.get('location')!);
    forged.searchParams.set('state', 'forged-state');
    const page = await fetch(forged);
    expect(page.status).toBe(400);
    expect(await page.text()).toMatch(/state mismatch/);
    expect(await r.exit).toBe(1);
    expect(r.lines.at(-1)).toMatch(/^auth youtube: failed: .*does not carry the `state` this run sent/);
    expect(yt.requestsTo('token')).toHaveLength(0);
    expectNoSecretsOutsideEnvLines(r, [YT.clientSecret], { failed: true });
  });

  it('Deny on the consent screen: "not allowed", exit 1', async () => {
    const yt = await fakeYouTube();
    yt.setConsent({ deny: true });
    const r = run('youtube', { ...ytEnv(yt), YOUTUBE_CLIENT_SECRET: YT.clientSecret });
    await fetch(await r.line(consentLine(yt)));
    expect(await r.exit).toBe(1);
    expect(r.lines.at(-1)).toMatch(/access was not allowed on Google's consent screen/);
  });

  it('only some scopes granted: names the missing ones, no .env lines', async () => {
    const yt = await fakeYouTube();
    yt.setConsent({ grant: ['https://www.googleapis.com/auth/youtube.upload'] });
    const r = run('youtube', { ...ytEnv(yt), YOUTUBE_CLIENT_SECRET: YT.clientSecret });
    await fetch(await r.line(consentLine(yt)));
    expect(await r.exit).toBe(1);
    expect(r.lines.at(-1)).toMatch(/youtube, youtube\.force-ssl are missing/);
    expectNoSecretsOutsideEnvLines(r, [YT.clientSecret, YT.refreshToken], { failed: true });
  });

  it('a wrong client secret: names YOUTUBE_CLIENT_ID / SECRET, without the secret', async () => {
    const yt = await fakeYouTube();
    const wrong = 'GOCSPX-wrong-SECRET';
    const r = run('youtube', { ...ytEnv(yt), YOUTUBE_CLIENT_SECRET: wrong });
    await fetch(await r.line(consentLine(yt)));
    expect(await r.exit).toBe(1);
    expect(r.lines.at(-1)).toMatch(/Google refused the OAuth client.*YOUTUBE_CLIENT_ID and YOUTUBE_CLIENT_SECRET/);
    expectNoSecretsOutsideEnvLines(r, [wrong], { failed: true });
  });
});

// ---------------------------------------------------------------------------------------------
// Flickr
// ---------------------------------------------------------------------------------------------

describe('loudhailer auth flickr (OAuth 1.0a, out-of-band code)', () => {
  function flickrEnv(f: FakeFlickr): Record<string, string> {
    return { FLICKR_OAUTH_URL: f.oauthUrl, FLICKR_API_KEY: FLICKR.apiKey, FLICKR_API_SECRET: FLICKR.apiSecret };
  }

  it('asks for delete permission, takes the code, and the printed token signs flickr.test.login', async () => {
    const f = await fakeFlickr();
    const r = run('flickr', flickrEnv(f));
    const authorize = await r.line(/\/services\/oauth\/authorize\?/);
    expect(new URL(authorize).searchParams.get('perms')).toBe('delete');
    r.type((await flickrCode(authorize)).replace(/-/g, '')); // typed without the dashes
    expect(await r.exit).toBe(0);

    const env = r.envLines();
    expect(Object.keys(env)).toEqual(['FLICKR_API_KEY', 'FLICKR_API_SECRET', 'FLICKR_OAUTH_TOKEN', 'FLICKR_OAUTH_SECRET']);
    expect(f.perms).toBe('delete');
    expect(r.lines.join('\n')).toContain('loudhailer_test_police');

    const params: Record<string, string> = {
      method: 'flickr.test.login', format: 'json', nojsoncallback: '1',
      oauth_consumer_key: env.FLICKR_API_KEY!, oauth_nonce: randomBytes(8).toString('hex'), oauth_signature_method: 'HMAC-SHA1',
      oauth_timestamp: String(Math.floor(Date.now() / 1000)), oauth_token: env.FLICKR_OAUTH_TOKEN!, oauth_version: '1.0',
    };
    const signature = hmacSha1Signature(signatureBaseString('GET', FLICKR_SIGNED_REST_URL, Object.entries(params)), env.FLICKR_API_SECRET!, env.FLICKR_OAUTH_SECRET!);
    const login = await fetch(`${f.apiUrl}?${new URLSearchParams({ ...params, oauth_signature: signature })}`);
    expect(await login.json()).toMatchObject({ stat: 'ok', user: { id: f.nsid } });
    expectNoSecretsOutsideEnvLines(r, [FLICKR.apiSecret, env.FLICKR_OAUTH_TOKEN!, env.FLICKR_OAUTH_SECRET!]);
  });

  it('a wrong code: "rejected the code", exit 1, no .env lines', async () => {
    const f = await fakeFlickr();
    const r = run('flickr', flickrEnv(f));
    const code = await flickrCode(await r.line(/\/services\/oauth\/authorize\?/));
    r.type(code === '111-111-111' ? '222-222-222' : '111-111-111');
    expect(await r.exit).toBe(1);
    expect(r.lines.at(-1)).toMatch(/^auth flickr: failed: Flickr rejected the code \(oauth_problem=verifier_invalid\)/);
    expectNoSecretsOutsideEnvLines(r, [FLICKR.apiSecret], { failed: true });
  });

  it('a wrong API secret: names FLICKR_API_KEY / SECRET, without the secret', async () => {
    const f = await fakeFlickr();
    const wrong = 'wrong-flickr-secret-SECRET';
    const r = run('flickr', { ...flickrEnv(f), FLICKR_API_SECRET: wrong });
    expect(await r.exit).toBe(1);
    expect(r.lines.at(-1)).toMatch(/Flickr refused the app's key or secret \(oauth_problem=signature_invalid\).*FLICKR_API_KEY and FLICKR_API_SECRET/);
    expectNoSecretsOutsideEnvLines(r, [wrong], { failed: true });
  });

  it('something that is not 9 digits is asked again', async () => {
    const f = await fakeFlickr();
    const r = run('flickr', flickrEnv(f));
    const code = await flickrCode(await r.line(/\/services\/oauth\/authorize\?/));
    r.type('12-34');
    await r.line(/That won't do: Flickr's code is 9 digits/);
    r.type(code);
    expect(await r.exit).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Facebook
// ---------------------------------------------------------------------------------------------

describe('loudhailer auth facebook (long-lived user token → Page token)', () => {
  function fbEnv(fb: FakeFacebook): Record<string, string> {
    return { FACEBOOK_GRAPH_URL: fb.url, FACEBOOK_APP_ID: FAKE_FACEBOOK_APP.appId, FACEBOOK_APP_SECRET: FAKE_FACEBOOK_APP.appSecret };
  }

  it('exchanges the pasted user token, picks the only Page, and the Page token printed works', async () => {
    const fb = await fakeFacebook();
    const r = run('facebook', fbEnv(fb));
    await r.line(/FACEBOOK_USER_TOKEN/);
    r.type(FB_USER_TOKEN);
    expect(await r.exit).toBe(0);
    expect(r.envLines()).toEqual({ FACEBOOK_PAGE_ID: fb.pageId, FACEBOOK_PAGE_TOKEN: fb.pageToken });
    expect(fb.longLivedUserTokens).toHaveLength(1);
    expect(fb.requests.map((q) => q.path)).toEqual(['/v25.0/oauth/access_token', '/v25.0/me/accounts']);
    expect(fb.requests[1]!.tokenVia).toBe('header');

    const posts = await fetch(`${fb.url}/${fb.pageId}/published_posts`, { headers: { authorization: `Bearer ${r.envLines().FACEBOOK_PAGE_TOKEN}` } });
    expect(posts.status).toBe(200);
    expectNoSecretsOutsideEnvLines(r, [FB_USER_TOKEN, FAKE_FACEBOOK_APP.appSecret, fb.pageToken, fb.longLivedUserTokens[0]!]);
  });

  it('several Pages: lists them and takes the number typed', async () => {
    const fb = await fakeFacebook({ extraPages: [{ id: '104000000000002', name: 'Second Division' }] });
    const r = run('facebook', { ...fbEnv(fb), FACEBOOK_USER_TOKEN: FB_USER_TOKEN });
    await r.line(/2\. Second Division \(104000000000002\)/);
    r.type('7');
    await r.line(/That won't do: pick a number from 1 to 2/);
    r.type('2');
    expect(await r.exit).toBe(0);
    expect(r.envLines()).toEqual({ FACEBOOK_PAGE_ID: '104000000000002', FACEBOOK_PAGE_TOKEN: 'EAAfakePage104000000000002' });
  });

  it('FACEBOOK_PAGE_ID set: that Page, without asking', async () => {
    const fb = await fakeFacebook({ extraPages: [{ id: '104000000000002', name: 'Second Division' }] });
    const r = run('facebook', { ...fbEnv(fb), FACEBOOK_USER_TOKEN: FB_USER_TOKEN, FACEBOOK_PAGE_ID: fb.pageId });
    expect(await r.exit).toBe(0);
    expect(r.envLines().FACEBOOK_PAGE_ID).toBe(fb.pageId);
  });

  it('a revoked user token: "refused the user token", exit 1, no secret', async () => {
    const fb = await fakeFacebook();
    fb.revokeUserTokens();
    const r = run('facebook', { ...fbEnv(fb), FACEBOOK_USER_TOKEN: FB_USER_TOKEN });
    expect(await r.exit).toBe(1);
    expect(r.lines.at(-1)).toMatch(/^auth facebook: failed: Facebook refused the user token \(Facebook: code 190\/460.*Graph API Explorer/);
    expectNoSecretsOutsideEnvLines(r, [FB_USER_TOKEN, FAKE_FACEBOOK_APP.appSecret], { failed: true });
  });

  it('a mistyped user token: refused as the user token', async () => {
    const fb = await fakeFacebook();
    const wrong = 'EAAmistypedToken-SECRET';
    const r = run('facebook', { ...fbEnv(fb), FACEBOOK_USER_TOKEN: wrong });
    expect(await r.exit).toBe(1);
    expect(r.lines.at(-1)).toMatch(/refused the user token \(Facebook: code 190/);
    expectNoSecretsOutsideEnvLines(r, [wrong], { failed: true });
  });

  it('a wrong app secret: names FACEBOOK_APP_ID / SECRET', async () => {
    const fb = await fakeFacebook();
    const wrong = 'wrong-app-secret-SECRET';
    const r = run('facebook', { ...fbEnv(fb), FACEBOOK_APP_SECRET: wrong, FACEBOOK_USER_TOKEN: FB_USER_TOKEN });
    expect(await r.exit).toBe(1);
    expect(r.lines.at(-1)).toMatch(/refused the app's ID or secret.*FACEBOOK_APP_ID and FACEBOOK_APP_SECRET/);
    expectNoSecretsOutsideEnvLines(r, [wrong, FB_USER_TOKEN], { failed: true });
  });
});

// ---------------------------------------------------------------------------------------------
// Unreachable APIs
// ---------------------------------------------------------------------------------------------

describe('loudhailer auth: an unreachable API is reported as unreachable, never as a bad credential', () => {
  const secrets = [X_APP.appSecret, YT.clientSecret, FLICKR.apiSecret, FAKE_FACEBOOK_APP.appSecret, FB_USER_TOKEN];
  const badCredential = /refused the|rejected the|check [A-Z_]+ and/;

  it.each(['x', 'flickr', 'facebook'] as const)('%s: connection refused', async (network) => {
    const base = `http://127.0.0.1:${await closedPort()}`;
    const env: Record<string, Record<string, string>> = {
      x: { X_API_URL: `${base}/2/`, X_APP_KEY: X_APP.appKey, X_APP_SECRET: X_APP.appSecret },
      flickr: { FLICKR_OAUTH_URL: `${base}/services/oauth/`, FLICKR_API_KEY: FLICKR.apiKey, FLICKR_API_SECRET: FLICKR.apiSecret },
      facebook: { FACEBOOK_GRAPH_URL: `${base}/v25.0`, FACEBOOK_APP_ID: FAKE_FACEBOOK_APP.appId, FACEBOOK_APP_SECRET: FAKE_FACEBOOK_APP.appSecret, FACEBOOK_USER_TOKEN: FB_USER_TOKEN },
    };
    const r = run(network, env[network]!);
    expect(await r.exit).toBe(1);
    const last = r.lines.at(-1)!;
    expect(last).toMatch(/can't reach 127\.0\.0\.1:\d+: connection refused.*not the credentials/);
    expect(last).not.toMatch(badCredential);
    expectNoSecretsOutsideEnvLines(r, secrets, { failed: true });
  });

  it('youtube: the token endpoint refuses the connection after the consent', async () => {
    const yt = await fakeYouTube();
    const r = run('youtube', {
      GOOGLE_AUTH_URL: yt.authUrl, GOOGLE_TOKEN_URL: `http://127.0.0.1:${await closedPort()}/token`,
      YOUTUBE_CLIENT_ID: YT.clientId, YOUTUBE_CLIENT_SECRET: YT.clientSecret,
    });
    await fetch(await r.line(/\/o\/oauth2\/v2\/auth\?/));
    expect(await r.exit).toBe(1);
    const last = r.lines.at(-1)!;
    expect(last).toMatch(/can't reach 127\.0\.0\.1:\d+: connection refused.*GOOGLE_TOKEN_URL, not the credentials/);
    expect(last).not.toMatch(badCredential);
    expectNoSecretsOutsideEnvLines(r, secrets, { failed: true });
  });

  it('youtube: the token endpoint never answers: timeout', async () => {
    const yt = await fakeYouTube();
    const silent = await silentServer();
    closers.push(() => silent.close());
    const r = run('youtube', {
      GOOGLE_AUTH_URL: yt.authUrl, GOOGLE_TOKEN_URL: `${silent.url}/token`, YOUTUBE_CLIENT_ID: YT.clientId, YOUTUBE_CLIENT_SECRET: YT.clientSecret,
    }, { httpTimeoutMs: 300 });
    await fetch(await r.line(/\/o\/oauth2\/v2\/auth\?/));
    expect(await r.exit).toBe(1);
    const last = r.lines.at(-1)!;
    expect(last).toMatch(/can't reach 127\.0\.0\.1:\d+: no answer within 0\.3 s \(timeout\)/);
    expect(last).not.toMatch(badCredential);
  });

  it('a name that does not resolve: DNS', async () => {
    const r = run('facebook', { FACEBOOK_GRAPH_URL: 'http://graph.loudhailer-test.invalid/v25.0', FACEBOOK_APP_ID: FAKE_FACEBOOK_APP.appId, FACEBOOK_APP_SECRET: FAKE_FACEBOOK_APP.appSecret, FACEBOOK_USER_TOKEN: FB_USER_TOKEN });
    expect(await r.exit).toBe(1);
    expect(r.lines.at(-1)).toMatch(/can't reach graph\.loudhailer-test\.invalid: its name doesn't resolve \(DNS lookup failed/);
    expectNoSecretsOutsideEnvLines(r, secrets, { failed: true });
  });

  it.each(['x', 'facebook', 'flickr'] as const)('%s: no answer in time: timeout', async (network) => {
    const silent = await silentServer();
    closers.push(() => silent.close());
    const env: Record<string, Record<string, string>> = {
      x: { X_API_URL: `${silent.url}/2/`, X_APP_KEY: X_APP.appKey, X_APP_SECRET: X_APP.appSecret },
      flickr: { FLICKR_OAUTH_URL: `${silent.url}/services/oauth/`, FLICKR_API_KEY: FLICKR.apiKey, FLICKR_API_SECRET: FLICKR.apiSecret },
      facebook: { FACEBOOK_GRAPH_URL: `${silent.url}/v25.0`, FACEBOOK_APP_ID: FAKE_FACEBOOK_APP.appId, FACEBOOK_APP_SECRET: FAKE_FACEBOOK_APP.appSecret, FACEBOOK_USER_TOKEN: FB_USER_TOKEN },
    };
    const r = run(network, env[network]!, { httpTimeoutMs: 300 });
    expect(await r.exit).toBe(1);
    const last = r.lines.at(-1)!;
    expect(last).toMatch(/can't reach 127\.0\.0\.1:\d+: no answer within 0\.3 s \(timeout\)/);
    expect(last).not.toMatch(badCredential);
  });
});

// ---------------------------------------------------------------------------------------------
// The built command: nothing on disk
// ---------------------------------------------------------------------------------------------

describe('node dist/main.js auth …', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function spawnAuth(args: string[], env: Record<string, string>) {
    requireBuild();
    const cwd = mkdtempSync(join(tmpdir(), 'loudhailer-auth-cwd-'));
    const home = mkdtempSync(join(tmpdir(), 'loudhailer-auth-home-'));
    dirs.push(cwd, home);
    const child = spawn(process.execPath, [MAIN, 'auth', ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: home, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => void (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => void (stderr += c.toString('utf8')));
    const exit = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    const line = async (re: RegExp): Promise<string> => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const found = stdout.split('\n').find((l) => re.test(l));
        if (found !== undefined) return found;
        if (Date.now() > deadline) throw new Error(`no line matching ${re} in:\n${stdout}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    return { child, cwd, home, exit, line, out: () => stdout, err: () => stderr };
  }

  it('x end to end through stdin: prints the lines, writes nothing in the working directory or HOME', async () => {
    const x = await fakeX();
    const p = spawnAuth(['x'], xEnv(x));
    p.child.stdin.write(`${await xPin(await p.line(/\/oauth\/authorize\?oauth_token=/))}\n`);
    expect(await p.exit).toBe(0);
    expect(p.out()).toContain(`X_ACCESS_SECRET=${x.credentials.accessSecret}`);
    expect(p.err()).toBe('');
    expect(readdirSync(p.cwd)).toEqual([]);
    expect(readdirSync(p.home)).toEqual([]);
  });

  it('youtube end to end: the loopback server closes, the process exits, nothing on disk', async () => {
    const yt = await fakeYouTube();
    const p = spawnAuth(['youtube'], { GOOGLE_AUTH_URL: yt.authUrl, GOOGLE_TOKEN_URL: yt.tokenUrl, YOUTUBE_CLIENT_ID: YT.clientId, YOUTUBE_CLIENT_SECRET: YT.clientSecret });
    expect((await fetch(await p.line(/\/o\/oauth2\/v2\/auth\?/))).status).toBe(200);
    expect(await p.exit).toBe(0);
    expect(p.out()).toContain(`YOUTUBE_REFRESH_TOKEN=${YT.refreshToken}`);
    expect(readdirSync(p.cwd)).toEqual([]);
    expect(readdirSync(p.home)).toEqual([]);
  });

  it('facebook with a revoked token: exit 1, the reason, nothing on disk', async () => {
    const fb = await fakeFacebook();
    fb.revokeUserTokens();
    const p = spawnAuth(['facebook'], { FACEBOOK_GRAPH_URL: fb.url, FACEBOOK_APP_ID: FAKE_FACEBOOK_APP.appId, FACEBOOK_APP_SECRET: FAKE_FACEBOOK_APP.appSecret });
    await p.line(/FACEBOOK_USER_TOKEN/);
    p.child.stdin.write(`${FB_USER_TOKEN}\n`);
    expect(await p.exit).toBe(1);
    expect(p.out()).toMatch(/Facebook refused the user token/);
    expect(p.out()).not.toContain(FB_USER_TOKEN);
    expect(p.out()).not.toContain(FAKE_FACEBOOK_APP.appSecret);
    expect(readdirSync(p.cwd)).toEqual([]);
  });

  it('an unknown network: usage, exit 2', async () => {
    const p = spawnAuth(['myspace'], {});
    expect(await p.exit).toBe(2);
    expect(p.out()).toMatch(/usage: loudhailer auth youtube\|flickr\|x\|facebook/);
  });
});

// ---------------------------------------------------------------------------------------------
// The fakes' sign-in endpoints, checked directly where the flows above don't reach
// ---------------------------------------------------------------------------------------------

describe('the fakes\' sign-in endpoints', () => {
  it('YouTube: the code needs its PKCE verifier and its redirect_uri, and works once', async () => {
    const yt = await fakeYouTube();
    const verifier = randomBytes(48).toString('base64url');
    const challenge = (await import('node:crypto')).createHash('sha256').update(verifier).digest('base64url');
    const consent = new URL(yt.authUrl);
    const redirectUri = 'http://127.0.0.1:5555';
    for (const [k, v] of Object.entries({
      client_id: YT.clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'https://www.googleapis.com/auth/youtube.upload',
      state: 's1', code_challenge: challenge, code_challenge_method: 'S256', access_type: 'offline',
    })) consent.searchParams.set(k, v);
    const back = new URL((await fetch(consent, { redirect: 'manual' })).headers.get('location')!);
    expect(back.searchParams.get('state')).toBe('s1');
    const code = back.searchParams.get('code')!;
    const exchange = (extra: Record<string, string>) => fetch(yt.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: YT.clientId, client_secret: YT.clientSecret, code, redirect_uri: redirectUri, ...extra }),
    });
    expect(await (await exchange({ code_verifier: `${verifier}x` })).json()).toEqual({ error: 'invalid_grant', error_description: 'Invalid code verifier.' });
    expect((await (await exchange({ code_verifier: verifier, redirect_uri: 'http://127.0.0.1:5556' })).json() as { error: string }).error).toBe('redirect_uri_mismatch');
    const ok = await exchange({ code_verifier: verifier });
    expect(await ok.json()).toMatchObject({ refresh_token: YT.refreshToken, scope: 'https://www.googleapis.com/auth/youtube.upload', token_type: 'Bearer' });
    expect((await exchange({ code_verifier: verifier })).status).toBe(400); // used
    // A redirect that is not a loopback address gets Google's error page, not a redirect.
    consent.searchParams.set('redirect_uri', 'https://attacker.example/cb');
    const refused = await fetch(consent, { redirect: 'manual' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('redirect_uri_mismatch');
  });

  it('X: request_token wants oauth_callback=oob (else 415), access_token a signed, unused request token', async () => {
    const x = await fakeX();
    const requestUrl = `${x.origin}/oauth/request_token`;
    const app = { appKey: X_APP.appKey, appSecret: X_APP.appSecret, accessToken: '', accessSecret: '' };
    // oauth1Header always sends an oauth_token; request_token is signed with the app's key and secret only.
    const noToken = (url: string, form: Record<string, string>) => {
      const oauth: Record<string, string> = {
        oauth_consumer_key: X_APP.appKey, oauth_nonce: randomBytes(16).toString('hex'), oauth_signature_method: 'HMAC-SHA1',
        oauth_timestamp: String(Math.floor(Date.now() / 1000)), oauth_version: '1.0',
      };
      const signature = hmacSha1Signature(signatureBaseString('POST', url, [...Object.entries(form), ...Object.entries(oauth)]), X_APP.appSecret, '');
      return `OAuth ${Object.entries({ ...oauth, oauth_signature: signature }).map(([k, v]) => `${k}="${encodeURIComponent(v)}"`).join(', ')}`;
    };
    const unsigned = await fetch(requestUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'oauth_callback=oob' });
    expect(unsigned.status).toBe(401);
    expect(x.requests.at(-1)!.authError).toBe('no OAuth Authorization header');
    const form = { oauth_callback: 'https://example.org/cb' };
    const header = noToken(requestUrl, form);
    const webCallback = await fetch(requestUrl, { method: 'POST', headers: { authorization: header, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
    expect(webCallback.status).toBe(403);
    expect(await webCallback.json()).toMatchObject({ errors: [{ code: 415 }] });
    const accessUrl = `${x.origin}/oauth/access_token`;
    const unknown = await fetch(accessUrl, { method: 'POST', headers: { authorization: oauth1Header({ ...app, accessToken: 'nope', accessSecret: 'nope' }, 'POST', accessUrl, { form: { oauth_verifier: '1234567' } }), 'content-type': 'application/x-www-form-urlencoded' }, body: 'oauth_verifier=1234567' });
    expect(unknown.status).toBe(401);
    expect(await unknown.text()).toBe('Invalid request token.');
  });

  it('Flickr: a request token is good for one access token', async () => {
    const f = await fakeFlickr();
    const r = run('flickr', { FLICKR_OAUTH_URL: f.oauthUrl, FLICKR_API_KEY: FLICKR.apiKey, FLICKR_API_SECRET: FLICKR.apiSecret });
    const authorize = await r.line(/\/services\/oauth\/authorize\?/);
    r.type(await flickrCode(authorize));
    expect(await r.exit).toBe(0);
    const [entry] = [...f.requestTokens.values()];
    expect(entry!.used).toBe(true);
    expect((await fetch(authorize)).status).toBe(400); // the authorize page is gone too
  });
});
