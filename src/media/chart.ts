/**
 * The reach chart of a report: an SVG line chart (views over time, one line per appeal),
 * rendered to PNG by sharp (librsvg). Every piece of text in the SVG is escaped: labels and
 * titles come from people and ids.
 */
import sharp from 'sharp';
import type { ChartRenderer, ChartSeries } from '../core/ports.js';
import { countTicks, formatCount, formatTick, safeTimeZone, timeTicks } from './chart-scale.js';
import { createLimiter } from './shared.js';

export interface ChartInput {
  title: string;
  series: readonly ChartSeries[];
  from: number;
  to: number;
  timeZone: string;
}

export const CHART_WIDTH = 1000;
export const CHART_HEIGHT = 500;
/** At most this many lines are drawn: the ones with the highest latest totals. */
export const MAX_SERIES = 8;
/** Line colours (Tableau 10), one per drawn series, in legend order. */
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'] as const;

const FONT = 'DejaVu Sans, sans-serif';
const PLOT = { left: 80, top: 60, right: 770, bottom: 440 };
const LEGEND_X = 800;

/** Text safe inside SVG elements and attributes: escaped, without characters XML forbids. */
export function escapeXml(s: string): string {
  let out = '';
  // for…of walks code points: a lone surrogate comes out on its own, and is dropped.
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const forbidden = (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || (c >= 0xd800 && c <= 0xdfff) || c === 0xfffe || c === 0xffff;
    if (forbidden) continue;
    out += ch === '&' ? '&amp;' : ch === '<' ? '&lt;' : ch === '>' ? '&gt;' : ch === '"' ? '&quot;' : ch === "'" ? '&#39;' : ch;
  }
  return out;
}

function clip(s: string, max: number): string {
  const chars = [...s.replace(/\s+/g, ' ').trim()];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : chars.join('');
}

interface Drawn {
  label: string;
  points: Array<{ at: number; count: number }>;
  latest: number | undefined;
}

/** Usable points (finite, not negative), oldest first, and the latest total. */
function clean(s: ChartSeries): Drawn {
  const points = s.points
    .filter((p) => Number.isFinite(p.at) && Number.isFinite(p.count))
    .map((p) => ({ at: p.at, count: Math.max(0, p.count) }))
    .sort((a, b) => a.at - b.at);
  return { label: s.label, points, latest: points[points.length - 1]?.count };
}

const text = (x: number, y: number, body: string, attrs = ''): string =>
  `<text x="${x}" y="${y}" ${attrs}>${escapeXml(body)}</text>`;

/** The chart as SVG text (pure: the same input always gives the same SVG). */
export function chartSvg(input: ChartInput): string {
  const timeZone = safeTimeZone(input.timeZone);
  const from = Number.isFinite(input.from) ? input.from : 0;
  const to = Number.isFinite(input.to) && input.to > from ? input.to : from + 3_600_000;
  const all = input.series.map(clean);
  const ranked = [...all].sort((a, b) => (b.latest ?? -1) - (a.latest ?? -1));
  const drawn = ranked.slice(0, MAX_SERIES);
  const hidden = all.length - drawn.length;

  const yTicks = countTicks(Math.max(0, ...drawn.flatMap((s) => s.points.map((p) => p.count))));
  const yMax = yTicks[yTicks.length - 1]!;
  const x = (at: number): number => round(PLOT.left + ((at - from) / (to - from)) * (PLOT.right - PLOT.left));
  const y = (count: number): number => round(PLOT.bottom - (count / yMax) * (PLOT.bottom - PLOT.top));

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${CHART_WIDTH}" height="${CHART_HEIGHT}" viewBox="0 0 ${CHART_WIDTH} ${CHART_HEIGHT}" font-family="${FONT}">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<defs><clipPath id="plot"><rect x="${PLOT.left}" y="${PLOT.top - 4}" width="${PLOT.right - PLOT.left + 4}" height="${PLOT.bottom - PLOT.top + 8}"/></clipPath></defs>`,
    text(CHART_WIDTH / 2, 34, clip(input.title, 80), 'font-size="20" font-weight="bold" text-anchor="middle" fill="#222222"'),
  ];

  // Grid and count axis.
  for (const v of yTicks) {
    out.push(`<line x1="${PLOT.left}" y1="${y(v)}" x2="${PLOT.right}" y2="${y(v)}" stroke="${v === 0 ? '#888888' : '#e4e4e4'}" stroke-width="1"/>`);
    out.push(text(PLOT.left - 8, y(v) + 4, formatTick(v), 'font-size="12" text-anchor="end" fill="#444444"'));
  }
  out.push(text(18, (PLOT.top + PLOT.bottom) / 2, 'views', `font-size="12" fill="#666666" text-anchor="middle" transform="rotate(-90 18 ${(PLOT.top + PLOT.bottom) / 2})"`));

  // Time axis.
  for (const t of timeTicks(from, to, timeZone)) {
    out.push(`<line x1="${x(t.at)}" y1="${PLOT.bottom}" x2="${x(t.at)}" y2="${PLOT.bottom + 5}" stroke="#888888" stroke-width="1"/>`);
    out.push(text(x(t.at), PLOT.bottom + 20, t.label, 'font-size="12" text-anchor="middle" fill="#444444"'));
  }
  out.push(text((PLOT.left + PLOT.right) / 2, PLOT.bottom + 44, `time (${timeZone})`, 'font-size="12" text-anchor="middle" fill="#666666"'));

  if (all.length === 0) {
    out.push(text((PLOT.left + PLOT.right) / 2, (PLOT.top + PLOT.bottom) / 2, 'No live appeals', 'font-size="24" text-anchor="middle" fill="#888888"'));
  }

  // Lines: through the points, then flat to `to` from the last one.
  drawn.forEach((s, i) => {
    const last = s.points[s.points.length - 1];
    if (!last) return;
    const colour = PALETTE[i]!;
    const coords = s.points.map((p) => `${x(p.at)},${y(p.count)}`);
    if (last.at < to) coords.push(`${x(to)},${y(last.count)}`);
    out.push(`<g clip-path="url(#plot)">`);
    if (coords.length > 1) {
      out.push(`<polyline points="${coords.join(' ')}" fill="none" stroke="${colour}" stroke-width="3" stroke-linejoin="round" stroke-linecap="round"/>`);
    }
    out.push(`<circle cx="${x(last.at)}" cy="${y(last.count)}" r="4" fill="${colour}"/>`, `</g>`);
  });

  // Legend: each drawn series with its latest total, then how many were left out.
  drawn.forEach((s, i) => {
    const top = PLOT.top + i * 44;
    out.push(`<rect x="${LEGEND_X}" y="${top}" width="14" height="14" rx="2" fill="${PALETTE[i]!}"/>`);
    out.push(text(LEGEND_X + 22, top + 12, clip(s.label, 20), 'font-size="14" fill="#222222"'));
    const total = s.latest === undefined ? 'no counts yet' : `${formatCount(s.latest)} views`;
    out.push(text(LEGEND_X + 22, top + 30, total, 'font-size="12" fill="#666666"'));
  });
  if (hidden > 0) {
    out.push(text(LEGEND_X, PLOT.top + drawn.length * 44 + 12, `+${hidden} more not drawn`, 'font-size="12" font-style="italic" fill="#666666"'));
  }

  out.push('</svg>');
  return out.join('\n');
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

export interface ChartRendererOptions {
  /** Renders at once at most (SVG rasterising is CPU-bound). Default 2. */
  concurrency?: number;
}

export function createChartRenderer(opts: ChartRendererOptions = {}): ChartRenderer {
  const limit = createLimiter(opts.concurrency ?? 2);
  return {
    reachChart(input) {
      const svg = chartSvg(input);
      return limit(() => sharp(Buffer.from(svg), { density: 72 }).flatten({ background: '#ffffff' }).png({ compressionLevel: 9 }).toBuffer());
    },
  };
}
