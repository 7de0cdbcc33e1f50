/**
 * Live reach: one message per appeal thread, edited in place as view counts change.
 *
 * One poller runs at a time across replicas (a lease in the store). Each refresh reads the
 * live posts from one set, asks each network for the posts that are due in batches of its
 * `reachBatchSize` (X: 100 ids per call, across all live appeals), records the counts
 * (bounded history per appeal) and edits a thread's message only when a number in it changed.
 * How often a post is due follows reach-plan.ts; a monthly read budget (X bills each post
 * read) slows refresh evenly when it runs short and is never exceeded.
 */
import { showId } from './ids.js';
import { tryLease, type HeldLease } from './lock.js';
import { msg, strong, type Message, type Part } from './messages.js';
import { NETWORK_LABELS, NETWORKS, type NetworkName } from './networks.js';
import type { Appeal } from './appeal.js';
import type { ChatRoom, Clock, Logger, Network, ReachCount, Store } from './ports.js';
import { publishKeys, type PublicationRecord } from './publisher.js';
import { budgetSlowdown, HOUR_MS, monthOf, refreshInterval, type RefreshPlan } from './reach-plan.js';
import { waitAtMost } from './runs.js';
import { count as fmt } from './words.js';

export const reachKeys = {
  state: (id: string) => `reach:${id}`,
  reads: (network: NetworkName, month: string) => `reads:${network}:${month}`,
  leader: 'reach-leader',
};

/** Most history points kept per appeal; older points are thinned out first. */
export const MAX_HISTORY = 500;
const LEADER_LEASE_MS = 30_000;
/** Chat edits in flight at once during a refresh. */
const CHAT_CONCURRENCY = 4;
/** A post missing from this many lookups in a row is taken as deleted: no longer read. */
const MAX_MISSES = 3;

type Counts = Partial<Record<NetworkName, number>>;

export interface ReachState {
  /** The reach message in the thread, once posted. */
  messageTs?: string;
  /** Timestamped counts, oldest first (a point is added when a count changes). */
  history: Array<{ at: number; counts: Counts }>;
  /** The numbers the message shows now: it is edited only when they change. */
  shown?: string;
  /** Kinds per network (views, or engagements where a network counts no views). */
  kinds?: Partial<Record<NetworkName, ReachCount['kind']>>;
  stopped?: boolean;
  /** Networks whose post disappeared (deleted there): shown with their last count. */
  gone?: NetworkName[];
}

interface LiveAppeal {
  id: string;
  channel: string;
  threadTs: string;
  /** When it first went live: its age drives the refresh interval. */
  since: number;
  posts: Map<NetworkName, string>;
  state: ReachState;
  nextAt: number;
  /** Lookups in a row that didn't return a network's post (deleted on the network). */
  misses: Map<NetworkName, number>;
}

export interface ReachDeps {
  store: Store;
  room: ChatRoom;
  networks: ReadonlyMap<NetworkName, Network>;
  clock: Clock;
  logger: Logger;
  plan: RefreshPlan;
  /** Posts read per month at most, per network that bills reads (X_READ_BUDGET). */
  budgets?: Partial<Record<NetworkName, number>>;
}

export interface RefreshStats {
  due: number;
  /** Reach calls per network. */
  calls: Partial<Record<NetworkName, number>>;
  /** Posts read per network. */
  reads: Partial<Record<NetworkName, number>>;
  /** Thread messages posted or edited. */
  edits: number;
  stopped: number;
  /** Posts not read because the month's budget is used up. */
  overBudget: number;
}

export class ReachPoller {
  private readonly live = new Map<string, LiveAppeal>();
  private leader: HeldLease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly deps: ReachDeps) {
    this.log = deps.logger.child({ component: 'reach' });
  }

  /** Refreshes every `tickMs` while this process holds the poller lease. */
  start(tickMs = Math.min(this.deps.plan.baseMs, 5_000)): void {
    const tick = () => {
      if (this.running || this.stopped) return;
      this.running = this.tick()
        .catch((err: unknown) => this.log.warn({ err }, 'reach refresh failed; trying again'))
        .finally(() => {
          this.running = undefined;
        });
    };
    this.timer = setInterval(tick, tickMs);
    this.timer.unref();
    tick();
  }

  /** Stops; waits for a refresh in flight at most `graceMs` (a network may be rate-limiting it). */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await waitAtMost(this.running ?? Promise.resolve(), graceMs);
    await this.leader?.release().catch(() => undefined);
    this.leader = undefined;
  }

  private async tick(): Promise<void> {
    if (this.leader && !this.leader.held) {
      this.log.warn({}, 'lost the reach poller lease; another replica polls now');
      await this.leader.release().catch(() => undefined); // stops its heartbeat
      this.leader = undefined;
      this.live.clear();
    }
    this.leader ??= await tryLease(this.deps.store, reachKeys.leader, LEADER_LEASE_MS);
    if (!this.leader) return;
    await this.refresh();
  }

  /** One refresh: read what is due, record it, edit the messages whose numbers changed. */
  async refresh(now = this.deps.clock.now()): Promise<RefreshStats> {
    const stats: RefreshStats = { due: 0, calls: {}, reads: {}, edits: 0, stopped: 0, overBudget: 0 };
    await this.sync(now);
    const { plan } = this.deps;

    const due: LiveAppeal[] = [];
    for (const a of this.live.values()) {
      if (now - a.since >= plan.stopAfterMs) {
        await this.finish(a, now);
        stats.stopped++;
      } else if (a.nextAt <= now) {
        due.push(a);
      }
    }
    stats.due = due.length;
    if (due.length === 0) return stats;

    // Slow down evenly where a budget runs short; never read beyond it.
    const slowdown = new Map<NetworkName, number>();
    const month = monthOf(now);
    const used = new Map<NetworkName, number>();
    for (const [network, budget] of Object.entries(this.deps.budgets ?? {}) as Array<[NetworkName, number]>) {
      const spent = (await this.deps.store.get<number>(reachKeys.reads(network, month.key))) ?? 0;
      used.set(network, spent);
      const ages = [...this.live.values()].filter((a) => a.posts.has(network)).map((a) => now - a.since);
      slowdown.set(network, budgetSlowdown(plan, { budget, used: spent }, ages, now));
    }

    const results = new Map<string, Counts>();
    /** Appeals whose lookup failed this time: read again after the base interval. */
    const retrySoon = new Set<string>();
    const exhausted = new Set<NetworkName>();
    for (const network of NETWORKS) {
      const adapter = this.deps.networks.get(network);
      const ids = due.flatMap((a) => (a.posts.has(network) ? [[a.id, a.posts.get(network)!] as const] : []));
      if (!adapter || ids.length === 0) continue;
      const budget = this.deps.budgets?.[network];
      for (let i = 0; i < ids.length; i += adapter.reachBatchSize) {
        const batch = ids.slice(i, i + adapter.reachBatchSize);
        if (budget !== undefined && (used.get(network) ?? 0) + batch.length > budget) {
          exhausted.add(network);
          stats.overBudget += ids.length - i;
          break;
        }
        if (this.lostLeadership()) return stats; // another replica polls now
        let counts: Map<string, ReachCount>;
        stats.calls[network] = (stats.calls[network] ?? 0) + 1;
        try {
          counts = await adapter.reach(batch.map(([, postId]) => postId));
        } catch (err) {
          // The network is down (the adapter already retried): skip its other batches this
          // time and read these posts again soon; a failed lookup isn't billed.
          this.log.warn({ err, network, posts: ids.length - i }, 'reach lookup failed; those posts are read again shortly');
          for (const [id] of ids.slice(i)) retrySoon.add(id);
          break;
        }
        stats.reads[network] = (stats.reads[network] ?? 0) + batch.length;
        used.set(network, (used.get(network) ?? 0) + batch.length);
        // Counted after every batch, so a crash mid-refresh can't lose reads X billed.
        if (budget !== undefined) await this.deps.store.set(reachKeys.reads(network, month.key), used.get(network) ?? 0);
        for (const [id, postId] of batch) {
          const a = this.live.get(id)!;
          const c = counts.get(postId);
          if (!c) {
            const misses = (a.misses.get(network) ?? 0) + 1;
            a.misses.set(network, misses);
            if (misses >= MAX_MISSES) await this.dropPost(a, network, postId);
            continue; // the last count stands
          }
          a.misses.delete(network);
          const r = results.get(id) ?? {};
          r[network] = c.count;
          results.set(id, r);
          (a.state.kinds ??= {})[network] = c.kind;
        }
      }
    }

    const notes = this.budgetNotes(slowdown, exhausted, now);
    await mapLimit(due, CHAT_CONCURRENCY, async (a) => {
      if (this.lostLeadership()) return;
      const age = now - a.since;
      const slow = Math.max(1, ...[...a.posts.keys()].map((n) => (exhausted.has(n) ? 1 : slowdown.get(n) ?? 1)));
      a.nextAt = retrySoon.has(a.id) ? now + plan.baseMs : now + refreshInterval(plan, age, Number.isFinite(slow) ? slow : 1);
      const fresh = results.get(a.id);
      let changed = false;
      if (fresh) changed = record(a.state, fresh, now);
      const edited = await this.show(a, now, notes.filter((n) => a.posts.has(n.network)).map((n) => n.text));
      if (edited) stats.edits++;
      if (changed || edited) await this.deps.store.set(reachKeys.state(a.id), a.state);
    });
    return stats;
  }

  /** Brings the in-memory set of live appeals in line with the store. */
  private async sync(now: number): Promise<void> {
    const members = await this.deps.store.members(publishKeys.live);
    const posts = new Map<string, Map<NetworkName, string>>();
    for (const m of members) {
      const [id, network, postId] = m.split('|') as [string, NetworkName, string];
      if (!id || !network || !postId) continue;
      const p = posts.get(id) ?? new Map<NetworkName, string>();
      p.set(network, postId);
      posts.set(id, p);
    }
    for (const id of this.live.keys()) if (!posts.has(id)) this.live.delete(id);
    for (const [id, p] of posts) {
      const known = this.live.get(id);
      if (known) {
        if (p.size !== known.posts.size || [...p].some(([n, postId]) => known.posts.get(n) !== postId)) {
          known.posts = p;
          known.nextAt = now; // a network joined (a retry succeeded): read it now
        }
        continue;
      }
      const appeal = await this.deps.store.get<Appeal>(`appeal:${id}`);
      if (!appeal) continue;
      let since = Infinity;
      for (const network of p.keys()) {
        const rec = await this.deps.store.get<PublicationRecord>(publishKeys.record(id, network));
        if (rec) since = Math.min(since, rec.at);
      }
      const state = (await this.deps.store.get<ReachState>(reachKeys.state(id))) ?? { history: [] };
      if (state.stopped) continue;
      const start = Number.isFinite(since) ? since : now;
      this.live.set(id, {
        id,
        channel: appeal.channel,
        threadTs: appeal.threadTs,
        since: start,
        posts: p,
        state,
        // Never read: now. Read before (a restart, or another replica polled until now): it
        // was read at some point in its last interval, so the next read falls somewhere in
        // the coming one: a failover re-reads nothing early and spreads the reads out.
        nextAt: state.history.length === 0 ? now : now + Math.random() * refreshInterval(this.deps.plan, now - start),
        misses: new Map(),
      });
    }
  }

  /** Notes for the reach message; their text only changes when the situation does. */
  private budgetNotes(slowdown: Map<NetworkName, number>, exhausted: Set<NetworkName>, now: number) {
    const notes: Array<{ network: NetworkName; text: string }> = [];
    const month = new Date(now).toLocaleString('en-GB', { month: 'long', timeZone: 'UTC' });
    const next = new Date(monthOf(now).endsAt).toLocaleString('en-GB', { day: 'numeric', month: 'long', timeZone: 'UTC' });
    for (const network of Object.keys(this.deps.budgets ?? {}) as NetworkName[]) {
      const label = NETWORK_LABELS[network];
      const s = slowdown.get(network) ?? 1;
      if (exhausted.has(network) || !Number.isFinite(s)) {
        notes.push({ network, text: `The ${label} read budget for ${month} (X_READ_BUDGET) is used up: ${label} counts resume on ${next}.` });
      } else if (s > 1) {
        notes.push({ network, text: `${label} counts refresh less often than usual to stay within the ${month} read budget (X_READ_BUDGET).` });
      }
    }
    return notes;
  }

  private lostLeadership(): boolean {
    return this.leader !== undefined && !this.leader.held;
  }

  /** A post the network no longer has (deleted there): stop reading it. */
  private async dropPost(a: LiveAppeal, network: NetworkName, postId: string): Promise<void> {
    this.log.warn({ appeal: a.id, network, postId }, 'the post is gone from the network: no longer reading its reach');
    await this.deps.store.removeFromSet(publishKeys.live, `${a.id}|${network}|${postId}`);
    a.posts.delete(network);
    a.misses.delete(network);
    a.state.gone = [...new Set([...(a.state.gone ?? []), network])];
    await this.deps.store.set(reachKeys.state(a.id), a.state);
  }

  /** Posts or edits the reach message when its numbers (or notes) changed. */
  private async show(a: LiveAppeal, now: number, notes: string[], final = false): Promise<boolean> {
    const view = reachMessage(a, now, notes, final);
    if (!view || view.signature === a.state.shown) return false;
    try {
      if (a.state.messageTs) {
        await this.deps.room.update({ channel: a.channel, ts: a.state.messageTs }, view.message);
      } else {
        const ref = await this.deps.room.post(a.channel, a.threadTs, view.message);
        a.state.messageTs = ref.ts;
      }
      a.state.shown = view.signature;
      return true;
    } catch (err) {
      this.log.warn({ err, appeal: a.id }, 'could not update the reach message; trying again next refresh');
      return false;
    }
  }

  private async finish(a: LiveAppeal, now: number): Promise<void> {
    const days = Math.round(this.deps.plan.stopAfterMs / 86_400_000);
    a.state.stopped = true;
    await this.show(a, now, [`Final count: reach stopped refreshing ${days} day${days === 1 ? '' : 's'} after publishing.`], true);
    await this.deps.store.set(reachKeys.state(a.id), a.state);
    for (const [network, postId] of a.posts) await this.deps.store.removeFromSet(publishKeys.live, `${a.id}|${network}|${postId}`);
    this.live.delete(a.id);
    this.log.info({ appeal: a.id }, 'reach polling stopped');
  }
}

/** Adds a history point when a count changed; keeps the history bounded. True when changed. */
export function record(state: ReachState, fresh: Counts, at: number): boolean {
  const last = state.history.at(-1)?.counts ?? {};
  const merged: Counts = { ...last, ...fresh };
  if (state.history.length > 0 && (Object.keys(merged) as NetworkName[]).every((n) => merged[n] === last[n])) return false;
  state.history.push({ at, counts: merged });
  if (state.history.length > MAX_HISTORY) {
    // Thin the older half (every other point), so recent detail and the long view both stay.
    const half = Math.floor(state.history.length / 2);
    state.history = [...state.history.slice(0, half).filter((_, i) => i % 2 === 0), ...state.history.slice(half)];
  }
  return true;
}

/**
 * What the change is measured from: the counts an hour ago (the newest point at or before
 * then); for an appeal under an hour old, zero at publishing; otherwise the oldest point.
 */
function baseline(a: LiveAppeal, now: number): { counts: Counts; label: string } {
  let base: { at: number; counts: Counts } | undefined;
  for (const p of a.state.history) {
    if (p.at > now - HOUR_MS) break;
    base = p;
  }
  if (base) return { counts: base.counts, label: 'in the last hour' };
  if (now - a.since < HOUR_MS) return { counts: {}, label: 'since publishing' };
  const oldest = a.state.history[0];
  return { counts: oldest?.counts ?? {}, label: `since ${oldest ? new Date(oldest.at).toISOString().slice(11, 16) : '?'} UTC` };
}

function reachMessage(a: LiveAppeal, now: number, notes: string[], final: boolean): { message: Message; signature: string } | undefined {
  const current = a.state.history.at(-1);
  if (!current && notes.length === 0) return undefined;
  const counts = current?.counts ?? {};
  const base = baseline(a, now);
  const gone = a.state.gone ?? [];
  const networks = NETWORKS.filter((n) => (a.posts.has(n) || gone.includes(n)) && counts[n] !== undefined);
  const kinds = a.state.kinds ?? {};
  const change = (d: number) => `${d >= 0 ? '+' : '−'}${fmt(Math.abs(d))} ${base.label}`;
  const lines: Part[] = msg`:chart_with_upwards_trend: ${strong(`Reach of ${showId(a.id)}`)}${final ? ' (final)' : ''}${current ? ` · updated ${new Date(current.at).toISOString().slice(11, 16)} UTC` : ': no count yet'}`;
  let views = 0;
  let viewsBase = 0;
  let engagements = 0;
  const shown: Array<string | number> = [];
  for (const n of networks) {
    const count = counts[n]!;
    const kind = kinds[n] ?? 'views';
    const delta = count - (base.counts[n] ?? 0);
    if (kind === 'views') {
      views += count;
      viewsBase += base.counts[n] ?? 0;
    } else {
      engagements += count;
    }
    shown.push(n, count, delta, gone.includes(n) ? 'gone' : '');
    const what = `${fmt(count)} ${kind === 'views' ? 'views' : 'engagements (no view count)'}`;
    lines.push(gone.includes(n)
      ? `\n${NETWORK_LABELS[n]}: ${what} when last read; the post is no longer on ${NETWORK_LABELS[n]} (deleted there)`
      : `\n${NETWORK_LABELS[n]}: ${what} (${change(delta)})`);
  }
  if (current) lines.push(...msg`\n${strong(`Total: ${fmt(views)} views`)} (${change(views - viewsBase)})${engagements > 0 ? ` + ${fmt(engagements)} engagements` : ''}`);
  for (const note of notes) lines.push(`\n${note}`);
  // Every number shown (counts and changes) and the notes: the message is edited when one of them changes.
  const signature = JSON.stringify([shown, views - viewsBase, base.label, notes, final]);
  return { message: lines, signature };
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
