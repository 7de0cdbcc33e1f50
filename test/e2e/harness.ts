/**
 * End-to-end harness: starts the real app — the same entry `npm start` runs
 * (`node dist/main.js`) — as a child process against a fake Slack, with its own SQLite
 * store in a temp directory, and parses its JSON logs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startFakeFacebook, type FakeFacebook } from '../fakes/facebook.js';
import { startFakeFlickr, type FakeFlickr } from '../fakes/flickr.js';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.js';
import { startFakeX, type FakeX } from '../fakes/x.js';
import { startFakeYouTube, type FakeYouTube } from '../fakes/youtube.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const MAIN = join(ROOT, 'dist/main.js');
export const BOT_TOKEN = 'xoxb-test-0000-bot-token';
export const SIGNING_SECRET = 'e2e-signing-secret-0123456789abcdef';

/** Every app this process started: killed when it exits, so a failed test never leaks one. */
const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
});

export interface RunningApp {
  url: string;
  eventsUrl: string;
  port: number;
  storeUrl: string;
  child: ChildProcess;
  logs: Array<Record<string, unknown>>;
  stderr: string[];
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

export function requireBuild(): void {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" first (npm test does)`);
}

export async function startApp(env: Record<string, string>, opts: { storeUrl?: string; cwd?: string } = {}): Promise<RunningApp> {
  requireBuild();
  const dir = mkdtempSync(join(tmpdir(), 'loudhailer-e2e-'));
  const storeUrl = opts.storeUrl ?? `sqlite://${join(dir, 'store.sqlite')}`;
  const child = spawn(process.execPath, [MAIN], {
    cwd: opts.cwd ?? dir,
    env: { PATH: process.env.PATH ?? '', PORT: '0', STORE_URL: storeUrl, LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  child.once('exit', () => started.delete(child));
  const logs: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ raw: line });
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`app did not start in 20 s\n${stderr.join('')}\n${JSON.stringify(logs.slice(-5))}`)), 20_000);
    const poll = setInterval(() => {
      const line = logs.find((l) => l.msg === 'listening');
      if (line) {
        clearInterval(poll);
        clearTimeout(timer);
        resolvePort(line.port as number);
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`app exited with ${code} before listening\n${stderr.join('')}\n${JSON.stringify(logs.slice(-5))}`));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    eventsUrl: `${url}/slack/events`,
    port,
    storeUrl,
    child,
    logs,
    stderr,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface Room {
  slack: FakeSlack;
  app: RunningApp;
  channel: string;
  close(): Promise<void>;
}

/** A fake Slack plus the app configured against it. */
export async function startRoom(env: Record<string, string> = {}, existing?: FakeSlack): Promise<Room> {
  const slack = existing ?? (await startFakeSlack({ botToken: BOT_TOKEN }));
  const channel = 'CINCIDENT1';
  slack.addChannel(channel, 'op-lighthouse');
  const app = await startApp({
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    APPROVERS: 'UAPP1,UAPP2,UAPP3,SAPPROVERS',
    ...env,
  });
  return {
    slack,
    app,
    channel,
    close: async () => {
      await app.stop();
      if (!existing) await slack.close();
    },
  };
}

/** The X account the fake X knows and the app is configured with. */
export const X_CREDENTIALS = {
  appKey: 'e2e-x-consumer-key',
  appSecret: 'e2e-x-consumer-secret-0123456789',
  accessToken: '1234567890-e2e-x-access-token',
  accessSecret: 'e2e-x-access-secret-0123456789',
};

export function xEnv(apiUrl: string): Record<string, string> {
  return {
    X_APP_KEY: X_CREDENTIALS.appKey,
    X_APP_SECRET: X_CREDENTIALS.appSecret,
    X_ACCESS_TOKEN: X_CREDENTIALS.accessToken,
    X_ACCESS_SECRET: X_CREDENTIALS.accessSecret,
    X_API_URL: apiUrl,
  };
}

/** The bot's top-level messages and thread replies in a channel, newest last. */
export function botMessages(slack: FakeSlack, channel: string) {
  return slack.messages(channel).filter((m) => m.user === slack.botUserId);
}

export function blocksText(blocks: unknown): string {
  return JSON.stringify(blocks ?? []);
}

/** The YouTube, Flickr and Facebook accounts the fakes know (X: X_CREDENTIALS). */
export const YT_CREDENTIALS = { clientId: 'e2e-yt-client.apps.googleusercontent.com', clientSecret: 'e2e-yt-client-secret-000', refreshToken: '1//e2e-yt-refresh-token-000' };
export const FLICKR_CREDENTIALS = { apiKey: 'e2e-flickr-key-0000', apiSecret: 'e2e-flickr-secret-0000', oauthToken: '72157-e2e-flickr-token', oauthSecret: 'e2e-flickr-token-secret' };
export const FB_CREDENTIALS = { pageId: '102030405060708', pageToken: 'EAAe2eFacebookPageToken000' };

/** Fakes of all four networks, and the settings that point the app at them. */
export async function startNetworkFakes(): Promise<{ x: FakeX; yt: FakeYouTube; flickr: FakeFlickr; fb: FakeFacebook; env: Record<string, string> }> {
  const x = await startFakeX(X_CREDENTIALS);
  const yt = await startFakeYouTube(YT_CREDENTIALS);
  const flickr = await startFakeFlickr(FLICKR_CREDENTIALS);
  const fb = await startFakeFacebook(FB_CREDENTIALS);
  const YT = YT_CREDENTIALS;
  const FLICKR = FLICKR_CREDENTIALS;
  const FB = FB_CREDENTIALS;
  return {
    x, yt, flickr, fb,
    env: {
      ...xEnv(x.url),
      YOUTUBE_CLIENT_ID: YT.clientId, YOUTUBE_CLIENT_SECRET: YT.clientSecret, YOUTUBE_REFRESH_TOKEN: YT.refreshToken,
      GOOGLE_API_URL: `${yt.url}/`, GOOGLE_TOKEN_URL: yt.tokenUrl,
      FLICKR_API_KEY: FLICKR.apiKey, FLICKR_API_SECRET: FLICKR.apiSecret, FLICKR_OAUTH_TOKEN: FLICKR.oauthToken, FLICKR_OAUTH_SECRET: FLICKR.oauthSecret,
      FLICKR_API_URL: flickr.apiUrl, FLICKR_UPLOAD_URL: flickr.uploadUrl,
      FACEBOOK_PAGE_ID: FB.pageId, FACEBOOK_PAGE_TOKEN: FB.pageToken, FACEBOOK_GRAPH_URL: fb.url,
    },
  };
}
