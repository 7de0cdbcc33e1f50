/**
 * End-to-end harness: starts the real app — the same entry `npm start` runs
 * (`node dist/main.js`) — as a child process against a fake Slack, with its own SQLite
 * store in a temp directory, and parses its JSON logs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.js';

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
