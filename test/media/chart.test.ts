import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ChartSeries } from '../../src/core/ports.js';
import { CHART_HEIGHT, CHART_WIDTH, MAX_SERIES, PALETTE, chartSvg, createChartRenderer, escapeXml } from '../../src/media/chart.js';
import { countTicks, formatTick, timeTicks } from '../../src/media/chart-scale.js';

const renderer = createChartRenderer();
const HOUR = 3_600_000;
const FROM = Date.parse('2026-07-01T06:00:00Z');
const TO = Date.parse('2026-07-01T12:00:00Z');
const PNG_MAGIC = Buffer.from('89504e470d0a1a0a', 'hex');

const rising = (label: string, scale: number, n = 4): ChartSeries => ({
  label,
  points: Array.from({ length: n }, (_, i) => ({ at: FROM + i * HOUR, count: scale * (i + 1) })),
});

const chart = (series: readonly ChartSeries[], over: Partial<{ title: string; from: number; to: number; timeZone: string }> = {}) =>
  ({ title: 'Reach of live appeals', series, from: FROM, to: TO, timeZone: 'Europe/London', ...over });

/** How many pixels are (nearly) the given #rrggbb colour. */
async function pixelsOf(png: Buffer, hex: string): Promise<number> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let i = 0; i < data.length; i += info.channels) {
    if (Math.abs(data[i]! - want[0]!) + Math.abs(data[i + 1]! - want[1]!) + Math.abs(data[i + 2]! - want[2]!) <= 12) n++;
  }
  return n;
}

async function expectPng(png: Buffer): Promise<void> {
  expect(png.subarray(0, 8).equals(PNG_MAGIC)).toBe(true);
  const meta = await sharp(png).metadata();
  expect(meta).toMatchObject({ format: 'png', width: CHART_WIDTH, height: CHART_HEIGHT });
}

describe('reach chart: PNG', () => {
  it('is a 1000×500 PNG with a line in its own colour for each series', async () => {
    const png = await renderer.reachChart(chart([rising('#7K3Q', 1000), rising('#9ZX2', 400)]));
    await expectPng(png);
    expect(await pixelsOf(png, PALETTE[0])).toBeGreaterThan(200);
    expect(await pixelsOf(png, PALETTE[1])).toBeGreaterThan(200);
    expect(await pixelsOf(png, PALETTE[2])).toBe(0);
    // Not blank: mostly white background, but with dark text (title, ticks).
    const stats = await sharp(png).stats();
    expect(stats.channels).toHaveLength(3);
    expect(stats.channels.every((c) => c.min < 100 && c.max === 255 && c.mean > 200)).toBe(true);
  });

  it('different data give different images', async () => {
    const a = await renderer.reachChart(chart([rising('#7K3Q', 1000)]));
    const b = await renderer.reachChart(chart([rising('#7K3Q', 50)]));
    const c = await renderer.reachChart(chart([rising('#7K3Q', 1000)], { title: 'Another day' }));
    expect(a.equals(b)).toBe(false);
    expect(a.equals(c)).toBe(false);
    expect(a.equals(await renderer.reachChart(chart([rising('#7K3Q', 1000)])))).toBe(true);
  });

  it('renders hostile label and title text as text', async () => {
    const hostile = '</svg><script>alert("x")</script> & \'q\' \u0000\ud800';
    const input = chart([rising(hostile, 1000)], { title: `<title>${hostile}` });
    const svg = chartSvg(input);
    expect(svg).not.toMatch(/<script|<\/svg><|<title/);
    expect(svg).toContain('&lt;/svg&gt;&lt;script&gt;');
    expect(svg.includes('\u0000') || svg.includes('\ud800')).toBe(false);
    expect(svg.match(/<\/svg>/g)).toHaveLength(1);
    const png = await renderer.reachChart(input);
    await expectPng(png);
    expect(await pixelsOf(png, PALETTE[0])).toBeGreaterThan(200);
  });

  it('says "No live appeals" when there is nothing to draw', async () => {
    const input = chart([]);
    expect(chartSvg(input)).toContain('No live appeals');
    const png = await renderer.reachChart(input);
    await expectPng(png);
    for (const colour of PALETTE) expect(await pixelsOf(png, colour)).toBe(0);
  });

  it('draws series with no point, one point, only zeros, and ten million views', async () => {
    const input = chart([
      { label: 'empty', points: [] },
      { label: 'single', points: [{ at: FROM + 2 * HOUR, count: 10_000_000 }] },
      { label: 'zeros', points: [{ at: FROM, count: 0 }, { at: FROM + HOUR, count: 0 }] },
    ]);
    const svg = chartSvg(input);
    expect(svg).toContain('>10M<');
    expect(svg).toContain('10,000,000 views');
    expect(svg).toContain('0 views');
    expect(svg).toContain('no counts yet');
    const png = await renderer.reachChart(input);
    await expectPng(png);
    // The single point is extended flat to the end: a long line, not just a dot.
    expect(await pixelsOf(png, PALETTE[0])).toBeGreaterThan(1000);
    expect(await pixelsOf(png, PALETTE[1])).toBeGreaterThan(200);

    const allZero = await renderer.reachChart(chart([{ label: 'zeros', points: [{ at: FROM, count: 0 }] }]));
    await expectPng(allZero);
    expect(await pixelsOf(allZero, PALETTE[0])).toBeGreaterThan(200);
  });

  it('draws the 8 series with the highest latest totals and says how many more there are', async () => {
    const series = Array.from({ length: 11 }, (_, i) => rising(`#S${String(i).padStart(2, '0')}`, (i + 1) * 100));
    const svg = chartSvg(chart(series));
    expect(svg).toContain('+3 more not drawn');
    expect(svg.match(/<polyline /g)).toHaveLength(MAX_SERIES);
    for (const hidden of ['#S00', '#S01', '#S02']) expect(svg).not.toContain(hidden);
    expect(svg).toContain('#S10');
    // Legend in order of latest total, highest first.
    expect(svg.indexOf('#S10')).toBeLessThan(svg.indexOf('#S03'));
    const png = await renderer.reachChart(chart(series));
    for (const colour of PALETTE) expect(await pixelsOf(png, colour)).toBeGreaterThan(100);
  });
});

describe('reach chart: axes', () => {
  it('labels times in the given time zone', () => {
    const series = [{ label: 'a', points: [{ at: Date.parse('2026-07-01T07:00:00Z'), count: 5 }] }];
    // The tick label right under the point (same x as its dot).
    const labelUnderPoint = (svg: string): string | undefined => {
      const cx = /<circle cx="([\d.]+)"/.exec(svg)?.[1];
      return new RegExp(`<text x="${cx}" y="460"[^>]*>([^<]*)</text>`).exec(svg)?.[1];
    };
    const london = chartSvg(chart(series));
    expect(labelUnderPoint(london)).toBe('1 Jul 08:00'); // BST
    expect(london).toContain('time (Europe/London)');
    expect(labelUnderPoint(chartSvg(chart(series, { timeZone: 'UTC' })))).toBe('1 Jul 07:00');
    expect(labelUnderPoint(chartSvg(chart(series, { timeZone: 'America/New_York' })))).toBe('1 Jul 03:00');
    // Winter: London is on UTC.
    const nov = Date.parse('2026-11-28T08:00:00Z');
    expect(timeTicks(nov, nov + 6 * HOUR, 'Europe/London').map((t) => t.label)).toContain('28 Nov 08:00');
  });

  it('puts time ticks on round local times, also for half-hour zones', () => {
    const ticks = timeTicks(Date.parse('2026-07-01T06:10:00Z'), Date.parse('2026-07-02T06:10:00Z'), 'Asia/Kolkata');
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    expect(ticks.length).toBeLessThanOrEqual(7);
    for (const t of ticks) expect(t.label).toMatch(/ (00|06|12|18):00$/);
    expect(ticks[0]?.at).toBe(Date.parse('2026-07-01T06:30:00Z')); // 12:00 IST
  });

  it('falls back to UTC for a time zone Intl does not know', () => {
    expect(chartSvg(chart([rising('a', 1)], { timeZone: 'Nowhere/Special' }))).toContain('time (UTC)');
  });

  it('uses round count ticks with separators and k / M suffixes', () => {
    expect(countTicks(0)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(countTicks(7)).toEqual([0, 2, 4, 6, 8]);
    expect(countTicks(12_345)).toEqual([0, 2500, 5000, 7500, 10_000, 12_500]);
    expect(countTicks(10_000_000)).toEqual([0, 2e6, 4e6, 6e6, 8e6, 10e6]);
    expect([950, 2500, 25_000, 1_500_000, 10_000_000].map(formatTick)).toEqual(['950', '2,500', '25k', '1.5M', '10M']);
  });

  it('escapes everything XML treats specially', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(escapeXml('ok \u0001\ufffe🙂')).toBe('ok 🙂');
  });
});
