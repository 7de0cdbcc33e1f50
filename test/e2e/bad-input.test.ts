import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Appeal } from '../../src/core/appeal.js';
import { keys } from '../../src/core/service.js';
import { openStore } from '../../src/store/index.js';
import { signSlackRequest } from '../fakes/slack-signing.js';
import { htmlAsJpg, pngBomb, truncatedJpeg } from '../helpers/images.js';
import { BOT_TOKEN, MAIN, requireBuild, ROOT, SIGNING_SECRET, startRoom, type Room } from './harness.js';

/** Bad input, each: a clear reply (or a 401), no state change, no crash. */
describe('e2e: bad input', () => {
  let room: Room;
  beforeAll(async () => {
    room = await startRoom();
  });
  afterAll(async () => {
    await room?.close();
  });

  const cardsPosted = () => room.slack.callsTo('chat.postMessage').length;

  async function rawPost(body: string, headers: Record<string, string>) {
    const res = await fetch(room.app.eventsUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
    return { status: res.status, text: await res.text() };
  }

  const command = (text: string) => new URLSearchParams({ command: '/appeal', text, user_id: 'UAUTHOR', channel_id: room.channel, team_id: 'T0001', response_url: `${room.slack.origin}/response/x`, trigger_id: '1.2.3' }).toString();

  it('forged signature, wrong secret, stale or future timestamp, no headers → 401, nothing happens', async () => {
    const before = cardsPosted();
    const body = command('Forged appeal');
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<Record<string, string>> = [
      { ...signSlackRequest(SIGNING_SECRET, body), 'x-slack-signature': `v0=${'0'.repeat(64)}` },
      { ...signSlackRequest('the-wrong-secret', body) },
      { ...signSlackRequest(SIGNING_SECRET, body, now - 6 * 60) },
      { ...signSlackRequest(SIGNING_SECRET, body, now + 6 * 60) },
      {},
      { ...signSlackRequest(SIGNING_SECRET, `${body}&extra=1`) }, // signed a different body
    ];
    for (const headers of cases) {
      const res = await rawPost(body, headers);
      expect(res.status).toBe(401);
    }
    // A signature within the window is accepted (the same body, correctly signed).
    const ok = await rawPost(command('help'), { ...signSlackRequest(SIGNING_SECRET, command('help'), now - 60) });
    expect(ok.status).toBe(200);
    expect(cardsPosted()).toBe(before);
    expect(room.app.logs.filter((l) => l.msg === 'refused an unauthenticated Slack request')).toHaveLength(cases.length);
  });

  it('malformed bodies and wrong methods are refused without a crash', async () => {
    const junk = '{"type": "event_callback", ';
    const res = await fetch(room.app.eventsUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...signSlackRequest(SIGNING_SECRET, junk) }, body: junk });
    expect(res.status).toBe(400);
    expect((await fetch(room.app.eventsUrl)).status).toBe(405);
    expect((await fetch(`${room.app.url}/nope`)).status).toBe(404);
    expect((await fetch(`${room.app.url}/healthz`)).status).toBe(200);
  });

  it('url_verification echoes the challenge', async () => {
    const res = await room.slack.urlVerification(room.app.eventsUrl, SIGNING_SECRET, 'challenge-abc');
    expect(res.json).toEqual({ challenge: 'challenge-abc' });
  });

  it('an empty /appeal gets the usage help; an unknown id a clear "no appeal"', async () => {
    const before = cardsPosted();
    const empty = await room.slack.slashCommand(room.app.eventsUrl, SIGNING_SECRET, { text: '', userId: 'UAUTHOR', channelId: room.channel });
    expect(empty.json).toMatchObject({ response_type: 'ephemeral' });
    expect((empty.json as { text: string }).text).toContain('/appeal [to:x,flickr] &lt;text&gt;');
    const unknown = await room.slack.slashCommand(room.app.eventsUrl, SIGNING_SECRET, { text: 'status ZZZZ', userId: 'UAUTHOR', channelId: room.channel });
    expect((unknown.json as { text: string }).text).toMatch(/^No appeal #ZZZZ in this channel\./);
    const malformed = await room.slack.slashCommand(room.app.eventsUrl, SIGNING_SECRET, { text: 'to:x,myspace Seen him?', userId: 'UAUTHOR', channelId: room.channel });
    expect((malformed.json as { text: string }).text).toContain('myspace');
    const unavailable = await room.slack.slashCommand(room.app.eventsUrl, SIGNING_SECRET, { text: 'to:x Seen him?', userId: 'UAUTHOR', channelId: room.channel });
    expect(unavailable.status).toBe(200);
    await room.slack.waitFor(() => room.slack.responses.some((r) => /X isn't configured here/.test(String((r.body as { text?: string }).text))), { description: 'not-configured reply' });
    expect(cardsPosted()).toBe(before);
  });

  it('a non-image, a truncated JPEG and a 20000×20000 PNG are refused in the thread; nothing is attached; the bot still answers', async () => {
    const { slack, app, channel } = room;
    const before = new Set(slack.messages(channel).map((m) => m.ts));
    await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: 'Appeal for information: burglary on Elm Street.', userId: 'UAUTHOR', channelId: channel });
    const card = await slack.waitFor(() => slack.messages(channel).find((m) => !before.has(m.ts) && !m.thread_ts && m.user === slack.botUserId));
    const id = /#([2-9A-HJKMNP-Z]{4,8})/.exec(card.text)![1]!;
    const files = [
      { name: 'suspect.jpg', bytes: htmlAsJpg(), mimetype: 'image/jpeg', reason: /web page \(HTML\)/ },
      { name: 'cctv.jpg', bytes: await truncatedJpeg(), mimetype: 'image/jpeg', reason: /damaged or incomplete/ },
      { name: 'huge.png', bytes: await pngBomb(), mimetype: 'image/png', reason: /too large: 20000 × 20000 pixels/ },
    ];
    for (const f of files) {
      await slack.shareFiles(app.eventsUrl, SIGNING_SECRET, { user: 'UAUTHOR', channel, threadTs: card.ts, files: [{ name: f.name, bytes: f.bytes, mimetype: f.mimetype }] });
      const refusal = await slack.waitFor(() => slack.thread(channel, card.ts).find((m) => m.user === slack.botUserId && m.text.includes(`Couldn't attach \`${f.name}\``)), { description: `refusal of ${f.name}` });
      expect(refusal.text).toMatch(f.reason);
      expect(refusal.text).toContain('Nothing was added');
    }
    // No new card was posted, nothing is attached, and the bot still answers.
    expect(slack.thread(channel, card.ts).filter((m) => m.ts !== card.ts && m.user === slack.botUserId && m.blocks?.length)).toHaveLength(0);
    const store = await openStore(app.storeUrl);
    const appeal = await store.get<Appeal>(keys.appeal(id));
    await store.close();
    expect(appeal?.media).toEqual([]);
    expect(appeal?.cards).toHaveLength(1);
    const help = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: 'help', userId: 'UAUTHOR', channelId: channel });
    expect(help.status).toBe(200);
    expect(app.child.exitCode).toBeNull();
  });

  it('files that are too big, or not hosted by Slack, are refused before any decoding', async () => {
    const { slack, app, channel } = room;
    const before = new Set(slack.messages(channel).map((m) => m.ts));
    await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: 'Appeal: stolen van.', userId: 'UAUTHOR', channelId: channel });
    const card = await slack.waitFor(() => slack.messages(channel).find((m) => !before.has(m.ts) && !m.thread_ts && m.user === slack.botUserId));
    await slack.shareFiles(app.eventsUrl, SIGNING_SECRET, { user: 'UAUTHOR', channel, threadTs: card.ts, files: [{ name: 'big.jpg', bytes: Buffer.alloc(10), size: 26 * 1024 * 1024 }] });
    await slack.waitFor(() => slack.thread(channel, card.ts).some((m) => /`big.jpg`.*larger than 25 MB/.test(m.text)), { description: 'too big' });
    await slack.shareFiles(app.eventsUrl, SIGNING_SECRET, { user: 'UAUTHOR', channel, threadTs: card.ts, files: [{ name: 'elsewhere.jpg', bytes: Buffer.alloc(10), redirectTo: 'http://127.0.0.1:9/steal' }] });
    await slack.waitFor(() => slack.thread(channel, card.ts).some((m) => /`elsewhere.jpg`.*isn't hosted by Slack/.test(m.text)), { description: 'redirect refused' });
  });
});

describe('e2e: start-up', () => {
  it('npm start with no Slack settings exits non-zero, one line per variable, no secret printed', async () => {
    requireBuild();
    const cwd = mkdtempSync(join(tmpdir(), 'loudhailer-nocfg-'));
    // Exactly what a newcomer runs: `npm start` in the project, with no settings at all.
    const child = spawn('npm', ['start', '--silent', '--prefix', ROOT], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, X_APP_KEY: 'SUPERSECRETKEY' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).not.toBe(0);
    expect(err).toMatch(/^ {2}SLACK_BOT_TOKEN: required/m);
    expect(err).toMatch(/^ {2}SLACK_SIGNING_SECRET: required/m);
    expect(err).toMatch(/^ {2}APPROVERS: required/m);
    expect(err).toMatch(/^ {2}X_APP_SECRET: required when X_APP_KEY is set/m);
    expect(err).not.toContain('SUPERSECRETKEY');
  });

  it('a token Slack refuses stops start-up with the variable named', async () => {
    const { startFakeSlack } = await import('../fakes/slack.js');
    const slack = await startFakeSlack({ botToken: BOT_TOKEN });
    const cwd = mkdtempSync(join(tmpdir(), 'loudhailer-badtoken-'));
    const child = spawn(process.execPath, [MAIN], {
      cwd,
      env: { PATH: process.env.PATH ?? '', PORT: '0', SLACK_BOT_TOKEN: 'xoxb-wrong-SECRETVALUE', SLACK_SIGNING_SECRET: 's', SLACK_API_URL: slack.apiUrl, APPROVERS: 'U1', STORE_URL: `sqlite://${join(cwd, 's.sqlite')}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    await slack.close();
    expect(code).toBe(1);
    expect(out).toContain('SLACK_BOT_TOKEN: Slack\'s auth.test failed');
    expect(out).not.toContain('SECRETVALUE');
  });
});
