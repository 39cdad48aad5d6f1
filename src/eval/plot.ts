/**
 * Raster plots for evaluation reports, drawn straight onto an RgbImage with src/image's bitmap font (no
 * canvas, no system fonts): a ROC curve with a log-scale FAR axis, and overlaid same/different distance
 * histograms with the threshold marked.
 */
import { fillRect, drawText, measureText } from '../image/draw.js';
import { writeImage } from '../image/encode.js';
import { createImage, type Rgb, type RgbImage } from '../image/rgb.js';
import { VisageError } from '../errors.js';
import type { Roc } from './metrics.js';

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const GRID: Rgb = [225, 225, 225];
const AXIS_TEXT: Rgb = [40, 40, 40];
/** Colour-blind-safe (Okabe–Ito) series colours. */
export const SERIES_COLOURS: readonly Rgb[] = [
  [0, 114, 178],
  [213, 94, 0],
  [0, 158, 115],
  [204, 121, 167],
  [230, 159, 0],
  [86, 180, 233],
];
export const SAME_COLOUR: Rgb = [0, 158, 115];
export const DIFFERENT_COLOUR: Rgb = [213, 94, 0];

// ---- small raster helpers (lines, blending, rotated text) ----------------------------------------

function setPixel(img: RgbImage, x: number, y: number, c: Rgb): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const o = (y * img.width + x) * 3;
  img.data[o] = c[0];
  img.data[o + 1] = c[1];
  img.data[o + 2] = c[2];
}

/** Bresenham line, `width` px thick (square pen); `dash` = [on, off] in steps for dashed lines. */
export function drawLine(
  img: RgbImage,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  c: Rgb,
  width = 1,
  dash?: readonly [number, number],
): void {
  let x = Math.round(x0);
  let y = Math.round(y0);
  const xe = Math.round(x1);
  const ye = Math.round(y1);
  const dx = Math.abs(xe - x);
  const dy = -Math.abs(ye - y);
  const sx = x < xe ? 1 : -1;
  const sy = y < ye ? 1 : -1;
  let err = dx + dy;
  const lo = -Math.floor((width - 1) / 2);
  for (let step = 0; ; step++) {
    if (!dash || step % (dash[0] + dash[1]) < dash[0]) {
      if (width <= 1) setPixel(img, x, y, c);
      else fillRect(img, x + lo, y + lo, x + lo + width, y + lo + width, c);
    }
    if (x === xe && y === ye) break;
    const e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y += sy;
    }
  }
}

/** Mix colour c over [x0, x1) × [y0, y1) with opacity alpha (so overlapping bars stay visible). */
function blendRect(
  img: RgbImage,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  c: Rgb,
  alpha: number,
): void {
  const xa = Math.max(0, Math.round(x0));
  const xb = Math.min(img.width, Math.round(x1));
  const ya = Math.max(0, Math.round(y0));
  const yb = Math.min(img.height, Math.round(y1));
  for (let y = ya; y < yb; y++) {
    for (let x = xa, o = (y * img.width + xa) * 3; x < xb; x++, o += 3) {
      for (let k = 0; k < 3; k++) img.data[o + k] = Math.round(img.data[o + k] * (1 - alpha) + c[k] * alpha);
    }
  }
}

/** Text rotated 90° anticlockwise (reading bottom to top), its bounding box's top-left at (x, y). */
function drawTextVertical(img: RgbImage, x: number, y: number, text: string, c: Rgb, scale = 1): void {
  const { width, height } = measureText(text, scale);
  const tmp = createImage(width, height, WHITE);
  drawText(tmp, 0, 0, text, BLACK, scale);
  for (let ty = 0; ty < height; ty++) {
    for (let tx = 0; tx < width; tx++) {
      if (tmp.data[(ty * width + tx) * 3] !== 0) continue;
      // (tx, ty) → (ty, width − 1 − tx): a quarter turn anticlockwise.
      setPixel(img, Math.round(x) + ty, Math.round(y) + width - 1 - tx, c);
    }
  }
}

/** Short tick labels: "0.25", "1e-3", "10". */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-2 || a >= 1e5) {
    const e = Math.floor(Math.log10(a) + 1e-9);
    const m = v / 10 ** e;
    return Math.abs(Math.abs(m) - 1) < 1e-9 ? `${m < 0 ? '-' : ''}1e${e}` : `${Number(m.toFixed(2))}e${e}`;
  }
  return String(Number(v.toPrecision(4)));
}

/** Ticks at 1, 2 or 5 × 10^k covering [lo, hi] with about `target` intervals. */
export function niceTicks(lo: number, hi: number, target = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

interface Frame {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

function drawFrameAndTitle(
  img: RgbImage,
  f: Frame,
  title: string | undefined,
  xLabel: string,
  yLabel: string,
): void {
  drawLine(img, f.left, f.bottom, f.right, f.bottom, BLACK);
  drawLine(img, f.left, f.top, f.left, f.bottom, BLACK);
  drawLine(img, f.right, f.top, f.right, f.bottom, BLACK);
  drawLine(img, f.left, f.top, f.right, f.top, BLACK);
  if (title) {
    const t = measureText(title, 2);
    drawText(
      img,
      Math.round((f.left + f.right - t.width) / 2),
      Math.max(4, f.top - t.height - 10),
      title,
      BLACK,
      2,
    );
  }
  const xl = measureText(xLabel, 1);
  drawText(img, Math.round((f.left + f.right - xl.width) / 2), f.bottom + 26, xLabel, AXIS_TEXT, 1);
  const yl = measureText(yLabel, 1);
  drawTextVertical(img, 8, Math.round((f.top + f.bottom - yl.width) / 2), yLabel, AXIS_TEXT, 1);
}

function drawLegend(
  img: RgbImage,
  f: Frame,
  entries: readonly { label: string; colour: Rgb }[],
  corner: 'br' | 'tr',
): void {
  if (entries.length === 0) return;
  const lineH = 12;
  const w = Math.max(...entries.map((e) => measureText(e.label, 1).width)) + 26;
  const h = entries.length * lineH + 6;
  const x = f.right - w - 8;
  const y = corner === 'br' ? f.bottom - h - 8 : f.top + 8;
  fillRect(img, x, y, x + w, y + h, WHITE);
  drawLine(img, x, y, x + w, y, GRID);
  drawLine(img, x, y + h, x + w, y + h, GRID);
  drawLine(img, x, y, x, y + h, GRID);
  drawLine(img, x + w, y, x + w, y + h, GRID);
  entries.forEach((e, i) => {
    const cy = y + 4 + i * lineH;
    fillRect(img, x + 5, cy + 2, x + 19, cy + 6, e.colour);
    drawText(img, x + 23, cy, e.label, AXIS_TEXT, 1);
  });
}

// ---- ROC ------------------------------------------------------------------------------------------

export interface RocSeries {
  label: string;
  roc: Roc;
  colour?: Rgb;
}

export interface RocPlotOptions {
  width?: number;
  height?: number;
  title?: string;
  /** Left end of the FAR axis (default: the decade below the smallest non-zero FAR, at least 1e-6). */
  minFar?: number;
  /** FARs to mark with dashed vertical lines (e.g. [1e-3]). */
  markFars?: readonly number[];
}

/**
 * ROC curves on a log-FAR axis. Operating points with FAR = 0 sit on the left edge; between points the ROC
 * is linear in FAR (the same interpolation as metrics.ts), which bends on a log axis, so segments are drawn
 * finely subdivided.
 */
export function plotRoc(series: readonly RocSeries[], opts: RocPlotOptions = {}): RgbImage {
  if (series.length === 0) throw new VisageError('E_BAD_INPUT', 'no ROC curves to plot');
  const W = opts.width ?? 640;
  const H = opts.height ?? 480;
  const img = createImage(W, H, WHITE);
  const f: Frame = { left: 62, top: opts.title ? 44 : 16, right: W - 16, bottom: H - 46 };
  let minFar = opts.minFar;
  if (minFar === undefined) {
    let smallest = 1;
    for (const s of series) {
      for (const p of s.roc.points) if (p.far > 0 && p.far < smallest) smallest = p.far;
      smallest = Math.min(smallest, 1 / Math.max(1, s.roc.negatives));
    }
    minFar = Math.max(1e-6, 10 ** Math.floor(Math.log10(smallest) - 1e-9));
  }
  if (!(minFar > 0 && minFar < 1))
    throw new VisageError('E_BAD_OPTION', `minFar must be in (0, 1), got ${minFar}`);
  const lx0 = Math.log10(minFar);
  const X = (far: number): number =>
    f.left + ((Math.log10(Math.max(far, minFar)) - lx0) / -lx0) * (f.right - f.left);
  const Y = (tar: number): number => f.bottom - tar * (f.bottom - f.top);

  // Grid and ticks.
  for (let e = Math.ceil(lx0 - 1e-9); e <= 0; e++) {
    const x = X(10 ** e);
    drawLine(img, x, f.top, x, f.bottom, GRID);
    drawLine(img, x, f.bottom, x, f.bottom + 5, BLACK);
    const label = e === 0 ? '1' : `1e${e}`;
    drawText(img, Math.round(x - measureText(label).width / 2), f.bottom + 9, label, AXIS_TEXT);
    for (let m = 2; m <= 9 && e < 0; m++) {
      const xm = X(m * 10 ** e);
      drawLine(img, xm, f.bottom, xm, f.bottom + 2, BLACK);
    }
  }
  for (let k = 0; k <= 10; k += 2) {
    const y = Y(k / 10);
    drawLine(img, f.left, y, f.right, y, GRID);
    drawLine(img, f.left - 5, y, f.left, y, BLACK);
    const label = formatTick(k / 10);
    drawText(img, f.left - 8 - measureText(label).width, Math.round(y - 3), label, AXIS_TEXT);
  }
  for (const m of opts.markFars ?? []) {
    if (m > minFar && m < 1) drawLine(img, X(m), f.top, X(m), f.bottom, [150, 150, 150], 1, [4, 4]);
  }
  drawFrameAndTitle(img, f, opts.title, 'false accept rate (log scale)', 'true accept rate');

  const legend: { label: string; colour: Rgb }[] = [];
  series.forEach((s, i) => {
    const colour = s.colour ?? SERIES_COLOURS[i % SERIES_COLOURS.length];
    legend.push({ label: s.label, colour });
    const pts = s.roc.points;
    let px = X(pts[0].far);
    let py = Y(pts[0].tar);
    for (let j = 1; j < pts.length; j++) {
      const a = pts[j - 1];
      const b = pts[j];
      const span = Math.abs(X(b.far) - X(a.far)) + Math.abs(Y(b.tar) - Y(a.tar));
      const steps = Math.max(1, Math.min(200, Math.ceil(span / 3)));
      for (let t = 1; t <= steps; t++) {
        const far = a.far + ((b.far - a.far) * t) / steps;
        const tar = a.tar + ((b.tar - a.tar) * t) / steps;
        const nx = X(far);
        const ny = Y(tar);
        drawLine(img, px, py, nx, ny, colour, 2);
        px = nx;
        py = ny;
      }
    }
  });
  drawLegend(img, f, legend, 'br');
  return img;
}

// ---- distance histograms ----------------------------------------------------------------------------

export interface HistogramPlotOptions {
  width?: number;
  height?: number;
  title?: string;
  bins?: number;
  /** Distance axis range (default: the data's range, padded by a bin). */
  range?: readonly [number, number];
  /** Threshold τ to mark. */
  threshold?: number;
  xLabel?: string;
  /** Plot each class as a fraction of its own pairs (default) rather than raw counts. */
  normalize?: boolean;
}

/** Counts per bin over [lo, hi); values outside are clamped into the end bins. */
export function histogram(values: ArrayLike<number>, lo: number, hi: number, bins: number): number[] {
  const out = new Array<number>(bins).fill(0);
  const w = (hi - lo) / bins;
  for (let i = 0; i < values.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor((values[i] - lo) / w)));
    out[b]++;
  }
  return out;
}

export function plotDistanceHistograms(
  same: ArrayLike<number>,
  different: ArrayLike<number>,
  opts: HistogramPlotOptions = {},
): RgbImage {
  if (same.length === 0 && different.length === 0)
    throw new VisageError('E_BAD_INPUT', 'no distances to plot');
  const W = opts.width ?? 640;
  const H = opts.height ?? 400;
  const bins = opts.bins ?? 40;
  const normalize = opts.normalize ?? true;
  let [lo, hi] = opts.range ?? [Infinity, -Infinity];
  if (!opts.range) {
    for (const arr of [same, different]) {
      for (let i = 0; i < arr.length; i++) {
        lo = Math.min(lo, arr[i]);
        hi = Math.max(hi, arr[i]);
      }
    }
    if (opts.threshold !== undefined) {
      lo = Math.min(lo, opts.threshold);
      hi = Math.max(hi, opts.threshold);
    }
    const pad = hi > lo ? (hi - lo) / bins : 0.5;
    lo -= pad;
    hi += pad;
  }
  if (!(hi > lo))
    throw new VisageError('E_BAD_OPTION', `histogram range must be increasing, got [${lo}, ${hi}]`);
  const hs = histogram(same, lo, hi, bins).map((c) => (normalize && same.length ? c / same.length : c));
  const hd = histogram(different, lo, hi, bins).map((c) =>
    normalize && different.length ? c / different.length : c,
  );
  const top = Math.max(...hs, ...hd) * 1.08 || 1;

  const img = createImage(W, H, WHITE);
  const f: Frame = { left: 62, top: opts.title ? 44 : 16, right: W - 16, bottom: H - 46 };
  const X = (v: number): number => f.left + ((v - lo) / (hi - lo)) * (f.right - f.left);
  const Y = (c: number): number => f.bottom - (c / top) * (f.bottom - f.top);

  for (const t of niceTicks(lo, hi, 10)) {
    const x = X(t);
    drawLine(img, x, f.bottom, x, f.bottom + 5, BLACK);
    const label = formatTick(t);
    drawText(img, Math.round(x - measureText(label).width / 2), f.bottom + 9, label, AXIS_TEXT);
  }
  for (const t of niceTicks(0, top, 5)) {
    const y = Y(t);
    if (y < f.top) continue;
    drawLine(img, f.left, y, f.right, y, GRID);
    drawLine(img, f.left - 5, y, f.left, y, BLACK);
    const label = formatTick(t);
    drawText(img, f.left - 8 - measureText(label).width, Math.round(y - 3), label, AXIS_TEXT);
  }
  for (const [h, colour] of [
    [hd, DIFFERENT_COLOUR],
    [hs, SAME_COLOUR],
  ] as const) {
    for (let b = 0; b < bins; b++) {
      if (h[b] === 0) continue;
      const x0 = X(lo + ((hi - lo) * b) / bins);
      const x1 = X(lo + ((hi - lo) * (b + 1)) / bins);
      const y = Y(h[b]);
      blendRect(img, x0, y, x1, f.bottom, colour, 0.45);
      drawLine(img, x0, y, x1, y, colour);
      drawLine(img, x0, y, x0, f.bottom, colour);
      drawLine(img, x1, y, x1, f.bottom, colour);
    }
  }
  if (opts.threshold !== undefined) {
    const x = X(opts.threshold);
    drawLine(img, x, f.top, x, f.bottom, BLACK, 1, [5, 3]);
    drawText(img, Math.round(x + 4), f.top + 4, `t = ${formatTick(opts.threshold)}`, BLACK);
  }
  drawFrameAndTitle(
    img,
    f,
    opts.title,
    opts.xLabel ?? 'distance (squared L2)',
    normalize ? 'fraction of pairs' : 'pairs',
  );
  drawLegend(
    img,
    f,
    [
      { label: `same person (${same.length})`, colour: SAME_COLOUR },
      { label: `different people (${different.length})`, colour: DIFFERENT_COLOUR },
    ],
    'tr',
  );
  return img;
}

/** Write a plot as PNG (creating folders). */
export async function savePlot(file: string, img: RgbImage): Promise<void> {
  await writeImage(file, img);
}
