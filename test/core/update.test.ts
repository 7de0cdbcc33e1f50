import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAudit } from '../../src/core/audit.js';
import { plain } from '../../src/core/messages.js';
import { NetworkError, type Store } from '../../src/core/ports.js';
import { keys, type AppealService } from '../../src/core/service.js';
import { updateKeys, type AppealUpdate } from '../../src/core/update.js';
import type { FakeRoom } from '../helpers/fake-room.js';
import type { FakeNetwork } from '../helpers/fake-network.js';
import { CHANNEL, openIncidentRoom, type IncidentRoom } from '../helpers/incident-room.js';

const ctx = (user: string) => ({ channel: CHANNEL, user });

describe('updates to a published appeal', () => {
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

  const react = (ts: string, user: string, emoji?: string) => r.react(ts, user, emoji);
  const publishedAppeal = () => r.publishedAppeal('Missing: Amy, 14, last seen at the station');
  const update = async (id: string, n = 1) => (await store.get<AppealUpdate>(updateKeys.update(id, n)))!;

  it('needs two approvals (never its author) and then replies once on every network where the appeal is live', async () => {
    const appeal = await publishedAppeal();
    const reply = await service.execute({ kind: 'update', id: appeal.id, text: 'Amy has been found safe. Thank you for sharing.' }, ctx('UAPP3'));
    expect(plain(reply)).toContain(`Update 1 to #${appeal.id} drafted`);
    const u = await update(appeal.id);
    const card = room.message(u.card.ts);
    expect(card.threadTs).toBe(appeal.threadTs);
    expect(card.card?.update).toEqual({ n: 1 });
    expect(card.card?.outgoing.map((o) => o.text)).toEqual([`Update (Ref ${appeal.id}): Amy has been found safe. Thank you for sharing.`, `Update (Ref ${appeal.id}): Amy has been found safe. Thank you for sharing.`]);

    await react(u.card.ts, 'UAPP3'); // the update's author: doesn't count
    await react(u.card.ts, 'UAPP1');
    expect(x.calls.reply).toBe(0);
    expect(room.notes.some((n) => n.user === 'UAPP3' && n.text.includes("can't count"))).toBe(true);
    await react(u.card.ts, 'UAPP2');
    await service.updater.idle();
    expect(x.replies).toEqual([expect.objectContaining({ parent: x.posts[0]!.id, text: expect.stringContaining('found safe') })]);
    expect(fb.replies).toHaveLength(1);
    expect((await update(appeal.id)).state).toBe('published');
    expect(room.texts().some((t) => t.includes(`Update 1 to #${appeal.id} posted on 2 networks`))).toBe(true);

    // A redelivered reaction, or a second run, posts nothing again.
    await react(u.card.ts, 'UAPP2');
    await service.updater.start(appeal.id, 1);
    expect(x.calls.reply).toBe(1);
    expect(fb.calls.reply).toBe(1);

    // Withdrawal takes the replies down with the posts.
    await service.execute({ kind: 'withdraw', id: appeal.id, reason: 'found' }, ctx('UAUTHOR'));
    await service.withdrawer.idle();
    expect(x.replies).toHaveLength(0);
    expect(fb.replies).toHaveLength(0);
    expect(x.posts.every((p) => p.deleted)).toBe(true);
    expect(await verifyAudit(store)).toMatchObject({ ok: true });
    const actions = (await service.audit.forAppeal(appeal.id)).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['update_drafted', 'update_approved', 'update_posted', 'withdrawn']));
  });

  it('refuses an update for a draft, a withdrawn or an unknown appeal, or too long for X, drafting nothing', async () => {
    await service.draft({ channel: CHANNEL, user: 'UAUTHOR', text: 'Draft only' });
    const draftId = (await store.members(keys.appeals(CHANNEL)))[0]!;
    expect(plain(await service.execute({ kind: 'update', id: draftId, text: 'x' }, ctx('UAUTHOR')))).toContain('can only follow a published one');
    expect(plain(await service.execute({ kind: 'update', id: 'ZZZZ', text: 'x' }, ctx('UAUTHOR')))).toContain('No appeal #ZZZZ');
    const live = await publishedAppeal();
    expect(plain(await service.execute({ kind: 'update', id: live.id, text: 'a'.repeat(300) }, ctx('UAUTHOR')))).toContain('for X as a reply');
    await service.execute({ kind: 'withdraw', id: live.id }, ctx('UAUTHOR'));
    await service.withdrawer.idle();
    expect(plain(await service.execute({ kind: 'update', id: live.id, text: 'found' }, ctx('UAUTHOR')))).toContain('withdrawn');
    expect(room.cards().filter((c) => c.card?.update)).toHaveLength(0);
  });

  it('a rejected update posts nothing; a network that refuses is reported, the others still get it', async () => {
    const appeal = await publishedAppeal();
    await service.execute({ kind: 'update', id: appeal.id, text: 'Wrong name in the appeal' }, ctx('UAUTHOR'));
    const first = await update(appeal.id, 1);
    await react(first.card.ts, 'UAPP1', 'x');
    expect((await update(appeal.id, 1)).state).toBe('rejected');
    await react(first.card.ts, 'UAPP2');
    await react(first.card.ts, 'UAPP3');
    await service.updater.idle();
    expect(x.calls.reply + fb.calls.reply).toBe(0);

    await service.execute({ kind: 'update', id: appeal.id, text: 'Amy is home' }, ctx('UAUTHOR'));
    const second = await update(appeal.id, 2);
    fb.replyErrors.push(new NetworkError({ network: 'facebook', code: 'forbidden', userMessage: 'the Page token lacks pages_manage_engagement', permanent: true, status: 403 }));
    await react(second.card.ts, 'UAPP1');
    await react(second.card.ts, 'UAPP2');
    await service.updater.idle();
    expect(x.replies).toHaveLength(1);
    expect(fb.replies).toHaveLength(0);
    expect(fb.calls.reply).toBe(1);
    const summary = room.texts().find((t) => t.includes(`Update 2 to #${appeal.id} posted on 1 network`))!;
    expect(summary).toContain('Facebook: not posted: the Page token lacks pages_manage_engagement');
  });

  it('withdrawn while a reply is being posted: "withdrawn everywhere" waits for it, and it comes down too', async () => {
    const appeal = await publishedAppeal();
    await service.execute({ kind: 'update', id: appeal.id, text: 'Amy is home' }, ctx('UAUTHOR'));
    const u = await update(appeal.id);
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    x.replyGate = () => held;
    await react(u.card.ts, 'UAPP1');
    await react(u.card.ts, 'UAPP2');
    for (let i = 0; i < 200 && x.calls.reply === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(x.calls.reply).toBe(1);
    await service.execute({ kind: 'withdraw', id: appeal.id }, ctx('UAUTHOR'));
    await service.withdrawer.idle();
    expect(room.texts().some((t) => t.includes('withdrawn everywhere'))).toBe(false);
    release();
    await service.updater.idle();
    for (let i = 0; i < 5 && !room.texts().some((t) => t.includes('withdrawn everywhere')); i++) {
      await service.withdrawer.sweep();
      await service.withdrawer.idle();
    }
    expect(x.replies).toHaveLength(0);
    expect(x.posts.every((p) => p.deleted)).toBe(true);
    expect(room.texts().filter((t) => t.includes('withdrawn everywhere'))).toHaveLength(1);
  });

  it('an answer lost after sending is reported, never repeated, also after a restart', async () => {
    const appeal = await publishedAppeal();
    await service.execute({ kind: 'update', id: appeal.id, text: 'Amy is home' }, ctx('UAUTHOR'));
    const u = await update(appeal.id);
    x.replyErrors.push(new NetworkError({ network: 'x', code: 'unavailable', userMessage: "X didn't answer", permanent: false, ambiguous: true }));
    await react(u.card.ts, 'UAPP1');
    await react(u.card.ts, 'UAPP2');
    await service.updater.idle();
    expect(x.calls.reply).toBe(1);
    const summary = room.texts().find((t) => t.includes(`Update 1 to #${appeal.id} posted`))!;
    expect(summary).toContain('it may have been posted, so it is not repeated');
    // A crash between the attempt marker and the record: the next run reports, never re-posts.
    await store.set(updateKeys.update(appeal.id, 1), { ...u, state: 'approved' });
    await store.delete(updateKeys.result(appeal.id, 1, 'facebook'));
    await store.set(updateKeys.attempt(appeal.id, 1, 'facebook'), Date.now());
    await service.updater.start(appeal.id, 1);
    expect(fb.calls.reply).toBe(1);
  });
});
