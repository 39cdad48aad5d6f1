/**
 * Decoding any supported file or buffer to 8-bit RGB. sharp (libvips) does JPEG, PNG, WebP, GIF, TIFF and
 * AVIF; Netpbm is ours (pnm.ts). The format is chosen from the magic bytes, never the file name.
 *
 * Normalisation, so that every caller sees the same pixels:
 * - EXIF orientation is applied (a phone photo tagged "rotate 90°" comes out upright);
 * - only the first frame of an animated GIF/WebP or the first page of a multi-page TIFF is read;
 * - alpha is composited onto WHITE (transparent PNG backgrounds are usually meant to look like paper,
 *   and a black matte would create a dark halo that face detectors pick up);
 * - greyscale, CMYK (via its ICC profile or libvips' default) and 16-bit images become 8-bit sRGB.
 *
 * The pixel limit is checked from the header before any pixel data is decoded, so a decompression bomb
 * (a tiny PNG claiming 50 megapixels) costs microseconds, not gigabytes.
 */
import { statSync } from 'node:fs';
import fs from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { VisageError } from '../errors.js';
import { statInputFile } from '../files.js';
import { decodePnm, isPnm } from './pnm.js';
import type { RgbImage } from './rgb.js';

export const DEFAULT_MAX_PIXELS = 40_000_000;

/** Options of `decodeImage`. */
export interface DecodeOptions {
  /** Refuse images with more pixels than this (E_IMAGE_TOO_LARGE). Default: VISAGE_MAX_PIXELS, else 40e6. */
  maxPixels?: number;
}

/** Formats decodeImage accepts. */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif' | 'pnm';

/** Formats recognised from their magic bytes but refused with E_UNSUPPORTED_FORMAT. */
export type UnsupportedFormat =
  'bmp' | 'ico' | 'psd' | 'jpeg2000' | 'jpegxl' | 'pdf' | 'svg' | 'pam' | 'pfm' | 'exr' | 'hdr';

/** What the magic bytes say. HEIF files sniff as 'avif'; the decoder refuses those not coded with AV1 (HEIC). */
export type SniffResult =
  { format: ImageFormat; supported: true } | { format: UnsupportedFormat; supported: false };

/** The pixel limit from VISAGE_MAX_PIXELS (a positive integer, e.g. `40000000` or `40e6`), else 40e6. */
export function envMaxPixels(): number {
  const raw = process.env.VISAGE_MAX_PIXELS;
  if (raw === undefined || raw.trim() === '') return DEFAULT_MAX_PIXELS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new VisageError('E_BAD_OPTION', `VISAGE_MAX_PIXELS must be a positive integer, got "${raw}"`);
  }
  return n;
}

const ascii = (buf: Uint8Array, start: number, s: string): boolean => {
  if (buf.length < start + s.length) return false;
  for (let i = 0; i < s.length; i++) if (buf[start + i] !== s.charCodeAt(i)) return false;
  return true;
};
const bytes = (buf: Uint8Array, start: number, b: number[]): boolean =>
  buf.length >= start + b.length && b.every((v, i) => buf[start + i] === v);

/** Identifies an image from its first bytes (4 KiB is plenty). Undefined: not an image we know of. */
export function sniffFormat(buf: Uint8Array): SniffResult | undefined {
  const yes = (format: ImageFormat): SniffResult => ({ format, supported: true });
  const no = (format: UnsupportedFormat): SniffResult => ({ format, supported: false });
  if (bytes(buf, 0, [0xff, 0xd8, 0xff])) return yes('jpeg');
  if (bytes(buf, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return yes('png');
  if (ascii(buf, 0, 'RIFF') && ascii(buf, 8, 'WEBP')) return yes('webp');
  if (ascii(buf, 0, 'GIF87a') || ascii(buf, 0, 'GIF89a')) return yes('gif');
  if (bytes(buf, 0, [0x49, 0x49, 0x2a, 0x00]) || bytes(buf, 0, [0x4d, 0x4d, 0x00, 0x2a])) return yes('tiff');
  if (bytes(buf, 0, [0x49, 0x49, 0x2b, 0x00]) || bytes(buf, 0, [0x4d, 0x4d, 0x00, 0x2b])) return yes('tiff');
  if (ascii(buf, 4, 'ftyp')) {
    // ISO-BMFF: the major brand says AVIF or HEIC; "mif1"/"msf1" are generic, sharp's metadata decides later.
    const brand = String.fromCharCode(...buf.subarray(8, 12));
    if (brand === 'avif' || brand === 'avis') return yes('avif');
    if (['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1'].includes(brand)) return yes('avif');
    if (brand === 'jp2 ' || brand === 'jpx ') return no('jpeg2000');
    return undefined;
  }
  if (isPnm(buf)) return yes('pnm');
  if (buf.length >= 3 && buf[0] === 0x50 && buf[1] === 0x37 && buf[2] === 0x0a) return no('pam');
  if (buf.length >= 3 && buf[0] === 0x50 && (buf[1] === 0x46 || buf[1] === 0x66) && buf[2] === 0x0a)
    return no('pfm');
  if (
    ascii(buf, 0, 'BM') &&
    buf.length >= 26 &&
    buf[6] === 0 &&
    buf[7] === 0 &&
    buf[8] === 0 &&
    buf[9] === 0
  ) {
    return no('bmp');
  }
  if (bytes(buf, 0, [0, 0, 1, 0]) && buf.length >= 6 && buf[4] + buf[5] > 0) return no('ico');
  if (ascii(buf, 0, '8BPS')) return no('psd');
  if (
    bytes(buf, 0, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]) ||
    bytes(buf, 0, [0xff, 0x4f, 0xff, 0x51])
  ) {
    return no('jpeg2000');
  }
  if (bytes(buf, 0, [0xff, 0x0a]) || bytes(buf, 0, [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20]))
    return no('jpegxl');
  if (ascii(buf, 0, '%PDF-')) return no('pdf');
  if (bytes(buf, 0, [0x76, 0x2f, 0x31, 0x01])) return no('exr');
  if (ascii(buf, 0, '#?RADIANCE') || ascii(buf, 0, '#?RGBE')) return no('hdr');
  // SVG is text: look for an <svg element near the start.
  const head = Buffer.from(buf.subarray(0, 4096)).toString('latin1').trimStart();
  if (
    (head.startsWith('<?xml') || head.startsWith('<svg') || head.startsWith('<!DOCTYPE svg')) &&
    /<svg[\s>]/.test(head)
  ) {
    return no('svg');
  }
  return undefined;
}

type Details = Record<string, unknown>;

/** Reads `input` (a path or the bytes themselves), mapping file-system failures to stable codes. */
async function readInput(
  input: string | Uint8Array,
): Promise<{ buf: Buffer; details: Details; where: string }> {
  if (typeof input !== 'string') {
    const buf = Buffer.isBuffer(input)
      ? input
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    const details = { source: 'buffer', bytes: buf.length };
    if (buf.length === 0) throw new VisageError('E_EMPTY_FILE', 'image buffer is empty', details);
    return { buf, details, where: 'image buffer' };
  }
  const details: Details = { path: input };
  const where = `"${input}"`;
  // Only regular files under the byte limit: /dev/zero would grow memory forever and a FIFO would hang.
  try {
    statInputFile(input, 'image');
  } catch (e) {
    if ((e as VisageError).code === 'E_NOT_A_FILE' && isDirectory(input))
      throw new VisageError('E_NOT_AN_IMAGE', `${where} is a directory, not an image`, details);
    throw e;
  }
  let buf: Buffer;
  try {
    buf = await fs.readFile(input);
  } catch (e) {
    throw new VisageError(
      'E_BAD_INPUT',
      `cannot read ${where}: ${(e as Error).message}`,
      { ...details, errno: (e as NodeJS.ErrnoException).code },
      { cause: e },
    );
  }
  if (buf.length === 0) throw new VisageError('E_EMPTY_FILE', `${where} is empty (0 bytes)`, details);
  return { buf, details: { ...details, bytes: buf.length }, where };
}

function resolveMaxPixels(opts: DecodeOptions): number {
  const m = opts.maxPixels ?? envMaxPixels();
  if (!(m >= 1)) throw new VisageError('E_BAD_OPTION', `maxPixels must be ≥ 1, got ${m}`);
  return m;
}

const tooLarge = (
  width: number,
  height: number,
  maxPixels: number,
  where: string,
  details: Details,
): VisageError =>
  new VisageError(
    'E_IMAGE_TOO_LARGE',
    `${where} is ${width}×${height} = ${width * height} pixels, over the limit of ${maxPixels} (VISAGE_MAX_PIXELS)`,
    { ...details, width, height, pixels: width * height, maxPixels },
  );

/**
 * Decodes an image file (path) or its bytes to 8-bit RGB. Errors are VisageErrors with stable codes:
 * E_FILE_NOT_FOUND, E_EMPTY_FILE, E_NOT_AN_IMAGE, E_TRUNCATED_IMAGE, E_IMAGE_TOO_LARGE, E_UNSUPPORTED_FORMAT;
 * `details.path` names the file.
 */
export async function decodeImage(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const maxPixels = resolveMaxPixels(opts);
  const { buf, details, where } = await readInput(input);
  const sniffed = sniffFormat(buf);
  if (!sniffed) {
    throw new VisageError('E_NOT_AN_IMAGE', `${where} is not an image (${describeContent(buf)})`, details);
  }
  if (!sniffed.supported) {
    throw new VisageError(
      'E_UNSUPPORTED_FORMAT',
      `${where} is ${sniffed.format.toUpperCase()}, which is not supported (use JPEG, PNG, WebP, GIF, TIFF, AVIF or PGM/PPM)`,
      { ...details, format: sniffed.format },
    );
  }
  const d = { ...details, format: sniffed.format };
  if (sniffed.format === 'pnm') {
    try {
      return decodePnm(buf, maxPixels, d);
    } catch (e) {
      // Same code and details; the message gains the file name.
      if (e instanceof VisageError) throw new VisageError(e.code, `${where}: ${e.message}`, e.details);
      throw e;
    }
  }
  return decodeWithSharp(buf, sniffed.format, maxPixels, where, d);
}

async function decodeWithSharp(
  buf: Buffer,
  format: ImageFormat,
  maxPixels: number,
  where: string,
  details: Details,
): Promise<RgbImage> {
  // 'error' rather than the default 'warning': refuse truncated/corrupt data but accept the benign libjpeg
  // warnings ("extraneous bytes before marker") that many camera files trigger.
  const failOn = 'error' as const;
  let meta: Metadata;
  try {
    meta = await sharp(buf, { failOn, limitInputPixels: false }).metadata();
  } catch (e) {
    throw sharpError(e, buf, format, where, details);
  }
  if (meta.format === 'heif' && meta.compression !== 'av1') {
    throw new VisageError(
      'E_UNSUPPORTED_FORMAT',
      `${where} is HEIC (HEVC-coded HEIF), which is not supported`,
      {
        ...details,
        format: 'heic',
      },
    );
  }
  const width = meta.width;
  const height = meta.pageHeight ?? meta.height;
  if (!(width > 0 && height > 0))
    throw new VisageError('E_NOT_AN_IMAGE', `${where} has no image size`, details);
  if (width * height > maxPixels) throw tooLarge(width, height, maxPixels, where, details);

  try {
    let p = sharp(buf, {
      failOn,
      // Second line of defence, enforced by libvips itself.
      limitInputPixels: Number.isFinite(maxPixels) ? Math.floor(maxPixels) : false,
      autoOrient: true,
      pages: 1,
      page: 0,
    });
    if (meta.hasAlpha) p = p.flatten({ background: { r: 255, g: 255, b: 255 } });
    const { data, info } = await p
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new VisageError('E_INTERNAL', `sharp returned ${info.channels} channels for ${where}`, details);
    }
    // A plain Uint8Array view (Buffer#slice shares memory, Uint8Array#slice copies: keep the usual semantics).
    return {
      width: info.width,
      height: info.height,
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    };
  } catch (e) {
    if (e instanceof VisageError) throw e;
    throw sharpError(e, buf, format, where, details);
  }
}

/** Maps a libvips failure on data whose magic bytes looked right to a stable code. */
function sharpError(
  e: unknown,
  buf: Buffer,
  format: ImageFormat,
  where: string,
  details: Details,
): VisageError {
  const msg = (e as Error).message ?? String(e);
  const d = { ...details, reason: msg.split('\n')[0] };
  if (/exceeds pixel limit/i.test(msg)) {
    return new VisageError('E_IMAGE_TOO_LARGE', `${where} is over the pixel limit`, d, { cause: e });
  }
  if (
    /premature end|unexpected end|truncat|end of (file|data|stream)|out of data|not enough data|short read|bad seek/i.test(
      msg,
    ) ||
    looksTruncated(buf, format)
  ) {
    return new VisageError('E_TRUNCATED_IMAGE', `${where} is a truncated ${format.toUpperCase()} file`, d, {
      cause: e,
    });
  }
  return new VisageError(
    'E_NOT_AN_IMAGE',
    `${where} looks like ${format.toUpperCase()} but cannot be decoded (corrupt)`,
    d,
    {
      cause: e,
    },
  );
}

/** Structural hints that a file was cut short, for decoders whose messages do not say so. */
function looksTruncated(buf: Buffer, format: ImageFormat): boolean {
  switch (format) {
    case 'png':
      return buf.lastIndexOf('IEND', undefined, 'latin1') < 0;
    case 'jpeg':
      return buf.lastIndexOf(Buffer.from([0xff, 0xd9])) < 0;
    case 'gif':
      return buf[buf.length - 1] !== 0x3b;
    case 'webp':
      return buf.length >= 8 && buf.readUInt32LE(4) + 8 > buf.length;
    case 'tiff': {
      if (buf.length < 8) return true;
      const le = buf[0] === 0x49;
      const ifd = le ? buf.readUInt32LE(4) : buf.readUInt32BE(4);
      return ifd >= buf.length;
    }
    default:
      return false;
  }
}

/** A short description of unrecognised content for the error message. */
function describeContent(buf: Buffer): string {
  const head = buf.subarray(0, 512);
  let printable = 0;
  for (const b of head)
    if ((b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d || b >= 0x80) printable++;
  return printable === head.length ? 'it looks like text' : 'unrecognised binary data';
}

function isDirectory(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}
