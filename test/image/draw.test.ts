import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ADVANCE,
  createImage,
  drawBox,
  drawPoint,
  drawText,
  GLYPH_HEIGHT,
  GLYPH_WIDTH,
  measureText,
  type Rgb,
  type RgbImage,
} from '../../src/image/index.js';

const isColour = (img: RgbImage, x: number, y: number, c: Rgb): boolean => {
  const o = (y * img.width + x) * 3;
  return img.data[o] === c[0] && img.data[o + 1] === c[1] && img.data[o + 2] === c[2];
};
/** The set pixels of an image as '#'/'.' rows. */
const ascii = (img: RgbImage, x0: number, y0: number, w: number, h: number, c: Rgb): string[] =>
  Array.from({ length: h }, (_, y) =>
    Array.from({ length: w }, (_, x) => (isColour(img, x0 + x, y0 + y, c) ? '#' : '.')).join(''),
  );
const RED: Rgb = [255, 0, 0];

describe('drawBox / drawPoint', () => {
  it('draws a thickness-2 outline inside the box and nothing else', () => {
    const img = createImage(20, 20);
    const out = drawBox(img, { x: 3, y: 4, width: 10, height: 8 }, RED, 2);
    assert.equal(out, img, 'draws in place');
    for (let y = 0; y < 20; y++) {
      for (let x = 0; x < 20; x++) {
        const inBox = x >= 3 && x < 13 && y >= 4 && y < 12;
        const inInterior = x >= 5 && x < 11 && y >= 6 && y < 10;
        assert.equal(isColour(img, x, y, RED), inBox && !inInterior, `(${x}, ${y})`);
      }
    }
  });

  it('clips boxes that leave the image', () => {
    const img = createImage(10, 10);
    drawBox(img, { x: -5, y: 7, width: 8, height: 20 }, RED, 1);
    assert.ok(isColour(img, 0, 7, RED)); // top edge, visible part
    assert.ok(isColour(img, 2, 9, RED)); // right edge (x = 2)
    assert.ok(!isColour(img, 1, 9, RED));
  });

  it('drawPoint fills a disc', () => {
    const img = createImage(9, 9);
    drawPoint(img, 4, 4, RED, 2);
    assert.deepEqual(ascii(img, 2, 2, 5, 5, RED), ['..#..', '.###.', '#####', '.###.', '..#..']);
  });
});

describe('drawText (built-in 5×7 font)', () => {
  it('renders glyph bitmaps at scale 1 and 2', () => {
    const img = createImage(20, 20);
    drawText(img, 1, 2, 'T', RED);
    assert.deepEqual(ascii(img, 1, 2, 5, 7, RED), [
      '#####',
      '..#..',
      '..#..',
      '..#..',
      '..#..',
      '..#..',
      '..#..',
    ]);
    const big = createImage(20, 20);
    drawText(big, 0, 0, 'L', RED, 2);
    assert.deepEqual(ascii(big, 0, 0, 4, 14, RED).slice(0, 2), ['##..', '##..']);
    assert.deepEqual(ascii(big, 0, 12, 10, 2, RED), ['##########', '##########']);
  });

  it('every printable ASCII character has a distinct glyph; others draw as "?"', () => {
    const seen = new Map<string, string>();
    for (let code = 33; code <= 126; code++) {
      const img = createImage(GLYPH_WIDTH, GLYPH_HEIGHT);
      drawText(img, 0, 0, String.fromCharCode(code), RED);
      const key = ascii(img, 0, 0, GLYPH_WIDTH, GLYPH_HEIGHT, RED).join('/');
      assert.ok(key.includes('#'), `glyph for ${String.fromCharCode(code)} is empty`);
      assert.ok(!seen.has(key), `${String.fromCharCode(code)} looks like ${seen.get(key)}`);
      seen.set(key, String.fromCharCode(code));
    }
    const q = drawText(createImage(6, 8), 0, 0, '?', RED);
    assert.deepEqual(drawText(createImage(6, 8), 0, 0, 'é', RED), q);
    assert.deepEqual(drawText(createImage(6, 8), 0, 0, '😀', RED), q);
  });

  it('advances per character, supports newlines, measures and clips', () => {
    assert.deepEqual(measureText('ab', 1), { width: ADVANCE + GLYPH_WIDTH, height: GLYPH_HEIGHT });
    assert.deepEqual(measureText('abc\nd', 3), { width: 3 * (2 * ADVANCE + GLYPH_WIDTH), height: 3 * 17 });
    const img = createImage(30, 20);
    drawText(img, 0, 0, 'II\nI', RED);
    assert.ok(isColour(img, 1, 0, RED) && isColour(img, ADVANCE + 1, 0, RED) && isColour(img, 1, 9, RED));
    // Text hanging off every edge must not throw or wrap around.
    const edge = createImage(8, 8);
    drawText(edge, -3, -4, 'WW', RED, 2);
    drawText(edge, 6, 6, 'W', RED, 3);
    assert.ok(isColour(edge, 7, 7, RED));
  });

  it('background fills the measured box plus a margin', () => {
    const img = createImage(30, 20);
    drawText(img, 5, 5, 'Hi', RED, 1, { background: [0, 0, 255] });
    const { width, height } = measureText('Hi');
    assert.ok(isColour(img, 4, 4, [0, 0, 255]) && isColour(img, 5 + width, 5 + height, [0, 0, 255]));
    assert.ok(isColour(img, 5, 5, RED)); // H's top-left stroke on top of the background
    assert.ok(!isColour(img, 3, 3, [0, 0, 255]));
  });
});
