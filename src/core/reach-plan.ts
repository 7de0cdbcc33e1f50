/**
 * When to read a post's reach again, and what that costs. Pure functions, no I/O.
 *
 * X bills every post read, so refresh follows how fast the numbers move: every `baseMs`
 * (REACH_REFRESH_SECONDS) while a post is under an hour old, then the interval grows in
 * proportion to its age (2 min at 2 h, 24 min at a day, under 6 h at 14 days), and stops
 * after `stopAfterMs`. With a 1-minute base that is 60 reads in the first hour and
 * 60 · ln(age / 1 h) after it: about 410 reads over 14 days, against 20,160 for
 * 1-minute polling.
 *
 * A monthly read budget slows everything down evenly (`slowdown` ≥ 1 multiplies every
 * interval) when the reads the live posts would take before the month ends exceed what is
 * left; the poller also never spends beyond the budget, whatever the forecast.
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** The longest pause between two reads of a live post, however old. */
export const MAX_INTERVAL_MS = 12 * HOUR_MS;
/** Keep this share of the month's remaining budget for appeals published later in the month. */
export const BUDGET_RESERVE = 0.2;

export interface RefreshPlan {
  /** The fastest refresh, for posts under an hour old. */
  baseMs: number;
  /** No reads after this age. */
  stopAfterMs: number;
}

/** The pause before the next read of a post of this age (`slowdown` from the budget). */
export function refreshInterval(plan: RefreshPlan, ageMs: number, slowdown = 1): number {
  const base = ageMs < HOUR_MS ? plan.baseMs : plan.baseMs * (ageMs / HOUR_MS);
  return Math.min(base, Math.max(MAX_INTERVAL_MS, plan.baseMs)) * Math.max(1, slowdown);
}

/**
 * Reads one post takes between ages `fromMs` and `toMs` (the integral of 1/interval),
 * clipped to the stop age; the cap on the interval is ignored (it only lowers the cost).
 */
export function expectedReads(plan: RefreshPlan, fromMs: number, toMs: number, slowdown = 1): number {
  const end = Math.min(toMs, plan.stopAfterMs);
  const start = Math.max(0, fromMs);
  if (end <= start) return 0;
  let reads = 0;
  const firstHourEnd = Math.min(end, HOUR_MS);
  if (start < firstHourEnd) reads += (firstHourEnd - start) / plan.baseMs;
  const laterStart = Math.max(start, HOUR_MS);
  if (end > laterStart) reads += (HOUR_MS / plan.baseMs) * Math.log(end / laterStart);
  return reads / Math.max(1, slowdown);
}

/** Start of the calendar month (UTC) after `now`, and a key for `now`'s month. */
export function monthOf(now: number): { key: string; endsAt: number } {
  const d = new Date(now);
  const key = `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
  return { key, endsAt: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

export interface BudgetState {
  /** Posts read per month at most. */
  budget: number;
  /** Posts read so far this month. */
  used: number;
}

/**
 * How much to slow every refresh so that the live posts' forecast reads until the month
 * ends fit in what is left of the budget (keeping a reserve for later appeals). 1 means
 * no slowdown; Infinity means nothing is left.
 */
export function budgetSlowdown(plan: RefreshPlan, budget: BudgetState, postAgesMs: readonly number[], now: number): number {
  const left = budget.budget - budget.used;
  if (left <= 0) return Infinity;
  const untilMonthEnd = monthOf(now).endsAt - now;
  let forecast = 0;
  for (const age of postAgesMs) forecast += expectedReads(plan, age, age + untilMonthEnd);
  const spendable = left * (1 - BUDGET_RESERVE);
  if (forecast <= spendable) return 1;
  return forecast / spendable;
}
