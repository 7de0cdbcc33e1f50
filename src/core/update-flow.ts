/**
 * The chat side of updates: `/appeal update <id> <text>` drafts an update card in the
 * appeal's thread, and reactions on that card go through the appeal's approval rule (never
 * the update's author). Once approved, the Updater (update.ts) posts the replies.
 */
import type { Appeal } from './appeal.js';
import { SYSTEM_ACTOR, type AuditLog } from './audit.js';
import { showId } from './ids.js';
import type { KeyedLock } from './lock.js';
import { msg, strong, user, userList, type CardView, type Message } from './messages.js';
import { NETWORK_LABELS } from './networks.js';
import type { ChatRoom, Clock, Logger, MessageRef, Store } from './ports.js';
import { notCountedNote, reactionVerdict, readCard, sameMembers, type ApprovalPolicy, type Reactor } from './reactions.js';
import { livePosts, replyText, updateHash, updateKeys, updateTextProblem, type AppealUpdate, type ReplyRecord, type Updater } from './update.js';
import { errorWords } from './words.js';

export interface UpdateFlowDeps {
  store: Store;
  room: ChatRoom;
  clock: Clock;
  logger: Logger;
  policy: ApprovalPolicy;
  lock: KeyedLock;
  audit: AuditLog;
  updater: Updater;
  /** Indexes a card so reactions on it find the update. */
  indexCard: (channel: string, ts: string, entry: { id: string; hash: string; update: number }) => Promise<void>;
  /** Seeds a card with the approve and reject reactions (telling the thread if it can't). */
  seed: (appeal: Appeal, ref: MessageRef) => Promise<void>;
  /** Posts in the appeal's thread; never throws. */
  say: (appeal: Appeal, message: Message) => Promise<void>;
}

export class UpdateFlow {
  constructor(private readonly deps: UpdateFlowDeps) {}

  /**
   * Drafts update n of a published appeal and posts its card in the thread. Returns the
   * answer for the person who asked.
   */
  async draft(appeal: Appeal, text: string, author: string): Promise<Message> {
    const { store, room, clock, policy } = this.deps;
    const id = appeal.id;
    if (appeal.state === 'withdrawn') return msg`${showId(id)} is withdrawn: there is nothing live to update. Nothing was drafted.`;
    if (appeal.state !== 'published' && appeal.state !== 'publishing') {
      return msg`${showId(id)} is ${appeal.state}: an update goes out as a reply to the published appeal, so it can only follow a published one. Nothing was drafted.`;
    }
    const live = [...(await livePosts(store, id)).keys()];
    if (live.length === 0) return msg`${showId(id)} isn't live on any network yet: nothing to reply to. Nothing was drafted.`;
    const problem = updateTextProblem(id, text, live);
    if (problem) return msg`${problem}. Nothing was drafted.`;
    let n = ((await store.get<number>(updateKeys.count(id))) ?? 0) + 1;
    while (!(await store.claim(updateKeys.number(id, n)))) n++;
    const draft: AppealUpdate = { appealId: id, n, text, author, state: 'draft', targets: live, card: { ts: '', hash: '' }, pendingApprovers: [], createdAt: clock.now() };
    const hash = updateHash(draft);
    let ref: MessageRef;
    try {
      ref = await room.postCard(appeal.channel, this.cardView({ ...draft, card: { ts: '', hash } }, appeal), appeal.threadTs);
    } catch (err) {
      this.deps.logger.warn({ err, appeal: id }, 'could not post the update card');
      await store.release(updateKeys.number(id, n)); // the number is free again
      return msg`Couldn't post the update's card in the thread: ${errorWords(err)}. Nothing was drafted.`;
    }
    if (((await store.get<number>(updateKeys.count(id))) ?? 0) < n) await store.set(updateKeys.count(id), n);
    const u: AppealUpdate = { ...draft, card: { ts: ref.ts, hash } };
    await store.set(updateKeys.update(id, n), u);
    await this.deps.indexCard(appeal.channel, ref.ts, { id, hash, update: n });
    await this.deps.audit.record({ appeal: id, actor: author, action: 'update_drafted', hash, detail: `update ${n}: ${text} (replies on ${live.join(', ')})` });
    await this.deps.seed(appeal, ref);
    return msg`Update ${n} to ${showId(id)} drafted: its card is in the appeal's thread. It is posted as a reply on ${live.map((l) => NETWORK_LABELS[l]).join(', ')} once ${policy.required} colleagues approve it.`;
  }

  /**
   * A reaction on update n's card. 'incomplete' when an approver group couldn't be read
   * (the caller checks again shortly).
   */
  async evaluate(id: string, n: number, trigger: Reactor, attempt: { firstAttempt: boolean; lastAttempt: boolean }): Promise<'done' | 'incomplete'> {
    const { policy, room, store, lock, audit } = this.deps;
    return lock.run(id, async (lease) => {
      const u = await store.get<AppealUpdate>(updateKeys.update(id, n));
      const appeal = await store.get<Appeal>(`appeal:${id}`);
      if (!u || !appeal) return 'done';
      const what = `update ${n} to ${showId(id)}`;
      const log = this.deps.logger.child({ appeal: id, update: n });
      const notes = attempt.firstAttempt && trigger.added;
      const notify = (m: Message) => room.notify(trigger.channel, trigger.user, m, appeal.threadTs).catch((err: unknown) => log.warn({ err }, 'ephemeral note failed'));
      const audited = (reason: string) =>
        attempt.firstAttempt
          ? audit.record({ appeal: id, actor: trigger.user, action: 'reaction', hash: u.card.hash, detail: `:${trigger.emoji}: ${trigger.added ? 'added to' : 'removed from'} update ${n}'s card`, reason })
          : Promise.resolve();
      if (trigger.added && trigger.emoji === policy.approveEmoji && u.state !== 'draft' && u.state !== 'rejected' && appeal.state !== 'withdrawn'
        && u.approval?.approvers.includes(trigger.user)) {
        // Read from the card's reactions when an earlier event approved it: this ✅ counted.
        await audited(`counted: one of the approvals of update ${n} already recorded`);
        return 'done';
      }
      if (u.state !== 'draft' || appeal.state === 'withdrawn') {
        const why = appeal.state === 'withdrawn' ? `${showId(id)} is withdrawn` : `update ${n} is already ${u.state}`;
        await audited(`not counted: ${why}`);
        if (notes) await notify(msg`${why}: your reaction changes nothing.`);
        return 'done';
      }
      const reading = await readCard(room, policy, { channel: appeal.channel, ts: u.card.ts, author: u.author, contributors: [], cardHash: u.card.hash, currentHash: updateHash(u) }, trigger);
      const { decision, unresolved } = reading;
      await audited(reactionVerdict(trigger, reading, policy));
      const note = notes ? notCountedNote(trigger, reading, policy, what) : undefined;
      if (note) await notify(note);
      if (decision.status === 'pending' && decision.incomplete) {
        log.warn({ groups: unresolved }, 'approver group membership unavailable: the update is not approved until it can be read');
        if (attempt.lastAttempt || attempt.firstAttempt) {
          await this.deps.say(appeal, msg`Couldn't read the members of approver group ${unresolved.join(', ')} from the chat platform, so ${what} can't be approved right now. ${attempt.lastAttempt ? 'The next reaction on its card checks again.' : 'Checking again shortly.'}`);
        }
      }
      const now = this.deps.clock.now();
      const ref = { channel: appeal.channel, ts: u.card.ts };
      const redraw = (next: AppealUpdate) => room.updateCard(ref, this.cardView(next, appeal)).catch((err: unknown) => log.warn({ err }, 'card update failed'));
      if (decision.status === 'approved') {
        const approved: AppealUpdate = { ...u, state: 'approved', pendingApprovers: decision.approvers, approval: { approvers: decision.approvers, at: now, hash: u.card.hash } };
        await lease.check();
        await store.addToSet(updateKeys.pending, `${id}:${n}`);
        await store.set(updateKeys.update(id, n), approved);
        log.info({ approvers: decision.approvers }, 'update approved');
        await audit.record({ appeal: id, actor: SYSTEM_ACTOR, action: 'update_approved', hash: u.card.hash, detail: `update ${n} approved by ${decision.approvers.join(', ')}` });
        await redraw(approved);
        await this.deps.say(appeal, msg`:${policy.approveEmoji}: ${strong(`Update ${n} to ${showId(id)} approved`)} by ${userList(decision.approvers)}. Posting it as a reply on ${u.targets.map((t) => NETWORK_LABELS[t]).join(', ')} now.`);
        void this.deps.updater.start(id, n);
      } else if (decision.status === 'rejected') {
        const rejected: AppealUpdate = { ...u, state: 'rejected', rejection: { by: decision.by, at: now } };
        await lease.check();
        await store.set(updateKeys.update(id, n), rejected);
        await audit.record({ appeal: id, actor: decision.by, action: 'update_rejected', hash: u.card.hash, detail: `update ${n} rejected` });
        await redraw(rejected);
        await this.deps.say(appeal, msg`:${policy.rejectEmoji}: ${strong(`Update ${n} to ${showId(id)} rejected`)} by ${user(decision.by)}. Nothing will be posted.`);
      } else if (!sameMembers(decision.approvers, u.pendingApprovers) || decision.seniorMissing !== (u.pendingSeniorMissing ?? true)) {
        const pending: AppealUpdate = { ...u, pendingApprovers: decision.approvers, pendingSeniorMissing: decision.seniorMissing };
        await lease.check();
        await store.set(updateKeys.update(id, n), pending);
        await redraw(pending);
      }
      return decision.status === 'pending' && decision.incomplete ? 'incomplete' : 'done';
    });
  }

  /** An update's card: the reply each network gets, and its approvals. */
  cardView(u: AppealUpdate, appeal: Appeal, results: readonly ReplyRecord[] = []): CardView {
    const { policy } = this.deps;
    const text = replyText(u.appealId, u.text);
    return {
      appealId: u.appealId,
      update: { n: u.n },
      state: u.state,
      author: u.author,
      revision: 1,
      text: u.text,
      outgoing: u.targets.map((network) => ({ network, label: `${NETWORK_LABELS[network]} (reply)`, text, media: [] })),
      media: [],
      notes: [`Posted as a reply to ${showId(appeal.id)} on every network where it is live.`],
      approvals: {
        required: policy.required,
        counted: u.pendingApprovers,
        seniorRequired: policy.seniors.length > 0,
        seniorMissing: policy.seniors.length > 0 && u.state === 'draft' && (u.pendingSeniorMissing ?? true),
      },
      approveEmoji: policy.approveEmoji,
      rejectEmoji: policy.rejectEmoji,
      hash: u.card.hash,
      ...(u.approval ? { approvedBy: u.approval.approvers } : {}),
      ...(u.rejection ? { rejectedBy: u.rejection.by } : {}),
      ...(results.length > 0
        ? { publications: results.map((r) => ({ network: r.network, label: NETWORK_LABELS[r.network], ...(r.state === 'posted' ? { url: r.url } : { failed: r.reason }) })) }
        : {}),
    };
  }
}
