import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appealHash, currentCard, type Appeal } from '../../src/core/appeal.js';
import { systemClock, type Logger, type Store } from '../../src/core/ports.js';
import { AppealService, keys } from '../../src/core/service.js';
import { openStore } from '../../src/store/index.js';
import { fakeMedia, FakeRoom } from '../helpers/fake-room.js';

/**
 * The approval rule at the service level: random sequences of reactions (added, removed,
 * repeated, on the current card or an older one, by the author, the bot, approvers, group
 * members and outsiders) interleaved with media changes by random people. The test keeps
 * its own record of which card is current and checks, at the moment an appeal becomes
 * approved, that the required distinct, authorised approvers who neither drafted it nor
 * added media to it have ✅ on that very card, that no authorised approver has ❌ there,
 * and that the approval binds the content hash of what the appeal holds.
 */

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const AUTHOR = 'UAUTHOR';
const DIRECT = ['UAPP1', 'UAPP2', 'UAPP3'];
const GROUP_MEMBERS = ['UGRP1', 'UGRP2'];
const OUTSIDERS = ['UOUT1'];
const ACTORS = [AUTHOR, 'UBOT', ...DIRECT, ...GROUP_MEMBERS, ...OUTSIDERS];
const AUTHORIZED = new Set([...DIRECT, ...GROUP_MEMBERS]);

type Op =
  | { kind: 'react'; user: string; emoji: 'white_check_mark' | 'x'; on: boolean; card: 'current' | 'previous' }
  | { kind: 'media'; user: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('react' as const), user: fc.constantFrom(...ACTORS), emoji: fc.constantFrom('white_check_mark' as const, 'white_check_mark' as const, 'x' as const), on: fc.boolean(), card: fc.constantFrom('current' as const, 'current' as const, 'previous' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('media' as const), user: fc.constantFrom(AUTHOR, ...DIRECT, ...DIRECT, 'UGRP1', ...OUTSIDERS) }) },
);

describe('approval at the service level, over random interleavings', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openStore('sqlite://:memory:');
  });
  afterAll(async () => {
    await store.close();
  });

  it('never approves without the required approvals of the current content', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), fc.constantFrom(1, 1, 2, 3), fc.boolean(), async (ops, required, groupFails) => {
        const room = new FakeRoom();
        room.groups.set('SGROUP', groupFails ? 'fail' : GROUP_MEMBERS);
        const service = new AppealService({
          store, room, media: fakeMedia, clock: systemClock, logger: silent,
          policy: { approvers: [...DIRECT, 'SGROUP'], seniors: [], required, approveEmoji: 'white_check_mark', rejectEmoji: 'x' },
          enabledNetworks: ['x', 'facebook'],
          recheckDelaysMs: [],
        });
        const channel = `C${++run}`;
        await service.draft({ channel, user: AUTHOR, text: `Appeal ${run}` });
        const id = (await store.members(keys.appeals(channel)))[0]!;
        const cards = () => room.cards().map((m) => m.ts);
        const contributors = new Set<string>();
        let media = 0;

        for (const op of ops) {
          const before = (await store.get<Appeal>(keys.appeal(id)))!;
          if (before.state !== 'draft') break;
          if (op.kind === 'media') {
            await service.addFiles({ channel, threadTs: before.threadTs, user: op.user, files: [{ name: `m${media}.png`, fetch: async () => Buffer.from(`IMG-${run}-${media++}`) }] });
            if (op.user !== AUTHOR) contributors.add(op.user);
            continue;
          }
          const all = cards();
          const ts = op.card === 'current' ? all.at(-1)! : all.at(-2) ?? all[0]!;
          room.react(ts, op.user, op.emoji, op.on);
          await service.reaction({ channel, ts, user: op.user, emoji: op.emoji, added: op.on });

          const after = (await store.get<Appeal>(keys.appeal(id)))!;
          if (after.approval) {
            const current = all.at(-1)!;
            // Approved on the current card only, by a reaction on it.
            expect(ts).toBe(current);
            expect(currentCard(after)!.ts).toBe(current);
            const onCard = room.message(current).reactions;
            const approvers = [...(onCard.get('white_check_mark') ?? [])].filter((u) => AUTHORIZED.has(u) && u !== AUTHOR && !contributors.has(u));
            expect(groupFails ? approvers.filter((u) => DIRECT.includes(u)).length : approvers.length).toBeGreaterThanOrEqual(required);
            expect(after.approval!.approvers.length).toBeGreaterThanOrEqual(required);
            for (const u of after.approval!.approvers) {
              expect(approvers).toContain(u);
              if (groupFails) expect(DIRECT).toContain(u);
            }
            expect([...(onCard.get('x') ?? [])].filter((u) => AUTHORIZED.has(u))).toEqual([]);
            expect(groupFails && [...onCard.keys()].flatMap((k) => [...onCard.get(k)!]).some((u) => !DIRECT.includes(u) && u !== 'UBOT')).toBe(false);
            expect(after.approval!.hash).toBe(appealHash(after));
            expect(after.approval!.hash).toBe(currentCard(after)!.hash);
          }
          if (after.state === 'rejected') {
            const onCard = room.message(all.at(-1)!).reactions;
            expect([...(onCard.get('x') ?? [])].some((u) => AUTHORIZED.has(u) && !(groupFails && GROUP_MEMBERS.includes(u)))).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
