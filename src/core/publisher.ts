/**
 * Publishing an approved appeal: each target network on its own, exactly once.
 *
 * Exactly once, per (appeal, network, approved content hash):
 * - a lease in the store (`claim` with an owner and a time-to-live, renewed while working)
 *   lets one worker — in this process, another replica, or after a restart — publish;
 * - before the first network write an attempt marker is stored; whoever finds a marker
 *   first looks for the post among the account's recent posts (by its "Ref <ID>") and
 *   records what it finds instead of posting again: the process may have died after the
 *   network accepted the post and before it was recorded;
 * - the worker checks it still holds the lease right before the post is created (a fence
 *   the adapter calls, also after waiting out a rate limit): one that stalled past its
 *   lease posts nothing;
 * - the result (post id and link, or the failure) is recorded before the thread is told;
 *   a post the network never confirmed is looked for again later, never re-posted blindly.
 * Appeals with unfinished publishing (or a retry asked for, or an outcome not yet told) are
 * kept in a set that `sweep` walks (at start-up and every few seconds), so an approval
 * survives a crash between approving and publishing.
 */
import { createHash } from 'node:crypto';
import { SYSTEM_ACTOR, type AuditLog } from './audit.js';
import { appealHash, appealOutgoing, currentCard, transition, type Appeal } from './appeal.js';
import { showId } from './ids.js';
import { LeaseLost, tryLease, type HeldLease, type KeyedLock } from './lock.js';
import { waitAtMost } from './runs.js';
import { code, link, msg, strong, type CardView, type Message } from './messages.js';
import { NETWORK_LABELS, reference, type NetworkName, type OutgoingContent } from './networks.js';
import {
  NetworkError,
  type ChatRoom,
  type Clock,
  type Logger,
  type MediaFile,
  type Network,
  type PublishedPost,
  type Store,
} from './ports.js';

export type PublicationRecord =
  | {
      state: 'published';
      network: NetworkName;
      hash: string;
      at: number;
      postId: string;
      url: string;
      extra?: Record<string, string[]>;
      /** Found among the account's posts after an interrupted attempt. */
      recovered?: boolean;
    }
  | {
      state: 'failed';
      network: NetworkName;
      hash: string;
      at: number;
      reason: string;
      code: string;
      permanent: boolean;
      /** Tried again by itself at this time (a rate limit that ends later). */
      retryAt?: number;
      /**
       * The network never confirmed whether it took the post: it looks for the post again
       * (never posts) at this time, so a post that did go through is recorded after all.
       */
      checkAt?: number;
      /** Looks made so far after an unconfirmed post. */
      checks?: number;
    };

export const publishKeys = {
  record: (id: string, network: NetworkName) => `publication:${id}:${network}`,
  lease: (id: string, network: NetworkName, hash: string) => `publish-lease:${id}:${network}:${hash}`,
  attempt: (id: string, network: NetworkName, hash: string) => `publish-attempt:${id}:${network}:${hash}`,
  /** A retry someone asked for (`/appeal retry`), until a worker has carried it out. */
  retry: (id: string, network: NetworkName) => `publish-retry:${id}:${network}`,
  /** Which record the thread was last told about (its state and time). */
  told: (id: string, network: NetworkName) => `publication-told:${id}:${network}`,
  /** Appeals whose publishing isn't finished (resumed by `sweep`). */
  pending: 'publishing',
  /** Live posts for reach polling: members `<id>|<network>|<postId>`. */
  live: 'reach-live',
  /** Withdrawn appeals whose posts aren't all confirmed gone (see withdraw.ts). */
  withdrawing: 'withdrawing',
};

export const liveMember = (id: string, network: NetworkName, postId: string) => `${id}|${network}|${postId}`;

/** How far back recovery looks before an interrupted attempt started (clock skew, slow writes). */
export const RECOVERY_SLACK_MS = 5 * 60_000;
const DEFAULT_LEASE_MS = 15_000;
const DEFAULT_SWEEP_MS = 5_000;
/** After a post the network never confirmed: look for it again after these pauses. */
export const LOOK_AGAIN_MS = [2 * 60_000, 10 * 60_000];
/** Times an outcome is offered to a chat platform that refuses it, one per sweep. */
const MAX_TELL_TRIES = 10;

export interface PublisherDeps {
  store: Store;
  room: ChatRoom;
  networks: ReadonlyMap<NetworkName, Network>;
  clock: Clock;
  logger: Logger;
  lock: KeyedLock;
  cardView: (appeal: Appeal, revision: number, hash: string) => CardView;
  leaseMs?: number;
  /** Where publications and failures are recorded. */
  audit?: AuditLog;
}

type Outcome = PublicationRecord | 'busy' | 'skipped';

/** Thrown by the publish fence: the appeal was withdrawn, so nothing is posted. */
export class WithdrawnMeanwhile extends Error {
  readonly code = 'withdrawn';
  constructor(readonly appealId: string) {
    super(`appeal ${appealId} was withdrawn: not publishing`);
    this.name = 'WithdrawnMeanwhile';
  }
}

export class Publisher {
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Appeals being published by this process: the sweeper leaves them alone. */
  private readonly busyIds = new Set<string>();
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping = false;
  private stopped = false;

  constructor(private readonly deps: PublisherDeps) {}

  /** Publishes in the background (after an approval or a retry); errors are logged. */
  start(id: string, only?: readonly NetworkName[], retry = false): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.busyIds.add(id);
    const run = this.publish(id, only, retry).catch((err: unknown) => {
      this.deps.logger.error({ err, appeal: id }, 'publishing failed; it is resumed shortly');
    });
    this.inFlight.add(run);
    return run.finally(() => {
      this.inFlight.delete(run);
      this.busyIds.delete(id);
    });
  }

  /** Walks unfinished publishing now and then every `intervalMs`. */
  startSweeper(intervalMs = DEFAULT_SWEEP_MS): void {
    const tick = () => {
      if (this.sweeping || this.stopped) return;
      this.sweeping = true;
      // Only reading the set is awaited: each appeal then runs on its own, so one waiting
      // out a rate limit never holds up the others, nor the next sweep.
      this.launchPending()
        .catch((err: unknown) => this.deps.logger.warn({ err }, 'resuming publishing failed; trying again shortly'))
        .finally(() => {
          this.sweeping = false;
        });
    };
    tick();
    this.sweeper = setInterval(tick, intervalMs);
    this.sweeper.unref();
  }

  /**
   * Stops sweeping and waits for publishing in flight, at most `graceMs`: a publish waiting
   * out a long rate limit must not hold a shutdown up; its lease lapses and whoever runs
   * next resumes it (looking for the post first).
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweeper);
    await waitAtMost(this.idle(), graceMs);
  }

  /** Waits until no publishing is in flight. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Resumes every appeal whose publishing isn't finished (after a restart, or a lapsed lease). */
  async sweep(): Promise<void> {
    await Promise.all(await this.launchPending());
  }

  /** Starts every pending appeal this process isn't already publishing; returns their runs. */
  private async launchPending(): Promise<Array<Promise<void>>> {
    const ids = await this.deps.store.members(publishKeys.pending);
    return ids.filter((id) => !this.busyIds.has(id)).map((id) => this.start(id));
  }

  /** The recorded publications of an appeal, per network. */
  async records(appeal: Appeal): Promise<Map<NetworkName, PublicationRecord>> {
    const out = new Map<NetworkName, PublicationRecord>();
    for (const network of appeal.targets) {
      const rec = await this.deps.store.get<PublicationRecord>(publishKeys.record(appeal.id, network));
      if (rec) out.set(network, rec);
    }
    return out;
  }

  /** What the approved appeal sends to each network that gets anything. */
  publishable(appeal: Appeal): OutgoingContent[] {
    return appealOutgoing(appeal).filter((o) => !o.skipped);
  }

  /**
   * Publishes what isn't published yet (`only` those networks, when given). Failed networks
   * are left alone unless `retry` (or their automatic retry time has come).
   */
  async publish(id: string, only?: readonly NetworkName[], retry = false): Promise<void> {
    const { store } = this.deps;
    const log = this.deps.logger.child({ appeal: id });
    let appeal = await store.get<Appeal>(`appeal:${id}`);
    if (!appeal || !['approved', 'publishing', 'published'].includes(appeal.state)) {
      if (appeal?.state === 'draft') {
        // An approval joins the set just before it is saved, under the appeal's lock: under
        // that lock a draft is one whose approval didn't get saved (the next one adds it again).
        await this.deps.lock.run(id, async () => {
          if ((await store.get<Appeal>(`appeal:${id}`))?.state === 'draft') await store.removeFromSet(publishKeys.pending, id);
        });
      } else if (!appeal || appeal.state === 'rejected' || appeal.state === 'withdrawn') {
        await store.removeFromSet(publishKeys.pending, id);
      }
      return;
    }
    const hash = appeal.approval?.hash;
    if (!hash || appealHash(appeal) !== hash) {
      // Never reached through the service (content is frozen once approved); refuse loudly.
      log.error({ approved: hash, current: appealHash(appeal) }, 'refusing to publish: the content is not what was approved');
      await this.say(appeal, msg`${strong(`${showId(id)} was not published`)}: its content no longer matches what was approved. Draft it again.`);
      await store.removeFromSet(publishKeys.pending, id);
      return;
    }
    if (this.publishable(appeal).length === 0) {
      // Approved with nothing any network takes (no targets, or only ones that need media it lacks).
      await store.removeFromSet(publishKeys.pending, id);
      return;
    }
    if (appeal.state === 'approved') {
      appeal = await this.deps.lock.run(id, async (lease) => {
        const fresh = await store.get<Appeal>(`appeal:${id}`);
        if (!fresh || fresh.state !== 'approved') return fresh;
        const next = transition(fresh, 'publishing', this.deps.clock.now());
        await lease.check();
        await store.set(`appeal:${id}`, next);
        return next;
      });
      if (!appeal || !['publishing', 'published'].includes(appeal.state)) return;
    }

    const outgoing = this.publishable(appeal).filter((o) => !only || only.includes(o.network));
    // Settled, not all: a store error on one network must not let the others run on untracked.
    const settled = await Promise.allSettled(outgoing.map((o) => this.publishOne(appeal, o, hash, retry, log)));
    const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    const outcomes = settled.map((r) => (r as PromiseFulfilledResult<Outcome>).value);
    if (outcomes.some((o) => o === 'busy')) return; // another worker is on it and will finish the round
    await this.finishRound(id, log);
  }

  /** One network: lease, recover or publish, record, then tell the thread. */
  private async publishOne(appeal: Appeal, out: OutgoingContent, hash: string, retry: boolean, parent: Logger): Promise<Outcome> {
    const { store, clock } = this.deps;
    const network = out.network;
    const log = parent.child({ network });
    const recordKey = publishKeys.record(appeal.id, network);
    const retryKey = publishKeys.retry(appeal.id, network);
    // A retry asked for with /appeal retry is kept in the store until carried out, so a busy
    // lease or a crash can't lose it.
    const asked = async () => retry || (await store.get<boolean>(retryKey)) === true;
    const due = (rec: PublicationRecord | undefined, again: boolean) =>
      !rec || rec.hash !== hash || (rec.state === 'failed' && (again || (rec.retryAt !== undefined && rec.retryAt <= clock.now())));
    const lookDue = (rec: PublicationRecord | undefined, again: boolean): rec is Extract<PublicationRecord, { state: 'failed' }> =>
      !again && rec?.state === 'failed' && rec.hash === hash && rec.checkAt !== undefined && rec.checkAt <= clock.now();

    const first = await store.get<PublicationRecord>(recordKey);
    if (lookDue(first, await asked())) return this.lookAgain(appeal, network, hash, log);

    if (!due(first, await asked())) {
      if (first?.state === 'published') await store.delete(retryKey); // nothing left to retry
      return 'skipped';
    }
    const leaseKey = publishKeys.lease(appeal.id, network, hash);
    const lease = await tryLease(store, leaseKey, this.deps.leaseMs ?? DEFAULT_LEASE_MS);
    if (!lease) return 'busy';
    try {
      // Someone may have finished between our first look and taking the lease.
      if (!due(await store.get<PublicationRecord>(recordKey), await asked())) return 'skipped';
      const outcome = await this.attempt(appeal, out, hash, lease, log);
      // A retry is carried out once its outcome is recorded (and then told as a new one).
      if (outcome !== 'busy') await store.delete(retryKey);
      return outcome;
    } finally {
      await lease.release().catch((err: unknown) => log.warn({ err }, 'could not release the publish lease'));
    }
  }

  /** Under the lease: recover or publish, then record. */
  private async attempt(appeal: Appeal, out: OutgoingContent, hash: string, lease: HeldLease, log: Logger): Promise<Outcome> {
    const { store, clock } = this.deps;
    const network = out.network;
    const leaseKey = publishKeys.lease(appeal.id, network, hash);
    const adapter = this.deps.networks.get(network);
    if (!adapter) {
      return await this.fail(appeal, hash, network, new NetworkError({
        network, code: 'auth', permanent: true,
        userMessage: `${NETWORK_LABELS[network]} isn't configured on this bot any more (its credentials are not set)`,
      }), lease, log);
    }

    // Nothing is published once the appeal is withdrawn (checked again right before posting).
    if ((await store.get<Appeal>(`appeal:${appeal.id}`))?.state === 'withdrawn') return 'skipped';
    let post: PublishedPost;
    try {
      const attemptKey = publishKeys.attempt(appeal.id, network, hash);
      const attempt = await store.get<{ startedAt: number }>(attemptKey);
      const ref = reference(appeal.id);
      if (attempt) {
        // An earlier attempt may have reached the network: look before posting again.
        const found = await adapter.findPublished(ref, attempt.startedAt - RECOVERY_SLACK_MS);
        if (found) {
          log.warn({ postId: found.postId }, 'found the post of an interrupted attempt: not posting again');
          return await this.succeed(appeal, hash, network, found, true, log);
        }
      } else {
        await store.set(attemptKey, { startedAt: clock.now() });
      }
      const media = await this.loadMedia(appeal, out.media);
      const started = clock.now();
      post = await adapter.publish({
        appealId: appeal.id,
        hash,
        text: out.text,
        ...(out.title !== undefined ? { title: out.title } : {}),
        media,
        reference: ref,
        // Checked right before the post is created (after uploads and any rate-limit wait):
        // a worker whose lease lapsed (a long stall) must not post, since another may have
        // taken over; and nothing is posted once the appeal is withdrawn.
        fence: async () => {
          if (!lease.held) throw new LeaseLost(leaseKey);
          if ((await store.get<Appeal>(`appeal:${appeal.id}`))?.state === 'withdrawn') throw new WithdrawnMeanwhile(appeal.id);
        },
      });
      log.info({ postId: post.postId, ms: clock.now() - started }, 'published');
    } catch (err) {
      if (err instanceof LeaseLost) {
        log.warn({}, 'lost the publish lease before posting; whoever holds it now publishes');
        return 'busy';
      }
      if (err instanceof WithdrawnMeanwhile) {
        log.info({}, 'withdrawn while publishing: nothing posted');
        return 'skipped';
      }
      if (err instanceof NetworkError) return await this.fail(appeal, hash, network, err, lease, log);
      throw err; // the store or a bug: nothing is recorded, the sweeper resumes it
    }
    // A store failure from here on is thrown, never recorded as a publishing failure: the
    // post exists, and the next sweep finds it by its reference and records it.
    return await this.succeed(appeal, hash, network, post, false, log);
  }

  /** After an unconfirmed post: look for it (never post); record it if it is there. */
  private async lookAgain(appeal: Appeal, network: NetworkName, hash: string, log: Logger): Promise<Outcome> {
    const { store, clock } = this.deps;
    const recordKey = publishKeys.record(appeal.id, network);
    const adapter = this.deps.networks.get(network);
    const lease = await tryLease(store, publishKeys.lease(appeal.id, network, hash), this.deps.leaseMs ?? DEFAULT_LEASE_MS);
    if (!lease) return 'busy';
    try {
      const rec = await store.get<PublicationRecord>(recordKey);
      if (rec?.state !== 'failed' || rec.hash !== hash || rec.checkAt === undefined || rec.checkAt > clock.now()) return 'skipped';
      const attempt = await store.get<{ startedAt: number }>(publishKeys.attempt(appeal.id, network, hash));
      let found: PublishedPost | undefined;
      try {
        if (!adapter) throw new Error(`${network} is no longer configured`);
        found = await adapter.findPublished(reference(appeal.id), (attempt?.startedAt ?? rec.at) - RECOVERY_SLACK_MS);
      } catch (err) {
        log.warn({ err }, 'could not look for the unconfirmed post; looking again later');
      }
      if (found) {
        log.warn({ postId: found.postId }, 'the unconfirmed post went through after all: recorded');
        return await this.succeed(appeal, hash, network, found, true, log);
      }
      const checks = (rec.checks ?? 0) + 1;
      const next = LOOK_AGAIN_MS[checks];
      const { checkAt: _done, ...rest } = rec;
      await store.set<PublicationRecord>(recordKey, { ...rest, checks, ...(next !== undefined ? { checkAt: clock.now() + next } : {}) });
      log.info({ checks, again: next !== undefined }, 'the unconfirmed post is not on the account');
      if (next === undefined) {
        await this.say(appeal, msg`${showId(appeal.id)} is still not on ${NETWORK_LABELS[network]}: the unconfirmed post didn't go through. ${code(`/appeal retry ${appeal.id} ${network}`)} posts it (it looks once more first).`);
      }
      return 'skipped';
    } finally {
      await lease.release().catch((err: unknown) => log.warn({ err }, 'could not release the publish lease'));
    }
  }

  private async succeed(appeal: Appeal, hash: string, network: NetworkName, post: PublishedPost, recovered: boolean, log: Logger): Promise<PublicationRecord> {
    const rec: PublicationRecord = {
      state: 'published',
      network,
      hash,
      at: post.createdAt ?? this.deps.clock.now(),
      postId: post.postId,
      url: post.url,
      ...(post.extra ? { extra: post.extra } : {}),
      ...(recovered ? { recovered } : {}),
    };
    // Reach first (idempotent), then the record: once recorded, it is never published again.
    // The thread is told when the round finishes (finishRound), after the record exists.
    // A post of an appeal withdrawn meanwhile gets no reach: it comes down (below).
    const withdrawnBefore = (await this.deps.store.get<Appeal>(`appeal:${appeal.id}`))?.state === 'withdrawn';
    if (!withdrawnBefore) await this.deps.store.addToSet(publishKeys.live, liveMember(appeal.id, network, post.postId));
    await this.deps.store.set(publishKeys.record(appeal.id, network), rec);
    log.info({ postId: post.postId, url: post.url, recovered }, 'publication recorded');
    await this.deps.audit?.record({ appeal: appeal.id, actor: SYSTEM_ACTOR, action: 'published', network, hash, detail: `live on ${NETWORK_LABELS[network]}: ${post.url}${recovered ? ' (found after an interruption)' : ''}` });
    // Withdrawn while this was in flight: the withdrawal wins, so this post comes down too.
    if ((await this.deps.store.get<Appeal>(`appeal:${appeal.id}`))?.state === 'withdrawn') {
      log.warn({ postId: post.postId }, 'published after the appeal was withdrawn: taking it down');
      await this.deps.store.addToSet(publishKeys.withdrawing, appeal.id);
    }
    return rec;
  }

  private async fail(appeal: Appeal, hash: string, network: NetworkName, err: NetworkError, lease: HeldLease, log: Logger): Promise<Outcome> {
    const now = this.deps.clock.now();
    const existing = await this.deps.store.get<PublicationRecord>(publishKeys.record(appeal.id, network));
    if (!lease.held || (existing?.state === 'published' && existing.hash === hash)) {
      log.warn({ code: err.code }, 'a failure after losing the lease (or after another worker published): not recorded');
      return 'busy';
    }
    const retryAt = err.code === 'rate_limited' && err.retryAfterMs !== undefined ? now + err.retryAfterMs : undefined;
    const checkAt = err.ambiguous ? now + LOOK_AGAIN_MS[0]! : undefined;
    const rec: PublicationRecord = {
      state: 'failed',
      network,
      hash,
      at: now,
      reason: err.userMessage,
      code: err.code,
      permanent: err.permanent,
      ...(retryAt !== undefined ? { retryAt } : {}),
      ...(checkAt !== undefined ? { checkAt, checks: 0 } : {}),
    };
    await this.deps.store.set(publishKeys.record(appeal.id, network), rec);
    log.warn({ code: err.code, status: err.status, permanent: err.permanent, retryAt, err }, 'publishing failed');
    await this.deps.audit?.record({ appeal: appeal.id, actor: SYSTEM_ACTOR, action: 'publish_failed', network, hash, detail: `publishing to ${NETWORK_LABELS[network]} failed (${err.code}${err.permanent ? ', permanent' : ''})`, reason: err.userMessage });
    return rec;
  }

  /** The thread message for a record. */
  private outcomeMessage(appeal: Appeal, rec: PublicationRecord): Message {
    const label = NETWORK_LABELS[rec.network];
    if (rec.state === 'published') {
      return msg`:loudspeaker: ${strong(`${showId(appeal.id)} is live on ${label}`)}: ${link(rec.url, rec.url.replace(/^https?:\/\//, ''))}${rec.recovered ? ' (found after an interruption: it was posted once)' : ''}`;
    }
    const now = this.deps.clock.now();
    const next: Message = rec.retryAt !== undefined
      ? msg`Loudhailer tries again by itself at ${clockTime(rec.retryAt, now)}; ${code(`/appeal retry ${appeal.id} ${rec.network}`)} tries now.`
      : rec.checkAt !== undefined
        ? msg`Loudhailer looks for it on the account again in a few minutes and says so here if it is there; ${code(`/appeal retry ${appeal.id} ${rec.network}`)} looks first too, and posts only if it isn't.`
        : msg`${code(`/appeal retry ${appeal.id} ${rec.network}`)} tries again.`;
    return msg`:warning: ${strong(`${showId(appeal.id)} couldn't be published on ${label}`)}: ${rec.reason}. ${next}`;
  }

  /** After a round: state, the card, and whether the appeal still needs the sweeper. */
  private async finishRound(id: string, log: Logger): Promise<void> {
    const { store, clock } = this.deps;
    await this.deps.lock.run(id, async (lease) => {
      const appeal = await store.get<Appeal>(`appeal:${id}`);
      if (!appeal || (appeal.state !== 'publishing' && appeal.state !== 'published')) return;
      const records = await this.records(appeal);
      const hash = appeal.approval!.hash;
      const targets = this.publishable(appeal).map((o) => o.network);
      const published = targets.filter((n) => { const r = records.get(n); return r?.state === 'published' && r.hash === hash; });
      const asked = new Set<NetworkName>();
      for (const n of targets) if ((await store.get<boolean>(publishKeys.retry(id, n))) === true) asked.add(n);
      const open = targets.filter((n) => {
        const r = records.get(n);
        return asked.has(n) || !r || r.hash !== hash || (r.state === 'failed' && (r.retryAt !== undefined || r.checkAt !== undefined));
      });
      // Tell the thread about each outcome it hasn't heard of yet (recorded before told).
      let news = false;
      const untold = new Set<NetworkName>();
      for (const n of targets) {
        const r = records.get(n);
        if (!r || r.hash !== hash) continue;
        const mark = `${r.state}:${r.at}`;
        const told = await store.get<{ mark: string; tries: number }>(publishKeys.told(id, n));
        if (told?.mark === mark && told.tries === 0) continue;
        if (told?.mark === mark && told.tries >= MAX_TELL_TRIES) continue; // the chat keeps refusing: status shows it
        news = true;
        if (await this.say(appeal, this.outcomeMessage(appeal, r))) {
          await store.set(publishKeys.told(id, n), { mark, tries: 0 });
        } else {
          // Not told yet: the appeal stays pending, so the next sweep tries again.
          await store.set(publishKeys.told(id, n), { mark, tries: (told?.mark === mark ? told.tries : 0) + 1 });
          untold.add(n);
        }
      }
      if (open.length === 0 && untold.size === 0) await store.removeFromSet(publishKeys.pending, id);
      let current = appeal;
      if (appeal.state === 'publishing' && published.length > 0) {
        current = transition(appeal, 'published', clock.now());
        await lease.check();
        await store.set(`appeal:${id}`, current);
        log.info({ published }, 'appeal published');
      }
      const card = currentCard(current);
      if (card && (news || current !== appeal)) {
        // The card shows each network's link (or why it failed), for whoever looks at it first.
        const publications = targets.flatMap((n) => {
          const r = records.get(n);
          if (!r || r.hash !== hash) return [];
          return [r.state === 'published' ? { network: n, label: NETWORK_LABELS[n], url: r.url } : { network: n, label: NETWORK_LABELS[n], failed: r.reason }];
        });
        await this.deps.room
          .updateCard({ channel: current.channel, ts: card.ts }, { ...this.deps.cardView(current, card.revision, card.hash), publications })
          .catch((err: unknown) => log.warn({ err }, 'card update failed'));
      }
    });
  }

  /** The approved images, checked against their hashes: what was approved is what is sent. */
  private async loadMedia(appeal: Appeal, shas: readonly string[]): Promise<MediaFile[]> {
    const files: MediaFile[] = [];
    for (const sha of shas) {
      const item = appeal.media.find((m) => m.sha256 === sha);
      const b64 = await this.deps.store.get<string>(`media:${sha}`);
      const bytes = b64 === undefined ? undefined : Buffer.from(b64, 'base64');
      if (!item || !bytes || createHash('sha256').update(bytes).digest('hex') !== sha) {
        throw new NetworkError({ network: 'store', code: 'invalid', permanent: true, userMessage: `an approved image (${sha.slice(0, 8)}) is missing or changed in the store, so nothing was sent` });
      }
      files.push({ sha256: sha, bytes, mime: item.mime, name: item.name });
    }
    return files;
  }

  /** Posts in the appeal's thread; false (logged) when the chat platform refused. */
  private async say(appeal: Appeal, message: Message): Promise<boolean> {
    try {
      await this.deps.room.post(appeal.channel, appeal.threadTs, message);
      return true;
    } catch (err) {
      this.deps.logger.warn({ err, appeal: appeal.id }, 'could not post in the thread');
      return false;
    }
  }
}

/** "14:05 UTC", with the date when it is more than 20 hours away. */
function clockTime(ms: number, now: number): string {
  const iso = new Date(ms).toISOString();
  return ms - now > 20 * 3_600_000 ? `${iso.slice(11, 16)} UTC on ${iso.slice(0, 10)}` : `${iso.slice(11, 16)} UTC`;
}
