/**
 * The approval rule, as a pure function of the reactions currently on an appeal's card.
 *
 * The chat platform is the source of truth for reactions: the bot reads the card's current
 * reactions whenever one changes, so a lost, repeated or reordered event can't grant or
 * withdraw an approval, and several replicas agree. This function decides what they mean:
 *  - approved: at least `required` distinct authorised approvers, never the author, never
 *    someone who added media to it, never the bot, have the approve emoji on the card; when
 *    senior approvers are configured, at least one of them is senior; the card shows the
 *    current content (hash); and every approver group could be checked;
 *  - rejected: an authorised approver (not the bot) has the reject emoji on the current card;
 *    a rejection outweighs any number of approvals;
 *  - otherwise pending, with who counts so far and what is missing.
 */

export interface ApprovalInput {
  required: number;
  author: string;
  /** Users who added media to the appeal: like the author, they can't approve it. */
  contributors?: readonly string[];
  /** True when an approver group's membership couldn't be read: then nothing is approved. */
  membershipIncomplete?: boolean;
  botUserId: string;
  /** Users who currently have the approve emoji on the card (duplicates allowed). */
  approveUsers: readonly string[];
  /** Users who currently have the reject emoji on the card. */
  rejectUsers: readonly string[];
  /** Which users are authorised approvers (approvers and senior approvers, groups expanded). */
  authorized: ReadonlySet<string>;
  /** Which users are senior approvers; `null` when no senior approval is required. */
  seniors: ReadonlySet<string> | null;
  /** The content hash the card shows, and the appeal's current content hash. */
  cardHash: string;
  currentHash: string;
}

export type ApprovalDecision =
  | { status: 'rejected'; by: string }
  | { status: 'approved'; approvers: string[] }
  | { status: 'pending'; approvers: string[]; missing: number; seniorMissing: boolean; stale: boolean; incomplete: boolean };

export function evaluateApproval(input: ApprovalInput): ApprovalDecision {
  const stale = input.cardHash !== input.currentHash;
  const approvers = countedApprovers(input);
  const seniorMissing = input.seniors !== null && !approvers.some((u) => input.seniors!.has(u));
  const incomplete = input.membershipIncomplete === true;
  if (stale) return { status: 'pending', approvers: [], missing: input.required, seniorMissing: input.seniors !== null, stale, incomplete };

  const rejecter = input.rejectUsers.find((u) => u !== input.botUserId && input.authorized.has(u));
  if (rejecter !== undefined) return { status: 'rejected', by: rejecter };

  const missing = Math.max(0, input.required - approvers.length);
  if (missing === 0 && !seniorMissing && !incomplete) return { status: 'approved', approvers };
  return { status: 'pending', approvers, missing, seniorMissing, stale, incomplete };
}

/** The distinct approvals that count, in the order they appear. */
export function countedApprovers(input: Pick<ApprovalInput, 'approveUsers' | 'author' | 'contributors' | 'botUserId' | 'authorized'>): string[] {
  const seen = new Set<string>();
  for (const u of input.approveUsers) {
    if (whyNotCounted(u, input) !== undefined) continue;
    seen.add(u);
  }
  return [...seen];
}

/** Why one user's approve reaction does not count, or undefined when it does. */
export function whyNotCounted(
  user: string,
  input: Pick<ApprovalInput, 'author' | 'contributors' | 'botUserId' | 'authorized'>,
): 'author' | 'contributor' | 'bot' | 'not_approver' | undefined {
  if (user === input.botUserId) return 'bot';
  if (user === input.author) return 'author';
  if (input.contributors?.includes(user)) return 'contributor';
  if (!input.authorized.has(user)) return 'not_approver';
  return undefined;
}
