/**
 * Axis ticks for the reach chart: times placed on round local times of a time zone (via
 * Intl, so daylight saving is the zone's own), counts on round numbers (1, 2, 5 × 10ⁿ).
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Candidate spacings of time ticks, smallest first. */
const TIME_STEPS = [
  MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR,
  DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY,
];

/** The most time ticks drawn: their labels ("28 Nov 08:00") need about 100 px each. */
export const MAX_TIME_TICKS = 7;

export interface TimeTick {
  at: number;
  label: string;
}

/** A time zone Intl accepts, else UTC (a chart is better drawn in UTC than not at all). */
export function safeTimeZone(timeZone: string): string {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone });
    return timeZone;
  } catch {
    return 'UTC';
  }
}

interface ZoneClock {
  /** ms to add to a UTC instant to get the zone's wall-clock time (as if it were UTC). */
  offset(at: number): number;
  label(at: number, withTime: boolean): string;
}

function zoneClock(timeZone: string): ZoneClock {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone, year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', hourCycle: 'h23',
  });
  const labels = new Intl.DateTimeFormat('en-GB', { timeZone, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  return {
    offset(at) {
      const p: Record<string, number> = {};
      for (const { type, value } of parts.formatToParts(at)) if (type !== 'literal') p[type] = Number(value);
      const wall = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
      return wall - Math.floor(at / 1000) * 1000;
    },
    label(at, withTime) {
      const p: Record<string, string> = {};
      for (const { type, value } of labels.formatToParts(at)) p[type] = value;
      return withTime ? `${p.day} ${p.month} ${p.hour}:${p.minute}` : `${p.day} ${p.month}`;
    },
  };
}

/** Ticks between `from` and `to` (inclusive), on round local times of `timeZone`. */
export function timeTicks(from: number, to: number, timeZone: string): TimeTick[] {
  const span = Math.max(to - from, MINUTE);
  const step = TIME_STEPS.find((s) => span / s <= MAX_TIME_TICKS - 1) ?? Math.ceil(span / (MAX_TIME_TICKS - 1) / DAY) * DAY;
  const clock = zoneClock(timeZone);
  const withTime = step < DAY;
  const ticks: TimeTick[] = [];
  // Round in wall-clock time, then back to an instant with the offset in force there.
  const startOffset = clock.offset(from);
  let wall = Math.ceil((from + startOffset) / step) * step;
  for (let i = 0; i < MAX_TIME_TICKS * 2 && ticks.length < MAX_TIME_TICKS; i++, wall += step) {
    const guess = wall - startOffset;
    const at = wall - clock.offset(guess);
    if (at > to) break;
    if (at < from || ticks.some((t) => t.at === at)) continue;
    ticks.push({ at, label: clock.label(at, withTime) });
  }
  return ticks;
}

/** Round count ticks from 0 up to at least `max` (0 to 5 when everything is zero). */
export function countTicks(max: number): number[] {
  const top = Math.max(max, 5);
  const rough = top / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough && Number.isInteger(s)) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let v = 0; ticks.length === 0 || ticks[ticks.length - 1]! < top; v += step) ticks.push(v);
  return ticks;
}

/** An axis label: 950, 1,500, 25k, 1.5M. */
export function formatTick(v: number): string {
  if (v >= 1_000_000) return `${trim(v / 1_000_000)}M`;
  if (v >= 10_000) return `${trim(v / 1_000)}k`;
  return formatCount(v);
}

/** A full count with thousands separators: 10,000,000. */
export function formatCount(v: number): string {
  return Math.round(v).toLocaleString('en-GB');
}

function trim(v: number): string {
  return String(Number(v.toFixed(2)));
}
