/**
 * The training report: one self-contained report.html (inline CSS and SVG, no scripts, no external assets)
 * with the per-epoch curves, the same/different distance histograms before and after training on shared
 * bins, and the hyper-parameters, so a run can be judged and compared by opening one file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VisageError } from '../../errors.js';
import { binCounts, COLOURS, escapeXml, formatNumber, histogramChart, lineChart, niceTicks } from './svg.js';

export interface EpochRecord {
  /** 1-based (or 0-based; whatever the trainer counts), used as the x axis. */
  epoch: number;
  /** Mean training loss over the epoch's batches. */
  loss: number;
  /** Fraction (0…1) of mined triplets with a positive loss. */
  activeFraction: number;
  /** Mean anchor–positive and anchor–negative distances of the mined triplets. */
  meanDap: number;
  meanDan: number;
  /** Validation pair accuracy at its best threshold (0…1); null/undefined when there is no validation set. */
  valAccuracy?: number | null;
  /** That best threshold (a distance). */
  valThreshold?: number | null;
  /** ROC AUC (0…1) on validation pairs. */
  valAuc?: number | null;
  /** Rank-1 one-shot identification rate (0…1) on validation identities. */
  valRank1?: number | null;
  /** Wall-clock seconds the epoch took (training + validation). */
  seconds: number;
}

/** Distances of validation pairs of the same person and of different people. */
export interface DistanceSamples {
  same: ArrayLike<number>;
  different: ArrayLike<number>;
}

/** One held-out person's error rates (0…1) at the final threshold; see validate.ts IdentityErrors. */
export interface HeldOutIdentity {
  name: string;
  falseReject: number;
  falseAccept: number;
}

/**
 * Worst first: the people whose own photos the model splits most (false rejects; none for a one-image
 * person), then those it confuses with others (false accepts). The report's and the CLI summary's order.
 */
export function worstFirst(rows: readonly HeldOutIdentity[]): HeldOutIdentity[] {
  const key = (v: number) => (Number.isFinite(v) ? v : -1);
  return [...rows].sort(
    (a, b) => key(b.falseReject) - key(a.falseReject) || key(b.falseAccept) - key(a.falseAccept),
  );
}

export type HyperValue = string | number | boolean | null | undefined | readonly (string | number)[];

export interface TrainingReportData {
  /** Default "Visage training report". */
  title?: string;
  /** Shown as a table in insertion order (e.g. loss, mining, margin, P, K, optimiser, lr, seed…). */
  hyperParameters: Record<string, HyperValue>;
  epochs: EpochRecord[];
  /** Validation distances with the untrained (or pretrained) encoder… */
  histogramsBefore?: DistanceSamples;
  /** …and with the trained one. Both are binned on the same edges and drawn on the same y scale. */
  histogramsAfter?: DistanceSamples;
  /** Decision thresholds to mark on the histograms (the "after" one defaults to the last valThreshold). */
  thresholdBefore?: number;
  thresholdAfter?: number;
  /** The final model's errors per held-out identity at its threshold (the "after" histogram's). */
  heldOut?: HeldOutIdentity[];
  /** Bins of the histograms. Default 40. */
  bins?: number;
  /** Free-form lines shown under the title (dataset, split, command line…). */
  notes?: string[];
  /** Default: now. */
  createdAt?: Date;
}

const CSS = `
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1200px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:17px;margin:32px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
p.meta{margin:0;color:var(--muted)}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-top:20px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:150px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.card .s{color:var(--muted);font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px}
figure{margin:0;background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px;overflow-x:auto}
figure svg{display:block;max-width:100%;height:auto}
figcaption{color:var(--muted);font-size:12px;padding:4px 8px 2px}
table{border-collapse:collapse;background:#fff;border:1px solid var(--line);border-radius:8px;font-variant-numeric:tabular-nums}
th,td{padding:5px 12px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{background:var(--bg);font-weight:600}
td.l,th.l{text-align:left}
tr:last-child td{border-bottom:none}
tr.best td{background:#eaf5ee}
.scroll{overflow-x:auto}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;fill:#1f2328}
svg .t{font-size:14px;font-weight:600}
svg .xt{font-size:11px;text-anchor:middle;fill:#59636e}
svg .yt{font-size:11px;text-anchor:end;dominant-baseline:middle;fill:#59636e}
svg .al{font-size:12px;text-anchor:middle;fill:#59636e}
svg .lg{font-size:11.5px}
svg .th{font-size:11px;fill:#555}
svg .g{stroke:#e6e9ec;stroke-width:1}
svg .a{stroke:#8c959f;stroke-width:1}
`;

const has = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);
const pct = (v: number | null | undefined) => (has(v) ? `${formatNumber(+(v * 100).toPrecision(4))}%` : '—');

function formatHyper(v: HyperValue): string {
  if (v === null || v === undefined) return '—';
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'number' ? formatNumber(x) : String(x))).join(', ');
  if (typeof v === 'number') return formatNumber(v);
  return String(v);
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—';
  if (seconds < 90) return `${formatNumber(+seconds.toPrecision(3))} s`;
  const m = Math.floor(seconds / 60);
  if (m < 90) return `${m} min ${Math.round(seconds - 60 * m)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function card(key: string, value: string, sub = ''): string {
  return `<div class="card"><div class="k">${escapeXml(key)}</div><div class="v">${escapeXml(value)}</div>${
    sub ? `<div class="s">${escapeXml(sub)}</div>` : ''
  }</div>`;
}

function figure(svg: string, caption: string): string {
  return `<figure>${svg}<figcaption>${escapeXml(caption)}</figcaption></figure>`;
}

function finite(values: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) out.push(values[i]);
  return out;
}

/** Histogram charts on shared bins and a shared y scale; [] when neither set was given. */
function histogramFigures(data: TrainingReportData, lastThreshold: number | undefined): string[] {
  const sets = [
    { label: 'before training', h: data.histogramsBefore, threshold: data.thresholdBefore },
    { label: 'after training', h: data.histogramsAfter, threshold: data.thresholdAfter ?? lastThreshold },
  ].filter(
    (s): s is { label: string; h: DistanceSamples; threshold: number | undefined } => s.h !== undefined,
  );
  if (sets.length === 0) return [];
  const bins = data.bins ?? 40;
  if (!Number.isInteger(bins) || bins < 2 || bins > 500) {
    throw new VisageError('E_BAD_OPTION', `histogram bins must be an integer in 2…500, got ${bins}`);
  }
  const all = sets.flatMap((s) => [finite(s.h.same), finite(s.h.different)]);
  let lo = Math.min(...all.map((a) => (a.length ? Math.min(...a) : Infinity)));
  let hi = Math.max(...all.map((a) => (a.length ? Math.max(...a) : -Infinity)));
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
  // Distances are ≥ 0: start the axis at 0 so the gap between the modes is visible; round the end up.
  if (lo >= 0) lo = 0;
  const ticks = niceTicks(lo, hi);
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
  hi = hi > lo ? Math.ceil(hi / step - 1e-9) * step : lo + 1;
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  const fractionsOf = (values: number[]) => {
    const counts = binCounts(values, lo, hi, bins);
    return counts.map((c) => (values.length ? c / values.length : 0));
  };
  const binned = sets.map((s) => {
    const same = finite(s.h.same);
    const different = finite(s.h.different);
    return { ...s, same, different, fs: fractionsOf(same), fd: fractionsOf(different) };
  });
  const yMax = Math.max(...binned.flatMap((b) => [...b.fs, ...b.fd]));
  return binned.map((b) =>
    figure(
      histogramChart({
        title: `Validation distances ${b.label}`,
        xLabel: 'distance between embeddings',
        edges,
        yMax,
        threshold: b.threshold,
        series: [
          { name: `same person (n = ${b.same.length})`, colour: COLOURS.green, fractions: b.fs },
          { name: `different people (n = ${b.different.length})`, colour: COLOURS.orange, fractions: b.fd },
        ],
      }),
      `${bins} bins of width ${formatNumber(edges[1] - edges[0])} shared by both histograms; each series sums to 100%.` +
        (b.threshold !== undefined ? ' Dashed: the decision threshold.' : ''),
    ),
  );
}

/**
 * The report as an HTML string. SVG charts, in order: training loss; active-triplet fraction; mean d(A,P) and
 * d(A,N); validation accuracy/AUC/rank-1 (only when some epoch has validation numbers); distance histograms
 * before and after (each only when given). Then the hyper-parameters and a per-epoch table with every number.
 */
export function renderTrainingReport(data: TrainingReportData): string {
  const title = data.title ?? 'Visage training report';
  const epochs = [...data.epochs].sort((a, b) => a.epoch - b.epoch);
  const created = (data.createdAt ?? new Date())
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  const hasVal = epochs.some((e) => has(e.valAccuracy) || has(e.valAuc) || has(e.valRank1));
  const last = epochs[epochs.length - 1];
  const best = hasVal
    ? epochs.reduce<EpochRecord | undefined>(
        (b, e) => (has(e.valAccuracy) && (!b || e.valAccuracy > (b.valAccuracy as number)) ? e : b),
        undefined,
      )
    : undefined;
  const totalSeconds = epochs.reduce((s, e) => s + (Number.isFinite(e.seconds) ? e.seconds : 0), 0);
  const points = (f: (e: EpochRecord) => number | null | undefined) =>
    epochs.map((e) => ({ x: e.epoch, y: f(e) }));

  const cards: string[] = [card('epochs', String(epochs.length), `in ${formatDuration(totalSeconds)}`)];
  if (last)
    cards.push(card('final loss', formatNumber(last.loss), `active triplets ${pct(last.activeFraction)}`));
  if (best) cards.push(card('best val accuracy', pct(best.valAccuracy), `epoch ${best.epoch}`));
  if (last && hasVal) {
    cards.push(
      card('final val accuracy', pct(last.valAccuracy), `threshold ${formatNumber(last.valThreshold)}`),
    );
    cards.push(card('final ROC AUC', formatNumber(last.valAuc)));
    cards.push(card('final rank-1', pct(last.valRank1)));
  }

  const charts: string[] = [
    figure(
      lineChart({
        title: 'Training loss',
        xLabel: 'epoch',
        yLabel: 'loss',
        series: [{ name: 'mean batch loss', colour: COLOURS.blue, points: points((e) => e.loss) }],
      }),
      'Mean loss over the batches of each epoch.',
    ),
    figure(
      lineChart({
        title: 'Active triplets',
        xLabel: 'epoch',
        yLabel: 'fraction active',
        yDomain: [0, 1],
        yFormat: (v) => `${formatNumber(+(v * 100).toPrecision(6))}%`,
        series: [{ name: 'loss > 0', colour: COLOURS.purple, points: points((e) => e.activeFraction) }],
      }),
      'Share of mined triplets that still violate the margin (and so produce a gradient).',
    ),
    figure(
      lineChart({
        title: 'Mean distances of mined triplets',
        xLabel: 'epoch',
        yLabel: 'distance',
        series: [
          { name: 'd(A,P)', colour: COLOURS.green, points: points((e) => e.meanDap) },
          { name: 'd(A,N)', colour: COLOURS.orange, points: points((e) => e.meanDan) },
        ],
      }),
      'Anchor–positive and anchor–negative distances, averaged over the triplets the miner chose.',
    ),
  ];
  if (hasVal) {
    charts.push(
      figure(
        lineChart({
          title: 'Validation (held-out identities)',
          xLabel: 'epoch',
          yLabel: 'score',
          yDomain: [
            Math.min(
              0.5,
              ...epochs
                .flatMap((e) => [e.valAccuracy, e.valAuc, e.valRank1])
                .filter(has)
                .map((v) => Math.floor(v * 10) / 10),
            ),
            1,
          ],
          series: [
            { name: 'pair accuracy', colour: COLOURS.blue, points: points((e) => e.valAccuracy) },
            { name: 'ROC AUC', colour: COLOURS.yellow, points: points((e) => e.valAuc) },
            { name: 'rank-1', colour: COLOURS.sky, points: points((e) => e.valRank1) },
          ],
        }),
        'Pair accuracy at its best threshold, ROC AUC, and rank-1 one-shot identification on identities never seen in training.',
      ),
    );
  }
  charts.push(...histogramFigures(data, last && has(last.valThreshold) ? last.valThreshold : undefined));

  const hyperRows = Object.entries(data.hyperParameters)
    .map(
      ([k, v]) =>
        `<tr><td class="l">${escapeXml(k)}</td><td class="l">${escapeXml(formatHyper(v))}</td></tr>`,
    )
    .join('');
  const cols: [string, (e: EpochRecord) => string][] = [
    ['epoch', (e) => formatNumber(e.epoch)],
    ['loss', (e) => formatNumber(e.loss)],
    ['active', (e) => formatNumber(e.activeFraction)],
    ['d(A,P)', (e) => formatNumber(e.meanDap)],
    ['d(A,N)', (e) => formatNumber(e.meanDan)],
  ];
  if (hasVal) {
    cols.push(
      ['val accuracy', (e) => formatNumber(e.valAccuracy)],
      ['threshold', (e) => formatNumber(e.valThreshold)],
      ['AUC', (e) => formatNumber(e.valAuc)],
      ['rank-1', (e) => formatNumber(e.valRank1)],
    );
  }
  cols.push(['seconds', (e) => formatNumber(e.seconds)]);
  const epochRows = epochs
    .map(
      (e) =>
        `<tr${e === best ? ' class="best"' : ''}>${cols.map(([, f]) => `<td>${escapeXml(f(e))}</td>`).join('')}</tr>`,
    )
    .join('');

  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8" />',
    '<meta name="viewport" content="width=device-width, initial-scale=1" />',
    '<meta name="generator" content="visage train" />',
    `<title>${escapeXml(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<h1>${escapeXml(title)}</h1>`,
    `<p class="meta">Generated ${escapeXml(created)}</p>`,
    ...(data.notes ?? []).map((n) => `<p class="meta">${escapeXml(n)}</p>`),
    `<div class="cards">${cards.join('')}</div>`,
    '<h2>Curves</h2>',
    `<div class="charts">${charts.join('')}</div>`,
    ...heldOutSection(data.heldOut),
    '<h2>Hyper-parameters</h2>',
    `<div class="scroll"><table><thead><tr><th class="l">parameter</th><th class="l">value</th></tr></thead><tbody>${hyperRows}</tbody></table></div>`,
    '<h2>Epochs</h2>',
    `<div class="scroll"><table><thead><tr>${cols.map(([h]) => `<th>${escapeXml(h)}</th>`).join('')}</tr></thead><tbody>${epochRows}</tbody></table></div>`,
    hasVal && best ? `<p class="meta">Highlighted: the epoch with the best validation accuracy.</p>` : '',
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** The held-out identities table, worstFirst. */
function heldOutSection(rows: HeldOutIdentity[] | undefined): string[] {
  if (!rows?.length) return [];
  const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : '–');
  const body = worstFirst(rows)
    .map(
      (r) =>
        `<tr><td class="l">${escapeXml(r.name)}</td><td>${pct(r.falseReject)}</td><td>${pct(r.falseAccept)}</td></tr>`,
    )
    .join('');
  return [
    '<h2>Held-out identities</h2>',
    '<p class="meta">At the final decision threshold: the share of each person\'s same-person pairs rejected, and of their pairs with other people accepted; worst first.</p>',
    `<div class="scroll"><table><thead><tr><th class="l">identity</th><th>false rejects</th><th>false accepts</th></tr></thead><tbody>${body}</tbody></table></div>`,
  ];
}

/**
 * Writes the report to `file` (creating folders), atomically (temp file + rename) so a report being
 * rewritten each epoch is never seen half-written, and synchronously so it also works from a Ctrl-C handler.
 */
export function writeTrainingReport(file: string, data: TrainingReportData): void {
  const html = renderTrainingReport(data);
  const abs = path.resolve(file);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  const tmp = `${abs}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, html);
  fs.renameSync(tmp, abs);
}
