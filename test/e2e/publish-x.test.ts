import { createHash } from 'node:crypto';
import ExifReader from 'exifreader';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Appeal } from '../../src/core/appeal.js';
import { keys } from '../../src/core/service.js';
import { openStore } from '../../src/store/index.js';
import { startFakeX, type FakeX } from '../fakes/x.js';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.js';
import { jpegWithGps } from '../helpers/images.js';
import { blocksText, BOT_TOKEN, SIGNING_SECRET, startApp, X_CREDENTIALS, xEnv, type RunningApp } from './harness.js';

/**
 * The whole loop for Slack and X against the real app (dist/main.js): /appeal → an image in
 * the thread → two approvals → one post on X with the image → its link in the thread → a
 * reach message that follows the view count. Then the ways it could post twice or not at
 * all: simultaneous approvals, redelivered events, a rate limit, and SIGKILL before and
 * after X accepted the post.
 */
const CHANNEL = 'CINCIDENT1';
const NO_RETRY_WAIT = 60_000;

describe('e2e: publishing to X, exactly once, with live reach', () => {
  let slack: FakeSlack;
  let x: FakeX;
  const apps: RunningApp[] = [];

  beforeAll(async () => {
    slack = await startFakeSlack({ botToken: BOT_TOKEN });
    slack.addChannel(CHANNEL, 'op-lighthouse');
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.stop();
    await x?.close();
  });
  afterAll(async () => {
    await slack?.close();
  });

  async function start(storeUrl?: string): Promise<RunningApp> {
    const app = await startApp(
      {
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_API_URL: slack.apiUrl,
        APPROVERS: 'UAPP1,UAPP2,UAPP3',
        REACH_REFRESH_SECONDS: '10',
        ...xEnv(x.url),
      },
      storeUrl ? { storeUrl } : {},
    );
    apps.push(app);
    return app;
  }

  async function freshX(): Promise<FakeX> {
    x = await startFakeX(X_CREDENTIALS);
    return x;
  }

  async function draft(app: RunningApp, text: string) {
    const before = new Set(slack.messages(CHANNEL).map((m) => m.ts));
    await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text, userId: 'UAUTHOR', channelId: CHANNEL });
    const card = await slack.waitFor(() => slack.messages(CHANNEL).find((m) => !before.has(m.ts) && !m.thread_ts && m.user === slack.botUserId), { description: 'the card' });
    await slack.waitFor(() => slack.message(CHANNEL, card.ts)!.reactions.length === 2, { description: 'seeded reactions' });
    const id = /Appeal #([2-9A-HJKMNP-Z]{4,8})/.exec(card.text)![1]!;
    return { id, ts: card.ts };
  }

  async function addImage(app: RunningApp, rootTs: string, bytes: Buffer): Promise<string> {
    await slack.shareFiles(app.eventsUrl, SIGNING_SECRET, { user: 'UAUTHOR', channel: CHANNEL, threadTs: rootTs, files: [{ name: 'cctv-still.jpg', bytes, mimetype: 'image/jpeg' }] });
    const card = await slack.waitFor(() => slack.thread(CHANNEL, rootTs).find((m) => m.ts !== rootTs && m.user === slack.botUserId && (m.blocks?.length ?? 0) > 0), { description: 'card 2' });
    await slack.waitFor(() => slack.message(CHANNEL, card.ts)!.reactions.length === 2, { description: 'card 2 reactions' });
    return card.ts;
  }

  const botThread = (rootTs: string) => slack.thread(CHANNEL, rootTs).filter((m) => m.user === slack.botUserId);
  const liveMessages = (rootTs: string) => botThread(rootTs).filter((m) => /is live on X/.test(m.text));

  async function readAppeal(storeUrl: string, id: string): Promise<Appeal> {
    const store = await openStore(storeUrl);
    try {
      return (await store.get<Appeal>(keys.appeal(id)))!;
    } finally {
      await store.close();
    }
  }

  it('publishes the approved appeal once with its image (no EXIF), links it, and follows the view count', async () => {
    await freshX();
    const app = await start();
    const { id, ts: rootTs } = await draft(app, 'Police are appealing for help to find this man, seen near the station at 2am. Call 101.');
    const cardTs = await addImage(app, rootTs, await jpegWithGps());

    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel: CHANNEL, ts: cardTs, reaction: 'white_check_mark' });
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel: CHANNEL, ts: cardTs, reaction: 'white_check_mark' });
    const live = await slack.waitFor(() => liveMessages(rootTs)[0], { description: 'the link in the thread', timeoutMs: 20_000 });

    expect(x.posts).toHaveLength(1);
    const post = x.posts[0]!;
    expect(post.text).toContain('Police are appealing for help');
    expect(post.text).toContain(`Ref ${id}`);
    expect(post.text).not.toContain(`#${id}`);
    expect(live.text).toContain(post.id);
    expect(post.mediaIds).toHaveLength(1);

    // The image X received is exactly the approved one, and carries no metadata.
    const uploaded = x.media.find((m) => m.id === post.mediaIds[0])!;
    const appeal = await readAppeal(app.storeUrl, id);
    expect(createHash('sha256').update(uploaded.bytes).digest('hex')).toBe(appeal.media[0]!.sha256);
    const tags = ExifReader.load(uploaded.bytes);
    expect(tags.GPSLatitude).toBeUndefined();
    expect(tags.Orientation).toBeUndefined();
    expect(tags.Make).toBeUndefined();
    expect(appeal.state).toBe('published');
    // The approved card now links the post.
    await slack.waitFor(() => blocksText(slack.message(CHANNEL, cardTs)!.blocks).includes(`/status/${post.id}`), { description: 'the link on the card' });

    // The reach message appears, then follows the count, edited in place.
    const reach = await slack.waitFor(() => botThread(rootTs).find((m) => /Reach of/.test(m.text)), { description: 'the reach message', timeoutMs: 20_000 });
    x.setImpressions(post.id, 4321);
    await slack.waitFor(() => /X: 4,321 views/.test(slack.message(CHANNEL, reach.ts)!.text), { description: 'the new count', timeoutMs: 30_000 });
    expect(botThread(rootTs).filter((m) => /Reach of/.test(m.text))).toHaveLength(1);
    expect(slack.callsTo('chat.update').some((c) => c.params.ts === reach.ts)).toBe(true);

    // `status` lists the link; no X secret ever reached a log line.
    const status = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `status ${id}`, userId: 'UAPP3', channelId: CHANNEL });
    expect(status.text).toContain(post.id);
    const logs = JSON.stringify(app.logs) + app.stderr.join('');
    for (const secret of [X_CREDENTIALS.appSecret, X_CREDENTIALS.accessToken, X_CREDENTIALS.accessSecret]) expect(logs).not.toContain(secret);
  });

  it('a failure is posted in plain words, and /appeal retry publishes it once', async () => {
    await freshX();
    x.failNext('createPost', { status: 403, body: { title: 'Forbidden', type: 'about:blank', status: 403, detail: 'You are not allowed to create a Tweet with duplicate content.' } });
    const app = await start();
    const { id, ts: rootTs } = await draft(app, 'Appeal: do you know this man? He may have information about a robbery on Briggate.');
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel: CHANNEL, ts: rootTs, reaction: 'white_check_mark' });
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel: CHANNEL, ts: rootTs, reaction: 'white_check_mark' });
    const failed = await slack.waitFor(() => botThread(rootTs).find((m) => /couldn't be published on X/.test(m.text)), { description: 'the failure', timeoutMs: 20_000 });
    expect(failed.text).toMatch(/duplicate/i);
    expect(failed.text).toContain(`/appeal retry ${id} x`);
    expect(x.posts).toHaveLength(0);

    const outsider = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `retry ${id}`, userId: 'UOUTSIDER', channelId: CHANNEL });
    expect(outsider.text).toContain('Only the author');
    const retry = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `retry ${id} x`, userId: 'UAUTHOR', channelId: CHANNEL });
    expect(retry.text).toContain('Retrying');
    await slack.waitFor(() => liveMessages(rootTs)[0], { description: 'published on retry', timeoutMs: 20_000 });
    const again = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `retry ${id} x`, userId: 'UAUTHOR', channelId: CHANNEL });
    expect(again.text).toContain('already live on X');
    await new Promise((r) => setTimeout(r, 500));
    expect(x.posts).toHaveLength(1);
  });

  it('/appeal withdraw by one approver takes the post down from X and says so in the thread', async () => {
    await freshX();
    const app = await start();
    const { id, ts: rootTs } = await draft(app, 'Wanted: this man is sought in connection with a robbery in Headingley.');
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel: CHANNEL, ts: rootTs, reaction: 'white_check_mark' });
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel: CHANNEL, ts: rootTs, reaction: 'white_check_mark' });
    await slack.waitFor(() => liveMessages(rootTs)[0], { description: 'published', timeoutMs: 20_000 });
    const outsider = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `withdraw ${id}`, userId: 'UOUTSIDER', channelId: CHANNEL });
    expect(outsider.text).toContain('Only the author');
    expect(x.livePosts()).toHaveLength(1);
    const res = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `withdraw ${id} suspect arrested`, userId: 'UAPP3', channelId: CHANNEL });
    expect(res.text).toContain('Withdrawing');
    await slack.waitFor(() => botThread(rootTs).find((m) => /withdrawn everywhere/.test(m.text)), { description: 'withdrawn everywhere', timeoutMs: 20_000 });
    expect(x.livePosts()).toHaveLength(0);
    expect(botThread(rootTs).some((m) => /removed from X/.test(m.text))).toBe(true);
    expect((await readAppeal(app.storeUrl, id)).state).toBe('withdrawn');
  });

  it('two approvals arriving at the same time → one post', async () => {
    await freshX();
    const app = await start();
    const { ts: rootTs } = await draft(app, 'Missing: Ada, 14, last seen in Leeds city centre wearing a red coat.');
    await Promise.all(
      ['UAPP1', 'UAPP2', 'UAPP3'].map((user) => slack.react(app.eventsUrl, SIGNING_SECRET, { user, channel: CHANNEL, ts: rootTs, reaction: 'white_check_mark' })),
    );
    await slack.waitFor(() => liveMessages(rootTs)[0], { description: 'published', timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 1000));
    expect(x.posts).toHaveLength(1);
    expect(liveMessages(rootTs)).toHaveLength(1);
  });

  it('the same reaction event delivered three times → one post', async () => {
    await freshX();
    const app = await start();
    const { ts: rootTs } = await draft(app, 'Witness appeal: collision on the A64 at 23:10 last night.');
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel: CHANNEL, ts: rootTs, reaction: 'white_check_mark' });
    const second = await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel: CHANNEL, ts: rootTs, reaction: 'white_check_mark' });
    await Promise.all([slack.resendEvent(app.eventsUrl, SIGNING_SECRET, second.eventId, 1), slack.resendEvent(app.eventsUrl, SIGNING_SECRET, second.eventId, 2)]);
    await slack.waitFor(() => liveMessages(rootTs)[0], { description: 'published', timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 1000));
    expect(x.posts).toHaveLength(1);
    expect(x.createCalls).toBe(1);
  });

  it('429 on the first post → one post, after the reset', async () => {
    await freshX();
    x.rateLimitNext('createPost', { resetInSeconds: 2 });
    const app = await start();
    const { ts: rootTs } = await draft(app, 'Appeal after a burglary on Elm Street: do you recognise this van?');
    const started = Date.now();
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel: CHANNEL, ts: rootTs, reaction: 'white_check_mark' });
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel: CHANNEL, ts: rootTs, reaction: 'white_check_mark' });
    await slack.waitFor(() => liveMessages(rootTs)[0], { description: 'published after the reset', timeoutMs: 20_000 });
    expect(x.createCalls).toBe(2);
    expect(x.posts).toHaveLength(1);
    expect(x.posts[0]!.createdAt).toBeGreaterThanOrEqual(Math.floor(started / 1000) * 1000 + 1000);
    expect(botThread(rootTs).some((m) => /couldn't be published/.test(m.text))).toBe(false);
  });

  it('two replicas on one store: approvals arriving at different replicas → one post, one reach message', async () => {
    await freshX();
    const a = await start();
    const b = await start(a.storeUrl);
    const { id, ts: rootTs } = await draft(a, 'Appeal: have you seen this white van? It was seen near the school on Monday.');
    await slack.react(a.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel: CHANNEL, ts: rootTs, reaction: 'white_check_mark' });
    await slack.react(b.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel: CHANNEL, ts: rootTs, reaction: 'white_check_mark' });
    await slack.waitFor(() => liveMessages(rootTs)[0], { description: 'published', timeoutMs: 20_000 });
    const reach = await slack.waitFor(() => botThread(rootTs).find((m) => /Reach of/.test(m.text)), { description: 'the reach message', timeoutMs: 20_000 });
    x.setImpressions(x.posts[0]!.id, 99);
    await slack.waitFor(() => /X: 99 views/.test(slack.message(CHANNEL, reach.ts)!.text), { description: 'the new count', timeoutMs: 30_000 });
    expect(x.posts).toHaveLength(1);
    expect(x.posts[0]!.text).toContain(`Ref ${id}`);
    expect(liveMessages(rootTs)).toHaveLength(1);
    expect(botThread(rootTs).filter((m) => /Reach of/.test(m.text))).toHaveLength(1);
  });

  it('SIGKILL after approval, before anything reached X → one post after a restart on the same store', async () => {
    await freshX();
    const app = await start();
    const { id, ts: rootTs } = await draft(app, 'Have you seen this bicycle? Stolen from outside the library on Tuesday.');
    const cardTs = await addImage(app, rootTs, await jpegWithGps());
    const held = x.hangNext('mediaInit', { commit: false });
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel: CHANNEL, ts: cardTs, reaction: 'white_check_mark' });
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel: CHANNEL, ts: cardTs, reaction: 'white_check_mark' });
    await held;
    await app.kill();
    expect(x.posts).toHaveLength(0);
    expect((await readAppeal(app.storeUrl, id)).approval).toBeDefined();

    await start(app.storeUrl);
    await slack.waitFor(() => liveMessages(rootTs)[0], { description: 'published after the restart', timeoutMs: NO_RETRY_WAIT });
    await new Promise((r) => setTimeout(r, 1000));
    expect(x.posts).toHaveLength(1);
    expect(x.posts[0]!.text).toContain(`Ref ${id}`);
    expect(liveMessages(rootTs)).toHaveLength(1);
  }, 90_000);

  it('SIGKILL after X accepted the post, before it was recorded → still one post after a restart', async () => {
    await freshX();
    const app = await start();
    const { id, ts: rootTs } = await draft(app, 'Appeal: a woman was assaulted on the towpath near Kirkstall Road on Friday evening.');
    const held = x.hangNext('createPost', { commit: true });
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel: CHANNEL, ts: rootTs, reaction: 'white_check_mark' });
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel: CHANNEL, ts: rootTs, reaction: 'white_check_mark' });
    await held;
    await app.kill();
    expect(x.posts).toHaveLength(1); // X has it; the app never heard back
    expect(liveMessages(rootTs)).toHaveLength(0);

    await start(app.storeUrl);
    const live = await slack.waitFor(() => liveMessages(rootTs)[0], { description: 'recovered after the restart', timeoutMs: NO_RETRY_WAIT });
    await new Promise((r) => setTimeout(r, 1000));
    expect(x.posts).toHaveLength(1);
    expect(x.createCalls).toBe(1);
    expect(live.text).toContain(x.posts[0]!.id);
    expect(live.text).toContain('posted once');
    expect((await readAppeal(app.storeUrl, id)).state).toBe('published');
  }, 90_000);
});
