/**
 * Reach reports for the command team: every live appeal with its views per network, the
 * total and the change over the last 24 hours, and a chart of reach over time (drawn from
 * the stored reach history), posted as one message with the chart attached.
 *
 * Scheduled reports come from a cron schedule (node-cron, outside the core) calling
 * `runSlot` with the slot's time: with several replicas, the first to claim the slot in the
 * store posts it and the others stand down; a slot more than `staleMs` in the past (a
 * replica that started, or woke, after it) is skipped rather than posted late.
 */
import type { Appeal } from './appeal.js';
import { SYSTEM_ACTOR, type AuditLog } from './audit.js';
import { showId } from './ids.js';
import { msg, strong, type Message, type Part } from './messages.js';
import { NETWORK_LABELS, NETWORKS, type NetworkName } from './networks.js';
import type { ChartRenderer, ChartSeries, ChatRoom, Clock, Logger, Store } from './ports.js';
import { publishKeys } from './publisher.js';
import { DAY_MS } from './reach-plan.js';
import { reachKeys, type ReachState } from './reach.js';
import { count as fmt, preview } from './words.js';

export const reportKeys = {
  slot: (iso: string) => `report-slot:${iso}`,
};

/** A slot is not posted once it is this late (a replica started or woke after it). */
const DEFAULT_STALE_MS = 5 * 60_000;
/** How long a slot's claim is kept: longer than any schedule repeats a time. */
const SLOT_CLAIM_MS = 8 * DAY_MS;
/** Chart span: the last week at most. */
const CHART_SPAN_MS = 7 * DAY_MS;
/** Appeals listed in one report (the biggest first); the rest are summed. */
const MAX_ROWS = 25;
/** Pauses before trying a failed scheduled report again. */
const RETRY_DELAYS_MS = [5_000, 30_000];

export interface ReporterDeps {
  store: Store;
  room: ChatRoom;
  clock: Clock;
  logger: Logger;
  /** Draws the chart; without one, reports are the table alone. */
  chart?: ChartRenderer;
  /** IANA time zone the report's times are shown in (TZ; default UTC). */
  timeZone: string;
  audit?: AuditLog;
  staleMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface ReportRow {
  id: string;
  preview: string;
  counts: Partial<Record<NetworkName, number>>;
  total: number;
  change: number;
  /** What `change` is measured over: "24 h", or "since publishing" for a younger appeal. */
  changeLabel: string;
}

export interface Report {
  at: number;
  rows: ReportRow[];
  series: ChartSeries[];
}

export class Reporter {
  constructor(private readonly deps: ReporterDeps) {}

  /** The live appeals' figures now (withdrawn ones are left out). */
  async build(): Promise<Report> {
    const { store, clock } = this.deps;
    const now = clock.now();
    const ids = [...new Set((await store.members(publishKeys.live)).map((m) => m.split('|')[0]!))];
    const rows: ReportRow[] = [];
    const series: ChartSeries[] = [];
    for (const id of ids.sort()) {
      const appeal = await store.get<Appeal>(`appeal:${id}`);
      if (!appeal || appeal.state === 'withdrawn') continue;
      const state = (await store.get<ReachState>(reachKeys.state(id))) ?? { history: [] };
      const views = (counts: Partial<Record<NetworkName, number>>) =>
        NETWORKS.filter((n) => (state.kinds?.[n] ?? 'views') === 'views').reduce((sum, n) => sum + (counts[n] ?? 0), 0);
      const current = state.history.at(-1)?.counts ?? {};
      const total = views(current);
      let base: { at: number; counts: Partial<Record<NetworkName, number>> } | undefined;
      for (const p of state.history) {
        if (p.at > now - DAY_MS) break;
        base = p;
      }
      const publishedAt = appeal.approval?.at ?? appeal.createdAt;
      rows.push({
        id,
        preview: preview(appeal.text, 50),
        counts: current,
        total,
        change: total - (base ? views(base.counts) : 0),
        changeLabel: base || now - publishedAt < DAY_MS ? (base ? '24 h' : 'since publishing') : 'since first counted',
      });
      series.push({ label: showId(id), points: state.history.filter((p) => p.at >= now - CHART_SPAN_MS).map((p) => ({ at: p.at, count: views(p.counts) })) });
    }
    rows.sort((a, b) => b.total - a.total || a.id.localeCompare(b.id));
    return { at: now, rows, series };
  }

  /** The report as a message (the table), in the configured time zone. */
  render(report: Report, title: string): Message {
    const when = formatTime(report.at, this.deps.timeZone);
    const out: Part[] = msg`:bar_chart: ${strong(`${title} · ${when}`)} · ${report.rows.length === 0 ? 'no live appeals' : `${report.rows.length} live appeal${report.rows.length === 1 ? '' : 's'}`}`;
    for (const r of report.rows.slice(0, MAX_ROWS)) {
      const per = NETWORKS.filter((n) => r.counts[n] !== undefined).map((n) => `${NETWORK_LABELS[n]} ${fmt(r.counts[n]!)}`).join(' · ');
      out.push(...msg`\n${strong(showId(r.id))} ${r.preview}: ${per || 'no count yet'} → ${strong(`${fmt(r.total)} views`)} (${signed(r.change)} ${r.changeLabel})`);
    }
    const rest = report.rows.slice(MAX_ROWS);
    if (rest.length > 0) out.push(`\n… and ${rest.length} more live appeals with ${fmt(rest.reduce((s, r) => s + r.total, 0))} views`);
    if (report.rows.length > 0) {
      const total = report.rows.reduce((s, r) => s + r.total, 0);
      const day = report.rows.reduce((s, r) => s + r.change, 0);
      out.push(...msg`\n${strong(`All live appeals: ${fmt(total)} views`)} (${signed(day)} over the last 24 h)`);
    }
    return out;
  }

  /** Posts a report in `channel`: the table with the chart attached (or the table alone, saying why). */
  async post(channel: string, title: string, by: string = SYSTEM_ACTOR): Promise<void> {
    const { room, chart, logger } = this.deps;
    const report = await this.build();
    const message = this.render(report, title);
    const from = Math.min(report.at - 60_000, ...report.series.flatMap((s) => s.points.slice(0, 1).map((p) => p.at)));
    let png: Buffer | undefined;
    try {
      png = await chart?.reachChart({ title: `Reach of live appeals (views) · ${formatTime(report.at, this.deps.timeZone)}`, series: report.series, from, to: report.at, timeZone: this.deps.timeZone });
    } catch (err) {
      logger.error({ err }, 'drawing the report chart failed');
    }
    const stamp = new Date(report.at).toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
    let uploaded = false;
    if (png) {
      try {
        await room.upload(channel, undefined, [{ name: `reach-${stamp}.png`, title: 'Reach over time', bytes: png, mime: 'image/png' }], message);
        uploaded = true;
      } catch (err) {
        logger.warn({ err }, 'uploading the report chart failed; posting the table alone');
      }
    }
    if (!uploaded) await room.post(channel, undefined, chart ? [...message, `\n(The chart couldn't be ${png ? 'uploaded' : 'drawn'} this time.)`] : message);
    await this.deps.audit?.record({ actor: by, action: 'report', detail: `${title} posted in ${channel}: ${report.rows.length} live appeals${uploaded ? ', with chart' : ', without chart'}` });
  }

  /**
   * A scheduled slot (its time in ms): posted by exactly one replica, never late. Returns
   * what happened, for logs and tests.
   */
  async runSlot(slotMs: number, channel: string): Promise<'posted' | 'taken' | 'stale' | 'failed'> {
    const { store, clock, logger } = this.deps;
    const iso = new Date(slotMs).toISOString();
    const late = clock.now() - slotMs;
    const log = logger.child({ slot: iso });
    if (late > (this.deps.staleMs ?? DEFAULT_STALE_MS)) {
      log.warn({ lateMs: late }, 'scheduled report slot missed: not posting a stale report');
      return 'stale';
    }
    if (!(await store.claim(reportKeys.slot(iso), SLOT_CLAIM_MS))) {
      log.info({}, 'scheduled report already posted by another replica');
      return 'taken';
    }
    const sleep = this.deps.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
    for (let attempt = 0; ; attempt++) {
      try {
        await this.post(channel, 'Scheduled reach report');
        log.info({}, 'scheduled report posted');
        return 'posted';
      } catch (err) {
        if (attempt >= RETRY_DELAYS_MS.length) {
          log.error({ err }, 'scheduled report failed');
          return 'failed';
        }
        log.warn({ err, attempt }, 'scheduled report failed; trying again');
        await sleep(RETRY_DELAYS_MS[attempt]!);
      }
    }
  }
}

function signed(n: number): string {
  return `${n >= 0 ? '+' : '−'}${fmt(Math.abs(n))}`;
}

/** "29 Nov 2026, 08:00 GMT" in the given zone. */
export function formatTime(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' }).format(ms);
}
