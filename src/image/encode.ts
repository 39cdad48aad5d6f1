/** Encoding RgbImages to files/buffers (sharp for PNG/JPEG/WebP, ours for PGM/PPM). */
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { VisageError } from '../errors.js';
import { encodePnm } from './pnm.js';
import { assertRgbImage, type RgbImage } from './rgb.js';

const raw = (img: RgbImage): Sharp => {
  assertRgbImage(img);
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
};

/** Lossless PNG (8-bit RGB). */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  return raw(img).png().toBuffer();
}

/** Baseline JPEG, quality 1–100 (default 90), 4:2:0 chroma as usual. */
export async function encodeJpeg(img: RgbImage, quality = 90): Promise<Buffer> {
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new VisageError('E_BAD_OPTION', `JPEG quality must be an integer 1–100, got ${quality}`);
  }
  return raw(img).jpeg({ quality }).toBuffer();
}

/** Lossless WebP. */
export async function encodeWebp(img: RgbImage): Promise<Buffer> {
  return raw(img).webp({ lossless: true }).toBuffer();
}

/**
 * Writes `img` to `file`, the format chosen from the extension: .png, .jpg/.jpeg (quality `opts.quality`,
 * default 90), .webp (lossless), .ppm (P6) or .pgm (P5, luma). Creates missing parent folders.
 */
export async function writeImage(
  file: string,
  img: RgbImage,
  opts: { quality?: number } = {},
): Promise<void> {
  const ext = path.extname(file).toLowerCase();
  let buf: Buffer;
  switch (ext) {
    case '.png':
      buf = await encodePng(img);
      break;
    case '.jpg':
    case '.jpeg':
      buf = await encodeJpeg(img, opts.quality);
      break;
    case '.webp':
      buf = await encodeWebp(img);
      break;
    case '.ppm':
      assertRgbImage(img);
      buf = encodePnm(img, 'P6');
      break;
    case '.pgm':
      assertRgbImage(img);
      buf = encodePnm(img, 'P5');
      break;
    default:
      throw new VisageError(
        'E_UNSUPPORTED_FORMAT',
        `cannot write "${file}": extension "${ext}" is not one of .png, .jpg, .jpeg, .webp, .ppm, .pgm`,
        { path: file },
      );
  }
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, buf);
}
