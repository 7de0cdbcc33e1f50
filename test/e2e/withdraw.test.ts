import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Appeal } from '../../src/core/appeal.js';
import { keys } from '../../src/core/service.js';
import { openStore } from '../../src/store/index.js';
import type { FakeFacebook } from '../fakes/facebook.js';
import type { FakeFlickr } from '../fakes/flickr.js';
import { startFakeSlack, type FakeSlack, type StoredMessage } from '../fakes/slack.js';
import type { FakeX } from '../fakes/x.js';
import type { FakeYouTube } from '../fakes/youtube.js';
import { jpegWithGps, plainPng } from '../helpers/images.js';
import { tinyMp4 } from '../helpers/video.js';
import { BOT_TOKEN, SIGNING_SECRET, startApp, startNetworkFakes, type RunningApp } from './harness.js';

/**
 * `/appeal withdraw` against the real app (dist/main.js) and the fakes of Slack and all four
 * networks: an appeal with two images and a video, live on X, YouTube, Flickr (an album) and
 * Facebook, taken down everywhere. Then a withdrawal that lands while X is still creating the
 * post, and an outsider who may not withdraw.
 */
const CHANNEL = 'CINCIDENT5';
/** The fastest reach refresh the app accepts (REACH_REFRESH_SECONDS, 10–86400). */
const REACH_REFRESH_SECONDS = 10;
/** The publisher's and the withdrawer's sweep interval in the app (src/core/publisher.ts, withdraw.ts). */
const SWEEP_MS = 5_000;
const LABELS = ['X', 'YouTube', 'Flickr', 'Facebook'] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('e2e: withdrawing an appeal from every network', () => {
  let slack: FakeSlack;
  let x: FakeX;
  let yt: FakeYouTube;
  let flickr: FakeFlickr;
  let fb: FakeFacebook;
  const apps: RunningApp[] = [];

  beforeAll(async () => {
    slack = await startFakeSlack({ botToken: BOT_TOKEN });
    slack.addChannel(CHANNEL, 'op-quayside');
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.stop();
    await Promise.all([x?.close(), yt?.close(), flickr?.close(), fb?.close()]);
  });
  afterAll(async () => {
    await slack?.close();
  });

  async function start(): Promise<RunningApp> {
    const fakes = await startNetworkFakes();
    ({ x, yt, flickr, fb } = fakes);
    const app = await startApp({
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      APPROVERS: 'UAPP1,UAPP2,UAPP3',
      REACH_REFRESH_SECONDS: String(REACH_REFRESH_SECONDS),
      ...fakes.env,
    });
    apps.push(app);
    return app;
  }

  const botThread = (rootTs: string) => slack.thread(CHANNEL, rootTs).filter((m) => m.user === slack.botUserId);
  const said = (rootTs: string, re: RegExp) => botThread(rootTs).filter((m) => re.test(m.text));
  const live = (rootTs: string, label: string) => said(rootTs, new RegExp(`is live on ${label}\\b`));
  const removed = (rootTs: string, label: string) => said(rootTs, new RegExp(`removed from ${label}\\.`));
  const everywhere = (rootTs: string) => said(rootTs, /withdrawn everywhere/);
  const after = (a: StoredMessage, b: StoredMessage) => Number(a.ts) > Number(b.ts);

  /** Drafts, adds two images and a video, and returns the id, thread and newest card. */
  async function draftWithMedia(app: RunningApp, text: string) {
    const before = new Set(slack.messages(CHANNEL).map((m) => m.ts));
    await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text, userId: 'UAUTHOR', channelId: CHANNEL });
    const root = await slack.waitFor(() => slack.messages(CHANNEL).find((m) => !before.has(m.ts) && !m.thread_ts && m.user === slack.botUserId), { description: 'the card' });
    const id = /Appeal #([2-9A-HJKMNP-Z]{4,8})/.exec(root.text)![1]!;
    // Seeded last, after the thread is known to the app: files shared sooner would be ignored.
    await slack.waitFor(() => slack.message(CHANNEL, root.ts)!.reactions.length === 2, { description: 'the card\'s reactions seeded' });
    await slack.shareFiles(app.eventsUrl, SIGNING_SECRET, {
      user: 'UAUTHOR', channel: CHANNEL, threadTs: root.ts,
      files: [
        { name: 'suspect-1.jpg', bytes: await jpegWithGps(), mimetype: 'image/jpeg' },
        { name: 'suspect-2.png', bytes: await plainPng(64, 48), mimetype: 'image/png' },
        { name: 'cctv.mp4', bytes: await tinyMp4(), mimetype: 'video/mp4' },
      ],
    });
    const card = await slack.waitFor(() => botThread(root.ts).find((m) => m.ts !== root.ts && (m.blocks?.length ?? 0) > 0 && JSON.stringify(m.blocks).includes('cctv.mp4')), { description: 'the card with the media', timeoutMs: 30_000 });
    await slack.waitFor(() => slack.message(CHANNEL, card.ts)!.reactions.length === 2, { description: 'reactions seeded' });
    return { id, rootTs: root.ts, cardTs: card.ts };
  }

  async function approve(app: RunningApp, cardTs: string): Promise<void> {
    for (const user of ['UAPP1', 'UAPP2']) await slack.react(app.eventsUrl, SIGNING_SECRET, { user, channel: CHANNEL, ts: cardTs, reaction: 'white_check_mark' });
  }

  async function publishedEverywhere(app: RunningApp, text: string) {
    const appeal = await draftWithMedia(app, text);
    await approve(app, appeal.cardTs);
    for (const label of LABELS) await slack.waitFor(() => live(appeal.rootTs, label)[0], { description: `live on ${label}`, timeoutMs: 30_000 });
    return appeal;
  }

  async function readAppeal(storeUrl: string, id: string): Promise<Appeal> {
    const store = await openStore(storeUrl);
    try {
      return (await store.get<Appeal>(keys.appeal(id)))!;
    } finally {
      await store.close();
    }
  }

  /** What each fake still holds of the appeal (not deleted). */
  function heldByFakes() {
    return {
      x: x.livePosts().length,
      youtube: yt.liveVideos().length,
      flickrPhotos: flickr.livePhotos().length,
      flickrAlbums: flickr.livePhotosets().length,
      facebookPosts: fb.livePosts().length,
      facebookPhotos: fb.photos.filter((p) => !p.deleted).length,
    };
  }
  const NOTHING_LEFT = { x: 0, youtube: 0, flickrPhotos: 0, flickrAlbums: 0, facebookPosts: 0, facebookPhotos: 0 };

  /** Requests that create something public (or on its way to be), per fake. */
  function creates() {
    return {
      x: x.createCalls,
      youtube: yt.requestsTo('insertStart').length,
      flickr: flickr.requestsTo('upload').length + flickr.requestsTo('flickr.photosets.create').length,
      facebook: fb.requestsTo('photos').length + fb.requestsTo('feed').length,
    };
  }

  it('by the author: each network confirmed in the thread, one that keeps failing shown as still live until it is gone, then nothing public, no reach, no re-publishing', async () => {
    const app = await start();
    const { id, rootTs, cardTs } = await publishedEverywhere(app, 'Appeal: do you recognise these two men, seen on Quay Street at 01:40? Call 101.');
    expect(heldByFakes()).toEqual({ x: 1, youtube: 1, flickrPhotos: 2, flickrAlbums: 1, facebookPosts: 1, facebookPhotos: 2 });

    // Reach follows the counts before the withdrawal.
    x.setImpressions(x.posts[0]!.id, 1000);
    yt.setViews(yt.liveVideos()[0]!.id, 200);
    for (const p of flickr.livePhotos()) flickr.setViews(p.id, 30);
    fb.setViews(fb.livePosts()[0]!.id, 4);
    const reach = await slack.waitFor(() => {
      const m = said(rootTs, /Reach of/)[0];
      return m && /Total: 1,264 views/.test(m.text) ? m : undefined;
    }, { description: 'the reach message with the counts', timeoutMs: 40_000 });

    // Flickr answers the album's delete with a 503 twice (Flickr's own retries absorb it);
    // Facebook throttles the delete for an hour: the thread hears it is still live, and the
    // withdrawer tries again 30 s later (never an hour: the image must come down).
    flickr.failNext('flickr.photosets.delete', { status: 503, times: 2 });
    fb.rateLimitNext('delete', { minutes: 60, times: 1 });
    const createsBefore = creates();

    const res = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `withdraw ${id} arrested`, userId: 'UAUTHOR', channelId: CHANNEL });
    expect(res.text).toContain(`Withdrawing #${id}`);
    const done = await slack.waitFor(() => everywhere(rootTs)[0], { description: 'withdrawn everywhere', timeoutMs: 90_000 });
    const doneAt = slack.callsTo('chat.postMessage').find((c) => c.params.thread_ts === rootTs && /withdrawn everywhere/.test(String(c.params.text)))!.at;

    const announced = said(rootTs, /withdrawn\* by|withdrawn by/)[0]!;
    expect(announced.text).toContain('<@UAUTHOR>');
    expect(announced.text).toContain('(arrested)');
    // Each network confirmed once, after the announcement and before the final message.
    for (const label of LABELS) {
      expect(removed(rootTs, label), `removed from ${label}`).toHaveLength(1);
      expect(after(removed(rootTs, label)[0]!, announced)).toBe(true);
      expect(after(done, removed(rootTs, label)[0]!)).toBe(true);
    }
    // Facebook: still live and retrying, said once, before its confirmation.
    const stuck = said(rootTs, /still live on Facebook/);
    expect(stuck).toHaveLength(1);
    expect(stuck[0]!.text).toMatch(/Facebook is rate-limiting deletions/);
    expect(stuck[0]!.text).toContain('Retrying until it is gone');
    expect(after(removed(rootTs, 'Facebook')[0]!, stuck[0]!)).toBe(true);
    // One throttled try of the post, then (after the pause) the post and its two photos.
    expect(fb.requestsTo('delete').map((r) => r.status)).toEqual([400, 200, 200, 200]);
    // Flickr: both 503s were answered, and the delete went through without the thread being alarmed.
    expect(flickr.requestsTo('flickr.photosets.delete').map((r) => r.status)).toEqual([503, 503, 200]);
    expect(said(rootTs, /still live on (X|YouTube|Flickr)/)).toHaveLength(0);
    expect(done.text).toContain('Should the media be told?');

    // Nothing of it is left anywhere.
    expect(heldByFakes()).toEqual(NOTHING_LEFT);
    expect(x.posts.every((p) => p.deleted)).toBe(true);
    expect(yt.videos.every((v) => v.deleted)).toBe(true);

    // Afterwards: new counts on the networks, a late ✅, a retry, a status.
    const reachText = slack.message(CHANNEL, reach.ts)!.text;
    x.setImpressions(x.posts[0]!.id, 55_555);
    yt.setViews(yt.videos[0]!.id, 66_666);
    for (const p of flickr.photos) flickr.setViews(p.id, 7_777);
    fb.setViews(fb.posts[0]!.id, 8_888);
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP3', channel: CHANNEL, ts: cardTs, reaction: 'white_check_mark' });
    await slack.waitFor(() => slack.ephemerals.find((e) => e.user === 'UAPP3' && e.text.includes(`#${id} is already withdrawn`)), { description: 'the late approver told', timeoutMs: 10_000 });
    const retry = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `retry ${id}`, userId: 'UAUTHOR', channelId: CHANNEL });
    expect(retry.text).toContain(`#${id} is withdrawn: there is no approved publishing to retry`);
    const retryOne = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `retry ${id} flickr`, userId: 'UAPP1', channelId: CHANNEL });
    expect(retryOne.text).toContain(`#${id} is withdrawn`);
    const status = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `status ${id}`, userId: 'UAPP3', channelId: CHANNEL });
    expect(status.text).toMatch(new RegExp(`#${id}\\*?: \\*?withdrawn`));

    // Longer than a reach refresh plus a publishing sweep: nothing is shown or posted again.
    await sleep(REACH_REFRESH_SECONDS * 1000 + SWEEP_MS + 1_000);
    expect(slack.message(CHANNEL, reach.ts)!.text).toBe(reachText);
    expect(slack.callsTo('chat.update').filter((c) => c.params.ts === reach.ts && c.at > doneAt)).toHaveLength(0);
    expect(creates()).toEqual(createsBefore);
    expect(heldByFakes()).toEqual(NOTHING_LEFT);
    expect(everywhere(rootTs)).toHaveLength(1);
    for (const label of LABELS) expect(live(rootTs, label)).toHaveLength(1);
    const appeal = await readAppeal(app.storeUrl, id);
    expect(appeal.state).toBe('withdrawn');
    expect(appeal.withdrawal).toMatchObject({ by: 'UAUTHOR', reason: 'arrested' });
  }, 150_000);

  it('during an in-flight publish: the post X was still creating comes down, and nothing is published after the withdrawal', async () => {
    const app = await start();
    // X makes the post at once but answers 12 s later (its client waits 30 s); Facebook refuses
    // its post, so nothing of it is public there.
    x.setDelay('createPost', 12_000);
    fb.failNext('feed', { status: 400, code: 368, message: 'It looks like you were misusing this feature by going too fast.' });
    const { id, rootTs, cardTs } = await draftWithMedia(app, 'Appeal: a man seen leaving the harbour office with a holdall at 23:10. Call 101.');
    await approve(app, cardTs);
    // The thread hears of a round's outcomes when its slowest network is done, so the fakes say
    // where things stand: YouTube and Flickr have it, Facebook refused, X has the post but hasn't answered.
    await x.waitFor(() => x.posts.length === 1, { description: 'X created the post', timeoutMs: 30_000 });
    await slack.waitFor(() => yt.liveVideos().length === 1 && flickr.livePhotosets().length === 1 && fb.requestsTo('feed')[0]?.status === 400, { description: 'YouTube and Flickr published, Facebook refused', timeoutMs: 30_000 });
    expect(x.requestsTo('createPost')[0]!.status).toBe(0);
    expect(x.livePosts()).toHaveLength(1);
    expect(said(rootTs, /is live on|couldn't be published/)).toHaveLength(0);

    const res = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `withdraw ${id} suspect identified`, userId: 'UAPP3', channelId: CHANNEL });
    expect(res.text).toContain(`Withdrawing #${id}`);
    const createsAtWithdrawal = creates();
    const announced = await slack.waitFor(() => said(rootTs, /withdrawn\* by|withdrawn by/)[0], { description: 'the withdrawal announced' });

    // X answers; the post it made is recorded, then taken down.
    const xGone = await slack.waitFor(() => removed(rootTs, 'X')[0], { description: 'removed from X', timeoutMs: 40_000 });
    expect(x.requestsTo('createPost')[0]!.status).toBe(201);
    expect(after(xGone, announced)).toBe(true);
    expect(x.posts).toHaveLength(1);
    expect(x.posts[0]!.deleted).toBe(true);
    for (const label of ['YouTube', 'Flickr']) expect(removed(rootTs, label)).toHaveLength(1);
    expect(removed(rootTs, 'Facebook')).toHaveLength(0); // nothing of it was ever public there
    expect(heldByFakes()).toEqual(NOTHING_LEFT);
    // Once withdrawn, the thread announces no link.
    for (const label of LABELS) expect(live(rootTs, label)).toHaveLength(0);

    // Facebook, not yet posted, never gets a post: asking for it is refused, and the sweeps post nothing.
    const retry = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `retry ${id} facebook`, userId: 'UAUTHOR', channelId: CHANNEL });
    expect(retry.text).toContain(`#${id} is withdrawn: there is no approved publishing to retry`);
    await sleep(SWEEP_MS + 1_000);
    expect(creates()).toEqual(createsAtWithdrawal);
    expect(x.createCalls).toBe(1);
    expect(fb.requestsTo('feed')).toHaveLength(1);
    expect(heldByFakes()).toEqual(NOTHING_LEFT);
    for (const label of LABELS) expect(live(rootTs, label)).toHaveLength(0);
    expect(everywhere(rootTs)).toHaveLength(1);
    // The last word comes after X's late post is down, and no reach message appears after the withdrawal.
    expect(after(everywhere(rootTs)[0]!, xGone)).toBe(true);
    expect(said(rootTs, /Reach of/).filter((m) => after(m, announced))).toHaveLength(0);
    expect((await readAppeal(app.storeUrl, id)).state).toBe('withdrawn');
    const status = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `status ${id}`, userId: 'UAUTHOR', channelId: CHANNEL });
    expect(status.text).not.toContain('live since');
    expect(status.text).toContain('X: removed at');
  }, 120_000);

  it('an outsider (not the author, not an approver) is refused, and the appeal stays live everywhere', async () => {
    const app = await start();
    const { id, rootTs } = await publishedEverywhere(app, 'Appeal: have you seen this woman near the ferry terminal on Friday night?');
    const notReach = () => botThread(rootTs).filter((m) => !/Reach of/.test(m.text));
    const threadBefore = notReach().length;

    const res = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `withdraw ${id} not needed any more`, userId: 'UOUTSIDER', channelId: CHANNEL });
    expect(res.text).toContain(`Only the author of #${id} or an approver can withdraw it. Nothing was withdrawn.`);

    await sleep(SWEEP_MS + 1_000);
    expect(heldByFakes()).toEqual({ x: 1, youtube: 1, flickrPhotos: 2, flickrAlbums: 1, facebookPosts: 1, facebookPhotos: 2 });
    expect(x.requestsTo('delete')).toHaveLength(0);
    expect(yt.requestsTo('videosDelete')).toHaveLength(0);
    expect(flickr.requestsTo('flickr.photosets.delete')).toHaveLength(0);
    expect(flickr.requestsTo('flickr.photos.delete')).toHaveLength(0);
    expect(fb.requestsTo('delete')).toHaveLength(0);
    expect(said(rootTs, /withdrawn|removed from/)).toHaveLength(0);
    expect(notReach()).toHaveLength(threadBefore);
    expect((await readAppeal(app.storeUrl, id)).state).toBe('published');
    const status = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `status ${id}`, userId: 'UOUTSIDER', channelId: CHANNEL });
    expect(status.text).toMatch(new RegExp(`#${id}\\*?: \\*?published`));
  }, 120_000);
});
