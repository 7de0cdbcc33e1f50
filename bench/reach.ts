/**
 * Reach refresh at scale, and the X read cost of one appeal over 14 days.
 *
 * The real poller (src/core/reach.ts) with the real X adapter against the fake X, and the
 * real Slack adapter against the fake Slack, on a SQLite store; a simulated clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createSlackWebClient } from '../src/bots/slack/index.js';
import { SlackRoom } from '../src/bots/slack/room.js';
import type { Appeal } from '../src/core/appeal.js';
import type { Logger, Store } from '../src/core/ports.js';
import { liveMember, publishKeys, type PublicationRecord } from '../src/core/publisher.js';
import { ReachPoller } from '../src/core/reach.js';
import { DAY_MS, HOUR_MS } from '../src/core/reach-plan.js';
import { createX } from '../src/platforms/x/index.js';
import { openStore } from '../src/store/index.js';
import { startFakeSlack, type FakeSlack } from '../test/fakes/slack.js';
import { startFakeX, type FakeX } from '../test/fakes/x.js';
import { startFakeYouTube, type FakeYouTube } from '../test/fakes/youtube.js';
import { startFakeFlickr } from '../test/fakes/flickr.js';
import { startFakeFacebook } from '../test/fakes/facebook.js';
import { createYouTube } from '../src/platforms/youtube/index.js';
import { createFlickr } from '../src/platforms/flickr/index.js';
import { createFacebook } from '../src/platforms/facebook/index.js';
import type { NetworkName } from '../src/core/networks.js';
import type { Network } from '../src/core/ports.js';
import { BOT_TOKEN, X_CREDENTIALS } from '../test/e2e/harness.js';

const logger = pino({ level: 'warn' }) as unknown as Logger;
const CHANNEL = 'CBENCH';
const PLAN = { baseMs: 60_000, stopAfterMs: 14 * DAY_MS };
const T0 = Date.UTC(2026, 10, 2, 8, 0, 0);

interface Setup { store: Store; x: FakeX; slack: FakeSlack; poller: ReachPoller; postIds: string[]; clock: { t: number }; close(): Promise<void> }

async function setup(n: number): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'loudhailer-bench-'));
  const store = await openStore(`sqlite://${join(dir, 'store.sqlite')}`);
  const x = await startFakeX(X_CREDENTIALS);
  const slack = await startFakeSlack({ botToken: BOT_TOKEN });
  slack.addChannel(CHANNEL, 'bench');
  const clock = { t: T0 };
  const postIds: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `B${String(i).padStart(5, "0")}`;
    const post = x.seedPost({ text: `Appeal ${i}\n\nRef ${id}`, createdAt: T0 });
    postIds.push(post.id);
    await store.set(`appeal:${id}`, { id, channel: CHANNEL, threadTs: `1700000000.${String(i).padStart(6, '0')}`, state: 'published' } as Partial<Appeal>);
    await store.set<PublicationRecord>(publishKeys.record(id, 'x'), { state: 'published', network: 'x', hash: 'h', at: T0, postId: post.id, url: `https://x.com/i/web/status/${post.id}` });
    await store.addToSet(publishKeys.live, liveMember(id, 'x', post.id));
  }
  const client = createSlackWebClient({ botToken: BOT_TOKEN, apiUrl: slack.apiUrl }, logger);
  const room = new SlackRoom(client, 'UBOT', { logger, clock: { now: () => clock.t } });
  const poller = new ReachPoller({
    store, room, logger, plan: PLAN, clock: { now: () => clock.t },
    networks: new Map([['x', createX({ ...X_CREDENTIALS, apiUrl: x.url }, { logger })]]),
  });
  return {
    store, x, slack, poller, postIds, clock,
    close: async () => {
      await store.close();
      await x.close();
      await slack.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);

async function atScale(n: number): Promise<Record<string, string | number>> {
  const s = await setup(n);
  try {
    const rss0 = process.memoryUsage().rss;
    let t = performance.now();
    await s.poller.refresh(s.clock.t); // first refresh: loads the live set, posts n reach messages
    const firstMs = performance.now() - t;

    // A minute later, 10 % of the counts changed.
    const changed = s.postIds.filter((_, i) => i % 10 === 0);
    for (const id of changed) s.x.setImpressions(id, 1000 + Math.floor(Math.random() * 1000));
    s.clock.t += 60_000;
    const lookups0 = s.x.lookupCalls;
    const updates0 = s.slack.callsTo('chat.update').length;
    t = performance.now();
    const stats = await s.poller.refresh(s.clock.t);
    const ms = performance.now() - t;
    const lookups = s.x.lookupCalls - lookups0;
    const updates = s.slack.callsTo('chat.update').length - updates0;
    const floor = Math.ceil(n / 100);
    return {
      'live appeals': n,
      'X lookups': lookups,
      'floor ⌈n/100⌉': floor,
      'ratio': (lookups / floor).toFixed(2),
      'counts changed': changed.length,
      'chat.update calls': updates,
      'refresh ms': ms.toFixed(0),
      'first refresh ms (posts n messages)': firstMs.toFixed(0),
      'due': stats.due,
      'RSS MB (Δ)': `${mb(process.memoryUsage().rss)} (+${mb(process.memoryUsage().rss - rss0)})`,
    };
  } finally {
    await s.close();
  }
}

/** One appeal over 14 days on a simulated clock: what X bills, and how fresh the first hour is. */
async function fourteenDays(): Promise<void> {
  const s = await setup(1);
  try {
    const reads: number[] = [];
    const end = T0 + 14 * DAY_MS + HOUR_MS;
    for (; s.clock.t <= end; s.clock.t += 10_000) {
      const before = s.x.postsRead;
      s.x.setImpressions(s.postIds[0]!, Math.floor((s.clock.t - T0) / 1000));
      await s.poller.refresh(s.clock.t);
      if (s.x.postsRead > before) reads.push(s.clock.t);
    }
    const firstHour = reads.filter((t) => t < T0 + HOUR_MS);
    let gap = 0;
    for (let i = 1; i < firstHour.length; i++) gap = Math.max(gap, firstHour[i]! - firstHour[i - 1]!);
    const naive = (14 * DAY_MS) / 60_000;
    console.log(`One appeal over 14 days (REACH_REFRESH_SECONDS=60, simulated clock, 10 s steps):`);
    console.log(`  X posts read: ${s.x.postsRead} (target ≤ 600; naive 1-minute polling: ${naive}) = $${(s.x.postsRead * 0.005).toFixed(2)} at $0.005 per post read, vs $${(naive * 0.005).toFixed(2)}`);
    console.log(`  first hour: ${firstHour.length} reads, longest gap ${(gap / 1000).toFixed(0)} s (target ≤ 60 s); last read at day ${((reads.at(-1)! - T0) / DAY_MS).toFixed(2)}`);
  } finally {
    await s.close();
  }
}

/** One refresh of 1,000 live appeals published on all four networks: calls per network vs its batching floor. */
async function allNetworks(n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'loudhailer-bench-'));
  const store = await openStore(`sqlite://${join(dir, 'store.sqlite')}`);
  const YT = { clientId: 'bench.apps.googleusercontent.com', clientSecret: 'bench-yt-secret', refreshToken: '1//bench-refresh' };
  const FL = { apiKey: 'bench-flickr-key', apiSecret: 'bench-flickr-secret', oauthToken: 'bench-flickr-token', oauthSecret: 'bench-flickr-token-secret' };
  const FB = { pageId: '909090909', pageToken: 'EAAbenchPageToken' };
  const x = await startFakeX(X_CREDENTIALS);
  const yt = await startFakeYouTube(YT);
  const flickr = await startFakeFlickr(FL);
  const fb = await startFakeFacebook(FB);
  const slack = await startFakeSlack({ botToken: BOT_TOKEN });
  slack.addChannel(CHANNEL, 'bench');
  try {
    for (let i = 0; i < n; i++) {
      const id = `A${String(i).padStart(5, '0')}`;
      const posts: Array<[NetworkName, string]> = [
        ['x', x.seedPost({ text: `Appeal ${i}\n\nRef ${id}`, createdAt: T0 }).id],
        ['youtube', seedVideo(yt, i, id)],
        ['flickr', flickr.seedPhoto({ title: `Appeal ${i}`, description: `Appeal ${i}\n\nRef ${id}`, uploadedAt: T0 }).id],
        ['facebook', fb.seedPost({ message: `Appeal ${i}\n\nRef ${id}`, createdAt: T0 }).id],
      ];
      await store.set(`appeal:${id}`, { id, channel: CHANNEL, threadTs: `1700000000.${String(i).padStart(6, '0')}`, state: 'published' } as Partial<Appeal>);
      for (const [network, postId] of posts) {
        await store.set<PublicationRecord>(publishKeys.record(id, network), { state: 'published', network, hash: 'h', at: T0, postId, url: `https://example.org/${postId}` });
        await store.addToSet(publishKeys.live, liveMember(id, network, postId));
      }
    }
    const client = createSlackWebClient({ botToken: BOT_TOKEN, apiUrl: slack.apiUrl }, logger);
    const poller = new ReachPoller({
      store, logger, plan: PLAN, clock: { now: () => T0 },
      room: new SlackRoom(client, 'UBOT', { logger, clock: { now: () => T0 } }),
      networks: new Map<NetworkName, Network>([
        ['x', createX({ ...X_CREDENTIALS, apiUrl: x.url }, { logger })],
        ['youtube', createYouTube({ ...YT, privacy: 'public', apiUrl: `${yt.url}/`, tokenUrl: yt.tokenUrl }, { logger })],
        ['flickr', createFlickr({ ...FL, apiUrl: flickr.apiUrl, uploadUrl: flickr.uploadUrl }, { logger })],
        ['facebook', createFacebook({ ...FB, graphUrl: fb.url }, { logger })],
      ]),
    });
    const before = { yt: yt.requestsTo('videosStats').length, fl: flickr.requests.length, fb: fb.requestsTo('read').length };
    const t = performance.now();
    const stats = await poller.refresh(T0);
    const ms = performance.now() - t;
    const flickrReads = flickr.requests.slice(before.fl).filter((r) => /getPhotos|getInfo|getList/.test(r.params.method ?? ''));
    console.log(`One refresh of ${n} live appeals on all four networks (${ms.toFixed(0)} ms, ${stats.edits} reach messages posted):`);
    console.table([
      { network: 'X', 'reach calls': x.lookupCalls, 'batching floor': `⌈n/100⌉ = ${Math.ceil(n / 100)}` },
      { network: 'YouTube', 'reach calls': yt.requestsTo('videosStats').length - before.yt, 'batching floor': `⌈n/50⌉ = ${Math.ceil(n / 50)}` },
      { network: 'Facebook', 'reach calls': fb.requestsTo('read').length - before.fb, 'batching floor': `⌈n/50⌉ = ${Math.ceil(n / 50)}` },
      { network: 'Flickr', 'reach calls': flickrReads.length, 'batching floor': `⌈n/500⌉ = ${Math.ceil(n / 500)} (people.getPhotos, 500 a page)` },
    ]);
  } finally {
    await store.close();
    await Promise.all([x.close(), yt.close(), flickr.close(), fb.close(), slack.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

function seedVideo(yt: FakeYouTube, i: number, id: string): string {
  const video = { id: `vid${String(i).padStart(8, '0')}`, title: `Appeal ${i}`, description: `Appeal ${i}\n\nRef ${id}`, privacy: 'public', mime: 'video/mp4', bytes: Buffer.alloc(0), publishedAt: T0, views: 0, deleted: false };
  yt.videos.push(video);
  return video.id;
}

export async function reachBench(): Promise<void> {
  console.log('Reach refresh: real poller + X adapter against fake X, Slack adapter against fake Slack, SQLite store');
  const rows = [];
  for (const n of [1_000, 10_000]) rows.push(await atScale(n));
  console.table(rows);
  await fourteenDays();
  await allNetworks(1_000);
}
