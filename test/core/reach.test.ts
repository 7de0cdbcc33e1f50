import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Appeal } from '../../src/core/appeal.js';
import type { Logger, Store } from '../../src/core/ports.js';
import { liveMember, publishKeys, type PublicationRecord } from '../../src/core/publisher.js';
import { MAX_HISTORY, ReachPoller, reachKeys, record, type ReachState } from '../../src/core/reach.js';
import { DAY_MS, expectedReads, HOUR_MS, monthOf, refreshInterval } from '../../src/core/reach-plan.js';
import { openStore } from '../../src/store/index.js';
import { FakeRoom } from '../helpers/fake-room.js';
import { FakeNetwork } from '../helpers/fake-network.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const T0 = Date.UTC(2026, 10, 3, 9, 0, 0); // early in a month
const PLAN = { baseMs: 60_000, stopAfterMs: 14 * DAY_MS };

describe('the refresh plan', () => {
  it('refreshes at the base rate in the first hour, then less often with age', () => {
    expect(refreshInterval(PLAN, 0)).toBe(60_000);
    expect(refreshInterval(PLAN, 59 * 60_000)).toBe(60_000);
    expect(refreshInterval(PLAN, 2 * HOUR_MS)).toBe(120_000);
    expect(refreshInterval(PLAN, DAY_MS)).toBe(24 * 60_000);
    expect(refreshInterval(PLAN, DAY_MS, 2)).toBe(48 * 60_000);
  });
  it('forecasts about 410 reads over 14 days', () => {
    const reads = expectedReads(PLAN, 0, 14 * DAY_MS);
    expect(reads).toBeGreaterThan(400);
    expect(reads).toBeLessThan(420);
    expect(expectedReads(PLAN, 0, 30 * DAY_MS)).toBeCloseTo(reads, 6); // nothing after the stop
  });
});

describe('the reach poller', () => {
  let store: Store;
  let room: FakeRoom;
  let x: FakeNetwork;
  let now: number;

  beforeEach(async () => {
    store = await openStore('sqlite://:memory:');
    room = new FakeRoom();
    now = T0;
    x = new FakeNetwork('x', 100, () => now);
  });
  afterEach(async () => {
    await store.close();
  });

  function poller(budget?: number, plan = PLAN): ReachPoller {
    return new ReachPoller({
      store, room, networks: new Map([['x', x]]), clock: { now: () => now }, logger: silent, plan,
      ...(budget !== undefined ? { budgets: { x: budget } } : {}),
    });
  }

  /** n published appeals, each with an X post and a thread. */
  async function seed(n: number, publishedAt = now): Promise<Array<{ id: string; postId: string; threadTs: string }>> {
    const out = [];
    for (let i = 0; i < n; i++) {
      const id = `A${String(i).padStart(5, '0')}`;
      const thread = await room.post('CINC', undefined, ['card']);
      const post = x.seed(`Appeal ${i}\n\nRef ${id}`, publishedAt);
      await store.set(`appeal:${id}`, { id, channel: 'CINC', threadTs: thread.ts, state: 'published' } as Partial<Appeal>);
      await store.set<PublicationRecord>(publishKeys.record(id, 'x'), { state: 'published', network: 'x', hash: 'h', at: publishedAt, postId: post.id, url: `https://x.example/${post.id}` });
      await store.addToSet(publishKeys.live, liveMember(id, 'x', post.id));
      out.push({ id, postId: post.id, threadTs: thread.ts });
    }
    return out;
  }

  const reachMessages = () => room.messages.filter((m) => m.text?.includes('Reach of'));

  it('reads 250 appeals in 3 calls, posts one reach message each, and edits only what changed', async () => {
    const live = await seed(250);
    const p = poller();
    const first = await p.refresh(now);
    expect(first.calls.x).toBe(3);
    expect(first.reads.x).toBe(250);
    expect(reachMessages()).toHaveLength(250);
    expect(reachMessages().every((m) => m.threadTs !== undefined)).toBe(true);

    now += 60_000;
    const quiet = await p.refresh(now);
    expect(quiet.calls.x).toBe(3);
    expect(quiet.edits).toBe(0);
    expect(room.edits).toHaveLength(0);

    const changed = live.filter((_, i) => i % 10 === 0);
    for (const c of changed) x.views.set(c.postId, 1234);
    now += 60_000;
    const some = await p.refresh(now);
    expect(some.edits).toBe(changed.length);
    expect(room.edits).toHaveLength(changed.length);
    expect(room.edits[0]!.text).toContain('X: 1,234 views');
    expect(room.edits[0]!.text).toContain('Total: 1,234 views');
    expect(reachMessages()).toHaveLength(250); // edited in place, never a second message
  });

  it('shows the change over the last hour', async () => {
    const [a] = await seed(1);
    const p = poller();
    x.views.set(a!.postId, 100);
    await p.refresh(now);
    for (let i = 0; i < 70; i++) {
      now += 60_000;
      x.views.set(a!.postId, 100 + (i + 1) * 10);
      await p.refresh(now);
    }
    const text = reachMessages()[0]!.text!;
    expect(text).toMatch(/X: (790|800) views/); // past the first hour, reads are ~70 s apart
    expect(text).toContain('+600 in the last hour');
  });

  it('keeps an appeal within 600 reads over 14 days, at most a minute apart in the first hour, then stops', async () => {
    const [a] = await seed(1);
    const p = poller();
    const times: number[] = [];
    const end = T0 + 15 * DAY_MS;
    let reads = 0;
    for (; now <= end; now += 60_000) {
      const s = await p.refresh(now);
      if (s.reads.x) {
        reads += s.reads.x;
        times.push(now);
      }
    }
    expect(reads).toBeLessThanOrEqual(600);
    expect(reads).toBeGreaterThan(300);
    const firstHour = times.filter((t) => t < T0 + HOUR_MS);
    expect(firstHour.length).toBeGreaterThanOrEqual(60);
    for (let i = 1; i < firstHour.length; i++) expect(firstHour[i]! - firstHour[i - 1]!).toBeLessThanOrEqual(60_000);
    expect(times.at(-1)!).toBeLessThan(T0 + 14 * DAY_MS);
    expect(await store.members(publishKeys.live)).toEqual([]);
    expect(reachMessages()[0]!.text).toContain('Final count');
    expect((await store.get<ReachState>(reachKeys.state(a!.id)))!.stopped).toBe(true);
  });

  it('never reads beyond the monthly budget, slows down evenly when it runs short, says so, and edits only on changes', async () => {
    const live = await seed(20);
    const budget = 2_000; // 20 fresh appeals would take ~8,000 reads by the month's end
    const p = poller(budget);
    for (let i = 0; i < 2000; i++) {
      now += 60_000;
      if (i === 1500) x.views.set(live[0]!.postId, 77);
      await p.refresh(now);
    }
    const used = (await store.get<number>(reachKeys.reads('x', monthOf(now).key)))!;
    expect(x.readIds).toBe(used);
    expect(used).toBeLessThanOrEqual(budget);
    expect(used).toBeGreaterThan(budget / 4); // it keeps reading, just less often
    const text = reachMessages()[0]!.text!;
    expect(text).toContain('less often than usual to stay within the November read budget');
    expect(text).toContain('X: 77 views');
    // Each message: posted once, then edited only when a number in it changed (the slow-down
    // note appearing, the count changing, its hourly change going back to zero).
    expect(room.edits.filter((e) => e.ts === reachMessages()[1]!.ts).length).toBeLessThanOrEqual(1);
    expect(room.edits.filter((e) => e.ts === reachMessages()[0]!.ts).length).toBeLessThanOrEqual(3);
  });

  it('stops reading when the budget is used up, and says when counts resume', async () => {
    await seed(3);
    await store.set(reachKeys.reads('x', monthOf(now).key), 999);
    const p = poller(1000);
    const s = await p.refresh(now);
    expect(s.calls.x ?? 0).toBe(0);
    expect(s.overBudget).toBe(3);
    expect(x.readIds).toBe(0);
    expect(reachMessages()).toHaveLength(3);
    expect(reachMessages()[0]!.text).toContain('The X read budget for November (X_READ_BUDGET) is used up: X counts resume on 1 December.');
  });

  it('after a restart (or a new poller), reads nothing early: the reads of old appeals spread over their interval', async () => {
    await seed(100, now - 5 * DAY_MS);
    await poller().refresh(now);
    expect(x.readIds).toBe(100);
    const restarted = poller();
    now += 60_000;
    const s = await restarted.refresh(now);
    expect(s.reads.x ?? 0).toBeLessThan(20); // a 5-day-old post is read every ~2 hours
    let reads = s.reads.x ?? 0;
    for (let i = 0; i < 130; i++) {
      now += 60_000;
      reads += (await restarted.refresh(now)).reads.x ?? 0;
    }
    expect(reads).toBeGreaterThanOrEqual(100); // each read once within its interval
    expect(reads).toBeLessThan(200);
  });

  it('a network that fails is read again soon, is not billed, and its other batches wait', async () => {
    await seed(250, now - 2 * DAY_MS);
    const p = poller(10_000);
    const real = x.reach.bind(x);
    let failing = true;
    x.reach = async (ids) => {
      if (failing) throw new Error('X is down');
      return real(ids);
    };
    const s = await p.refresh(now);
    expect(s.calls.x).toBe(1); // the first batch failed: the other two weren't tried
    expect(s.reads.x ?? 0).toBe(0);
    expect((await store.get<number>(reachKeys.reads('x', monthOf(now).key))) ?? 0).toBe(0);
    failing = false;
    now += 60_000; // the base interval, though a 2-day-old post is normally read every ~48 min
    const again = await p.refresh(now);
    expect(again.reads.x).toBe(250);
  });

  it('stops reading a post the network no longer has', async () => {
    const [a] = await seed(1);
    const p = poller();
    x.views.set(a!.postId, 42);
    await p.refresh(now);
    now += 60_000;
    x.posts.find((post) => post.id === a!.postId)!.deleted = true;
    for (let i = 0; i < 3; i++) {
      await p.refresh(now);
      now += 60_000;
    }
    expect(await store.members(publishKeys.live)).toEqual([]);
    await p.refresh(now);
    expect(x.calls.reach).toBe(4);
    expect(reachMessages()).toHaveLength(1);
    expect(reachMessages()[0]!.text).toContain('the post is no longer on X (deleted there)');
  });

  it('the hourly change goes back to zero when the count stops changing', async () => {
    const [a] = await seed(1, now - 2 * HOUR_MS);
    const p = poller();
    x.views.set(a!.postId, 500);
    await p.refresh(now);
    for (let i = 0; i < 240; i++) {
      now += 60_000;
      await p.refresh(now);
    }
    const text = reachMessages()[0]!.text!;
    expect(text).toContain('X: 500 views (+0 in the last hour)');
  });

  it('keeps the history bounded', () => {
    const state: ReachState = { history: [] };
    for (let i = 0; i < 5 * MAX_HISTORY; i++) record(state, { x: i }, T0 + i * 1000);
    expect(state.history.length).toBeLessThanOrEqual(MAX_HISTORY);
    expect(state.history.at(-1)!.counts.x).toBe(5 * MAX_HISTORY - 1);
    expect(state.history[0]!.counts.x).toBe(0);
    expect(record(state, { x: 5 * MAX_HISTORY - 1 }, T0)).toBe(false);
  });

  it('only one replica polls at a time', async () => {
    await seed(2);
    const a = poller();
    const b = poller();
    a.start(1_000_000);
    b.start(1_000_000);
    await new Promise((r) => setTimeout(r, 100));
    await a.stop();
    await b.stop();
    expect(x.calls.reach).toBe(1);
  });
});
