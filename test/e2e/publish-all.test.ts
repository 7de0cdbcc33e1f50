import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Appeal } from '../../src/core/appeal.js';
import { keys } from '../../src/core/service.js';
import { openStore } from '../../src/store/index.js';
import type { FakeFacebook } from '../fakes/facebook.js';
import type { FakeFlickr } from '../fakes/flickr.js';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.js';
import type { FakeX } from '../fakes/x.js';
import type { FakeYouTube } from '../fakes/youtube.js';
import { jpegWithGps, plainPng } from '../helpers/images.js';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FFMPEG_PATH, makeVideo, VIDEO_FIXTURE_LEAKS } from '../helpers/video.js';
import { BOT_TOKEN, SIGNING_SECRET, startApp, startNetworkFakes, type RunningApp } from './harness.js';

/**
 * Every network of the original playbook at once, against the real app (dist/main.js):
 * two images and one video → X gets the images, YouTube the video, Flickr an album of the
 * images, Facebook one post with both; links and one reach message with four rows and the
 * total. Then one network failing on its own, a retry of only that network, and a YouTube
 * upload cut half-way that resumes instead of starting again.
 */
const CHANNEL = 'CINCIDENT4';

describe('e2e: all four networks, each on its own', () => {
  let slack: FakeSlack;
  let x: FakeX;
  let yt: FakeYouTube;
  let flickr: FakeFlickr;
  let fb: FakeFacebook;
  const apps: RunningApp[] = [];

  beforeAll(async () => {
    slack = await startFakeSlack({ botToken: BOT_TOKEN });
    slack.addChannel(CHANNEL, 'op-harbour');
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
      REACH_REFRESH_SECONDS: '10',
      ...fakes.env,
    });
    apps.push(app);
    return app;
  }

  const botThread = (rootTs: string) => slack.thread(CHANNEL, rootTs).filter((m) => m.user === slack.botUserId);
  const live = (rootTs: string, label: string) => botThread(rootTs).filter((m) => m.text.includes(`is live on ${label}`));

  /** A few MB of noisy footage, so a cut lands mid-stream rather than after the whole body arrived. */
  async function biggerVideo(): Promise<Buffer> {
    const dir = mkdtempSync(join(tmpdir(), 'loudhailer-video-'));
    try {
      const out = join(dir, 'big.mp4');
      await promisify(execFile)(FFMPEG_PATH, ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25', '-t', '1', '-vf', 'noise=alls=40:allf=t', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '18', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', out]);
      return readFileSync(out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Drafts, adds two images and a video, and returns the id, thread and newest card. */
  async function draftWithMedia(app: RunningApp, text: string, video?: Buffer) {
    const before = new Set(slack.messages(CHANNEL).map((m) => m.ts));
    await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text, userId: 'UAUTHOR', channelId: CHANNEL });
    const root = await slack.waitFor(() => slack.messages(CHANNEL).find((m) => !before.has(m.ts) && !m.thread_ts && m.user === slack.botUserId), { description: 'the card' });
    const id = /Appeal #([2-9A-HJKMNP-Z]{4,8})/.exec(root.text)![1]!;
    await slack.shareFiles(app.eventsUrl, SIGNING_SECRET, {
      user: 'UAUTHOR', channel: CHANNEL, threadTs: root.ts,
      files: [
        { name: 'suspect-1.jpg', bytes: await jpegWithGps(), mimetype: 'image/jpeg' },
        { name: 'suspect-2.png', bytes: await plainPng(64, 48), mimetype: 'image/png' },
        { name: 'cctv.mp4', bytes: video ?? (await makeVideo({ container: 'mp4', withMetadata: true })), mimetype: 'video/mp4' },
      ],
    });
    const card = await slack.waitFor(() => botThread(root.ts).find((m) => m.ts !== root.ts && (m.blocks?.length ?? 0) > 0 && JSON.stringify(m.blocks).includes('cctv.mp4')), { description: 'the card with the media', timeoutMs: 20_000 });
    await slack.waitFor(() => slack.message(CHANNEL, card.ts)!.reactions.length === 2, { description: 'reactions seeded' });
    return { id, rootTs: root.ts, cardTs: card.ts };
  }

  async function approve(app: RunningApp, cardTs: string): Promise<void> {
    for (const user of ['UAPP1', 'UAPP2']) await slack.react(app.eventsUrl, SIGNING_SECRET, { user, channel: CHANNEL, ts: cardTs, reaction: 'white_check_mark' });
  }

  async function readAppeal(storeUrl: string, id: string): Promise<Appeal> {
    const store = await openStore(storeUrl);
    try {
      return (await store.get<Appeal>(keys.appeal(id)))!;
    } finally {
      await store.close();
    }
  }

  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it('two images and a video → one post on each network, an album on Flickr, the video on YouTube, and a reach message with four rows and the total', async () => {
    const app = await start();
    const { id, rootTs, cardTs } = await draftWithMedia(app, 'CCTV appeal: do you recognise these two men, seen on Harbour Street at 01:40?');
    await approve(app, cardTs);
    for (const label of ['X', 'YouTube', 'Flickr', 'Facebook']) {
      await slack.waitFor(() => live(rootTs, label)[0], { description: `live on ${label}`, timeoutMs: 30_000 });
    }
    const appeal = await readAppeal(app.storeUrl, id);
    const images = appeal.media.filter((m) => m.kind !== 'video').map((m) => m.sha256);
    const video = appeal.media.find((m) => m.kind === 'video')!;

    // X: one post with the two images.
    expect(x.posts).toHaveLength(1);
    expect(x.posts[0]!.mediaIds.map((mid) => sha(x.mediaById(mid)!.bytes))).toEqual(images);
    // YouTube: the approved video, stripped of its metadata.
    expect(yt.liveVideos()).toHaveLength(1);
    const uploaded = yt.liveVideos()[0]!;
    expect(sha(uploaded.bytes)).toBe(video.sha256);
    for (const leak of VIDEO_FIXTURE_LEAKS) expect(uploaded.bytes.includes(Buffer.from(leak))).toBe(false);
    expect(uploaded.description).toContain(`Ref ${id}`);
    // Flickr: an album of both images.
    expect(flickr.livePhotosets()).toHaveLength(1);
    expect(flickr.livePhotos().map((p) => sha(p.bytes)).sort()).toEqual([...images].sort());
    expect(live(rootTs, 'Flickr')[0]!.text).toContain('/albums/');
    // Facebook: one post carrying both photos.
    expect(fb.livePosts()).toHaveLength(1);
    expect(fb.photoBytes(fb.livePosts()[0]!.id).map(sha)).toEqual(images);

    // Reach: one message, a row per network and the total.
    x.setImpressions(x.posts[0]!.id, 1000);
    yt.setViews(uploaded.id, 200);
    for (const p of flickr.livePhotos()) flickr.setViews(p.id, 30);
    fb.setViews(fb.livePosts()[0]!.id, 4);
    const reach = await slack.waitFor(() => {
      const m = botThread(rootTs).find((msg) => /Reach of/.test(msg.text));
      return m && /X: 1,000 views/.test(m.text) && /YouTube: 200 views/.test(m.text) && /Flickr: 60 views/.test(m.text) && /Facebook: 4 views/.test(m.text) ? m : undefined;
    }, { description: 'four rows of reach', timeoutMs: 40_000 });
    expect(reach.text).toContain('Total: 1,264 views');
    expect(botThread(rootTs).filter((m) => /Reach of/.test(m.text))).toHaveLength(1);
  }, 120_000);

  it('Flickr failing does not hold back or duplicate the others; /appeal retry <id> flickr publishes only Flickr', async () => {
    const app = await start();
    flickr.failNext('upload', { status: 503, times: 50 });
    const { id, rootTs, cardTs } = await draftWithMedia(app, 'Appeal: have you seen this man near the marina on Sunday night?');
    await approve(app, cardTs);
    for (const label of ['X', 'YouTube', 'Facebook']) {
      await slack.waitFor(() => live(rootTs, label)[0], { description: `live on ${label}`, timeoutMs: 30_000 });
    }
    const failed = await slack.waitFor(() => botThread(rootTs).find((m) => /couldn't be published on Flickr/.test(m.text)), { description: 'Flickr failed', timeoutMs: 60_000 });
    expect(failed.text).toContain(`/appeal retry ${id} flickr`);
    expect(flickr.livePhotos()).toHaveLength(0);

    flickr.clearScripts();
    const retry = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `retry ${id} flickr`, userId: 'UAUTHOR', channelId: CHANNEL });
    expect(retry.text).toContain('Retrying');
    await slack.waitFor(() => live(rootTs, 'Flickr')[0], { description: 'live on Flickr after the retry', timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 1000));
    expect(x.posts).toHaveLength(1);
    expect(yt.liveVideos()).toHaveLength(1);
    expect(fb.livePosts()).toHaveLength(1);
    expect(flickr.livePhotosets()).toHaveLength(1);
    for (const label of ['X', 'YouTube', 'Facebook', 'Flickr']) expect(live(rootTs, label)).toHaveLength(1);
  }, 150_000);

  it('a YouTube upload cut half-way resumes from the server\'s offset instead of sending the first half again', async () => {
    const app = await start();
    yt.cutUploadAt(0.5);
    const { rootTs, cardTs } = await draftWithMedia(app, 'Footage appeal: a car driven at pedestrians on Quay Road.', await biggerVideo());
    await approve(app, cardTs);
    await slack.waitFor(() => live(rootTs, 'YouTube')[0], { description: 'live on YouTube', timeoutMs: 40_000 });
    expect(yt.liveVideos()).toHaveLength(1);
    const session = yt.sessions.find((s) => s.total === yt.liveVideos()[0]!.bytes.length)!;
    // The connection was cut half-way; the app asked the session how far it got (308 + Range)
    // and sent only the rest.
    expect(yt.requests.some((r) => r.route === 'insertFinal' && r.status === 0)).toBe(true);
    expect(yt.requests.some((r) => r.route === 'insertStatus' && r.status === 308)).toBe(true);
    expect(session.bytesReceived).toBeGreaterThanOrEqual(session.total);
    expect(session.bytesReceived).toBeLessThan(session.total * 1.2); // not 1.5×: the first half wasn't sent again
  }, 120_000);
});
