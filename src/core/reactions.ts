/**
 * Reading a card's reactions into an approval decision, for appeal cards and update cards
 * alike: the reactions come from the chat platform (the source of truth), approver groups
 * are expanded, and the pure rule in approval.ts decides. Also what a reaction means in
 * words, for the audit trail and for the person whose reaction doesn't count.
 */
import { evaluateApproval, whyNotCounted, type ApprovalDecision, type ApprovalInput } from './approval.js';
import { msg, type Message } from './messages.js';
import type { ChatRoom } from './ports.js';

export interface ApprovalPolicy {
  approvers: string[];
  seniors: string[];
  required: number;
  approveEmoji: string;
  rejectEmoji: string;
}

/** A reaction added to or removed from a card. */
export type Reactor = { channel: string; ts: string; user: string; emoji: string; added: boolean };

export type Rule = Pick<ApprovalInput, 'author' | 'contributors' | 'botUserId' | 'authorized'>;

export interface CardReading {
  decision: ApprovalDecision;
  rule: Rule;
  /** Approver groups whose members couldn't be read: nothing is approved until they can. */
  unresolved: string[];
}

/** The card's current reactions, read from the platform, and what they decide. */
export async function readCard(
  room: ChatRoom,
  policy: ApprovalPolicy,
  card: { channel: string; ts: string; author: string; contributors: readonly string[]; cardHash: string; currentHash: string },
  trigger: Reactor,
): Promise<CardReading> {
  const reactions = await room.reactions({ channel: card.channel, ts: card.ts });
  const approveUsers = reactions.get(policy.approveEmoji) ?? [];
  const rejectUsers = reactions.get(policy.rejectEmoji) ?? [];
  const reactors = [...new Set([...approveUsers, ...rejectUsers, trigger.user])].filter((u) => u !== room.botUserId);
  const authorized = await room.usersCoveredBy(reactors, [...policy.approvers, ...policy.seniors]);
  const seniors = policy.seniors.length > 0 ? await room.usersCoveredBy(reactors, policy.seniors) : null;
  const unresolved = [...new Set([...authorized.unresolved, ...(seniors?.unresolved ?? [])])];
  const rule: Rule = { author: card.author, contributors: [...card.contributors], botUserId: room.botUserId, authorized: authorized.covered };
  const decision = evaluateApproval({
    ...rule,
    required: policy.required,
    approveUsers,
    rejectUsers,
    seniors: seniors?.covered ?? null,
    membershipIncomplete: unresolved.length > 0,
    cardHash: card.cardHash,
    currentHash: card.currentHash,
  });
  return { decision, rule, unresolved };
}

/** Whether a reaction counted, and why not, in words for the audit trail. */
export function reactionVerdict(trigger: Reactor, reading: CardReading, policy: ApprovalPolicy): string {
  const { decision, rule, unresolved } = reading;
  const counted = decision.status === 'rejected' ? 0 : decision.approvers.length;
  const tally = `${counted} of ${policy.required} approvals count`;
  if (trigger.emoji === policy.rejectEmoji) {
    if (!trigger.added) return `reject removed; ${tally}`;
    return rule.authorized.has(trigger.user) ? 'counted: rejects it' : 'not counted: not an authorised approver';
  }
  if (!trigger.added) return `approval removed; ${tally}`;
  const why = whyNotCounted(trigger.user, rule);
  if (why === 'not_approver' && unresolved.length > 0) return `undecided: approver group membership (${unresolved.join(', ')}) couldn't be read`;
  if (why) return `not counted: ${WHY_WORDS[why]}`;
  return `counted; ${tally}${decision.status === 'pending' && decision.seniorMissing ? ', a senior approval is still missing' : ''}`;
}

const WHY_WORDS = {
  author: 'the author never approves their own',
  contributor: 'added media to it',
  bot: 'the bot',
  not_approver: 'not an authorised approver',
} as const;

/**
 * The private note for someone whose reaction doesn't count (`what` names the card: "#7K3Q",
 * "update 1 to #7K3Q"), or undefined when it counts. A reject counts from any authorised
 * approver, the author included: stopping something is always allowed.
 */
export function notCountedNote(trigger: Reactor, reading: CardReading, policy: ApprovalPolicy, what: string): Message | undefined {
  const { rule, unresolved } = reading;
  const why = trigger.emoji === policy.approveEmoji ? whyNotCounted(trigger.user, rule) : rule.authorized.has(trigger.user) ? undefined : 'not_approver';
  switch (why) {
    case 'author':
      return msg`You drafted ${what}, so your :${policy.approveEmoji}: can't count: it needs ${policy.required} approvals from colleagues.`;
    case 'contributor':
      return msg`You added media to ${what}, so your :${policy.approveEmoji}: can't count: colleagues who didn't contribute must approve it.`;
    case 'not_approver':
      return unresolved.length === 0 ? msg`Your :${trigger.emoji}: on ${what} isn't counted: you aren't an authorised approver.` : undefined;
    default:
      return undefined;
  }
}

/** Slack sends skin tones as "name::skin-tone-2"; colons may surround a configured name. */
export function normalizeEmoji(name: string): string {
  return name.replace(/::skin-tone-\d$/, '').replace(/^:|:$/g, '');
}

export function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
