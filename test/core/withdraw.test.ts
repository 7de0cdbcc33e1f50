import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Appeal } from '../../src/core/appeal.js';
import { plain } from '../../src/core/messages.js';
import { NetworkError, type Store } from '../../src/core/ports.js';
import { publishKeys, type PublicationRecord } from '../../src/core/publisher.js';
import { keys, type AppealService } from '../../src/core/service.js';
import { withdrawKeys } from '../../src/core/withdraw.js';
import type { FakeRoom } from '../helpers/fake-room.js';
import type { FakeNetwork } from '../helpers/fake-network.js';
import { CHANNEL, openIncidentRoom, type IncidentRoom } from '../helpers/incident-room.js';

const down = () => new NetworkError({ network: 'facebook', code: 'unavailable', userMessage: 'Facebook is not answering', permanent: false });

describe('withdrawing an appeal', () => {
  let r: IncidentRoom;
  let store: Store;
  let room: FakeRoom;
  let x: FakeNetwork;
  let fb: FakeNetwork;
  let service: AppealService;

  beforeEach(async () => {
    r = await openIncidentRoom();
    ({ store, room, x, fb, service } = r);
  });
  afterEach(() => r.close());

  const publishedAppeal = () => r.publishedAppeal('Wanted: have you seen this man?');

  it('one approver takes it down everywhere, each network confirmed; it can no longer be approved or retried', async () => {
    const appeal = await publishedAppeal();
    expect(x.posts).toHaveLength(1);
    expect(fb.posts).toHaveLength(1);
    const reply = await service.execute({ kind: 'withdraw', id: appeal.id, reason: 'suspect arrested' }, { channel: CHANNEL, user: 'UAPP3' });
    expect(plain(reply)).toContain('Withdrawing');
    await service.withdrawer.sweep();
    expect(x.posts[0]!.deleted).toBe(true);
    expect(fb.posts[0]!.deleted).toBe(true);
    const texts = room.texts();
    expect(texts.some((t) => t.includes('withdrawn by @UAPP3 (suspect arrested)'))).toBe(true);
    expect(texts.some((t) => t.includes('removed from X'))).toBe(true);
    expect(texts.some((t) => t.includes('removed from Facebook'))).toBe(true);
    expect(texts.filter((t) => t.includes('withdrawn everywhere'))).toHaveLength(1);
    expect(await store.members(publishKeys.live)).toEqual([]);
    expect(await store.members(withdrawKeys.pending)).toEqual([]);
    const after = (await store.get<Appeal>(keys.appeal(appeal.id)))!;
    expect(after.state).toBe('withdrawn');
    expect(after.withdrawal).toMatchObject({ by: 'UAPP3', reason: 'suspect arrested' });
    expect(plain(await service.execute({ kind: 'retry', id: appeal.id }, { channel: CHANNEL, user: 'UAUTHOR' }))).toContain('withdrawn');
    await service.withdrawer.sweep();
    expect(x.calls.withdraw).toBe(1); // idempotent: nothing deleted twice
  });

  it('anyone else is refused and nothing changes', async () => {
    const appeal = await publishedAppeal();
    const reply = await service.execute({ kind: 'withdraw', id: appeal.id }, { channel: CHANNEL, user: 'UOUTSIDER' });
    expect(plain(reply)).toContain('Only the author');
    await service.withdrawer.sweep();
    expect(x.calls.withdraw).toBe(0);
    expect((await store.get<Appeal>(keys.appeal(appeal.id)))!.state).toBe('published');
  });

  it('a network that keeps failing is shown as still live and retried until it is gone', async () => {
    const appeal = await publishedAppeal();
    fb.withdrawErrors.push(...Array.from({ length: 6 }, down)); // two passes of three tries fail
    await service.execute({ kind: 'withdraw', id: appeal.id }, { channel: CHANNEL, user: 'UAUTHOR' });
    await service.withdrawer.sweep();
    expect(x.posts[0]!.deleted).toBe(true);
    expect(fb.posts[0]!.deleted).toBe(false);
    expect(room.texts().filter((t) => t.includes('still live on Facebook'))).toHaveLength(1);
    expect(await store.members(withdrawKeys.pending)).toEqual([appeal.id]);
    await service.withdrawer.sweep();
    expect(fb.posts[0]!.deleted).toBe(true);
    expect(room.texts().filter((t) => t.includes('still live on Facebook'))).toHaveLength(1);
    expect(room.texts().filter((t) => t.includes('withdrawn everywhere'))).toHaveLength(1);
    expect(await store.members(withdrawKeys.pending)).toEqual([]);
  });

  it.each([
    ['before the network is called: nothing goes up', 'before'],
    ['after the network took the post, before it answered: it comes down', 'after'],
  ] as const)('a withdrawal while publishing is in flight wins, %s', async (_what, when) => {
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    if (when === 'before') x.gate = () => held;
    else x.answerGate = () => held;
    await service.draft({ channel: CHANNEL, user: 'UAUTHOR', text: 'Missing person' });
    const id = (await store.members(keys.appeals(CHANNEL)))[0]!;
    const card = (await store.get<Appeal>(keys.appeal(id)))!.cards[0]!.ts;
    for (const u of ['UAPP1', 'UAPP2']) {
      room.react(card, u, 'white_check_mark', true);
      await service.reaction({ channel: CHANNEL, ts: card, user: u, emoji: 'white_check_mark', added: true });
    }
    // X's post is in flight (held at the gate); Facebook's is recorded.
    const until = async (cond: () => Promise<boolean> | boolean) => {
      for (let i = 0; i < 200 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(async () => x.calls.publish === 1 && (await store.get(publishKeys.record(id, 'facebook'))) !== undefined);
    expect(x.calls.publish).toBe(1);
    await service.execute({ kind: 'withdraw', id, reason: 'found safe' }, { channel: CHANNEL, user: 'UAUTHOR' });
    release();
    await service.publisher.idle();
    // The post X took after the withdrawal queues the appeal for another pass.
    await service.withdrawer.idle();
    for (let i = 0; i < 5 && (await store.members(withdrawKeys.pending)).length > 0; i++) await service.withdrawer.sweep();
    expect(await store.members(withdrawKeys.pending)).toEqual([]);
    expect(x.posts).toHaveLength(when === 'before' ? 0 : 1);
    expect(x.posts.every((p) => p.deleted)).toBe(true);
    expect(fb.posts.every((p) => p.deleted)).toBe(true);
    await service.publisher.sweep();
    expect(x.posts.filter((p) => !p.deleted)).toHaveLength(0);
    expect(fb.posts.filter((p) => !p.deleted)).toHaveLength(0);
    const rec = await store.get<PublicationRecord>(publishKeys.record(id, 'x'));
    expect(rec?.state).toBe(when === 'before' ? undefined : 'published');
    // The last word comes after every removal, once.
    const texts = room.texts();
    const done = texts.findIndex((t) => t.includes('withdrawn everywhere'));
    expect(texts.filter((t) => t.includes('withdrawn everywhere'))).toHaveLength(1);
    expect(done).toBeGreaterThan(texts.findIndex((t) => t.includes('removed from Facebook')));
    if (when === 'after') expect(done).toBeGreaterThan(texts.findIndex((t) => t.includes('removed from X')));
  });

  it('a post whose answer was lost (never recorded) is found by its reference and comes down too', async () => {
    x.loseAnswer = new NetworkError({ network: 'x', code: 'unavailable', userMessage: "X didn't answer", permanent: false, ambiguous: true });
    const appeal = await publishedAppeal();
    expect(x.posts).toHaveLength(1);
    expect((await store.get<PublicationRecord>(publishKeys.record(appeal.id, 'x')))?.state).toBe('failed');
    await service.execute({ kind: 'withdraw', id: appeal.id }, { channel: CHANNEL, user: 'UAUTHOR' });
    await service.withdrawer.idle();
    expect(x.posts.every((p) => p.deleted)).toBe(true);
    expect(fb.posts.every((p) => p.deleted)).toBe(true);
    const texts = room.texts();
    expect(texts.some((t) => t.includes('removed from X (a post whose publishing had been cut short)'))).toBe(true);
    expect(texts.findIndex((t) => t.includes('withdrawn everywhere'))).toBeGreaterThan(texts.findIndex((t) => t.includes('removed from X')));
  });

  it('the trail says who withdrew it before it says what came down; a reply that will not go never holds up the post', async () => {
    const appeal = await publishedAppeal();
    await store.addToSet('update-replies:' + appeal.id, 'facebook|1');
    await store.set(`update-result:${appeal.id}:1:facebook`, { state: 'posted', network: 'facebook', at: Date.now(), postId: 'c1', url: 'https://fb.example/c1', extra: { replyTo: ['x'] } });
    // The post's delete works; the reply's fails every time in this pass.
    const realWithdraw = fb.withdraw.bind(fb);
    fb.withdraw = async (post) => {
      if (post.extra?.replyTo) throw new NetworkError({ network: 'facebook', code: 'forbidden', userMessage: 'Facebook refused to delete the comment', permanent: true, status: 403 });
      return realWithdraw(post);
    };
    await service.execute({ kind: 'withdraw', id: appeal.id, reason: 'arrested' }, { channel: CHANNEL, user: 'UAUTHOR' });
    await service.withdrawer.idle();
    expect(fb.posts.every((p) => p.deleted)).toBe(true);
    expect(room.texts().some((t) => t.includes('removed from Facebook'))).toBe(true);
    expect(room.texts().some((t) => t.includes('still live on Facebook') && t.includes('a reply of an update') && t.includes('delete it by hand'))).toBe(true);
    const trail = await service.audit.forAppeal(appeal.id);
    const first = (pred: (e: (typeof trail)[number]) => boolean) => trail.findIndex(pred);
    expect(first((e) => e.action === 'withdraw' && e.actor === 'UAUTHOR' && e.reason === 'arrested')).toBeGreaterThanOrEqual(0);
    expect(first((e) => e.action === 'withdraw')).toBeLessThan(first((e) => e.action === 'withdrawn'));
  });

  it('a network rate-limiting deletions for long is left alone until then (30 s at most), then tried again', async () => {
    const appeal = await publishedAppeal();
    fb.withdrawErrors.push(new NetworkError({ network: 'facebook', code: 'rate_limited', userMessage: 'Facebook is rate-limiting deletions', permanent: false, retryAfterMs: 3_600_000 }));
    const before = Date.now();
    await service.execute({ kind: 'withdraw', id: appeal.id }, { channel: CHANNEL, user: 'UAUTHOR' });
    await service.withdrawer.idle();
    expect(fb.calls.withdraw).toBe(1);
    expect(room.texts().some((t) => t.includes('still live on Facebook') && t.includes('Facebook is rate-limiting deletions'))).toBe(true);
    const notBefore = (await store.get<number>(withdrawKeys.notBefore(appeal.id, 'facebook')))!;
    expect(notBefore - before).toBeGreaterThanOrEqual(30_000);
    expect(notBefore - Date.now()).toBeLessThanOrEqual(30_000);
    await service.withdrawer.sweep();
    expect(fb.calls.withdraw).toBe(1); // not before the time it asked for
    await store.set(withdrawKeys.notBefore(appeal.id, 'facebook'), Date.now() - 1);
    await service.withdrawer.sweep();
    await service.withdrawer.idle();
    expect(fb.posts.every((p) => p.deleted)).toBe(true);
    expect(room.texts().some((t) => t.includes('withdrawn everywhere'))).toBe(true);
  });

  it('withdrawing a draft: nothing was public, nothing will be published', async () => {
    await service.draft({ channel: CHANNEL, user: 'UAUTHOR', text: 'Draft only' });
    const id = (await store.members(keys.appeals(CHANNEL)))[0]!;
    await service.execute({ kind: 'withdraw', id }, { channel: CHANNEL, user: 'UAUTHOR' });
    await service.withdrawer.sweep();
    await service.withdrawer.idle();
    expect(room.texts().some((t) => t.includes('nothing of it was public'))).toBe(true);
    const card = (await store.get<Appeal>(keys.appeal(id)))!.cards[0]!.ts;
    for (const u of ['UAPP1', 'UAPP2']) {
      room.react(card, u, 'white_check_mark', true);
      await service.reaction({ channel: CHANNEL, ts: card, user: u, emoji: 'white_check_mark', added: true });
    }
    await service.publisher.idle();
    expect(x.calls.publish + fb.calls.publish).toBe(0);
  });
});
