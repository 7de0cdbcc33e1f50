import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countedApprovers, evaluateApproval, whyNotCounted, type ApprovalInput } from '../../src/core/approval.js';

/**
 * The rule is fed what the chat platform reports as the card's current reactions. These
 * tests drive it with random sequences of adds, removes and repeats by random actors,
 * applied to a model of the platform's reaction state (a set of users per emoji: adding
 * twice is one reaction, removing what isn't there does nothing), and check that no
 * sequence approves without the required distinct, authorised, non-author approvals of
 * the current content.
 */

const AUTHOR = 'UAUTHOR';
const BOT = 'UBOT';
const APPROVERS = ['UAPP1', 'UAPP2', 'UAPP3', 'USEN1'];
const SENIORS = ['USEN1'];
const OUTSIDERS = ['UOUT1', 'UOUT2'];
const ACTORS = [AUTHOR, BOT, ...APPROVERS, ...OUTSIDERS];

type Op = { actor: string; emoji: 'approve' | 'reject' | 'other'; add: boolean };

const opArb: fc.Arbitrary<Op> = fc.record({
  actor: fc.constantFrom(...ACTORS),
  emoji: fc.constantFrom('approve', 'approve', 'approve', 'reject', 'other'),
  add: fc.boolean(),
});

function applyOps(ops: Op[]): { approve: string[]; reject: string[] } {
  const state = { approve: new Set<string>(), reject: new Set<string>(), other: new Set<string>() };
  for (const op of ops) {
    if (op.add) state[op.emoji].add(op.actor);
    else state[op.emoji].delete(op.actor);
  }
  return { approve: [...state.approve], reject: [...state.reject] };
}

function input(reactions: { approve: string[]; reject: string[] }, over: Partial<ApprovalInput> = {}): ApprovalInput {
  return {
    required: 2,
    author: AUTHOR,
    botUserId: BOT,
    approveUsers: reactions.approve,
    rejectUsers: reactions.reject,
    authorized: new Set(APPROVERS),
    seniors: null,
    cardHash: 'h1',
    currentHash: 'h1',
    ...over,
  };
}

/** An independent statement of the rule, for the property. */
function oracle(i: ApprovalInput): 'approved' | 'rejected' | 'pending' {
  if (i.cardHash !== i.currentHash) return 'pending';
  if (i.rejectUsers.some((u) => u !== i.botUserId && i.authorized.has(u))) return 'rejected';
  const ok = new Set(i.approveUsers.filter((u) => u !== i.author && u !== i.botUserId && i.authorized.has(u)));
  if (ok.size < i.required) return 'pending';
  if (i.seniors && ![...ok].some((u) => i.seniors!.has(u))) return 'pending';
  return 'approved';
}

describe('approval rule over random reaction sequences', () => {
  const config = fc.record({
    ops: fc.array(opArb, { maxLength: 40 }),
    required: fc.integer({ min: 1, max: 4 }),
    withSeniors: fc.boolean(),
    stale: fc.boolean(),
    author: fc.constantFrom(AUTHOR, 'UAPP1'),
  });

  it('never approves without the required distinct, authorised, non-author, non-bot approvals of the current content', () => {
    fc.assert(
      fc.property(config, ({ ops, required, withSeniors, stale, author }) => {
        const reactions = applyOps(ops);
        const i = input(reactions, {
          required,
          author,
          seniors: withSeniors ? new Set(SENIORS) : null,
          currentHash: stale ? 'h2' : 'h1',
        });
        const d = evaluateApproval(i);
        if (d.status === 'approved') {
          expect(stale).toBe(false);
          expect(new Set(d.approvers).size).toBe(d.approvers.length);
          expect(d.approvers.length).toBeGreaterThanOrEqual(required);
          for (const u of d.approvers) {
            expect(u).not.toBe(author);
            expect(u).not.toBe(BOT);
            expect(APPROVERS).toContain(u);
            expect(reactions.approve).toContain(u);
          }
          if (withSeniors) expect(d.approvers.some((u) => SENIORS.includes(u))).toBe(true);
          expect(reactions.reject.filter((u) => u !== BOT && APPROVERS.includes(u))).toEqual([]);
        }
        expect(d.status).toBe(oracle(i));
      }),
      { numRuns: 2000 },
    );
  });

  it('reactions by the author, the bot and outsiders never change the outcome', () => {
    const noiseArb = fc.record({
      actor: fc.constantFrom(AUTHOR, BOT, ...OUTSIDERS),
      emoji: fc.constantFrom('approve' as const, 'reject' as const, 'other' as const),
      add: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), fc.array(noiseArb, { maxLength: 30 }), fc.nat(), (ops, noise, seed) => {
        const relevant = ops.filter((o) => APPROVERS.includes(o.actor));
        // interleave the noise anywhere in the sequence
        const mixed = [...relevant];
        noise.forEach((n, i) => mixed.splice((seed + i * 7) % (mixed.length + 1), 0, n));
        expect(evaluateApproval(input(applyOps(mixed))).status).toBe(evaluateApproval(input(applyOps(relevant))).status);
      }),
      { numRuns: 1000 },
    );
  });

  it('repeating any add or remove changes nothing (idempotent)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), fc.nat(), (ops, k) => {
        const dup = [...ops];
        const i = k % ops.length;
        dup.splice(i + 1, 0, ops[i]!);
        expect(evaluateApproval(input(applyOps(dup)))).toEqual(evaluateApproval(input(applyOps(ops))));
      }),
      { numRuns: 1000 },
    );
  });

  it('a removed reaction withdraws that approval', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(APPROVERS.slice(0, 3), { minLength: 2, maxLength: 3 }), (who) => {
        const adds = who.map((actor) => ({ actor, emoji: 'approve' as const, add: true }));
        expect(evaluateApproval(input(applyOps(adds))).status).toBe('approved');
        const removed = [...adds, { actor: who[0]!, emoji: 'approve' as const, add: false }];
        const d = evaluateApproval(input(applyOps(removed), { required: who.length }));
        expect(d.status).toBe('pending');
      }),
    );
  });
});

describe('approval rule, named cases', () => {
  it('two colleagues approve → approved; the author and bot do not count', () => {
    const d = evaluateApproval(input({ approve: [AUTHOR, BOT, 'UAPP1', 'UAPP2'], reject: [] }));
    expect(d).toEqual({ status: 'approved', approvers: ['UAPP1', 'UAPP2'] });
  });

  it('an author who is an approver may not approve their own appeal', () => {
    const d = evaluateApproval(input({ approve: ['UAPP1', 'UAPP2'], reject: [] }, { author: 'UAPP1' }));
    expect(d.status).toBe('pending');
    expect(whyNotCounted('UAPP1', { author: 'UAPP1', botUserId: BOT, authorized: new Set(APPROVERS) })).toBe('author');
  });

  it('senior requirement: two non-senior approvals are not enough', () => {
    const seniors = new Set(SENIORS);
    expect(evaluateApproval(input({ approve: ['UAPP1', 'UAPP2'], reject: [] }, { seniors })).status).toBe('pending');
    expect(evaluateApproval(input({ approve: ['UAPP1', 'USEN1'], reject: [] }, { seniors })).status).toBe('approved');
  });

  it('a reject by an approver outweighs approvals; an outsider or the bot cannot reject', () => {
    expect(evaluateApproval(input({ approve: ['UAPP1', 'UAPP2'], reject: ['UAPP3'] }))).toEqual({ status: 'rejected', by: 'UAPP3' });
    expect(evaluateApproval(input({ approve: ['UAPP1', 'UAPP2'], reject: [BOT, 'UOUT1'] })).status).toBe('approved');
  });

  it('reactions on a card whose hash is not the current content never approve', () => {
    const d = evaluateApproval(input({ approve: ['UAPP1', 'UAPP2', 'UAPP3'], reject: [] }, { cardHash: 'old', currentHash: 'new' }));
    expect(d.status).toBe('pending');
  });

  it('counted approvers are distinct, in order', () => {
    expect(countedApprovers({ approveUsers: ['UAPP2', 'UAPP1', 'UAPP2'], author: AUTHOR, botUserId: BOT, authorized: new Set(APPROVERS) })).toEqual(['UAPP2', 'UAPP1']);
  });
});
