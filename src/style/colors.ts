import type { RgbImage } from '../image/index.js';
import { resize } from '../image/index.js';

/**
 * Colour preservation by luminance-only transfer (Gatys, Bethge, Hertzmann & Shechtman 2016, "Preserving
 * color in neural artistic style transfer"): style and content are reduced to their luminance, the style's
 * luminance is matched to the content's mean and spread, the transfer runs on those grey images, and the
 * result's luminance is recombined with the content's chrominance (YIQ, BT.601 luma weights).
 */

const luma = (r: number, g: number, b: number): number => 0.299 * r + 0.587 * g + 0.114 * b;
const clamp8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

function lumaStats(img: RgbImage): { mean: number; std: number } {
  const d = img.data;
  const n = img.width * img.height;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < d.length; i += 3) {
    const y = luma(d[i], d[i + 1], d[i + 2]);
    s += y;
    s2 += y * y;
  }
  const mean = s / n;
  return { mean, std: Math.sqrt(Math.max(0, s2 / n - mean * mean)) };
}

/** Grey RGB image of the luminance, optionally matched (linearly) to a target mean and std. */
export function luminanceImage(img: RgbImage, match?: { mean: number; std: number }): RgbImage {
  const own = match ? lumaStats(img) : undefined;
  const k = match && own && own.std > 1e-6 ? match.std / own.std : 1;
  const d = img.data;
  const out = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i += 3) {
    let y = luma(d[i], d[i + 1], d[i + 2]);
    if (match && own) y = (y - own.mean) * k + match.mean;
    out[i] = out[i + 1] = out[i + 2] = clamp8(y);
  }
  return { width: img.width, height: img.height, data: out };
}

/** Content and styles reduced to luminance, the styles' matched to the content's. */
export function luminanceInputs(
  content: RgbImage,
  styles: RgbImage[],
): { content: RgbImage; styles: RgbImage[] } {
  const stats = lumaStats(content);
  return { content: luminanceImage(content), styles: styles.map((s) => luminanceImage(s, stats)) };
}

/** Luminance of `result` with the I/Q chrominance of `content` (resized to the result). */
export function recombineChrominance(result: RgbImage, content: RgbImage): RgbImage {
  const c =
    content.width === result.width && content.height === result.height
      ? content
      : resize(content, result.width, result.height);
  const out = new Uint8Array(result.data.length);
  const r = result.data;
  const d = c.data;
  for (let p = 0; p < r.length; p += 3) {
    const y = luma(r[p], r[p + 1], r[p + 2]);
    const ci = 0.596 * d[p] - 0.274 * d[p + 1] - 0.322 * d[p + 2];
    const cq = 0.211 * d[p] - 0.523 * d[p + 1] + 0.312 * d[p + 2];
    out[p] = clamp8(y + 0.956 * ci + 0.621 * cq);
    out[p + 1] = clamp8(y - 0.272 * ci - 0.647 * cq);
    out[p + 2] = clamp8(y - 1.106 * ci + 1.703 * cq);
  }
  return { width: result.width, height: result.height, data: out };
}
