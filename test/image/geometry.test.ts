import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VisageError } from '../../src/errors.js';
import {
  createImage,
  crop,
  flipHorizontal,
  fromGrey,
  resize,
  sideBySide,
  toGrey,
  type RgbImage,
} from '../../src/image/index.js';

function randomImage(w: number, h: number, seed = 1): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  return { width: w, height: h, data };
}
/** An image whose red channel is given per pixel; green and blue 0. */
function redImage(w: number, h: number, f: (x: number, y: number) => number): RgbImage {
  const img = createImage(w, h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) img.data[(y * w + x) * 3] = f(x, y);
  return img;
}
const red = (img: RgbImage, x: number, y: number): number => img.data[(y * img.width + x) * 3];
const isBadInput = (e: unknown): boolean => e instanceof VisageError && e.code === 'E_BAD_INPUT';

describe('resize', () => {
  it('same size is an exact copy (not the same buffer)', () => {
    const img = randomImage(37, 23);
    const out = resize(img, 37, 23);
    assert.deepEqual(out.data, img.data);
    assert.notEqual(out.data, img.data);
  });

  it('keeps a constant colour at any size', () => {
    const img = createImage(30, 20, [12, 200, 77]);
    for (const [w, h] of [
      [7, 5],
      [31, 19],
      [90, 61],
      [1, 1],
    ]) {
      const out = resize(img, w, h);
      for (let i = 0; i < out.data.length; i += 3)
        assert.deepEqual(Array.from(out.data.subarray(i, i + 3)), [12, 200, 77]);
    }
  });

  it('enlarges with half-pixel-aligned bilinear interpolation and replicated edges', () => {
    const out = resize(
      redImage(2, 1, (x) => [0, 100][x]),
      4,
      1,
    );
    // Output centres map to input x = -0.25, 0.25, 0.75, 1.25.
    assert.deepEqual(
      [0, 1, 2, 3].map((x) => red(out, x, 0)),
      [0, 25, 75, 100],
    );
  });

  it('antialiases when shrinking: 1-pixel lines every 4 pixels average to 255/4, not 0', () => {
    const lines = redImage(64, 64, (x) => (x % 4 === 0 ? 255 : 0));
    const smooth = resize(lines, 16, 16);
    for (let y = 0; y < 16; y++) for (let x = 1; x < 15; x++) assert.equal(red(smooth, x, y), 64);
    // Plain bilinear samples between pixels 4k+1 and 4k+2 and misses every line.
    const aliased = resize(lines, 16, 16, { antialias: false });
    for (let x = 0; x < 16; x++) assert.equal(red(aliased, x, 5), 0);
  });

  it('a linear ramp stays a linear ramp when shrunk', () => {
    const ramp = redImage(200, 10, (x) => x);
    const out = resize(ramp, 50, 10);
    // Output pixel o covers input [4o, 4o+4): its centre value is 4o + 1.5.
    for (let o = 2; o < 48; o++)
      assert.ok(Math.abs(red(out, o, 5) - (4 * o + 1.5)) <= 0.5, `o=${o}: ${red(out, o, 5)}`);
  });

  it('refuses non-positive or fractional sizes', () => {
    assert.throws(() => resize(createImage(4, 4), 0, 3), isBadInput);
    assert.throws(() => resize(createImage(4, 4), 2.5, 3), isBadInput);
    assert.throws(() => resize({ width: 4, height: 4, data: new Uint8Array(5) }, 2, 2), isBadInput);
  });
});

describe('crop', () => {
  const img = redImage(10, 8, (x, y) => y * 10 + x);

  it('copies an inside rectangle', () => {
    const out = crop(img, { x: 2, y: 3, width: 4, height: 2 });
    assert.equal(out.width, 4);
    assert.equal(out.height, 2);
    assert.deepEqual([red(out, 0, 0), red(out, 3, 0), red(out, 0, 1), red(out, 3, 1)], [32, 35, 42, 45]);
  });

  it('pads the parts outside the image with the fill colour', () => {
    const out = crop(img, { x: -2, y: 6, width: 5, height: 4 }, [9, 8, 7]);
    assert.deepEqual([out.width, out.height], [5, 4]);
    assert.deepEqual(Array.from(out.data.subarray(0, 3)), [9, 8, 7]); // (-2, 6) outside
    assert.equal(red(out, 2, 0), 60); // (0, 6)
    assert.equal(red(out, 4, 1), 72); // (2, 7)
    assert.deepEqual(Array.from(out.data.subarray((2 * 5 + 3) * 3, (2 * 5 + 3) * 3 + 3)), [9, 8, 7]); // (1, 8) below
    const black = crop(img, { x: 50, y: 50, width: 3, height: 3 });
    assert.ok(black.data.every((v) => v === 0));
  });

  it('rounds fractional rectangles and refuses empty ones', () => {
    const out = crop(img, { x: 1.4, y: 0.6, width: 2.2, height: 1.5 });
    assert.deepEqual([out.width, out.height, red(out, 0, 0)], [2, 2, 11]);
    assert.throws(() => crop(img, { x: 0, y: 0, width: 0, height: 3 }), isBadInput);
  });
});

describe('flip and grey', () => {
  it('flipHorizontal mirrors columns and is its own inverse', () => {
    const img = randomImage(9, 4);
    const f = flipHorizontal(img);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 9; x++) {
        const a = (y * 9 + x) * 3;
        const b = (y * 9 + 8 - x) * 3;
        assert.deepEqual(Array.from(f.data.subarray(b, b + 3)), Array.from(img.data.subarray(a, a + 3)));
      }
    }
    assert.deepEqual(flipHorizontal(f).data, img.data);
  });

  it('toGrey uses BT.601 luma and fromGrey replicates it', () => {
    const img: RgbImage = { width: 3, height: 1, data: Uint8Array.from([255, 0, 0, 0, 255, 0, 10, 20, 30]) };
    const g = toGrey(img);
    assert.deepEqual(Array.from(g.data), [76, 150, 18]);
    assert.deepEqual(Array.from(fromGrey(g).data), [76, 76, 76, 150, 150, 150, 18, 18, 18]);
  });
});

describe('sideBySide', () => {
  it('scales each image to the height, keeps aspect ratios and leaves white gaps', () => {
    const a = randomImage(4, 2, 3);
    const b = randomImage(3, 3, 5);
    const g = sideBySide([a, b], 2, 1);
    assert.equal(g.height, 2);
    assert.equal(g.width, 4 + 1 + 2);
    const px = (img: RgbImage, x: number, y: number) =>
      Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
    for (let y = 0; y < 2; y++) {
      for (let x = 0; x < 4; x++) assert.deepEqual(px(g, x, y), px(a, x, y));
      assert.deepEqual(px(g, 4, y), [255, 255, 255]);
      const rb = resize(b, 2, 2);
      for (let x = 0; x < 2; x++) assert.deepEqual(px(g, 5 + x, y), px(rb, x, y));
    }
    assert.throws(
      () => sideBySide([], 10),
      (e: unknown) => e instanceof VisageError && e.code === 'E_BAD_INPUT',
    );
  });
});
