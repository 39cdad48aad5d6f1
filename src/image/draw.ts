/**
 * Drawing for annotated outputs (boxes, labels, landmark dots). These MUTATE the image they are given and
 * return it, so calls chain without copying; clone first (cloneImage) to keep the original. Everything is
 * clipped to the image.
 */
import { ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, LINE_HEIGHT, glyphRows } from './font.js';
import type { Rect } from './geometry.js';
import type { Rgb, RgbImage } from './rgb.js';

/** Fills the integer rectangle [x0, x1) × [y0, y1), clipped. */
export function fillRect(img: RgbImage, x0: number, y0: number, x1: number, y1: number, rgb: Rgb): RgbImage {
  const xa = Math.max(0, Math.round(x0));
  const xb = Math.min(img.width, Math.round(x1));
  const ya = Math.max(0, Math.round(y0));
  const yb = Math.min(img.height, Math.round(y1));
  const d = img.data;
  for (let y = ya; y < yb; y++) {
    for (let x = xa, o = (y * img.width + xa) * 3; x < xb; x++, o += 3) {
      d[o] = rgb[0];
      d[o + 1] = rgb[1];
      d[o + 2] = rgb[2];
    }
  }
  return img;
}

/**
 * Outline of `box` (rounded to integers), `thickness` pixels wide (default 2), drawn INSIDE the box so that
 * the outline never covers pixels outside it.
 */
export function drawBox(img: RgbImage, box: Rect, rgb: Rgb, thickness = 2): RgbImage {
  const x0 = Math.round(box.x);
  const y0 = Math.round(box.y);
  const x1 = x0 + Math.round(box.width);
  const y1 = y0 + Math.round(box.height);
  const t = Math.max(1, Math.round(thickness));
  fillRect(img, x0, y0, x1, Math.min(y1, y0 + t), rgb);
  fillRect(img, x0, Math.max(y0, y1 - t), x1, y1, rgb);
  fillRect(img, x0, y0, Math.min(x1, x0 + t), y1, rgb);
  fillRect(img, Math.max(x0, x1 - t), y0, x1, y1, rgb);
  return img;
}

/** A filled disc of `radius` pixels centred on (x, y) in pixel-centre coordinates (for landmarks). */
export function drawPoint(img: RgbImage, x: number, y: number, rgb: Rgb, radius = 2): RgbImage {
  const r2 = radius * radius;
  const ya = Math.max(0, Math.ceil(y - radius));
  const yb = Math.min(img.height - 1, Math.floor(y + radius));
  const xa = Math.max(0, Math.ceil(x - radius));
  const xb = Math.min(img.width - 1, Math.floor(x + radius));
  for (let py = ya; py <= yb; py++) {
    for (let px = xa; px <= xb; px++) {
      if ((px - x) ** 2 + (py - y) ** 2 > r2) continue;
      const o = (py * img.width + px) * 3;
      img.data[o] = rgb[0];
      img.data[o + 1] = rgb[1];
      img.data[o + 2] = rgb[2];
    }
  }
  return img;
}

/** Size in pixels of `text` drawn at `scale` (multi-line with '\n'). */
export function measureText(text: string, scale = 1): { width: number; height: number } {
  const lines = text.split('\n');
  const cols = Math.max(...lines.map((l) => [...l].length));
  const s = Math.max(1, Math.round(scale));
  return {
    width: cols === 0 ? 0 : (cols * ADVANCE - (ADVANCE - GLYPH_WIDTH)) * s,
    height: (lines.length * LINE_HEIGHT - (LINE_HEIGHT - GLYPH_HEIGHT)) * s,
  };
}

export interface TextOptions {
  /** Fill the text's bounding box (plus a 1-font-pixel margin) first, for legibility on photos. */
  background?: Rgb;
}

/**
 * Draws ASCII `text` with the built-in 5×7 font, top-left corner at (x, y), each font pixel a
 * `scale`×`scale` block (integer, default 1). '\n' starts a new line; other non-printable or non-ASCII
 * characters draw as '?'.
 */
export function drawText(
  img: RgbImage,
  x: number,
  y: number,
  text: string,
  rgb: Rgb,
  scale = 1,
  opts: TextOptions = {},
): RgbImage {
  const s = Math.max(1, Math.round(scale));
  const x0 = Math.round(x);
  const y0 = Math.round(y);
  if (opts.background) {
    const { width, height } = measureText(text, s);
    fillRect(img, x0 - s, y0 - s, x0 + width + s, y0 + height + s, opts.background);
  }
  let line = 0;
  let col = 0;
  for (const ch of text) {
    if (ch === '\n') {
      line++;
      col = 0;
      continue;
    }
    const rows = glyphRows(ch);
    const gx = x0 + col * ADVANCE * s;
    const gy = y0 + line * LINE_HEIGHT * s;
    col++;
    if (gx >= img.width || gy >= img.height || gx + GLYPH_WIDTH * s <= 0 || gy + GLYPH_HEIGHT * s <= 0)
      continue;
    for (let r = 0; r < GLYPH_HEIGHT; r++) {
      const bits = rows[r];
      if (bits === 0) continue;
      for (let c = 0; c < GLYPH_WIDTH; c++) {
        if (bits & (1 << (GLYPH_WIDTH - 1 - c)))
          fillRect(img, gx + c * s, gy + r * s, gx + (c + 1) * s, gy + (r + 1) * s, rgb);
      }
    }
  }
  return img;
}
