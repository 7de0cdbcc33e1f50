/**
 * Withdrawal: an appeal's posts come down on every network at once (a suspect arrested:
 * the images must come down now). Deletes are idempotent (a post already gone counts as
 * done) and retried with back-off until each network confirms; the thread hears of each
 * network as it completes, and once of a network that keeps failing ("still live on Flickr,
 * retrying"). Withdrawn appeals stay in a set until every post is confirmed gone, so a
 * restart carries on; a publish that was in flight when the appeal was withdrawn adds the
 * appeal back to that set, so whatever it posted comes down too.
 */
import { SYSTEM_ACTOR, type AuditLog } from './audit.js';
import type { Appeal } from './appeal.js';
import { showId } from './ids.js';
import { link, msg, strong, type Message } from './messages.js';
import { NETWORK_LABELS, NETWORKS, reference, type NetworkName } from './networks.js';
import { tryLease } from './lock.js';
import { Runs } from './runs.js';
import { NetworkError, type ChatRoom, type Clock, type Logger, type Network, type PublishedPost, type Store } from './ports.js';
import { liveMember, publishKeys, RECOVERY_SLACK_MS, type PublicationRecord } from './publisher.js';
import { updateKeys, type ReplyRecord } from './update.js';

/** What of an appeal is still up on one network: its post, and replies of its updates. */
interface LiveOnNetwork {
  network: NetworkName;
  main?: Extract<PublicationRecord, { state: 'published' }>;
  replies: Array<{ n: number; post: PublishedPost }>;
}

export const withdrawKeys = {
  /** Withdrawn appeals with posts not yet confirmed gone. */
  pending: publishKeys.withdrawing,
  /** Per network: when the post was confirmed gone. */
  gone: (id: string, network: NetworkName) => `withdrawn:${id}:${network}`,
  /** Per network: the thread was told it keeps failing. */
  stuck: (id: string, network: NetworkName) => `withdraw-stuck:${id}:${network}`,
  lease: (id: string, network: NetworkName) => `withdraw-lease:${id}:${network}`,
  done: (id: string) => `withdraw-done:${id}`,
  /** Per network: an unrecorded publish attempt was looked into. */
  checked: (id: string, network: NetworkName) => `withdraw-checked:${id}:${network}`,
  /** Per network: a rate limit said not before this time (ms). */
  notBefore: (id: string, network: NetworkName) => `withdraw-not-before:${id}:${network}`,
};

const LEASE_MS = 15_000;
const DEFAULT_SWEEP_MS = 5_000;
/** A rate limit longer than this is waited out between sweeps, not within a pass. */
const MAX_WAIT_IN_PASS_MS = 10_000;
/** The longest a rate-limited network is left alone between tries. */
const MAX_DEFER_MS = 30_000;
/** Back-off between delete attempts of one network, in one pass: then the sweeper goes on. */
const TRIES_PER_PASS = 3;

export interface WithdrawerDeps {
  store: Store;
  room: ChatRoom;
  networks: ReadonlyMap<NetworkName, Network>;
  clock: Clock;
  logger: Logger;
  sleep?: (ms: number) => Promise<void>;
  /** Where each confirmed deletion (and a network that keeps failing) is recorded. */
  audit?: AuditLog;
}

export class Withdrawer {
  private readonly runs = new Runs();
  private readonly again = new Set<string>();
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: WithdrawerDeps) {
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Takes an appeal's posts down in the background (one run per appeal at a time). */
  start(id: string): Promise<void> {
    if (this.runs.isStopped) return Promise.resolve();
    const { inFlight } = this.runs;
    const running = inFlight.get(id);
    if (running) {
      // Asked again while running (a post that went up meanwhile): one more pass after this one.
      this.again.add(id);
      return running.then(() => inFlight.get(id));
    }
    const run = this.run(id)
      .catch((err: unknown) => this.deps.logger.error({ err, appeal: id }, 'withdrawal failed; it carries on shortly'))
      .finally(() => inFlight.delete(id))
      .then(() => {
        if (this.again.delete(id)) return this.start(id);
        return undefined;
      });
    inFlight.set(id, run);
    return run;
  }

  startSweeper(intervalMs = DEFAULT_SWEEP_MS): void {
    this.runs.sweepMembers(
      intervalMs,
      () => this.deps.store.members(withdrawKeys.pending),
      (id) => void this.start(id),
      (err) => this.deps.logger.warn({ err }, 'could not read the withdrawals in progress'),
    );
  }

  async sweep(): Promise<void> {
    const ids = await this.deps.store.members(withdrawKeys.pending);
    await Promise.all(ids.map((id) => this.start(id)));
  }

  /** Waits until no withdrawal is running in this process. */
  idle(): Promise<void> {
    return this.runs.idle();
  }

  stop(graceMs = 5_000): Promise<void> {
    return this.runs.stop(graceMs);
  }

  private async run(id: string): Promise<void> {
    const { store } = this.deps;
    const appeal = await store.get<Appeal>(`appeal:${id}`);
    if (!appeal || appeal.state !== 'withdrawn') {
      await store.removeFromSet(withdrawKeys.pending, id);
      return;
    }
    const log = this.deps.logger.child({ appeal: id });
    const live = await this.stillLive(id);
    const results = await Promise.all(live.map((item) => this.takeDown(appeal, item, log)));
    if (results.every(Boolean)) {
      // A publish still in flight (or one a crash left unrecorded) may have put a post up:
      // not done until that is settled.
      if (!(await this.settleUnrecorded(appeal, log))) return;
      await store.removeFromSet(withdrawKeys.pending, id);
      // A publish in flight records its post, then adds the appeal to the set: looking again
      // *after* removing it means such a post is either seen here or re-adds the appeal.
      if ((await this.stillLive(id)).length > 0) {
        await store.addToSet(withdrawKeys.pending, id);
        this.again.add(id);
        return;
      }
      // Said once, when the last post is confirmed gone.
      if (await store.claim(withdrawKeys.done(id))) {
        const wasPublic = (await Promise.all(NETWORKS.map((n) => store.get<number>(withdrawKeys.gone(id, n))))).some((g) => g !== undefined);
        await this.say(appeal, !wasPublic
          ? msg`${strong(`${showId(id)} is withdrawn`)}: nothing of it was public. Nothing will be published.`
          : msg`${strong(`${showId(id)} is withdrawn everywhere`)}: every post is confirmed gone. Should the media be told? Outlets that used the images may still show them: ask the press office to request their removal.`);
      }
    }
  }

  /**
   * Networks where a publish attempt started (its marker is stored before the network is
   * called) but no post is recorded: if a worker holds the publish lease it is in flight,
   * and its post is recorded (and comes down) when it ends, so this is not settled yet.
   * Otherwise the attempt was cut short (a crash, or an answer never confirmed): the post is
   * looked for by its reference, under the publish lease, and taken down if it is there.
   * True when every network is settled.
   */
  private async settleUnrecorded(appeal: Appeal, log: Logger): Promise<boolean> {
    const { store, clock } = this.deps;
    const hash = appeal.approval?.hash;
    if (!hash) return true;
    let settled = true;
    for (const network of NETWORKS) {
      const attempt = await store.get<{ startedAt: number }>(publishKeys.attempt(appeal.id, network, hash));
      if (!attempt || (await store.get<number>(withdrawKeys.checked(appeal.id, network))) !== undefined) continue;
      if ((await store.get<PublicationRecord>(publishKeys.record(appeal.id, network)))?.state === 'published') continue;
      const lease = await tryLease(store, publishKeys.lease(appeal.id, network, hash), LEASE_MS);
      if (!lease) {
        log.info({ network }, 'a publish is in flight: its post comes down once it is recorded');
        settled = false;
        continue;
      }
      try {
        if ((await store.get<PublicationRecord>(publishKeys.record(appeal.id, network)))?.state === 'published') {
          settled = false; // recorded meanwhile: the next pass takes it down
          continue;
        }
        const adapter = this.deps.networks.get(network);
        const found = await adapter?.findPublished(reference(appeal.id), attempt.startedAt - RECOVERY_SLACK_MS);
        if (found && adapter) {
          await adapter.withdraw(found);
          await store.set(withdrawKeys.gone(appeal.id, network), clock.now());
          log.warn({ network, postId: found.postId }, 'found an unrecorded post of the withdrawn appeal: taken down');
          await this.deps.audit?.record({ appeal: appeal.id, actor: SYSTEM_ACTOR, action: 'withdrawn', network, detail: `unrecorded post found and removed from ${NETWORK_LABELS[network]} (${found.url})` });
          await this.say(appeal, msg`:white_check_mark: ${showId(appeal.id)} removed from ${NETWORK_LABELS[network]} (a post whose publishing had been cut short).`);
        }
        await store.set(withdrawKeys.checked(appeal.id, network), clock.now());
      } catch (err) {
        log.warn({ err, network }, 'could not look for an unrecorded post; looking again shortly');
        settled = false;
      } finally {
        await lease.release().catch(() => undefined);
      }
    }
    // A reply of an update still being posted: it is recorded (and comes down) when it ends.
    const updates = (await store.get<number>(updateKeys.count(appeal.id))) ?? 0;
    for (let n = 1; n <= updates; n++) {
      for (const network of NETWORKS) {
        if ((await store.get<number>(updateKeys.attempt(appeal.id, n, network))) === undefined) continue;
        if ((await store.get<ReplyRecord>(updateKeys.result(appeal.id, n, network))) !== undefined) continue;
        const lease = await tryLease(store, updateKeys.lease(appeal.id, n, network), LEASE_MS);
        if (!lease) {
          log.info({ network, update: n }, 'an update reply is being posted: it comes down once it is recorded');
          settled = false;
          continue;
        }
        await lease.release().catch(() => undefined);
      }
    }
    return settled;
  }

  /** Per network, the appeal's post and update replies not yet confirmed gone. */
  private async stillLive(id: string): Promise<LiveOnNetwork[]> {
    const { store } = this.deps;
    const replies = new Map<NetworkName, Array<{ n: number; post: PublishedPost }>>();
    for (const member of await store.members(updateKeys.replies(id))) {
      const [network, n] = member.split('|') as [NetworkName, string];
      const rec = await store.get<ReplyRecord>(updateKeys.result(id, Number(n), network));
      if (rec?.state !== 'posted' || (await store.get<number>(updateKeys.gone(id, Number(n), network))) !== undefined) continue;
      replies.set(network, [...(replies.get(network) ?? []), { n: Number(n), post: { postId: rec.postId, url: rec.url, ...(rec.extra ? { extra: rec.extra } : {}) } }]);
    }
    const live: LiveOnNetwork[] = [];
    for (const network of NETWORKS) {
      const rec = await store.get<PublicationRecord>(publishKeys.record(id, network));
      const main = rec?.state === 'published' && (await store.get<number>(withdrawKeys.gone(id, network))) === undefined ? rec : undefined;
      const r = replies.get(network) ?? [];
      if (main || r.length > 0) live.push({ network, ...(main ? { main } : {}), replies: r });
    }
    return live;
  }

  /** One network: delete its replies, then the post (idempotent), a few tries now; true when confirmed gone. */
  private async takeDown(appeal: Appeal, item: LiveOnNetwork, parent: Logger): Promise<boolean> {
    const { store, clock } = this.deps;
    const { network, main: rec } = item;
    const log = parent.child({ network });
    const label = NETWORK_LABELS[network];
    const adapter = this.deps.networks.get(network);
    const notBefore = await store.get<number>(withdrawKeys.notBefore(appeal.id, network));
    if (notBefore !== undefined && notBefore > clock.now()) return false; // the network asked us to wait
    const lease = await tryLease(store, withdrawKeys.lease(appeal.id, network), LEASE_MS);
    if (!lease) return false; // another worker is on it
    try {
      // Read again under the lease: what another worker finished meanwhile is neither done
      // nor announced twice.
      let main = rec && (await store.get<number>(withdrawKeys.gone(appeal.id, network))) === undefined ? rec : undefined;
      let replies: LiveOnNetwork['replies'] = [];
      for (const r of item.replies) if ((await store.get<number>(updateKeys.gone(appeal.id, r.n, network))) === undefined) replies.push(r);
      if (!main && replies.length === 0) return true;
      let lastError = '';
      for (let attempt = 1; attempt <= TRIES_PER_PASS; attempt++) {
        try {
          if (!adapter) throw new Error(`${label} is not configured on this bot any more`);
          // The appeal's own post first (the image is what must come down), then the replies
          // of its updates: a reply that won't go never holds up the post.
          if (main) {
            await adapter.withdraw({ postId: main.postId, url: main.url, ...(main.extra ? { extra: main.extra } : {}) });
            await store.set(withdrawKeys.gone(appeal.id, network), clock.now());
            await store.removeFromSet(publishKeys.live, liveMember(appeal.id, network, main.postId));
            log.info({ postId: main.postId }, 'withdrawn from the network');
            await this.deps.audit?.record({ appeal: appeal.id, actor: SYSTEM_ACTOR, action: 'withdrawn', network, detail: `removed from ${label} (${main.url})` });
            await this.say(appeal, msg`:white_check_mark: ${showId(appeal.id)} removed from ${label}.`);
            main = undefined;
          }
          for (const reply of [...replies]) {
            await adapter.withdraw(reply.post);
            await store.set(updateKeys.gone(appeal.id, reply.n, network), clock.now());
            await this.deps.audit?.record({ appeal: appeal.id, actor: SYSTEM_ACTOR, action: 'withdrawn', network, detail: `update ${reply.n}'s reply removed from ${label} (${reply.post.url})` });
            replies = replies.filter((r) => r !== reply);
          }
          return true;
        } catch (err) {
          lastError = err && typeof err === 'object' && 'userMessage' in err ? String((err as { userMessage: unknown }).userMessage) : (err as Error).message;
          log.warn({ err, attempt }, 'withdrawal failed; trying again');
          const wait = err instanceof NetworkError ? err.retryAfterMs : undefined;
          if (wait !== undefined && wait > MAX_WAIT_IN_PASS_MS) {
            // Rate-limited for a while: the sweeper tries again when the network allows, or
            // after 30 s at most (taking an image down can't wait an hour on an estimate).
            await store.set(withdrawKeys.notBefore(appeal.id, network), clock.now() + Math.min(wait, MAX_DEFER_MS));
            break;
          }
          if (attempt < TRIES_PER_PASS) await this.sleep(wait ?? Math.min(10_000, 500 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2));
        }
      }
      const stillUp = main ?? replies[0]?.post;
      // Still live: say so once; the sweeper keeps trying until it is confirmed gone.
      if (await store.claim(withdrawKeys.stuck(appeal.id, network))) {
        await this.deps.audit?.record({ appeal: appeal.id, actor: SYSTEM_ACTOR, action: 'withdraw_failed', network, detail: `still live on ${label}; retrying`, reason: lastError });
        const byHand = stillUp ? msg` If it stays up, delete it by hand: ${link(stillUp.url, stillUp.url.replace(/^https?:\/\//, ''))}` : [];
        await this.say(appeal, msg`:warning: ${strong(`${showId(appeal.id)} is still live on ${label}`)}${main ? '' : ' (a reply of an update)'}: ${lastError}. Retrying until it is gone.${byHand}`);
      }
      return false;
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
