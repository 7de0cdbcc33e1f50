/**
 * Updates: a follow-up ("found safe — thank you") posted as a reply on every network where
 * an appeal is live, after the same two-person approval as the appeal itself.
 *
 * An update is drafted with `/appeal update <id> <text>`: its card goes into the appeal's
 * thread, seeded with the approve and reject reactions, and the approval rule is the
 * appeal's (the update's author never counts). Once approved, each network gets one reply:
 * under a lease per network, with an attempt marker written before the write, so a restart
 * or a second replica never posts it twice (an attempt whose outcome is unknown is reported,
 * not repeated). A withdrawal wins: nothing is posted after it, and replies already posted
 * come down with the appeal's posts.
 */
import { createHash } from 'node:crypto';
import type { Appeal } from './appeal.js';
import { SYSTEM_ACTOR, type AuditLog } from './audit.js';
import { showId } from './ids.js';
import { link, msg, strong, type Message, type Part } from './messages.js';
import { tryLease } from './lock.js';
import { Runs } from './runs.js';
import { NETWORK_LABELS, NETWORKS, reference, X_MAX_WEIGHTED_LENGTH, xWeightedLength, type NetworkName } from './networks.js';
import { NetworkError, type ChatRoom, type Clock, type Logger, type Network, type PublishedPost, type Store } from './ports.js';
import { publishKeys, type PublicationRecord } from './publisher.js';

export const MAX_UPDATE_TEXT = 2000;

export type UpdateState = 'draft' | 'approved' | 'rejected' | 'published' | 'withdrawn';

export interface AppealUpdate {
  appealId: string;
  /** 1, 2, … within the appeal. */
  n: number;
  text: string;
  author: string;
  state: UpdateState;
  /** The networks the appeal was live on when the update was drafted. */
  targets: NetworkName[];
  card: { ts: string; hash: string };
  pendingApprovers: string[];
  pendingSeniorMissing?: boolean;
  approval?: { approvers: string[]; at: number; hash: string };
  rejection?: { by: string; at: number };
  createdAt: number;
}

export type ReplyRecord =
  | { state: 'posted'; network: NetworkName; at: number; postId: string; url: string; extra?: Record<string, string[]> }
  | { state: 'failed'; network: NetworkName; at: number; reason: string; unknown?: boolean };

export const updateKeys = {
  update: (id: string, n: number) => `update:${id}:${n}`,
  /** Allocates update numbers: exactly one drafter gets each n. */
  number: (id: string, n: number) => `update-n:${id}:${n}`,
  count: (id: string) => `update-count:${id}`,
  result: (id: string, n: number, network: NetworkName) => `update-result:${id}:${n}:${network}`,
  attempt: (id: string, n: number, network: NetworkName) => `update-attempt:${id}:${n}:${network}`,
  lease: (id: string, n: number, network: NetworkName) => `update-lease:${id}:${n}:${network}`,
  told: (id: string, n: number) => `update-told:${id}:${n}`,
  /** Approved updates not yet finished: "<id>:<n>". */
  pending: 'updates-pending',
  /** Replies posted for an appeal ("<network>|<n>"): withdrawal takes them down too. */
  replies: (id: string) => `update-replies:${id}`,
  /** A reply confirmed gone (withdrawn). */
  gone: (id: string, n: number, network: NetworkName) => `update-gone:${id}:${n}:${network}`,
};

/** The reply each network gets: the update, then the appeal's reference (not at the end, so it is never taken for the appeal). */
export function replyText(appealId: string, text: string): string {
  return `Update (${reference(appealId)}): ${text}`;
}

/** Why an update's text can't go out, or undefined. */
export function updateTextProblem(appealId: string, text: string, targets: readonly NetworkName[]): string | undefined {
  const chars = Array.from(text).length;
  if (chars > MAX_UPDATE_TEXT) return `the update is ${chars} characters; the limit is ${MAX_UPDATE_TEXT}`;
  if (targets.includes('x')) {
    const weighted = xWeightedLength(replyText(appealId, text));
    if (weighted > X_MAX_WEIGHTED_LENGTH) return `the update is ${weighted}/${X_MAX_WEIGHTED_LENGTH} for X as a reply (with "${replyText(appealId, '').trim()}" in front): shorten it`;
  }
  return undefined;
}

export function updateHash(u: Pick<AppealUpdate, 'appealId' | 'n' | 'text' | 'targets'>): string {
  return createHash('sha256').update(JSON.stringify(['update', u.appealId, u.n, replyText(u.appealId, u.text), [...u.targets].sort()])).digest('hex');
}

/** The networks an appeal is live on now (published, not withdrawn there), with their posts. */
export async function livePosts(store: Store, id: string): Promise<Map<NetworkName, PublishedPost>> {
  const out = new Map<NetworkName, PublishedPost>();
  for (const n of NETWORKS) {
    const rec = await store.get<PublicationRecord>(publishKeys.record(id, n));
    if (rec?.state === 'published') out.set(n, { postId: rec.postId, url: rec.url, ...(rec.extra ? { extra: rec.extra } : {}) });
  }
  return out;
}

const LEASE_MS = 15_000;
const TRIES = 3;
const DEFAULT_SWEEP_MS = 5_000;

export interface UpdaterDeps {
  store: Store;
  room: ChatRoom;
  networks: ReadonlyMap<NetworkName, Network>;
  clock: Clock;
  logger: Logger;
  audit?: AuditLog;
  /** Redraws the update's card with its outcome. */
  refreshCard?: (u: AppealUpdate, appeal: Appeal, results: ReplyRecord[]) => Promise<void>;
  sleep?: (ms: number) => Promise<void>;
}

export class Updater {
  private readonly runs = new Runs();

  constructor(private readonly deps: UpdaterDeps) {}

  /** Posts an approved update in the background (one run per update at a time). */
  start(id: string, n: number): Promise<void> {
    const key = `${id}:${n}`;
    const { inFlight } = this.runs;
    if (this.runs.isStopped) return Promise.resolve();
    const running = inFlight.get(key);
    if (running) return running;
    const run = this.run(id, n)
      .catch((err: unknown) => this.deps.logger.error({ err, appeal: id, update: n }, 'posting an update failed; it carries on shortly'))
      .finally(() => inFlight.delete(key));
    inFlight.set(key, run);
    return run;
  }

  startSweeper(intervalMs = DEFAULT_SWEEP_MS): void {
    this.runs.sweepMembers(
      intervalMs,
      () => this.deps.store.members(updateKeys.pending),
      (member) => {
        const [id, n] = member.split(':');
        if (id && n) void this.start(id, Number(n));
      },
      (err) => this.deps.logger.warn({ err }, 'could not read the updates in progress'),
    );
  }

  idle(): Promise<void> {
    return this.runs.idle();
  }

  stop(graceMs = 5_000): Promise<void> {
    return this.runs.stop(graceMs);
  }

  private async run(id: string, n: number): Promise<void> {
    const { store } = this.deps;
    const u = await store.get<AppealUpdate>(updateKeys.update(id, n));
    const appeal = await store.get<Appeal>(`appeal:${id}`);
    if (!u || !appeal || u.state !== 'approved') {
      await store.removeFromSet(updateKeys.pending, `${id}:${n}`);
      return;
    }
    const log = this.deps.logger.child({ appeal: id, update: n });
    const posts = await livePosts(store, id);
    const outcomes = await Promise.all(u.targets.map((network) => this.postOne(u, network, posts.get(network), log)));
    if (outcomes.some((o) => o === 'busy')) return; // another worker holds a network: the sweeper comes back
    const results = (await Promise.all(u.targets.map((network) => store.get<ReplyRecord>(updateKeys.result(id, n, network))))).filter((r): r is ReplyRecord => r !== undefined);
    const fresh = await store.get<Appeal>(`appeal:${id}`);
    const done: AppealUpdate = { ...u, state: fresh?.state === 'withdrawn' ? 'withdrawn' : 'published' };
    await store.set(updateKeys.update(id, n), done);
    await store.removeFromSet(updateKeys.pending, `${id}:${n}`);
    if (await store.claim(updateKeys.told(id, n))) {
      await this.deps.refreshCard?.(done, fresh ?? appeal, results).catch((err: unknown) => log.warn({ err }, 'could not redraw the update card'));
      await this.say(appeal, summary(u, results));
    }
  }

  /** One network: the reply, once. 'busy' when another worker holds it. */
  private async postOne(u: AppealUpdate, network: NetworkName, parent: PublishedPost | undefined, log: Logger): Promise<'done' | 'busy'> {
    const { store, clock } = this.deps;
    const resultKey = updateKeys.result(u.appealId, u.n, network);
    if (await store.get<ReplyRecord>(resultKey)) return 'done';
    const lease = await tryLease(store, updateKeys.lease(u.appealId, u.n, network), LEASE_MS);
    if (!lease) return 'busy';
    const label = NETWORK_LABELS[network];
    const fail = async (reason: string, unknown = false) => {
      await store.set<ReplyRecord>(resultKey, { state: 'failed', network, at: clock.now(), reason, ...(unknown ? { unknown } : {}) });
      await this.deps.audit?.record({ appeal: u.appealId, actor: SYSTEM_ACTOR, action: 'update_failed', network, hash: u.approval?.hash ?? u.card.hash, detail: `update ${u.n} not posted on ${label}`, reason });
    };
    try {
      if (await store.get<ReplyRecord>(resultKey)) return 'done';
      const adapter = this.deps.networks.get(network);
      if (!parent) {
        await fail(`the appeal is no longer live on ${label}`);
        return 'done';
      }
      if (!adapter) {
        await fail(`${label} is not configured on this bot any more`);
        return 'done';
      }
      if (await store.get<number>(updateKeys.attempt(u.appealId, u.n, network))) {
        // An earlier attempt went out and its outcome was never recorded (a crash): not repeated blindly.
        await fail(`an earlier attempt's outcome is unknown: check ${label} for the reply before posting it again`, true);
        return 'done';
      }
      const sleep = this.deps.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
      for (let attempt = 1; ; attempt++) {
        if ((await store.get<Appeal>(`appeal:${u.appealId}`))?.state === 'withdrawn') {
          await fail('the appeal was withdrawn first');
          return 'done';
        }
        if (!lease.held) return 'busy';
        await store.set(updateKeys.attempt(u.appealId, u.n, network), clock.now());
        try {
          const reply = await adapter.reply(parent, replyText(u.appealId, u.text));
          await store.addToSet(updateKeys.replies(u.appealId), `${network}|${u.n}`);
          await store.set<ReplyRecord>(resultKey, { state: 'posted', network, at: clock.now(), postId: reply.postId, url: reply.url, ...(reply.extra ? { extra: reply.extra } : {}) });
          log.info({ network, postId: reply.postId }, 'update posted');
          await this.deps.audit?.record({ appeal: u.appealId, actor: SYSTEM_ACTOR, action: 'update_posted', network, hash: u.approval?.hash ?? u.card.hash, detail: `update ${u.n} posted on ${label}: ${reply.url}` });
          // Withdrawn meanwhile: the withdrawal wins, this reply comes down too.
          if ((await store.get<Appeal>(`appeal:${u.appealId}`))?.state === 'withdrawn') await store.addToSet(publishKeys.withdrawing, u.appealId);
          return 'done';
        } catch (err) {
          const e = err instanceof NetworkError ? err : undefined;
          if (e?.ambiguous) {
            await fail(`${e.userMessage}; it may have been posted, so it is not repeated: check ${label}`, true);
            return 'done';
          }
          // Nothing went out: it may be tried again.
          await store.delete(updateKeys.attempt(u.appealId, u.n, network));
          if (e?.permanent || attempt >= TRIES) {
            log.warn({ err, network }, 'update not posted');
            await fail(e?.userMessage ?? 'something went wrong on our side');
            return 'done';
          }
          log.warn({ err, network, attempt }, 'posting the update failed; trying again');
          await sleep(Math.min(60_000, e?.retryAfterMs ?? 1_000 * 2 ** attempt));
        }
      }
    } finally {
      await lease.release().catch(() => undefined);
    }
  }

  private async say(appeal: Appeal, message: Message): Promise<void> {
    await this.deps.room.post(appeal.channel, appeal.threadTs, message).catch((err: unknown) => {
      this.deps.logger.warn({ err, appeal: appeal.id }, 'could not post in the thread');
    });
  }
}

function summary(u: AppealUpdate, results: readonly ReplyRecord[]): Message {
  const posted = results.filter((r): r is Extract<ReplyRecord, { state: 'posted' }> => r.state === 'posted');
  const failed = results.filter((r): r is Extract<ReplyRecord, { state: 'failed' }> => r.state === 'failed');
  const out: Part[] = posted.length > 0
    ? msg`:leftwards_arrow_with_hook: ${strong(`Update ${u.n} to ${showId(u.appealId)} posted`)} on ${posted.length} network${posted.length === 1 ? '' : 's'}:`
    : msg`:warning: ${strong(`Update ${u.n} to ${showId(u.appealId)} was not posted anywhere`)}.`;
  for (const r of posted) out.push(...msg`\n${NETWORK_LABELS[r.network]}: ${link(r.url, r.url.replace(/^https?:\/\//, ''))}`);
  for (const r of failed) out.push(`\n${NETWORK_LABELS[r.network]}: not posted: ${r.reason}`);
  return out;
}
