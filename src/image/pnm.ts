/**
 * Netpbm (PBM/PGM/PPM) reader and writer. sharp's prebuilt libvips has no PPM loader, and research face
 * sets (AT&T/ORL, parts of Yale) ship as binary PGM, so we parse it ourselves: P1/P4 bitmap, P2/P5 grey,
 * P3/P6 colour, maxval 1..65535 (16-bit samples are big-endian per the spec). Samples are rescaled to 0..255.
 */
import { VisageError } from '../errors.js';
import { toGrey, type RgbImage } from './rgb.js';

export type PnmKind = 'P1' | 'P2' | 'P3' | 'P4' | 'P5' | 'P6';

export interface PnmHeader {
  kind: PnmKind;
  width: number;
  height: number;
  /** 1 for bitmaps. */
  maxval: number;
  /** Channels in the file: 1 (P1, P2, P4, P5) or 3 (P3, P6). */
  channels: 1 | 3;
  /** Byte offset where the raster starts. */
  dataOffset: number;
}

const isSpace = (b: number): boolean =>
  b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0b || b === 0x0c;

/** True when the bytes start with a P1–P6 magic followed by whitespace (or a comment). */
export function isPnm(buf: Uint8Array): boolean {
  return (
    buf.length >= 3 &&
    buf[0] === 0x50 &&
    buf[1] >= 0x31 &&
    buf[1] <= 0x36 &&
    (isSpace(buf[2]) || buf[2] === 0x23)
  );
}

/** Reads whitespace/comment-separated unsigned decimal tokens, as the header and the ASCII variants need. */
class TokenReader {
  pos: number;
  constructor(
    private readonly buf: Uint8Array,
    start: number,
  ) {
    this.pos = start;
  }

  /** The next integer, or undefined at end of data. Throws on a non-digit token. */
  next(what: string, details: Record<string, unknown>): number | undefined {
    const b = this.buf;
    for (;;) {
      while (this.pos < b.length && isSpace(b[this.pos])) this.pos++;
      if (this.pos < b.length && b[this.pos] === 0x23) {
        while (this.pos < b.length && b[this.pos] !== 0x0a && b[this.pos] !== 0x0d) this.pos++;
        continue;
      }
      break;
    }
    if (this.pos >= b.length) return undefined;
    let v = 0;
    let digits = 0;
    while (this.pos < b.length && b[this.pos] >= 0x30 && b[this.pos] <= 0x39) {
      v = v * 10 + (b[this.pos] - 0x30);
      this.pos++;
      digits++;
      if (v > 0x7fffffff) throw notImage(`${what} is out of range`, details);
    }
    if (digits === 0) throw notImage(`expected a number for ${what}`, details);
    return v;
  }

  /** One digit of a P1 raster, where "0101" without spaces is legal. */
  nextBit(): number | undefined {
    const b = this.buf;
    for (;;) {
      while (this.pos < b.length && isSpace(b[this.pos])) this.pos++;
      if (this.pos < b.length && b[this.pos] === 0x23) {
        while (this.pos < b.length && b[this.pos] !== 0x0a && b[this.pos] !== 0x0d) this.pos++;
        continue;
      }
      break;
    }
    if (this.pos >= b.length) return undefined;
    const c = b[this.pos++];
    if (c === 0x30) return 0;
    if (c === 0x31) return 1;
    return -1;
  }
}

const notImage = (why: string, details: Record<string, unknown>): VisageError =>
  new VisageError('E_NOT_AN_IMAGE', `not a valid PNM image: ${why}`, details);
const truncated = (why: string, details: Record<string, unknown>): VisageError =>
  new VisageError('E_TRUNCATED_IMAGE', `truncated PNM image: ${why}`, details);

/** Parses the header only (cheap: lets the caller check the pixel count before touching the raster). */
export function parsePnmHeader(buf: Uint8Array, details: Record<string, unknown> = {}): PnmHeader {
  if (!isPnm(buf)) throw notImage('missing P1–P6 magic', details);
  const kind = `P${String.fromCharCode(buf[1])}` as PnmKind;
  const bitmap = kind === 'P1' || kind === 'P4';
  const r = new TokenReader(buf, 2);
  const width = r.next('width', details);
  const height = r.next('height', details);
  const maxval = bitmap ? 1 : r.next('maxval', details);
  if (width === undefined || height === undefined || maxval === undefined)
    throw truncated('header ends early', details);
  if (width < 1 || height < 1) throw notImage(`bad size ${width}×${height}`, { ...details, width, height });
  if (maxval < 1 || maxval > 65535) throw notImage(`maxval ${maxval} outside 1..65535`, details);
  // Exactly one whitespace byte separates the header from a binary raster.
  if (r.pos >= buf.length) {
    if (width * height > 0) throw truncated('no pixel data', details);
  } else if (!isSpace(buf[r.pos])) {
    throw notImage('header not followed by whitespace', details);
  }
  const channels = kind === 'P3' || kind === 'P6' ? 3 : 1;
  return { kind, width, height, maxval, channels, dataOffset: r.pos + 1 };
}

/**
 * Decodes a PNM image to 8-bit RGB. `maxPixels` is checked against the header before any raster memory is
 * allocated. Samples above maxval are refused (corrupt file) rather than clamped.
 */
export function decodePnm(
  buf: Uint8Array,
  maxPixels: number,
  details: Record<string, unknown> = {},
): RgbImage {
  const h = parsePnmHeader(buf, details);
  const { width, height, maxval, channels, kind } = h;
  const info = { ...details, format: 'pnm', kind, width, height, maxval };
  const pixels = width * height;
  if (pixels > maxPixels) {
    throw new VisageError(
      'E_IMAGE_TOO_LARGE',
      `image is ${width}×${height} = ${pixels} pixels, over the limit of ${maxPixels}`,
      { ...info, pixels, maxPixels },
    );
  }
  const n = pixels * channels;
  const samples = new Uint16Array(n);

  if (kind === 'P4') {
    const rowBytes = Math.ceil(width / 8);
    const need = rowBytes * height;
    const have = buf.length - h.dataOffset;
    if (have < need) throw truncated(`raster has ${have} of ${need} bytes`, info);
    for (let y = 0; y < height; y++) {
      const row = h.dataOffset + y * rowBytes;
      for (let x = 0; x < width; x++) samples[y * width + x] = (buf[row + (x >> 3)] >> (7 - (x & 7))) & 1;
    }
  } else if (kind === 'P5' || kind === 'P6') {
    const bps = maxval > 255 ? 2 : 1;
    const need = n * bps;
    const have = buf.length - h.dataOffset;
    if (have < need) throw truncated(`raster has ${have} of ${need} bytes`, info);
    const o = h.dataOffset;
    if (bps === 1) samples.set(buf.subarray(o, o + n));
    else for (let i = 0; i < n; i++) samples[i] = (buf[o + 2 * i] << 8) | buf[o + 2 * i + 1];
  } else {
    const r = new TokenReader(buf, h.dataOffset - 1);
    for (let i = 0; i < n; i++) {
      const v = kind === 'P1' ? r.nextBit() : r.next('sample', info);
      if (v === undefined) throw truncated(`raster has ${i} of ${n} samples`, info);
      if (v < 0) throw notImage('P1 raster may only hold 0 and 1', info);
      samples[i] = v;
    }
  }

  const data = new Uint8Array(pixels * 3);
  if (kind === 'P1' || kind === 'P4') {
    // In PBM 1 is black.
    for (let i = 0; i < pixels; i++) data.fill(samples[i] ? 0 : 255, i * 3, i * 3 + 3);
    return { width, height, data };
  }
  const lut = new Uint8Array(maxval + 1);
  for (let v = 0; v <= maxval; v++) lut[v] = Math.round((v * 255) / maxval);
  for (let i = 0; i < n; i++) {
    if (samples[i] > maxval) throw notImage(`sample ${samples[i]} exceeds maxval ${maxval}`, info);
  }
  if (channels === 3) {
    for (let i = 0; i < n; i++) data[i] = lut[samples[i]];
  } else {
    for (let i = 0, j = 0; i < pixels; i++, j += 3) {
      const v = lut[samples[i]];
      data[j] = v;
      data[j + 1] = v;
      data[j + 2] = v;
    }
  }
  return { width, height, data };
}

/** Binary PGM (P5, luma of the RGB image) or PPM (P6), 8-bit. */
export function encodePnm(img: RgbImage, kind: 'P5' | 'P6'): Buffer {
  const header = Buffer.from(`${kind}\n${img.width} ${img.height}\n255\n`, 'latin1');
  if (kind === 'P6') return Buffer.concat([header, img.data.subarray(0, img.width * img.height * 3)]);
  return Buffer.concat([header, toGrey(img).data]);
}
