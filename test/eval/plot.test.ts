import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { roc } from '../../src/eval/metrics.js';
import {
  DIFFERENT_COLOUR,
  SAME_COLOUR,
  SERIES_COLOURS,
  formatTick,
  histogram,
  niceTicks,
  plotDistanceHistograms,
  plotRoc,
  savePlot,
} from '../../src/eval/plot.js';
import type { Rgb, RgbImage } from '../../src/image/rgb.js';

function pixel(img: RgbImage, x: number, y: number): Rgb {
  const o = (y * img.width + x) * 3;
  return [img.data[o], img.data[o + 1], img.data[o + 2]];
}

/** Columns (min, max) and rows (min, max) where `c` occurs. */
function extent(img: RgbImage, c: Rgb): { x0: number; x1: number; y0: number; y1: number; n: number } {
  const e = { x0: Infinity, x1: -Infinity, y0: Infinity, y1: -Infinity, n: 0 };
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const p = pixel(img, x, y);
      if (p[0] === c[0] && p[1] === c[1] && p[2] === c[2]) {
        e.x0 = Math.min(e.x0, x);
        e.x1 = Math.max(e.x1, x);
        e.y0 = Math.min(e.y0, y);
        e.y1 = Math.max(e.y1, y);
        e.n++;
      }
    }
  }
  return e;
}

const blend = (c: Rgb, a = 0.45): Rgb =>
  [0, 1, 2].map((k) => Math.round(255 * (1 - a) + c[k] * a)) as unknown as Rgb;

function separated(n: number, reversed = false): ReturnType<typeof roc> {
  const same = Array.from({ length: n }, (_, i) => 0.1 + (0.2 * i) / n);
  const diff = Array.from({ length: n }, (_, i) => 0.6 + (0.2 * i) / n);
  return roc([...same, ...diff], [...same.map(() => !reversed), ...diff.map(() => reversed)]);
}

describe('plots', () => {
  test('ROC: a perfect curve hugs the top edge, a reversed one the bottom; PNG round-trips', async () => {
    const img = plotRoc(
      [
        { label: 'perfect', roc: separated(1000) },
        { label: 'reversed', roc: separated(1000, true) },
      ],
      { title: 'ROC', markFars: [1e-2] },
    );
    assert.deepEqual([img.width, img.height], [640, 480]);
    const perfect = extent(img, SERIES_COLOURS[0]);
    const reversed = extent(img, SERIES_COLOURS[1]);
    // Perfect: up the left edge then along TAR = 1 (the top); reversed: along TAR = 0 then up the right edge.
    assert.ok(perfect.n > 500 && reversed.n > 500);
    assert.ok(perfect.y0 < 60, `perfect curve reaches the top (y0=${perfect.y0})`);
    assert.ok(reversed.y1 > 420, `reversed curve runs along the bottom (y1=${reversed.y1})`);
    // Across the middle of the plot the perfect curve sits only on the top row band.
    const mid = 320;
    const rows = [];
    for (let y = 0; y < img.height; y++) {
      const p = pixel(img, mid, y);
      if (p.every((v, k) => v === SERIES_COLOURS[0][k])) rows.push(y);
    }
    assert.ok(rows.length > 0 && rows.length <= 3 && rows[0] < 60, `rows ${rows}`);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-plot-'));
    try {
      const file = path.join(dir, 'roc.png');
      await savePlot(file, img);
      const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height, info.channels], [640, 480, 3]);
      assert.ok(Buffer.from(img.data).equals(data), 'PNG decodes to exactly the drawn pixels');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('histograms: same-person bars left of the threshold, different-person bars right of it', () => {
    const same = Array.from({ length: 200 }, (_, i) => 0.1 + (0.2 * i) / 200);
    const diff = Array.from({ length: 300 }, (_, i) => 1.5 + (0.4 * i) / 300);
    const img = plotDistanceHistograms(same, diff, { range: [0, 2], bins: 20, threshold: 1, title: 'd' });
    const s = extent(img, blend(SAME_COLOUR));
    const d = extent(img, blend(DIFFERENT_COLOUR));
    assert.ok(s.n > 100 && d.n > 100);
    // Plot area spans x = 62 … 624 for 0 … 2: same bars cover bins [0.1, 0.3), different [1.5, 1.9).
    const X = (v: number): number => 62 + (v / 2) * (640 - 16 - 62);
    assert.ok(s.x0 >= X(0.1) - 1 && s.x1 <= X(0.3) + 1, `same bars at x ${s.x0}…${s.x1}`);
    assert.ok(d.x0 >= X(1.5) - 1 && d.x1 <= X(1.9) + 1, `different bars at x ${d.x0}…${d.x1}`);
    // Normalised: 200 same pairs in 2 bins (0.5 each) vs 300 in 4 (0.25 each) → same bars twice as tall.
    const bottom = 400 - 46;
    assert.ok(
      Math.abs((bottom - s.y0) / (bottom - d.y0) - 2) < 0.05,
      `heights ${bottom - s.y0} vs ${bottom - d.y0}`,
    );
    // The dashed threshold line at d = 1.
    let dark = 0;
    for (let y = 60; y < bottom; y++) if (pixel(img, Math.round(X(1)), y)[0] === 0) dark++;
    assert.ok(dark > 100, `threshold line drawn (${dark} px)`);
  });

  test('tick helpers', () => {
    assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(-0.03, 1.23, 6), [0, 0.5, 1]);
    assert.deepEqual(
      [formatTick(0.001), formatTick(0.25), formatTick(2e-4), formatTick(0)],
      ['1e-3', '0.25', '2e-4', '0'],
    );
    assert.deepEqual(histogram([0, 0.49, 0.5, 1, 7, -3], 0, 1, 2), [3, 3]);
  });
});
