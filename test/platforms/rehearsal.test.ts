/**
 * The simulated networks of rehearsal mode: the same Network contract as the real adapters
 * (over the rehearsal world instead of a wire-level fake), then what is particular to them:
 * the public side they write, how views grow, and the failures REHEARSAL_FAILURES scripts.
 */
import { describe, expect, it } from 'vitest';
import { NETWORKS, type NetworkName } from '../../src/core/networks.js';
import { NetworkError } from '../../src/core/ports.js';
import {
  createSimulatedNetwork,
  drawGrowth,
  seededRandom,
  viewsAt,
  type SimulatedNetwork,
  type SimulatorOptions,
} from '../../src/platforms/rehearsal/simulator.js';
import { RehearsalWorld, type WorldPost } from '../../src/platforms/rehearsal/world.js';
import { plainJpeg, plainPng } from '../helpers/images.js';
import { tinyMp4 } from '../helpers/video.js';
import { freshReference, mediaFile, networkContract, rejection, request, type FakeNetworkControl, type NetworkOp, type ScriptedFailure } from './contract.js';

const PUBLIC_URL = 'https://loudhailer.example.org/rehearsal';

/** The contract's generic handle on a simulated network: the world is its "fake". */
export function worldControl(world: RehearsalWorld, sim: SimulatedNetwork): FakeNetworkControl {
  const own = () => world.posts().filter((p) => p.network === sim.name);
  return {
    // posts() is newest first (ties in the order they were added): a stable sort gives oldest first.
    publishedPosts: () => own().filter((p) => p.withdrawnAt === undefined).sort((a, b) => a.createdAt - b.createdAt)
      .map((p) => ({ id: p.postId, text: p.text, media: p.media.map((m) => m.bytes) })),
    replies: (postId) => (world.get(sim.name, postId)?.replies ?? []).filter((r) => r.withdrawnAt === undefined).map((r) => ({ id: r.id, text: r.text })),
    setViews: (id, n) => sim.script.setViews(id, n),
    failNext: (op: NetworkOp, f: ScriptedFailure) => {
      if (op === 'account') throw new Error('a simulated network has no account call');
      sim.script.failNext(op, f);
    },
    rateLimitNext: (op, seconds) => {
      if (op === 'account') throw new Error('a simulated network has no account call');
      sim.script.failNext(op, { kind: 'rate_limit', seconds });
    },
    ops: () => sim.script.ops(),
    close: async () => {},
  };
}

/** What each simulated network must carry, as its real adapter's contract run says. */
const SUBJECTS: Record<NetworkName, { needs: 'none' | 'image' | 'video'; refusesDuplicates: boolean }> = {
  x: { needs: 'none', refusesDuplicates: true },
  youtube: { needs: 'video', refusesDuplicates: true },
  flickr: { needs: 'image', refusesDuplicates: false },
  facebook: { needs: 'none', refusesDuplicates: true },
};

for (const name of NETWORKS) {
  networkContract(`simulated ${name} (rehearsal)`, async ({ logger, sleep }) => {
    const world = new RehearsalWorld();
    const sim = createSimulatedNetwork(name, { world, logger, sleep, publicUrl: () => PUBLIC_URL, random: seededRandom(7) });
    const { needs, refusesDuplicates } = SUBJECTS[name];
    return {
      network: sim,
      fake: worldControl(world, sim),
      secrets: [],
      unknownPostId: `sim-${name}-nobody-1`,
      reachKind: 'views',
      needs,
      refusesDuplicates,
      ...(needs === 'video' ? { sampleMedia: async () => [mediaFile(await tinyMp4(), 'video/mp4', 'appeal.mp4')] } : {}),
      ...(needs === 'image' ? { sampleMedia: async () => [mediaFile(await plainPng(40, 30), 'image/png', 'appeal.png')] } : {}),
    };
  });
}

/** A clock tests move by hand. */
function testClock(start = Date.UTC(2026, 10, 28, 23, 0)) {
  let now = start;
  return { now: () => now, advance: (ms: number) => { now += ms; }, set: (ms: number) => { now = ms; } };
}

const MIN = 60_000;
const HOUR = 60 * MIN;

function simulator(name: NetworkName, opts: Partial<SimulatorOptions> = {}) {
  const world = opts.world ?? new RehearsalWorld();
  const clock = testClock();
  const sleeps: number[] = [];
  const sim = createSimulatedNetwork(name, { world, clock, sleep: async (ms) => { sleeps.push(ms); }, publicUrl: () => PUBLIC_URL, random: seededRandom(42), ...opts });
  return { world, clock, sim, sleeps };
}

const appeal = (words: string, ref = freshReference(), media: Parameters<typeof request>[2] = []) => request(`${words} Call 101.\n\n${ref}`, ref, media);

describe('simulated networks: the public side', () => {
  it('writes what the public sees into the world: the text, the media bytes, the kind of post, a link to the public-side view', async () => {
    const world = new RehearsalWorld();
    const events: string[] = [];
    world.subscribe((e) => events.push(`${e.type}:${e.post.network}`));
    const png = mediaFile(await plainPng(64, 48), 'image/png', 'still-1.png');
    const jpeg = mediaFile(await plainJpeg(48, 64), 'image/jpeg', 'still-2.jpg');
    const video = mediaFile(await tinyMp4(), 'video/mp4', 'cctv.mp4');
    const sims = Object.fromEntries(NETWORKS.map((n) => [n, simulator(n, { world }).sim])) as Record<NetworkName, SimulatedNetwork>;
    const ref = freshReference();

    const x = await sims.x.publish(appeal('Do you recognise these men?', ref, [png, jpeg]));
    const yt = await sims.youtube.publish({ ...appeal('CCTV footage.', ref, [video]), title: 'CCTV footage' });
    const album = await sims.flickr.publish({ ...appeal('Two stills.', ref, [png, jpeg]), title: 'Two stills' });
    const photo = await sims.flickr.publish(appeal('One still.', freshReference(), [png]));
    const fb = await sims.facebook.publish(appeal('Do you recognise these men?', ref, [png, jpeg]));

    const kinds = (network: NetworkName, id: string) => world.get(network, id)!;
    expect(kinds('x', x.postId)).toMatchObject({ kind: 'post', text: expect.stringContaining('Do you recognise') });
    expect(kinds('x', x.postId).media.map((m) => m.bytes)).toEqual([png.bytes, jpeg.bytes]);
    expect(kinds('youtube', yt.postId)).toMatchObject({ kind: 'video', title: 'CCTV footage' });
    expect(kinds('youtube', yt.postId).media[0]).toMatchObject({ mime: 'video/mp4', name: 'cctv.mp4' });
    expect(kinds('flickr', album.postId).kind).toBe('album');
    expect(kinds('flickr', photo.postId).kind).toBe('photo');
    expect(kinds('facebook', fb.postId).media).toHaveLength(2);
    for (const p of [x, yt, album, photo, fb]) {
      expect(p.url.startsWith(`${PUBLIC_URL}#`)).toBe(true);
      expect(p.url).toContain(p.postId);
    }
    // Each media item can be served by id.
    for (const p of world.posts()) for (const m of p.media) expect(world.media(m.id)?.bytes).toEqual(m.bytes);
    expect(events.filter((e) => e.startsWith('post:'))).toHaveLength(5);

    // A reply and a withdrawal show on the public side too.
    const reply = await sims.x.reply(x, `Update: found. ${ref}`);
    expect(world.get('x', x.postId)!.replies.map((r) => r.text)).toEqual([`Update: found. ${ref}`]);
    await sims.x.withdraw(reply);
    expect(world.get('x', x.postId)!.replies[0]!.withdrawnAt).toBeDefined();
    await sims.x.withdraw(x);
    expect(world.get('x', x.postId)!.withdrawnAt).toBeDefined();
    expect(events).toContain('withdrawn:x');
  });

  it('takes what the real network takes: YouTube a video, Flickr images, X at most 4 images (a permanent "invalid" otherwise)', async () => {
    const png = mediaFile(await plainPng(16, 16), 'image/png', 'a.png');
    const yt = simulator('youtube');
    const noVideo = await rejection(yt.sim.publish(appeal('No footage.', freshReference(), [png])));
    expect(noVideo).toMatchObject({ code: 'invalid', permanent: true });
    const flickr = simulator('flickr');
    expect((await rejection(flickr.sim.publish(appeal('No image.')))).code).toBe('invalid');
    const x = simulator('x');
    expect((await rejection(x.sim.publish(appeal('Five images.', freshReference(), [png, png, png, png, png])))).code).toBe('invalid');
    expect([...yt.world.posts(), ...flickr.world.posts(), ...x.world.posts()]).toHaveLength(0);
  });

  it('is named after the network it stands for and reads reach in the real batch sizes', () => {
    const sizes = Object.fromEntries(NETWORKS.map((n) => [n, simulator(n).sim.reachBatchSize]));
    expect(sizes).toEqual({ x: 100, youtube: 50, flickr: 1000, facebook: 50 });
    expect(simulator('flickr').sim.name).toBe('flickr');
    expect(simulator('flickr').sim.simulated).toBe(true);
  });
});

describe('simulated networks: view growth', () => {
  /** Views of one post on `network` at each of `times` (ms after it went up), read through `reach`. */
  async function curve(network: NetworkName, times: number[], seed = 42): Promise<number[]> {
    const { sim, clock } = simulator(network, { random: seededRandom(seed) });
    const t0 = clock.now();
    const media = network === 'youtube' ? [mediaFile(await tinyMp4(), 'video/mp4', 'v.mp4')] : network === 'flickr' ? [mediaFile(await plainPng(8, 8), 'image/png', 'p.png')] : [];
    const post = await sim.publish(appeal('Growth.', freshReference(), media));
    const out: number[] = [];
    for (const t of times) {
      clock.set(t0 + t);
      out.push((await sim.reach([post.postId])).get(post.postId)!.count);
    }
    return out;
  }

  it('starts at 0 and never goes down (every network, several appeals, over two weeks)', async () => {
    const times = Array.from({ length: 2000 }, (_, i) => Math.round(i ** 2 * 300)); // 0 … ~14 days, dense early
    for (const network of NETWORKS) {
      for (const seed of [1, 2, 3]) {
        const views = await curve(network, times, seed);
        expect(views[0]).toBe(0);
        for (let i = 1; i < views.length; i++) expect(views[i]!, `${network} seed ${seed} at ${times[i]} ms`).toBeGreaterThanOrEqual(views[i - 1]!);
        expect(views.at(-1)!).toBeGreaterThan(1000);
      }
    }
  });

  it('is fast early and decays: every hour adds less than the hour before, and the first minutes move visibly', async () => {
    for (const network of NETWORKS) {
      const hours = await curve(network, Array.from({ length: 9 }, (_, i) => i * HOUR));
      const gains = hours.slice(1).map((v, i) => v - hours[i]!);
      for (let i = 1; i < gains.length; i++) expect(gains[i]!, `${network}: hour ${i + 1} vs hour ${i}`).toBeLessThan(gains[i - 1]!);
      // Visible within a 10-second reach refresh, and the first ten minutes beat the tenth hour's ten.
      const [, tenSeconds, tenMinutes] = await curve(network, [0, 10_000, 10 * MIN]);
      expect(tenSeconds).toBeGreaterThan(0);
      const late = await curve(network, [9 * HOUR, 9 * HOUR + 10 * MIN]);
      expect(tenMinutes!).toBeGreaterThan(3 * (late[1]! - late[0]!));
    }
  });

  it('is the same for the same seed and clock, and differs between appeals and networks', async () => {
    const times = [0, 5_000, 10_000, MIN, 10 * MIN, HOUR, 6 * HOUR];
    expect(await curve('x', times, 99)).toEqual(await curve('x', times, 99));
    expect(await curve('x', times, 99)).not.toEqual(await curve('x', times, 100));
    expect(await curve('x', times, 99)).not.toEqual(await curve('facebook', times, 99));
    // Computed from the time since the post went up, not from how often it is read.
    const { sim, clock } = simulator('x', { random: seededRandom(5) });
    const post = await sim.publish(appeal('Read often or once.'));
    const t0 = clock.now();
    for (let t = 0; t <= HOUR; t += MIN) {
      clock.set(t0 + t);
      await sim.reach([post.postId]);
    }
    const once = simulator('x', { random: seededRandom(5) });
    const p2 = await once.sim.publish(appeal('Read often or once.'));
    once.clock.set(once.clock.now() + HOUR);
    expect((await once.sim.reach([p2.postId])).get(p2.postId)!.count).toBe((await sim.reach([post.postId])).get(post.postId)!.count);
  });

  it('the model: views(t) = ceiling·(1 − e^(−g(t)/τ)), levelling off at the ceiling; ceilings and τ per network', () => {
    const random = seededRandom(3);
    const g = drawGrowth('x', random);
    expect(g.ceiling).toBeGreaterThanOrEqual(15_000);
    expect(g.ceiling).toBeLessThanOrEqual(60_000);
    expect(g.tauSeconds).toBeGreaterThanOrEqual(30 * 60);
    expect(g.tauSeconds).toBeLessThanOrEqual(90 * 60);
    // The wobbles' slopes add up to less than 1, so g(t) always increases.
    expect(g.wobbles.reduce((s, w) => s + w.amplitude * w.omega, 0)).toBeLessThan(0.61);
    expect(viewsAt(g, 0)).toBe(0);
    expect(viewsAt(g, -5_000)).toBe(0);
    expect(viewsAt(g, 14 * 24 * HOUR)).toBeGreaterThan(g.ceiling * 0.99);
    expect(viewsAt(g, 14 * 24 * HOUR)).toBeLessThanOrEqual(g.ceiling);
    // After one τ, about 63 % of the ceiling (the wobble moves it a little).
    const atTau = viewsAt(g, g.tauSeconds * 1000) / g.ceiling;
    expect(atTau).toBeGreaterThan(0.6);
    expect(atTau).toBeLessThan(0.66);
  });

  it('the world is brought up to date by refresh(): counters move between reach reads, with a history', async () => {
    const { sim, clock, world } = simulator('facebook');
    const post = await sim.publish(appeal('Counters.'));
    const changes: number[] = [];
    world.subscribe((e) => { if (e.type === 'views') changes.push(e.post.views); });
    for (let i = 0; i < 5; i++) {
      clock.advance(30_000);
      world.refresh();
    }
    const shown: WorldPost = world.get('facebook', post.postId)!;
    expect(changes).toHaveLength(5);
    expect(changes).toEqual([...changes].sort((a, b) => a - b));
    expect(shown.views).toBe(changes.at(-1));
    expect(shown.history.map((h) => h.views)).toEqual([0, ...changes]);
    // A withdrawn post is no longer counted.
    await sim.withdraw(post);
    clock.advance(HOUR);
    world.refresh();
    expect(world.get('facebook', post.postId)!.views).toBe(changes.at(-1));
    expect(await sim.reach([post.postId])).toEqual(new Map());
  });
});

describe('simulated networks: REHEARSAL_FAILURES', () => {
  it('a listed network fails the first publish attempt of each appeal with "unavailable" (not permanent, nothing posted); the retry goes through', async () => {
    const png = mediaFile(await plainPng(16, 16), 'image/png', 'a.png');
    const { sim, world } = simulator('flickr', { failures: ['flickr', 'x'] });
    const req = appeal('Have you seen this bicycle?', freshReference(), [png]);
    const err = await rejection(sim.publish(req));
    expect(err).toBeInstanceOf(NetworkError);
    expect(err).toMatchObject({ network: 'flickr', code: 'unavailable', status: 503, permanent: false, ambiguous: false });
    expect(err.userMessage).toBe('Flickr is not answering (503 Service Unavailable), a failure scripted by REHEARSAL_FAILURES; nothing was posted');
    expect(world.posts()).toHaveLength(0);
    expect(await sim.findPublished(req.reference, 0)).toBeUndefined();

    const post = await sim.publish(req);
    expect(world.posts().map((p) => p.postId)).toEqual([post.postId]);
    // Another appeal fails once too; later attempts of the first one don't.
    const other = appeal('Another appeal.', freshReference(), [png]);
    expect((await rejection(sim.publish(other))).code).toBe('unavailable');
    await sim.publish(other);
    await sim.publish({ ...req, text: `${req.text}` });
    expect(world.posts()).toHaveLength(3);
    expect(sim.script.ops().filter((o) => o.op === 'publish').map((o) => o.status)).toEqual([503, 200, 503, 200, 200]);
  });

  it('networks not listed publish at once', async () => {
    const { sim, world } = simulator('facebook', { failures: ['flickr'] });
    await sim.publish(appeal('Straight through.'));
    expect(world.posts()).toHaveLength(1);
  });
});
