import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Appeal } from '../../src/core/appeal.js';
import { systemClock, type Clock, type Logger, type Store } from '../../src/core/ports.js';
import { LOOK_AGAIN_MS, liveMember, publishKeys, type PublicationRecord } from '../../src/core/publisher.js';
import { AppealService, keys } from '../../src/core/service.js';
import { plain } from '../../src/core/messages.js';
import { openStore } from '../../src/store/index.js';
import { tryLease } from '../../src/core/lock.js';
import { fakeMedia, FakeRoom } from '../helpers/fake-room.js';
import { duplicate, FakeNetwork, rateLimited, unavailable } from '../helpers/fake-network.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const CHANNEL = 'CINC';

describe('publishing an approved appeal', () => {
  let store: Store;
  let room: FakeRoom;
  let x: FakeNetwork;
  let service: AppealService;

  beforeEach(async () => {
    store = await openStore('sqlite://:memory:');
    room = new FakeRoom();
    x = new FakeNetwork('x');
    service = makeService();
  });
  afterEach(async () => {
    await service.publisher.stop();
    await store.close();
  });

  function makeService(networks = new Map([['x' as const, x]]), over: { store?: Store; publishLeaseMs?: number; clock?: Clock } = {}): AppealService {
    return new AppealService({
      store: over.store ?? store, room, media: fakeMedia, clock: over.clock ?? systemClock, logger: silent,
      policy: { approvers: ['UAPP1', 'UAPP2', 'UAPP3'], seniors: [], required: 2, approveEmoji: 'white_check_mark', rejectEmoji: 'x' },
      enabledNetworks: ['x'],
      networks,
      recheckDelaysMs: [],
      publishLeaseMs: over.publishLeaseMs ?? 300,
    });
  }

  async function draftWithImage(text = 'Have you seen this man?'): Promise<Appeal> {
    await service.draft({ channel: CHANNEL, user: 'UAUTHOR', text });
    const ids = await store.members(keys.appeals(CHANNEL));
    const appeal = (await Promise.all(ids.map((id) => store.get<Appeal>(keys.appeal(id))))).find((a) => a!.text === text)!;
    await service.addFiles({ channel: CHANNEL, threadTs: appeal.threadTs, user: 'UAUTHOR', files: [{ name: 'cctv.png', fetch: async () => Buffer.from(`IMG-${text}`) }] });
    return (await store.get<Appeal>(keys.appeal(appeal.id)))!;
  }

  async function approve(appeal: Appeal, approvers = ['UAPP1', 'UAPP2']): Promise<void> {
    const card = appeal.cards.at(-1)!.ts;
    for (const u of approvers) room.react(card, u, 'white_check_mark', true);
    await Promise.all(approvers.map((u) => service.reaction({ channel: CHANNEL, ts: card, user: u, emoji: 'white_check_mark', added: true })));
  }

  const settle = async () => {
    await new Promise((r) => setTimeout(r, 20));
    await service.publisher.idle();
  };
  const load = async (id: string) => (await store.get<Appeal>(keys.appeal(id)))!;
  const record = (id: string) => store.get<PublicationRecord>(publishKeys.record(id, 'x'));

  it('publishes once on approval, records the post before telling the thread, and marks it live', async () => {
    const appeal = await draftWithImage();
    await approve(appeal);
    await settle();
    expect(x.calls.publish).toBe(1);
    expect(x.posts[0]!.text).toContain(`Ref ${appeal.id}`);
    expect(x.posts[0]!.media).toEqual([appeal.media[0]!.sha256]);
    const rec = await record(appeal.id);
    expect(rec).toMatchObject({ state: 'published', postId: x.posts[0]!.id, hash: appeal.cards.at(-1)!.hash });
    expect((await load(appeal.id)).state).toBe('published');
    expect(await store.members(publishKeys.live)).toEqual([liveMember(appeal.id, 'x', x.posts[0]!.id)]);
    expect(await store.members(publishKeys.pending)).toEqual([]);
    const texts = room.texts();
    expect(texts.findIndex((t) => t.includes('approved by'))).toBeLessThan(texts.findIndex((t) => t.includes('is live on X')));
    expect(texts.find((t) => t.includes('is live on X'))).toContain(`x.example/status/${x.posts[0]!.id}`);
    // The card itself says where it is live.
    const card = room.message(appeal.cards.at(-1)!.ts).card!;
    expect(card.state).toBe('published');
    expect(card.publications).toEqual([{ network: 'x', label: 'X', url: `https://x.example/status/${x.posts[0]!.id}` }]);
  });

  it('publishes once however many workers try at the same time', async () => {
    const appeal = await draftWithImage();
    x.delayMs = 50;
    await approve(appeal);
    const other = makeService();
    await Promise.all([service.publisher.publish(appeal.id), other.publisher.publish(appeal.id), service.publisher.sweep(), other.publisher.sweep()]);
    await settle();
    await other.publisher.stop();
    expect(x.calls.publish).toBe(1);
    expect(room.texts().filter((t) => t.includes('is live on X'))).toHaveLength(1);
  });

  it('after an interrupted attempt, finds the post by its reference instead of posting again', async () => {
    const appeal = await draftWithImage();
    // The post went out, the answer was lost, the process died before recording anything.
    x.loseAnswer = unavailable();
    const crashing = makeService();
    await crashing.publisher.stop(); // a stopped publisher doesn't start on approval
    await approve(appeal);
    await settle();
    expect(x.posts).toHaveLength(1);
    // That attempt recorded a failure; simulate the crash having happened before it could.
    await store.delete(publishKeys.record(appeal.id, 'x'));
    await store.addToSet(publishKeys.pending, appeal.id);
    const restarted = makeService();
    await restarted.publisher.sweep();
    await restarted.publisher.stop();
    expect(x.posts).toHaveLength(1);
    expect(x.calls.find).toBeGreaterThanOrEqual(1);
    expect(await record(appeal.id)).toMatchObject({ state: 'published', postId: x.posts[0]!.id, recovered: true });
    expect(room.texts().some((t) => t.includes('posted once'))).toBe(true);
  });

  it('an unknown outcome is never retried blindly: the retry looks first', async () => {
    const appeal = await draftWithImage();
    x.loseAnswer = unavailable();
    await approve(appeal);
    await settle();
    expect(await record(appeal.id)).toMatchObject({ state: 'failed' });
    const reply = await service.execute({ kind: 'retry', id: appeal.id }, { channel: CHANNEL, user: 'UAUTHOR' });
    expect(plain(reply)).toContain('Retrying');
    await settle();
    expect(x.posts).toHaveLength(1);
    expect(await record(appeal.id)).toMatchObject({ state: 'published', postId: x.posts[0]!.id });
  });

  it('a post X never confirmed is looked for again later (never re-posted), and recorded if it went through', async () => {
    let t = Date.now();
    const clock = { now: () => t };
    service = makeService(undefined, { clock });
    const appeal = await draftWithImage();
    x.loseAnswer = unavailable(); // X took it; the answer was lost; the adapter's own look missed it
    await approve(appeal);
    await settle();
    expect(await record(appeal.id)).toMatchObject({ state: 'failed', checkAt: t + LOOK_AGAIN_MS[0]! });
    expect(room.texts().find((t) => t.includes("couldn't be published on X"))).toContain('looks for it on the account again');
    await service.publisher.sweep();
    expect(x.calls.find).toBe(0); // not yet
    t += LOOK_AGAIN_MS[0]!;
    await service.publisher.sweep();
    expect(x.calls.find).toBe(1);
    expect(x.calls.publish).toBe(1);
    expect(await record(appeal.id)).toMatchObject({ state: 'published', postId: x.posts[0]!.id, recovered: true });
    expect(room.texts().filter((t) => t.includes('is live on X'))).toHaveLength(1);
    expect(await store.members(publishKeys.pending)).toEqual([]);
  });

  it('a post X never confirmed and that never appears: looked for twice, then left to a person', async () => {
    let t = Date.now();
    const clock = { now: () => t };
    service = makeService(undefined, { clock });
    const appeal = await draftWithImage();
    x.publishErrors.push(unavailable()); // X didn't take it
    await approve(appeal);
    await settle();
    for (const pause of LOOK_AGAIN_MS) {
      t += pause;
      await service.publisher.sweep();
    }
    expect(x.calls.find).toBe(LOOK_AGAIN_MS.length);
    expect(x.calls.publish).toBe(1);
    expect(x.posts).toHaveLength(0);
    expect(await record(appeal.id)).toMatchObject({ state: 'failed', checks: LOOK_AGAIN_MS.length });
    expect((await record(appeal.id) as { checkAt?: number }).checkAt).toBeUndefined();
    expect(await store.members(publishKeys.pending)).toEqual([]);
    expect(room.texts().filter((t) => t.includes("couldn't be published on X"))).toHaveLength(1);
  });

  it('a permanent failure is posted with its reason, not retried by itself, and /appeal retry tries again', async () => {
    const appeal = await draftWithImage();
    x.publishErrors.push(duplicate());
    await approve(appeal);
    await settle();
    expect(x.calls.publish).toBe(1);
    expect(room.texts().find((t) => t.includes("couldn't be published on X"))).toContain('duplicate');
    expect((await load(appeal.id)).state).toBe('publishing');
    expect(room.message(appeal.cards.at(-1)!.ts).card!.publications).toEqual([{ network: 'x', label: 'X', failed: 'X refused the post as a duplicate' }]);
    await service.publisher.sweep();
    expect(x.calls.publish).toBe(1);
    expect(await store.members(publishKeys.pending)).toEqual([]);

    const outsider = await service.execute({ kind: 'retry', id: appeal.id }, { channel: CHANNEL, user: 'UOUT' });
    expect(plain(outsider)).toContain('Only the author');
    const reply = await service.execute({ kind: 'retry', id: appeal.id, network: 'x' }, { channel: CHANNEL, user: 'UAPP3' });
    expect(plain(reply)).toContain('Retrying');
    await settle();
    expect(x.posts).toHaveLength(1);
    expect((await load(appeal.id)).state).toBe('published');
    const again = await service.execute({ kind: 'retry', id: appeal.id, network: 'x' }, { channel: CHANNEL, user: 'UAUTHOR' });
    expect(plain(again)).toContain('already live on X');
    await settle();
    expect(x.posts).toHaveLength(1);
  });

  it('a rate limit that ends later is tried again by itself once it has ended', async () => {
    const appeal = await draftWithImage();
    x.publishErrors.push(rateLimited(150));
    await approve(appeal);
    await settle();
    const rec = await record(appeal.id);
    expect(rec).toMatchObject({ state: 'failed', code: 'rate_limited' });
    expect(room.texts().find((t) => t.includes("couldn't be published on X"))).toContain('tries again by itself');
    await service.publisher.sweep();
    expect(x.posts).toHaveLength(0); // not yet
    await new Promise((r) => setTimeout(r, 200));
    await service.publisher.sweep();
    expect(x.posts).toHaveLength(1);
    expect(await store.members(publishKeys.pending)).toEqual([]);
  });

  /** The same store, except for the methods given. */
  function storeWith(overrides: Partial<Record<keyof Store, (...args: never[]) => unknown>>): Store {
    return new Proxy(store, {
      get(target, prop, receiver) {
        const o = overrides[prop as keyof Store];
        if (o) return o;
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  it('a worker whose lease lapsed mid-publish posts nothing; the one that took over posts once', async () => {
    const appeal = await draftWithImage();
    // Worker A can't renew its lease (its store connection hangs up), and X is slow.
    const a = makeService(undefined, {
      publishLeaseMs: 150,
      store: storeWith({
        renew: async (key: string, owner: string, ttl: number) => {
          if (key.startsWith('publish-lease:')) throw new Error('store unreachable');
          return store.renew(key, owner, ttl);
        },
      } as never),
    });
    x.delayMs = 500;
    await service.publisher.stop(0); // only A starts on approval
    const card = appeal.cards.at(-1)!.ts;
    for (const u of ['UAPP1', 'UAPP2']) {
      room.react(card, u, 'white_check_mark', true);
      await a.reaction({ channel: CHANNEL, ts: card, user: u, emoji: 'white_check_mark', added: true });
    }
    await new Promise((r) => setTimeout(r, 300)); // A's lease has expired in the store
    const b = makeService();
    await b.publisher.sweep(); // B takes over: looks for the post (none yet), then posts
    await a.publisher.idle();
    await b.publisher.idle();
    expect(x.posts).toHaveLength(1);
    expect(x.calls.find).toBe(1);
    expect(await record(appeal.id)).toMatchObject({ state: 'published', postId: x.posts[0]!.id });
    expect(room.texts().filter((t) => t.includes('is live on X'))).toHaveLength(1);
    expect(room.texts().some((t) => t.includes("couldn't be published"))).toBe(false);
  });

  it('a store failure after X accepted the post is not recorded as a failure; the next sweep records the post', async () => {
    const appeal = await draftWithImage();
    let failOnce = true;
    const flaky = makeService(undefined, {
      store: storeWith({
        set: async (key: string, value: unknown, ttl?: number) => {
          if (failOnce && key.startsWith('publication:')) {
            failOnce = false;
            throw new Error('store write failed');
          }
          return store.set(key, value, ttl);
        },
      } as never),
    });
    await service.publisher.stop(0);
    const card = appeal.cards.at(-1)!.ts;
    for (const u of ['UAPP1', 'UAPP2']) {
      room.react(card, u, 'white_check_mark', true);
      await flaky.reaction({ channel: CHANNEL, ts: card, user: u, emoji: 'white_check_mark', added: true });
    }
    await flaky.publisher.idle();
    expect(x.posts).toHaveLength(1);
    expect(await record(appeal.id)).toBeUndefined();
    expect(await store.members(publishKeys.pending)).toEqual([appeal.id]);
    expect(room.texts().some((t) => t.includes("couldn't be published"))).toBe(false);

    await flaky.publisher.sweep();
    expect(x.posts).toHaveLength(1);
    expect(await record(appeal.id)).toMatchObject({ state: 'published', postId: x.posts[0]!.id, recovered: true });
    expect(room.texts().filter((t) => t.includes('is live on X'))).toHaveLength(1);
    expect(await store.members(publishKeys.pending)).toEqual([]);
  });

  it('the sweeper runs appeals independently: one held up (a long rate limit) does not hold up another', async () => {
    const slow = await draftWithImage('Slow appeal');
    const quick = await draftWithImage('Quick appeal');
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    x.gate = (req) => (req.appealId === slow.id ? held : Promise.resolve());
    await service.publisher.stop(0); // nothing starts on approval: only the sweeper publishes
    const sweeper = makeService();
    for (const a of [slow, quick]) {
      const card = a.cards.at(-1)!.ts;
      for (const u of ['UAPP1', 'UAPP2']) room.react(card, u, 'white_check_mark', true);
      await Promise.all(['UAPP1', 'UAPP2'].map((u) => service.reaction({ channel: CHANNEL, ts: card, user: u, emoji: 'white_check_mark', added: true })));
    }
    sweeper.publisher.startSweeper(20);
    const deadline = Date.now() + 3000;
    while (!(await record(quick.id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await record(quick.id)).toMatchObject({ state: 'published' });
    expect(await record(slow.id)).toBeUndefined();
    release();
    await sweeper.publisher.stop();
    expect(await record(slow.id)).toMatchObject({ state: 'published' });
    expect(x.posts).toHaveLength(2);
  });

  it('a retry asked for while another worker holds the lease is not lost: the next sweep carries it out', async () => {
    const appeal = await draftWithImage();
    x.publishErrors.push(duplicate());
    await approve(appeal);
    await settle();
    const hash = appeal.cards.at(-1)!.hash;
    const other = await tryLease(store, publishKeys.lease(appeal.id, 'x', hash), 10_000); // another replica, busy
    const reply = await service.execute({ kind: 'retry', id: appeal.id, network: 'x' }, { channel: CHANNEL, user: 'UAUTHOR' });
    expect(plain(reply)).toContain('Retrying');
    await settle();
    expect(x.posts).toHaveLength(0);
    expect(await store.members(publishKeys.pending)).toEqual([appeal.id]);
    await other!.release();
    await service.publisher.sweep();
    expect(x.posts).toHaveLength(1);
    expect(await record(appeal.id)).toMatchObject({ state: 'published' });
    expect(await store.get(publishKeys.retry(appeal.id, 'x'))).toBeUndefined();
    expect(await store.members(publishKeys.pending)).toEqual([]);
  });

  it('an outcome the chat platform refused to show is shown by the next sweep', async () => {
    const appeal = await draftWithImage();
    const card = appeal.cards.at(-1)!.ts;
    for (const u of ['UAPP1', 'UAPP2']) room.react(card, u, 'white_check_mark', true);
    room.failNextPosts = 2; // the "approved" message and the link both fail
    await service.reaction({ channel: CHANNEL, ts: card, user: 'UAPP2', emoji: 'white_check_mark', added: true });
    await settle();
    expect(room.texts().some((t) => t.includes('approved by'))).toBe(false);
    expect(x.posts).toHaveLength(1);
    expect(room.texts().some((t) => t.includes('is live on X'))).toBe(false);
    expect(await store.members(publishKeys.pending)).toEqual([appeal.id]);
    await service.publisher.sweep();
    expect(room.texts().filter((t) => t.includes('is live on X'))).toHaveLength(1);
    await service.publisher.sweep();
    expect(room.texts().filter((t) => t.includes('is live on X'))).toHaveLength(1);
    expect(await store.members(publishKeys.pending)).toEqual([]);
    expect(x.posts).toHaveLength(1);
  });

  it('a draft found in the pending set (an approval that was never saved) is dropped, not published', async () => {
    const appeal = await draftWithImage();
    await store.addToSet(publishKeys.pending, appeal.id);
    await service.publisher.sweep();
    expect(await store.members(publishKeys.pending)).toEqual([]);
    expect(x.calls.publish).toBe(0);
  });

  it('refuses to send an image whose stored bytes changed after approval', async () => {
    const appeal = await draftWithImage();
    await store.set(keys.media(appeal.media[0]!.sha256), Buffer.from('tampered').toString('base64'));
    await approve(appeal);
    await settle();
    expect(x.calls.publish).toBe(0);
    expect(await record(appeal.id)).toMatchObject({ state: 'failed', permanent: true });
  });

  it('a network without credentials fails plainly and publishes nothing', async () => {
    service = makeService(new Map());
    const appeal = await draftWithImage();
    await approve(appeal);
    await settle();
    expect(x.calls.publish).toBe(0);
    expect(room.texts().find((t) => t.includes("couldn't be published on X"))).toContain("isn't configured");
  });

  it('retry refuses drafts and unknown ids, and changes nothing', async () => {
    const appeal = await draftWithImage();
    expect(plain(await service.execute({ kind: 'retry', id: appeal.id }, { channel: CHANNEL, user: 'UAUTHOR' }))).toContain('is draft');
    expect(plain(await service.execute({ kind: 'retry', id: 'ZZZZ' }, { channel: CHANNEL, user: 'UAUTHOR' }))).toContain('No appeal #ZZZZ');
    expect(plain(await service.execute({ kind: 'retry', id: appeal.id }, { channel: 'COTHER', user: 'UAUTHOR' }))).toContain('No appeal');
    await settle();
    expect(x.calls.publish).toBe(0);
  });
});

describe('footage', () => {
  it('one video is attached and published to YouTube as approved; a second video is refused plainly', async () => {
    const store = await openStore('sqlite://:memory:');
    const room = new FakeRoom();
    const youtube = new FakeNetwork('youtube', 50);
    const service = new AppealService({
      store, room, media: fakeMedia, clock: systemClock, logger: silent,
      policy: { approvers: ['UAPP1', 'UAPP2'], seniors: [], required: 2, approveEmoji: 'white_check_mark', rejectEmoji: 'x' },
      enabledNetworks: ['youtube'], networks: new Map([['youtube' as const, youtube]]), recheckDelaysMs: [],
    });
    await service.draft({ channel: CHANNEL, user: 'UAUTHOR', text: 'CCTV: do you know this man?' });
    const id = (await store.members(keys.appeals(CHANNEL)))[0]!;
    const threadTs = (await store.get<Appeal>(keys.appeal(id)))!.threadTs;
    await service.addFiles({ channel: CHANNEL, threadTs, user: 'UAUTHOR', files: [{ name: 'cctv.mp4', fetch: async () => Buffer.from('VID-1') }] });
    await service.addFiles({ channel: CHANNEL, threadTs, user: 'UAUTHOR', files: [{ name: 'more.mp4', fetch: async () => Buffer.from('VID-2') }] });
    expect(room.texts().find((t) => t.includes('more.mp4'))).toContain('already has a video');
    const appeal = (await store.get<Appeal>(keys.appeal(id)))!;
    expect(appeal.media.map((m) => [m.name, m.kind])).toEqual([['cctv.mp4', 'video']]);
    const card = room.message(appeal.cards.at(-1)!.ts).card!;
    expect(card.outgoing.find((o) => o.network === 'youtube')).toMatchObject({ media: ['cctv.mp4'] });
    for (const u of ['UAPP1', 'UAPP2']) {
      room.react(appeal.cards.at(-1)!.ts, u, 'white_check_mark', true);
      await service.reaction({ channel: CHANNEL, ts: appeal.cards.at(-1)!.ts, user: u, emoji: 'white_check_mark', added: true });
    }
    await service.publisher.stop();
    expect(youtube.posts).toHaveLength(1);
    expect(youtube.posts[0]!.media).toEqual([appeal.media[0]!.sha256]);
    await store.close();
  });
});

describe('an approved appeal with nothing to publish', () => {
  it('stays approved and leaves the pending set', async () => {
    const store = await openStore('sqlite://:memory:');
    const room = new FakeRoom();
    const service = new AppealService({
      store, room, media: fakeMedia, clock: systemClock, logger: silent,
      policy: { approvers: ['UAPP1', 'UAPP2'], seniors: [], required: 2, approveEmoji: 'white_check_mark', rejectEmoji: 'x' },
      enabledNetworks: [], recheckDelaysMs: [],
    });
    await service.draft({ channel: CHANNEL, user: 'UAUTHOR', text: 'No networks yet' });
    const id = (await store.members(keys.appeals(CHANNEL)))[0]!;
    const card = (await store.get<Appeal>(keys.appeal(id)))!.cards[0]!.ts;
    for (const u of ['UAPP1', 'UAPP2']) {
      room.react(card, u, 'white_check_mark', true);
      await service.reaction({ channel: CHANNEL, ts: card, user: u, emoji: 'white_check_mark', added: true });
    }
    await service.publisher.stop();
    expect((await store.get<Appeal>(keys.appeal(id)))!.state).toBe('approved');
    expect(await store.members(publishKeys.pending)).toEqual([]);
    expect(room.texts().some((t) => t.includes('No network is configured'))).toBe(true);
    await store.close();
  });
});
