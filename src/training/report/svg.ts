/**
 * Minimal inline-SVG charts for the training report: line charts over epochs and overlaid histograms.
 * Plain strings, no dependencies, no scripts; every text node is escaped.
 */

export const COLOURS = {
  // Okabe–Ito: distinguishable with the common colour-vision deficiencies (and the same/different colours
  // match src/eval's plots).
  blue: '#0072B2',
  orange: '#D55E00',
  green: '#009E73',
  purple: '#CC79A7',
  sky: '#56B4E9',
  yellow: '#E69F00',
  grey: '#555555',
} as const;

export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Short human formatting: integers as is, others to 4 significant digits without trailing zeros; '—' for gaps. */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(3).replace(/\.?0+e/, 'e');
  return v
    .toPrecision(4)
    .replace(/(\.\d*?)0+$/, '$1')
    .replace(/\.$/, '');
}

/** About `target` round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^k). */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.ceil(lo / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v <= hi + step * 1e-9; v += step)
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : +v.toPrecision(12));
  return ticks;
}

/** Extends [lo, hi] outward to round tick values. */
function niceDomain(lo: number, hi: number): [number, number] {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    return [lo - pad, hi + pad];
  }
  const ticks = niceTicks(lo, hi);
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : hi - lo;
  return [Math.floor(lo / step + 1e-9) * step, Math.ceil(hi / step - 1e-9) * step];
}

const W = 560;
const H = 300;
const M = { left: 58, right: 16, top: 50, bottom: 46 };
const fmtPx = (v: number) => (Math.round(v * 10) / 10).toString();

interface Frame {
  x: (v: number) => number;
  y: (v: number) => number;
  parts: string[];
}

/** Title, grid, axes, ticks and axis labels; returns the scales and the parts so far. */
function frame(
  title: string,
  xLabel: string,
  yLabel: string,
  [x0, x1]: [number, number],
  [y0, y1]: [number, number],
  xTicks: number[],
  yTicks: number[],
  yFormat: (v: number) => string,
): Frame {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (v: number) => M.left + ((v - x0) / (x1 - x0)) * pw;
  const y = (v: number) => M.top + ph - ((v - y0) / (y1 - y0)) * ph;
  const parts: string[] = [];
  parts.push(`<title>${escapeXml(title)}</title>`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff" />`);
  parts.push(`<text x="${M.left}" y="20" class="t">${escapeXml(title)}</text>`);
  for (const t of yTicks) {
    const py = fmtPx(y(t));
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py}" y2="${py}" class="g" />`);
    parts.push(`<text x="${M.left - 6}" y="${py}" class="yt">${escapeXml(yFormat(t))}</text>`);
  }
  for (const t of xTicks) {
    const px = fmtPx(x(t));
    parts.push(`<line x1="${px}" x2="${px}" y1="${M.top + ph}" y2="${M.top + ph + 4}" class="a" />`);
    parts.push(`<text x="${px}" y="${M.top + ph + 16}" class="xt">${escapeXml(formatNumber(t))}</text>`);
  }
  parts.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + ph}" class="a" />`);
  parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + ph}" y2="${M.top + ph}" class="a" />`);
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 8}" class="al">${escapeXml(xLabel)}</text>`);
  parts.push(
    `<text x="14" y="${M.top + ph / 2}" class="al" transform="rotate(-90 14 ${M.top + ph / 2})">${escapeXml(yLabel)}</text>`,
  );
  return { x, y, parts };
}

/** Legend entries, right-aligned on a line of their own under the title. */
function legend(items: { name: string; colour: string; fill?: boolean }[]): string {
  const parts: string[] = [];
  let right = W - M.right;
  for (const it of [...items].reverse()) {
    const textW = it.name.length * 6.6;
    const x = right - textW;
    parts.push(`<text x="${fmtPx(x)}" y="38" class="lg">${escapeXml(it.name)}</text>`);
    parts.push(
      it.fill
        ? `<rect x="${fmtPx(x - 20)}" y="29" width="14" height="10" fill="${it.colour}" fill-opacity="0.35" stroke="${it.colour}" />`
        : `<line x1="${fmtPx(x - 22)}" x2="${fmtPx(x - 6)}" y1="34" y2="34" stroke="${it.colour}" stroke-width="2.5" />`,
    );
    right = x - 36;
  }
  return parts.join('');
}

function svg(parts: string[], label: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(label)}">${parts.join('')}</svg>`;
}

export interface LineSeries {
  name: string;
  colour: string;
  /** y per x; null/NaN leaves a gap. */
  points: { x: number; y: number | null | undefined }[];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  /** Fixed y range (e.g. [0, 1] for fractions); default from the data, widened to round ticks. */
  yDomain?: [number, number];
  yFormat?: (v: number) => string;
}

export function lineChart(o: LineChartOptions): string {
  const valid = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);
  const xs = o.series.flatMap((s) => s.points.map((p) => p.x)).filter(valid);
  const ys = o.series.flatMap((s) => s.points.map((p) => p.y)).filter(valid);
  let xd: [number, number] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  if (xd[0] === xd[1]) xd = [xd[0] - 0.5, xd[1] + 0.5];
  const yd = o.yDomain ?? niceDomain(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1);
  const xTicks = niceTicks(xd[0], xd[1], 8).filter((t) => Number.isInteger(t));
  const f = frame(
    o.title,
    o.xLabel,
    o.yLabel,
    xd,
    yd,
    xTicks,
    niceTicks(yd[0], yd[1]),
    o.yFormat ?? formatNumber,
  );
  const showDots = xs.length / Math.max(1, o.series.length) <= 60;
  for (const s of o.series) {
    let run: string[] = [];
    const flush = () => {
      if (run.length > 1)
        f.parts.push(
          `<polyline points="${run.join(' ')}" fill="none" stroke="${s.colour}" stroke-width="2" />`,
        );
      run = [];
    };
    for (const p of s.points) {
      if (!valid(p.y) || !valid(p.x)) {
        flush();
        continue;
      }
      const px = fmtPx(f.x(p.x));
      const py = fmtPx(f.y(p.y));
      run.push(`${px},${py}`);
      if (showDots) f.parts.push(`<circle cx="${px}" cy="${py}" r="2.6" fill="${s.colour}" />`);
    }
    flush();
  }
  f.parts.push(legend(o.series.map((s) => ({ name: s.name, colour: s.colour }))));
  return svg(f.parts, o.title);
}

export interface HistogramSeries {
  name: string;
  colour: string;
  /** Fraction of this series' values in each bin (sums to 1). */
  fractions: number[];
}

export interface HistogramChartOptions {
  title: string;
  xLabel: string;
  /** Bin edges, length = bins + 1, shared by all series (and by the before/after charts). */
  edges: number[];
  series: HistogramSeries[];
  /** Shared y maximum, so two charts compare at a glance. */
  yMax: number;
  /** Optional decision threshold, drawn as a dashed line. */
  threshold?: number;
}

/** Overlaid, semi-transparent step histograms. */
export function histogramChart(o: HistogramChartOptions): string {
  const lo = o.edges[0];
  const hi = o.edges[o.edges.length - 1];
  const yd = niceDomain(0, o.yMax > 0 ? o.yMax : 1);
  const f = frame(
    o.title,
    o.xLabel,
    'fraction of pairs',
    [lo, hi],
    [0, yd[1]],
    niceTicks(lo, hi, 8),
    niceTicks(0, yd[1]),
    (v) => `${formatNumber(+(v * 100).toPrecision(6))}%`,
  );
  for (const s of o.series) {
    let d = `M${fmtPx(f.x(lo))},${fmtPx(f.y(0))}`;
    s.fractions.forEach((v, i) => {
      const yy = fmtPx(f.y(v));
      d += ` L${fmtPx(f.x(o.edges[i]))},${yy} L${fmtPx(f.x(o.edges[i + 1]))},${yy}`;
    });
    d += ` L${fmtPx(f.x(hi))},${fmtPx(f.y(0))} Z`;
    f.parts.push(
      `<path d="${d}" fill="${s.colour}" fill-opacity="0.3" stroke="${s.colour}" stroke-width="1.5" />`,
    );
  }
  if (o.threshold !== undefined && Number.isFinite(o.threshold) && o.threshold >= lo && o.threshold <= hi) {
    const px = fmtPx(f.x(o.threshold));
    f.parts.push(
      `<line x1="${px}" x2="${px}" y1="${M.top}" y2="${H - M.bottom}" stroke="${COLOURS.grey}" stroke-width="1.5" stroke-dasharray="5 4" />`,
    );
    f.parts.push(
      `<text x="${fmtPx(f.x(o.threshold) + 4)}" y="${M.top + 12}" class="th">threshold ${escapeXml(formatNumber(o.threshold))}</text>`,
    );
  }
  f.parts.push(legend(o.series.map((s) => ({ name: s.name, colour: s.colour, fill: true }))));
  return svg(f.parts, o.title);
}

/** Counts of `values` in `bins` equal bins over [lo, hi] (hi inclusive; values outside and NaN ignored). */
export function binCounts(values: ArrayLike<number>, lo: number, hi: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const scale = bins / (hi - lo);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= lo && v <= hi)) continue;
    counts[Math.min(bins - 1, Math.floor((v - lo) * scale))]++;
  }
  return counts;
}
