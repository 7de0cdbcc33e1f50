/**
 * `loudhailer doctor` against the wire-level fakes: every platform ok; each failure a person
 * actually meets (a revoked X token, a Slack scope missing, the bot outside REPORT_CHANNEL, a
 * revoked YouTube refresh token, a read-only Flickr token, a user token where a Page token
 * belongs); an API that can't be reached reported as such, never as a bad token; broken
 * settings reported line by line while the rest is still checked; no secret in any output.
 * Then the built `node dist/main.js doctor`, as a process.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUIRED_BOT_SCOPES, runDoctor } from '../../src/cli/doctor.js';
import { findErrno, transportWords } from '../../src/cli/doctor/verdict.js';
import { startFakeFacebook, type FakeFacebook } from '../fakes/facebook.js';
import { startFakeFlickr, type FakeFlickr } from '../fakes/flickr.js';
import { FAKE_SLACK_SCOPES, startFakeSlack, type FakeSlack } from '../fakes/slack.js';
import { startFakeX, type FakeX } from '../fakes/x.js';
import { FAKE_YOUTUBE_SCOPES, YOUTUBE_FORCE_SSL_SCOPE, startFakeYouTube, type FakeYouTube } from '../fakes/youtube.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/main.js');

/** Every secret carries a marker, so the output can be searched for any piece of one. */
const SECRETS = {
  SLACK_BOT_TOKEN: 'xoxb-doctor-SECRET-slack-bot-0001',
  SLACK_SIGNING_SECRET: 'doctor-SECRET-signing-0002',
  X_APP_SECRET: 'doctor-SECRET-x-app-0003',
  X_ACCESS_TOKEN: '1500000000000000001-doctorSECRETaccess0004',
  X_ACCESS_SECRET: 'doctor-SECRET-x-access-0005',
  YOUTUBE_CLIENT_SECRET: 'doctor-SECRET-google-client-0006',
  YOUTUBE_REFRESH_TOKEN: '1//doctor-SECRET-refresh-0007',
  FLICKR_API_SECRET: 'doctor-SECRET-flickr-api-0008',
  FLICKR_OAUTH_TOKEN: '72157720000000009-doctorSECRETflickr0009',
  FLICKR_OAUTH_SECRET: 'doctor-SECRET-flickr-oauth-0010',
  FACEBOOK_PAGE_TOKEN: 'EAAdoctorSECRETpage0011',
};
const USER_TOKEN = 'EAAdoctorSECRETuser0012';
const WRONG = {
  X_ACCESS_TOKEN: '1500000000000000001-doctorSECRETrevoked0013',
  YOUTUBE_REFRESH_TOKEN: '1//doctor-SECRET-revoked-0014',
  FACEBOOK_PAGE_TOKEN: 'EAAdoctorSECRETwrong0015',
  SLACK_BOT_TOKEN: 'xoxb-doctor-SECRET-wrong-0016',
};
const ALL_SECRET_VALUES = [...Object.values(SECRETS), USER_TOKEN, ...Object.values(WRONG)];
const REPORT_CHANNEL = 'C0REPORT1';

let slack: FakeSlack;
let x: FakeX;
let youtube: FakeYouTube;
let flickr: FakeFlickr;
let facebook: FakeFacebook;
let storeDir: string;
/** Every line any doctor run printed, for the secrets test. */
const printed: string[] = [];

function env(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    SLACK_BOT_TOKEN: SECRETS.SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET: SECRETS.SLACK_SIGNING_SECRET, SLACK_API_URL: slack.apiUrl,
    APPROVERS: 'U0AAA,U0BBB', REPORT_CHANNEL,
    X_APP_KEY: 'doctor-x-app-key', X_APP_SECRET: SECRETS.X_APP_SECRET, X_ACCESS_TOKEN: SECRETS.X_ACCESS_TOKEN, X_ACCESS_SECRET: SECRETS.X_ACCESS_SECRET, X_API_URL: x.url,
    YOUTUBE_CLIENT_ID: 'doctor-client.apps.googleusercontent.com', YOUTUBE_CLIENT_SECRET: SECRETS.YOUTUBE_CLIENT_SECRET, YOUTUBE_REFRESH_TOKEN: SECRETS.YOUTUBE_REFRESH_TOKEN,
    GOOGLE_API_URL: youtube.url, GOOGLE_TOKEN_URL: youtube.tokenUrl,
    FLICKR_API_KEY: 'doctor-flickr-key', FLICKR_API_SECRET: SECRETS.FLICKR_API_SECRET, FLICKR_OAUTH_TOKEN: SECRETS.FLICKR_OAUTH_TOKEN, FLICKR_OAUTH_SECRET: SECRETS.FLICKR_OAUTH_SECRET,
    FLICKR_API_URL: flickr.apiUrl, FLICKR_UPLOAD_URL: flickr.uploadUrl,
    FACEBOOK_PAGE_ID: facebook.pageId, FACEBOOK_PAGE_TOKEN: SECRETS.FACEBOOK_PAGE_TOKEN, FACEBOOK_GRAPH_URL: facebook.url,
    STORE_URL: `sqlite://${join(storeDir, 'store.sqlite')}`,
    ...overrides,
  };
}

async function doctor(e: Record<string, string | undefined>, timeoutMs = 5_000): Promise<{ code: number; lines: string[]; line: (platform: string) => string }> {
  const lines: string[] = [];
  const code = await runDoctor(e as NodeJS.ProcessEnv, { write: (l) => lines.push(l) }, { timeoutMs });
  printed.push(...lines);
  const line = (platform: string) => {
    const found = lines.filter((l) => l.startsWith(`${platform}: `));
    expect(found, `one "${platform}:" line in\n${lines.join('\n')}`).toHaveLength(1);
    return found[0]!;
  };
  return { code, lines, line };
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

beforeAll(async () => {
  storeDir = mkdtempSync(join(tmpdir(), 'loudhailer-doctor-'));
  [slack, x, youtube, flickr, facebook] = await Promise.all([
    startFakeSlack({ botToken: SECRETS.SLACK_BOT_TOKEN }),
    startFakeX({ appKey: 'doctor-x-app-key', appSecret: SECRETS.X_APP_SECRET, accessToken: SECRETS.X_ACCESS_TOKEN, accessSecret: SECRETS.X_ACCESS_SECRET }),
    startFakeYouTube({ clientId: 'doctor-client.apps.googleusercontent.com', clientSecret: SECRETS.YOUTUBE_CLIENT_SECRET, refreshToken: SECRETS.YOUTUBE_REFRESH_TOKEN }),
    startFakeFlickr({ apiKey: 'doctor-flickr-key', apiSecret: SECRETS.FLICKR_API_SECRET, oauthToken: SECRETS.FLICKR_OAUTH_TOKEN, oauthSecret: SECRETS.FLICKR_OAUTH_SECRET }),
    startFakeFacebook({ pageToken: SECRETS.FACEBOOK_PAGE_TOKEN, userToken: USER_TOKEN }),
  ]);
});

afterAll(async () => {
  await Promise.all([slack?.close(), x?.close(), youtube?.close(), flickr?.close(), facebook?.close()]);
});

describe('loudhailer doctor', () => {
  it('all ok: one line per platform with the account, exit 0', async () => {
    const { code, lines, line } = await doctor(env());
    expect(code, lines.join('\n')).toBe(0);
    expect(line('Slack')).toBe(`Slack: ok Loudhailer Test as @loudhailer (all ${REQUIRED_BOT_SCOPES.length} scopes; in REPORT_CHANNEL ${REPORT_CHANNEL})`);
    expect(line('X')).toBe('X: ok @loudhailer_test (Loudhailer Test Police)');
    expect(line('YouTube')).toMatch(/^YouTube: ok "Fake Police" \(UC[\w-]{22}\); quota, a guess: .*10,000 units a day.*upload costs 1,600 and a comment 50/);
    expect(line('Flickr')).toBe('Flickr: ok loudhailer_test_police (190000001@N02), delete permission');
    expect(line('Facebook')).toMatch(/^Facebook: ok "Loudhailer Test Police" \(Page \d+\), a page token; reads posts and insights/);
    expect(line('Discord')).toBe('Discord: not configured (not supported by this version)');
    expect(line('Store')).toMatch(/^Store: ok sqlite:\/\/.*store\.sqlite \(not created yet/);
    expect(lines.at(-1)).toBe('doctor: everything configured is ok');
    // What each check called.
    expect(slack.callsTo('auth.test').at(-1)?.ok).toBe(true);
    expect(slack.callsTo('conversations.history').at(-1)?.params).toMatchObject({ channel: REPORT_CHANNEL, limit: '1' });
    expect(x.requests.at(-1)).toMatchObject({ method: 'GET', path: '/2/users/me', status: 200 });
    expect(youtube.requestsTo('token').at(-1)?.status).toBe(200);
    expect(youtube.requestsTo('channels').at(-1)).toMatchObject({ status: 200, query: { mine: 'true', part: 'snippet' } });
    expect(flickr.requestsTo('flickr.test.login').at(-1)?.status).toBe(200);
    expect(flickr.requestsTo('flickr.auth.oauth.checkToken').at(-1)?.errorCode).toBeUndefined();
    expect(facebook.requestsTo('node').at(-1)).toMatchObject({ path: '/v25.0/me', status: 200, tokenVia: 'header' });
    expect(facebook.requestsTo('insights').at(-1)).toMatchObject({ status: 200, query: { metric: 'page_post_engagements' } });
  });

  it('unconfigured networks say which settings to set, and do not fail the run', async () => {
    const { code, line } = await doctor(env({ X_APP_KEY: undefined, X_APP_SECRET: undefined, X_ACCESS_TOKEN: undefined, X_ACCESS_SECRET: undefined, FLICKR_API_KEY: '', FLICKR_API_SECRET: '', FLICKR_OAUTH_TOKEN: '', FLICKR_OAUTH_SECRET: '' }));
    expect(code).toBe(0);
    expect(line('X')).toBe('X: not configured (set X_APP_KEY, X_APP_SECRET, X_ACCESS_TOKEN, X_ACCESS_SECRET)');
    expect(line('Flickr')).toBe('Flickr: not configured (set FLICKR_API_KEY, FLICKR_API_SECRET, FLICKR_OAUTH_TOKEN, FLICKR_OAUTH_SECRET)');
  });

  it('a revoked X token: which settings to regenerate on which portal page, exit 1', async () => {
    const { code, line, lines } = await doctor(env({ X_ACCESS_TOKEN: WRONG.X_ACCESS_TOKEN }));
    expect(code).toBe(1);
    const xl = line('X');
    expect(xl).toMatch(/^X: X refused the credentials \(HTTP 401/);
    expect(xl).toContain('"Keys and tokens"');
    expect(xl).toContain('X_ACCESS_TOKEN and X_ACCESS_SECRET');
    expect(xl).toContain('`loudhailer auth x`');
    expect(line('Slack')).toMatch(/^Slack: ok /);
    expect(lines.at(-1)).toMatch(/^doctor: 1 problem \(X\)/);
  });

  it('a Slack scope missing: names the scopes and the fix (OAuth & Permissions, reinstall)', async () => {
    const narrow = await startFakeSlack({ botToken: SECRETS.SLACK_BOT_TOKEN, scopes: FAKE_SLACK_SCOPES.filter((s) => s !== 'files:write' && s !== 'usergroups:read') });
    try {
      const { code, line } = await doctor(env({ SLACK_API_URL: narrow.apiUrl }));
      expect(code).toBe(1);
      const sl = line('Slack');
      expect(sl).toContain('lacks the scopes files:write, usergroups:read');
      expect(sl).toContain('"OAuth & Permissions"');
      expect(sl).toContain('"Reinstall to Workspace"');
    } finally {
      await narrow.close();
    }
  });

  it('the bot not in REPORT_CHANNEL: /invite in that channel', async () => {
    slack.setBotMembership(REPORT_CHANNEL, false);
    try {
      const { code, line } = await doctor(env());
      expect(code).toBe(1);
      expect(line('Slack')).toBe(`Slack: Loudhailer Test as @loudhailer, but the bot is not in REPORT_CHANNEL ${REPORT_CHANNEL}: type \`/invite @loudhailer\` in that channel`);
    } finally {
      slack.setBotMembership(REPORT_CHANNEL, true);
    }
    slack.setBotMembership('G0PRIVATE', false, { private: true });
    const { line } = await doctor(env({ REPORT_CHANNEL: 'G0PRIVATE' }));
    expect(line('Slack')).toContain('REPORT_CHANNEL G0PRIVATE was not found');
    expect(line('Slack')).toContain('`/invite @loudhailer`');
  });

  it('Socket Mode: SLACK_APP_TOKEN is checked with apps.connections.open', async () => {
    const socket = await startFakeSlack({ botToken: SECRETS.SLACK_BOT_TOKEN, appToken: 'xapp-doctor-SECRET-app-0019' });
    try {
      const good = await doctor(env({ SLACK_API_URL: socket.apiUrl, SLACK_APP_TOKEN: 'xapp-doctor-SECRET-app-0019', SLACK_SIGNING_SECRET: undefined }));
      expect(good.code).toBe(0);
      expect(good.line('Slack')).toBe(`Slack: ok Loudhailer Test as @loudhailer (all ${REQUIRED_BOT_SCOPES.length} scopes; in REPORT_CHANNEL ${REPORT_CHANNEL}; Socket Mode token ok)`);
      const bad = await doctor(env({ SLACK_API_URL: socket.apiUrl, SLACK_APP_TOKEN: 'xapp-doctor-SECRET-wrong-0020', SLACK_SIGNING_SECRET: undefined }));
      expect(bad.code).toBe(1);
      expect(bad.line('Slack')).toMatch(/but Slack refused SLACK_APP_TOKEN \(invalid_auth\): create an app-level token with the connections:write scope/);
    } finally {
      await socket.close();
    }
  });

  it('a wrong Slack token is named as such', async () => {
    const { code, line } = await doctor(env({ SLACK_BOT_TOKEN: WRONG.SLACK_BOT_TOKEN }));
    expect(code).toBe(1);
    expect(line('Slack')).toMatch(/^Slack: Slack refused SLACK_BOT_TOKEN \(invalid_auth\): copy the Bot User OAuth Token/);
  });

  it('a revoked YouTube refresh token (invalid_grant)', async () => {
    const { code, line } = await doctor(env({ YOUTUBE_REFRESH_TOKEN: WRONG.YOUTUBE_REFRESH_TOKEN }));
    expect(code).toBe(1);
    expect(line('YouTube')).toMatch(/^YouTube: YOUTUBE_REFRESH_TOKEN revoked or expired: run `loudhailer auth youtube`/);
  });

  it('a YouTube token without youtube.force-ssl: the follow-ups would fail', async () => {
    const narrow = await startFakeYouTube({
      clientId: 'doctor-client.apps.googleusercontent.com', clientSecret: SECRETS.YOUTUBE_CLIENT_SECRET, refreshToken: SECRETS.YOUTUBE_REFRESH_TOKEN,
      scopes: FAKE_YOUTUBE_SCOPES.filter((s) => s !== YOUTUBE_FORCE_SSL_SCOPE), channelTitle: 'Narrow Police',
    });
    try {
      const { code, line } = await doctor(env({ GOOGLE_API_URL: narrow.url, GOOGLE_TOKEN_URL: narrow.tokenUrl }));
      expect(code).toBe(1);
      expect(line('YouTube')).toMatch(/^YouTube: "Narrow Police" \(UC[\w-]+\), but YOUTUBE_REFRESH_TOKEN lacks the scope youtube\.force-ssl \(follow-up comments need it\): run `loudhailer auth youtube`/);
    } finally {
      await narrow.close();
    }
  });

  it('a Flickr token with read or write permission only: withdrawing needs delete', async () => {
    flickr.perms = 'read';
    try {
      const { code, line } = await doctor(env());
      expect(code).toBe(1);
      expect(line('Flickr')).toBe('Flickr: loudhailer_test_police (190000001@N02), but FLICKR_OAUTH_TOKEN has "read" permission; the bot uploads, which needs write (and delete, to withdraw): run `loudhailer auth flickr` for a new FLICKR_OAUTH_TOKEN and FLICKR_OAUTH_SECRET');
      flickr.perms = 'write';
      const w = await doctor(env());
      expect(w.code).toBe(1);
      expect(w.line('Flickr')).toMatch(/^Flickr: loudhailer_test_police \(190000001@N02\), but FLICKR_OAUTH_TOKEN has "write" permission only: publishing works, withdrawing can't delete the photos, which needs "delete": run `loudhailer auth flickr`/);
    } finally {
      flickr.perms = 'delete';
    }
  });

  it('a Facebook user token instead of the page token', async () => {
    const { code, line } = await doctor(env({ FACEBOOK_PAGE_TOKEN: USER_TOKEN }));
    expect(code).toBe(1);
    expect(line('Facebook')).toBe('Facebook: FACEBOOK_PAGE_TOKEN is a user token, not a page token: run `loudhailer auth facebook` to exchange it (it belongs to "Pat Admin")');
  });

  it('a Facebook page token without read_insights, and one Facebook refuses', async () => {
    facebook.pagePermissions = facebook.pagePermissions.filter((p) => p !== 'read_insights');
    try {
      const { code, line } = await doctor(env());
      expect(code).toBe(1);
      expect(line('Facebook')).toMatch(/^Facebook: "Loudhailer Test Police" \(Page \d+\), but .*lacks the "read_insights" permission/);
    } finally {
      facebook.pagePermissions.push('read_insights');
    }
    const bad = await doctor(env({ FACEBOOK_PAGE_TOKEN: WRONG.FACEBOOK_PAGE_TOKEN }));
    expect(bad.line('Facebook')).toMatch(/^Facebook: Facebook refused FACEBOOK_PAGE_TOKEN \(expired, revoked or mistyped\): run `loudhailer auth facebook`/);
  });

  it('an API that can\'t be reached is reported as unreachable, never as a bad token', async () => {
    const port = await closedPort();
    const { code, line } = await doctor(env({
      X_API_URL: `http://127.0.0.1:${port}/2/`,
      GOOGLE_TOKEN_URL: `http://127.0.0.1:${port}/token`,
      FLICKR_API_URL: `http://127.0.0.1:${port}/services/rest`,
      FACEBOOK_GRAPH_URL: `http://127.0.0.1:${port}/v25.0`,
      SLACK_API_URL: `http://127.0.0.1:${port}/api/`,
    }), 20_000); // a generous deadline: under a loaded machine a refusal must still read as one, not as a timeout
    expect(code).toBe(1);
    for (const [platform, setting] of [['X', 'X_API_URL'], ['YouTube', 'GOOGLE_TOKEN_URL'], ['Flickr', 'FLICKR_API_URL'], ['Facebook', 'FACEBOOK_GRAPH_URL'], ['Slack', 'SLACK_API_URL']] as const) {
      const l = line(platform);
      expect(l).toBe(`${platform}: can't reach 127.0.0.1:${port}: connection refused (check ${setting} and the network; the credentials were not checked)`);
      expect(l).not.toMatch(/refused the|revoked|token is|401/);
    }
  });

  it('an API that does not answer: timed out after the per-check timeout', async () => {
    const hung = x.hangNext('me');
    const { code, line } = await doctor(env(), 800);
    await hung;
    expect(code).toBe(1);
    expect(line('X')).toBe(`X: can't reach ${new URL(x.url).host}: timed out after 800 ms (check X_API_URL and the network; the credentials were not checked)`);
    expect(line('Slack')).toMatch(/^Slack: ok /);
  });

  it('a host that does not resolve: DNS lookup failed', async () => {
    const { line } = await doctor(env({ X_API_URL: 'http://loudhailer-doctor.invalid/2/' }));
    expect(line('X')).toMatch(/^X: can't reach loudhailer-doctor\.invalid: DNS lookup failed( \(temporarily\))? \(check X_API_URL/);
  });

  it('socket codes become plain words (DNS, TLS), found through the SDKs\' wrappers', () => {
    const wrapped = { code: 'slack_webapi_request_error', original: new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND api.x.com'), { code: 'ENOTFOUND' }) }) };
    expect(findErrno(wrapped)).toBe('ENOTFOUND');
    expect(transportWords('ENOTFOUND', 10_000)).toBe('DNS lookup failed');
    expect(transportWords('ETIMEDOUT', 10_000)).toBe('timed out after 10 s');
    expect(transportWords('CERT_HAS_EXPIRED', 10_000)).toBe('TLS certificate problem (CERT_HAS_EXPIRED)');
    expect(findErrno(Object.assign(new Error('aborted'), { name: 'TimeoutError' }))).toBe('ETIMEDOUT');
  });

  it('broken settings: one line each, exit 2, and everything else is still checked', async () => {
    const { code, lines, line } = await doctor(env({ APPROVERS: undefined, X_API_URL: 'not a url', FLICKR_OAUTH_SECRET: undefined, REPORT_CHANNEL: '#incidents' }));
    expect(code).toBe(2);
    expect(lines.some((l) => l.startsWith('Config: REPORT_CHANNEL: expected a channel id'))).toBe(true);
    expect(lines).toContain('Config: APPROVERS: required, a comma-separated list of Slack user ids (U…), Slack user-group ids (S…) or Discord role ids');
    expect(lines.some((l) => l.startsWith('Config: X_API_URL: expected an http(s) URL'))).toBe(true);
    expect(lines.some((l) => l.startsWith('Config: FLICKR_OAUTH_SECRET: required when'))).toBe(true);
    expect(line('X')).toBe('X: not checked: fix X_API_URL first (see Config above)');
    expect(line('Flickr')).toBe('Flickr: not checked: fix FLICKR_OAUTH_SECRET first (see Config above)');
    expect(line('Slack')).toBe(`Slack: ok Loudhailer Test as @loudhailer (all ${REQUIRED_BOT_SCOPES.length} scopes)`);
    expect(line('YouTube')).toMatch(/^YouTube: ok /);
    expect(line('Facebook')).toMatch(/^Facebook: ok /);
    expect(lines.at(-1)).toMatch(/^doctor: the configuration is unusable \(4 problems above\)/);
  });

  it('REHEARSAL=1: says the bot will not use these networks, and checks them all the same', async () => {
    const { lines, line } = await doctor(env({ REHEARSAL: '1' }));
    expect(line('X')).toMatch(/^X: ok /);
    expect(lines).toContain('Rehearsal: REHEARSAL=1: the bot will publish to its simulators, not to these networks (their credentials are checked all the same)');
  });

  it('Discord, when configured: not supported by this version', async () => {
    const { line } = await doctor(env({ DISCORD_TOKEN: 'doctor-SECRET-discord-0017', DISCORD_APP_ID: '123456789012' }));
    expect(line('Discord')).toBe('Discord: not supported by this version: the bot runs on Slack only (DISCORD_TOKEN and DISCORD_APP_ID are ignored)');
    expect(printed.join('\n')).not.toContain('doctor-SECRET-discord-0017');
  });

  it('the store: an existing SQLite file opens; a password in STORE_URL is never shown', async () => {
    const path = join(storeDir, 'existing.sqlite');
    const { openStore } = await import('../../src/store/index.js');
    const s = await openStore(`sqlite://${path}`);
    await s.close();
    expect((await doctor(env({ STORE_URL: `sqlite://${path}` }))).line('Store')).toBe(`Store: ok sqlite://${path}`);
    const port = await closedPort();
    const { line } = await doctor(env({ STORE_URL: `redis://:doctor-SECRET-redis-0018@127.0.0.1:${port}/0` }), 3_000);
    expect(line('Store')).toMatch(new RegExp(`^Store: can't (reach|open) .*127\\.0\\.0\\.1:${port}`));
    expect(line('Store')).not.toContain('doctor-SECRET-redis-0018');
  });

  it('never prints a secret, whatever happened', async () => {
    const port = await closedPort();
    await doctor(env({ ...WRONG }));
    await doctor(env({ FACEBOOK_PAGE_TOKEN: USER_TOKEN, X_API_URL: `http://127.0.0.1:${port}/2/` }));
    const all = printed.join('\n');
    expect(printed.length).toBeGreaterThan(50);
    for (const secret of ALL_SECRET_VALUES) {
      expect(all).not.toContain(secret);
      // Nor a recognisable piece of one.
      expect(all).not.toContain(secret.slice(-12));
    }
    expect(all).not.toMatch(/doctor-?SECRET/);
  });

  it('REQUIRED_BOT_SCOPES are exactly manifest.yml\'s bot scopes', () => {
    const manifest = readFileSync(join(ROOT, 'manifest.yml'), 'utf8');
    const block = /\n\s+bot:\n((?:\s+- [^\n]+\n)+)/.exec(manifest)?.[1] ?? '';
    const scopes = [...block.matchAll(/- ([a-z:._]+)/g)].map((m) => m[1]);
    expect(scopes.length).toBeGreaterThan(5);
    expect([...REQUIRED_BOT_SCOPES].sort()).toEqual([...scopes].sort());
  });
});

describe('node dist/main.js doctor (the built CLI)', () => {
  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" first (npm test does)`);
  });

  function runCli(e: Record<string, string | undefined>): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(process.execPath, [MAIN, 'doctor'], {
        cwd: mkdtempSync(join(tmpdir(), 'loudhailer-doctor-cli-')),
        env: { PATH: process.env.PATH ?? '', DOCTOR_TIMEOUT_SECONDS: '5', ...e } as NodeJS.ProcessEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
      child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`doctor did not exit in 20 s\n${stdout}\n${stderr}`)); }, 20_000);
      child.once('error', reject);
      child.once('exit', (code) => { clearTimeout(timer); printed.push(...stdout.split('\n'), ...stderr.split('\n')); resolvePromise({ code, stdout, stderr }); });
    });
  }

  it('prints one line per platform and exits 0 when all is well, 1 when not', async () => {
    const good = await runCli(env());
    expect(good.code, `${good.stdout}\n${good.stderr}`).toBe(0);
    const lines = good.stdout.trim().split('\n');
    for (const p of ['Slack', 'X', 'YouTube', 'Flickr', 'Facebook', 'Discord', 'Store']) {
      expect(lines.filter((l) => l.startsWith(`${p}: `)), good.stdout).toHaveLength(1);
    }
    expect(lines).toContain('X: ok @loudhailer_test (Loudhailer Test Police)');
    expect(lines.at(-1)).toBe('doctor: everything configured is ok');

    const bad = await runCli(env({ FACEBOOK_PAGE_TOKEN: USER_TOKEN }));
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('Facebook: FACEBOOK_PAGE_TOKEN is a user token, not a page token: run `loudhailer auth facebook` to exchange it');
    for (const secret of ALL_SECRET_VALUES) expect(`${good.stdout}${good.stderr}${bad.stdout}${bad.stderr}`).not.toContain(secret);
  });
});
