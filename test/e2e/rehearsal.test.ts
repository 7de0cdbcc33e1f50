import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeSlack, type FakeSlack, type StoredMessage } from '../fakes/slack.js';
import { jpegWithGps } from '../helpers/images.js';
import { makeVideo } from '../helpers/video.js';
import { BOT_TOKEN, SIGNING_SECRET, startApp, type RunningApp } from './harness.js';

/**
 * Rehearsal mode end to end, against the real app (dist/main.js): REHEARSAL=1 with every
 * real network's credentials set, pointing at a local tripwire that counts connections.
 * An appeal goes out "everywhere" to the simulated networks (Flickr failing once, as
 * REHEARSAL_FAILURES asks, then retried), everything the bot says is marked REHEARSAL, the
 * reach message shows views growing, start-up says the credentials are ignored, and nothing
 * ever reaches the real networks' addresses.
 */
const CHANNEL = 'CEXERCISE1';
const MARK = ':construction: REHEARSAL · ';

/** A TCP listener that only counts who connects: no real-network call may ever arrive. */
async function startTripwire(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => count,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('e2e: rehearsal mode', () => {
  let slack: FakeSlack;
  let tripwire: Awaited<ReturnType<typeof startTripwire>>;
  let app: RunningApp | undefined;

  beforeAll(async () => {
    slack = await startFakeSlack({ botToken: BOT_TOKEN });
    slack.addChannel(CHANNEL, 'exercise-lighthouse');
    tripwire = await startTripwire();
  });
  afterAll(async () => {
    await app?.stop();
    await slack?.close();
    await tripwire?.close();
  });

  const botThread = (rootTs: string) => slack.thread(CHANNEL, rootTs).filter((m) => m.user === slack.botUserId);
  const live = (rootTs: string, label: string) => botThread(rootTs).filter((m) => m.text.includes(`is live on ${label}`));
  const versions = (m: StoredMessage) => (m.edits.length > 0 ? [m.edits[0]!.previousText, ...m.edits.map((e) => e.text)] : [m.text]);
  /** The text of a slash command's answer (the response body). */
  const answer = (body: string) => (JSON.parse(body) as { text: string }).text;
  const total = (text: string) => Number(/Total: ([\d,]+) views/.exec(text)?.[1]?.replace(/,/g, '') ?? NaN);

  it('with real credentials set: simulated networks only (start-up says so), an appeal published everywhere, every message marked, views growing, nothing reaching a real network', async () => {
    const real = tripwire.url;
    app = await startApp({
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      APPROVERS: 'UAPP1,UAPP2,UAPP3',
      REHEARSAL: '1',
      REHEARSAL_FAILURES: 'flickr',
      REACH_REFRESH_SECONDS: '10',
      X_APP_KEY: 'real-x-key', X_APP_SECRET: 'real-x-secret', X_ACCESS_TOKEN: '1-real-x-token', X_ACCESS_SECRET: 'real-x-access-secret', X_API_URL: `${real}/2/`,
      YOUTUBE_CLIENT_ID: 'real.apps.googleusercontent.com', YOUTUBE_CLIENT_SECRET: 'real-yt-secret', YOUTUBE_REFRESH_TOKEN: '1//real-yt-refresh',
      GOOGLE_API_URL: `${real}/`, GOOGLE_TOKEN_URL: `${real}/token`,
      FLICKR_API_KEY: 'real-flickr-key', FLICKR_API_SECRET: 'real-flickr-secret', FLICKR_OAUTH_TOKEN: '72157-real', FLICKR_OAUTH_SECRET: 'real-flickr-oauth',
      FLICKR_API_URL: `${real}/services/rest`, FLICKR_UPLOAD_URL: `${real}/services/upload`,
      FACEBOOK_PAGE_ID: '102030405060708', FACEBOOK_PAGE_TOKEN: 'EAAreal', FACEBOOK_GRAPH_URL: `${real}/v25.0`,
    });

    // Start-up: one clear warning that the real credentials are ignored.
    const warning = app.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('REHEARSAL=1'));
    expect(warning.map((l) => [l.level, l.msg])).toEqual([[40, 'REHEARSAL=1: using simulated networks; the real X/YouTube/Flickr/Facebook credentials are ignored']]);
    expect(app.logs.some((l) => l.msg === 'rehearsal: the public-side view' && l.url === `http://localhost:${app!.port}/rehearsal`)).toBe(true);

    // Draft, an image and a video in the thread, two approvals.
    await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: 'Exercise appeal: have you seen this man near the lighthouse at 22:10?', userId: 'UAUTHOR', channelId: CHANNEL });
    const root = await slack.waitFor(() => slack.messages(CHANNEL).find((m) => !m.thread_ts && m.user === slack.botUserId), { description: 'the card' });
    const id = /Appeal #([2-9A-HJKMNP-Z]{4,8})/.exec(root.text)![1]!;
    await slack.shareFiles(app.eventsUrl, SIGNING_SECRET, {
      user: 'UAUTHOR', channel: CHANNEL, threadTs: root.ts,
      files: [
        { name: 'still.jpg', bytes: await jpegWithGps(), mimetype: 'image/jpeg' },
        { name: 'cctv.mp4', bytes: await makeVideo({ container: 'mp4' }), mimetype: 'video/mp4' },
      ],
    });
    const card = await slack.waitFor(() => botThread(root.ts).find((m) => m.ts !== root.ts && JSON.stringify(m.blocks ?? []).includes('cctv.mp4')), { description: 'the card with the media', timeoutMs: 30_000 });
    await slack.waitFor(() => slack.message(CHANNEL, card.ts)!.reactions.length === 2, { description: 'reactions seeded' });
    for (const user of ['UAPP1', 'UAPP2']) await slack.react(app.eventsUrl, SIGNING_SECRET, { user, channel: CHANNEL, ts: card.ts, reaction: 'white_check_mark' });

    // X, YouTube and Facebook go out; Flickr fails once (REHEARSAL_FAILURES), the room retries it.
    for (const label of ['X', 'YouTube', 'Facebook']) await slack.waitFor(() => live(root.ts, label)[0], { description: `live on ${label}`, timeoutMs: 30_000 });
    const failed = await slack.waitFor(() => botThread(root.ts).find((m) => /couldn't be published on Flickr/.test(m.text)), { description: 'Flickr failed', timeoutMs: 30_000 });
    expect(failed.text).toContain('REHEARSAL_FAILURES');
    expect(failed.text).toContain(`/appeal retry ${id} flickr`);
    const retry = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `retry ${id} flickr`, userId: 'UAUTHOR', channelId: CHANNEL });
    expect(answer(retry.text)).toMatch(new RegExp(`^${MARK}Retrying #${id} on Flickr`));
    await slack.waitFor(() => live(root.ts, 'Flickr')[0], { description: 'live on Flickr after the retry', timeoutMs: 30_000 });
    // The links lead to the public-side view.
    for (const label of ['X', 'YouTube', 'Flickr', 'Facebook']) expect(live(root.ts, label)[0]!.text).toContain(`http://localhost:${app.port}/rehearsal#`);

    // Reach: the one reach message shows views growing.
    const reach = await slack.waitFor(() => {
      const m = botThread(root.ts).find((x) => /Reach of/.test(x.text));
      const shown = m ? versions(slack.message(CHANNEL, m.ts)!).map(total).filter((n) => n > 0) : [];
      return shown.length >= 2 && shown.at(-1)! > shown[0]! ? slack.message(CHANNEL, m!.ts) : undefined;
    }, { description: 'the reach message with views growing', timeoutMs: 60_000 });
    const totals = versions(reach).map(total).filter((n) => !Number.isNaN(n));
    for (let i = 1; i < totals.length; i++) expect(totals[i]!).toBeGreaterThanOrEqual(totals[i - 1]!);
    expect(reach.text).toMatch(/X: [\d,]+ views/);
    expect(reach.text).toMatch(/Flickr: [\d,]+ views/);

    // A report, in the channel: its comment is marked too.
    const before = slack.uploads.length;
    const report = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: 'report', userId: 'UAPP1', channelId: CHANNEL });
    expect(answer(report.text).startsWith(MARK)).toBe(true);
    const upload = await slack.waitFor(() => slack.uploads.slice(before).find((u) => u.completed), { description: 'the report', timeoutMs: 30_000 });
    expect(upload.initial_comment?.startsWith(MARK)).toBe(true);
    expect(upload.initial_comment).toContain(`#${id}`);

    // Every card, thread message and report the bot posted starts with the mark; card headers say REHEARSAL.
    const said = slack.messages(CHANNEL).filter((m) => m.user === slack.botUserId);
    expect(said.length).toBeGreaterThan(8);
    for (const m of said) {
      for (const text of versions(m)) expect(text.startsWith(MARK), `not marked: ${text.slice(0, 80)}`).toBe(true);
    }
    const cards = said.filter((m) => (m.blocks?.length ?? 0) > 0 && !m.upload);
    expect(cards.length).toBeGreaterThanOrEqual(2);
    for (const c of cards) {
      const header = (c.blocks![0] as { type: string; text: { text: string } });
      expect(header.type).toBe('header');
      expect(header.text.text).toMatch(/^REHEARSAL · (Appeal|Update \d+ to appeal) #/);
      expect(JSON.stringify(c.blocks)).toContain('nothing is published; the public side is at');
    }
    expect((slack.message(CHANNEL, card.ts)!.blocks![0] as { text: { text: string } }).text.text).toBe(`REHEARSAL · Appeal #${id}: PUBLISHED`);
    for (const e of slack.ephemerals) expect(e.text.startsWith(MARK)).toBe(true);

    // Nothing reached the real networks' addresses, and no real adapter logged a call.
    expect(tripwire.connections()).toBe(0);
    expect(app.logs.filter((l) => typeof l.msg === 'string' && /^(GET|POST|PUT|DELETE) http/.test(l.msg) && String(l.msg).includes(real))).toEqual([]);
  }, 150_000);

  it('a rehearsal never shares a store with real appeals: each refuses the other\'s store at start-up, naming what to do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loudhailer-modes-'));
    const base = { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: slack.apiUrl, APPROVERS: 'UAPP1,UAPP2' };
    const liveStore = `sqlite://${join(dir, 'live.sqlite')}`;
    await (await startApp(base, { storeUrl: liveStore })).stop();
    await expect(startApp({ ...base, REHEARSAL: '1' }, { storeUrl: liveStore })).rejects.toThrow(/REHEARSAL=1: the store at STORE_URL holds real appeals; a rehearsal needs a store of its own/);

    const rehearsalStore = `sqlite://${join(dir, 'rehearsal.sqlite')}`;
    await (await startApp({ ...base, REHEARSAL: '1' }, { storeUrl: rehearsalStore })).stop();
    await expect(startApp(base, { storeUrl: rehearsalStore })).rejects.toThrow(/STORE_URL: this store holds a rehearsal/);
    // Still fine for another rehearsal.
    await (await startApp({ ...base, REHEARSAL: '1' }, { storeUrl: rehearsalStore })).stop();

    // A store from before the mark, with an audit trail, holds real appeals.
    const older = `sqlite://${join(dir, 'older.sqlite')}`;
    const store = await openStore(older);
    await store.set('audit:head', { seq: 3, hash: 'f'.repeat(64) });
    await store.close();
    await expect(startApp({ ...base, REHEARSAL: '1' }, { storeUrl: older })).rejects.toThrow(/holds real appeals/);
  }, 60_000);
});
