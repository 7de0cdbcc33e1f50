import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Appeal } from '../../src/core/appeal.js';
import { KeyedLock } from '../../src/core/lock.js';
import { AuditLog, verifyAudit } from '../../src/core/audit.js';
import type { Clock, Logger, Store } from '../../src/core/ports.js';
import { liveMember, publishKeys } from '../../src/core/publisher.js';
import { reachKeys, type ReachState } from '../../src/core/reach.js';
import { formatTime, Reporter, reportKeys } from '../../src/core/report.js';
import { createChartRenderer } from '../../src/media/chart.js';
import { scheduleReports } from '../../src/scheduler.js';
import { openStore } from '../../src/store/index.js';
import { FakeRoom } from '../helpers/fake-room.js';

const silent: Logger = { debug() {}, info: (o, m) => process.env.DEBUG_TEST && console.log("INFO", m, o), warn: (o, m) => process.env.DEBUG_TEST && console.log("WARN", m, o), error: (o, m) => process.env.DEBUG_TEST && console.log("ERR", m, o), child: () => silent };
const HOUR = 3_600_000;
const REPORTS = 'CREPORTS';

function appeal(id: string, text: string, approvedAt: number, state: Appeal['state'] = 'published'): Appeal {
  return {
    id, state, platform: 'slack', channel: 'CINC', author: 'UAUTHOR', threadTs: '1.1', text, targets: ['x', 'facebook'], media: [], cards: [],
    pendingApprovers: [], approval: { hash: 'h', approvers: ['U1', 'U2'], at: approvedAt }, createdAt: approvedAt, updatedAt: approvedAt,
  };
}

async function seed(store: Store, now: number): Promise<void> {
  // 7K3Q: two days old, 1,000 views a day ago, 5,500 now (X 4,000 + Facebook 1,500).
  await store.set(`appeal:7K3Q`, appeal('7K3Q', 'Wanted: man seen leaving the Arndale centre\nmore', now - 48 * HOUR));
  await store.addToSet(publishKeys.live, liveMember('7K3Q', 'x', '111'));
  await store.addToSet(publishKeys.live, liveMember('7K3Q', 'facebook', 'p_1'));
  await store.set<ReachState>(reachKeys.state('7K3Q'), {
    history: [
      { at: now - 47 * HOUR, counts: { x: 100, facebook: 10 } },
      { at: now - 25 * HOUR, counts: { x: 800, facebook: 200 } },
      { at: now - 2 * HOUR, counts: { x: 4_000, facebook: 1_500 } },
    ],
  });
  // M1SS: three hours old: the change is since publishing.
  await store.set(`appeal:M1SS`, appeal('M1SS', 'Missing: Amy, 14 <b>', now - 3 * HOUR));
  await store.addToSet(publishKeys.live, liveMember('M1SS', 'x', '222'));
  await store.set<ReachState>(reachKeys.state('M1SS'), { history: [{ at: now - 2 * HOUR, counts: { x: 20_000 } }] });
  // GONE: withdrawn: never in a report.
  await store.set(`appeal:G0NE`, appeal('G0NE', 'Withdrawn appeal', now - 5 * HOUR, 'withdrawn'));
  await store.addToSet(publishKeys.live, liveMember('G0NE', 'x', '333'));
}

describe('reach reports', () => {
  let store: Store;
  let room: FakeRoom;
  const now = Date.parse('2026-07-01T07:00:00Z');
  const clock: Clock = { now: () => now };

  beforeEach(async () => {
    store = await openStore('sqlite://:memory:');
    room = new FakeRoom();
    await seed(store, now);
  });
  afterEach(async () => {
    await store.close();
  });

  it('lists each live appeal with views per network, the total and the 24-hour change, with a chart, in the report time zone', async () => {
    const audit = new AuditLog({ store, clock, lock: new KeyedLock(store, clock), logger: silent });
    const reporter = new Reporter({ store, room, clock, logger: silent, chart: createChartRenderer(), timeZone: 'Europe/London', audit });
    await reporter.post(REPORTS, 'Reach report', 'UASKER');
    expect(room.uploads).toHaveLength(1);
    const up = room.uploads[0]!;
    expect(up.channel).toBe(REPORTS);
    expect(up.threadTs).toBeUndefined();
    const text = up.comment!;
    expect(text).toContain(`Reach report · ${formatTime(now, 'Europe/London')}`);
    expect(text).toContain('08:00'); // 07:00 UTC is 08:00 in London in July
    expect(text).toContain('2 live appeals');
    // Biggest first; Facebook and X per network; 24-hour change from the newest point a day ago.
    expect(text.indexOf('#M1SS')).toBeLessThan(text.indexOf('#7K3Q'));
    expect(text).toContain('#7K3Q Wanted: man seen leaving the Arndale centre: X 4,000 · Facebook 1,500 → 5,500 views (+4,500 24 h)');
    expect(text).toContain('#M1SS Missing: Amy, 14 <b>: X 20,000 → 20,000 views (+20,000 since publishing)');
    expect(text).toContain('All live appeals: 25,500 views (+24,500 over the last 24 h)');
    expect(text).not.toContain('G0NE');
    const png = up.files[0]!;
    expect(png.mime).toBe('image/png');
    expect(png.bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(await sharp(png.bytes).metadata()).toMatchObject({ format: 'png', width: 1000, height: 500 });
    expect(await verifyAudit(store)).toMatchObject({ ok: true, checked: 1 });
  });

  it('posts the table alone, saying so, when the chart upload is refused', async () => {
    room.failNextUploads = 1;
    const reporter = new Reporter({ store, room, clock, logger: silent, chart: createChartRenderer(), timeZone: 'UTC' });
    await reporter.post(REPORTS, 'Reach report');
    expect(room.uploads).toHaveLength(0);
    const posted = room.texts().at(-1)!;
    expect(posted).toContain('#7K3Q');
    expect(posted).toContain("The chart couldn't be uploaded this time");
  });

  it('a slot is posted once across replicas, and a stale slot not at all', async () => {
    const a = new Reporter({ store, room, clock, logger: silent, timeZone: 'UTC' });
    const b = new Reporter({ store, room, clock, logger: silent, timeZone: 'UTC' });
    const slot = now - 2_000;
    const outcomes = await Promise.all([a.runSlot(slot, REPORTS), b.runSlot(slot, REPORTS), a.runSlot(slot, REPORTS)]);
    expect(outcomes.sort()).toEqual(['posted', 'taken', 'taken']);
    expect(room.texts().filter((t) => t.includes('Scheduled reach report'))).toHaveLength(1);
    expect(await store.claim(reportKeys.slot(new Date(slot).toISOString()))).toBe(false);
    // A replica that comes up ten minutes after a slot nobody posted does not post it late.
    expect(await a.runSlot(now - 10 * 60_000, REPORTS)).toBe('stale');
    expect(room.texts().filter((t) => t.includes('Scheduled reach report'))).toHaveLength(1);
  });
});

describe('the report chart in the README', () => {
  it('draws three appeals over two days (written to docs/report-chart.png with UPDATE_SCREENSHOTS=1)', async () => {
    const now = Date.parse('2026-11-29T08:00:00Z');
    const curve = (ageH: number, scale: number) =>
      Array.from({ length: 48 }, (_, i) => ({ at: now - ageH * HOUR + (i * ageH * HOUR) / 48, count: Math.round(scale * (1 - Math.exp(-(i + 1) / 12))) }));
    const png = await createChartRenderer().reachChart({
      title: `Reach of live appeals (views) · ${formatTime(now, 'Europe/London')}`,
      series: [{ label: '#7K3Q', points: curve(46, 612_000) }, { label: '#M1SS', points: curve(20, 240_000) }, { label: '#R2D4', points: curve(7, 81_500) }],
      from: now - 46 * HOUR,
      to: now,
      timeZone: 'Europe/London',
    });
    expect(await sharp(png).metadata()).toMatchObject({ format: 'png', width: 1000, height: 500 });
    if (process.env.UPDATE_SCREENSHOTS === '1') writeFileSync(join(import.meta.dirname, '../../docs/report-chart.png'), png);
  });
});

describe('the report schedule (node-cron, driven by a test clock)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lh-report-'));
  });
  afterEach(() => {
    vi.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('two replicas on one store post one report at 08:00 Europe/London, none before, none twice', async () => {
    // 07:59:30 London time (BST, UTC+1) on 1 July.
    vi.useFakeTimers({ now: Date.parse('2026-07-01T06:59:30Z'), toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const url = `sqlite://${join(dir, 'lh.sqlite')}`;
    const stores = [await openStore(url), await openStore(url)];
    await seed(stores[0]!, Date.now());
    const rooms = [new FakeRoom(), new FakeRoom()];
    const schedules = stores.map((store, i) =>
      scheduleReports({ cron: '0 8 * * *', timeZone: 'Europe/London', channel: REPORTS, logger: silent, reporter: new Reporter({ store, room: rooms[i]!, clock: { now: () => Date.now() }, logger: silent, timeZone: 'Europe/London' }) }),
    );
    try {
      expect(schedules[0]!.next()?.toISOString()).toBe('2026-07-01T07:00:00.000Z');
      await vi.advanceTimersByTimeAsync(20_000); // 07:59:50: nothing yet
      for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
      expect(rooms.flatMap((r) => r.texts())).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(15_000); // 08:00:05
      // The store answers through real I/O: let the event loop turn while the test clock stands still.
      const deadline = performance.now() + 10_000;
      while (performance.now() < deadline && rooms.flatMap((r) => r.texts()).length === 0) await new Promise((r) => setImmediate(r));
      const reports = rooms.flatMap((r) => r.texts()).filter((t) => t.includes('Scheduled reach report'));
      expect(reports).toHaveLength(1);
      expect(reports[0]).toContain('1 Jul 2026, 08:00');
      expect(await stores[0]!.claim(reportKeys.slot("2026-07-01T07:00:00.000Z"))).toBe(false);
      // The rest of the day: still one.
      await vi.advanceTimersByTimeAsync(3 * HOUR);
      for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
      expect(rooms.flatMap((r) => r.texts()).filter((t) => t.includes('Scheduled reach report'))).toHaveLength(1);
    } finally {
      await Promise.all(schedules.map((s) => s.stop()));
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});
