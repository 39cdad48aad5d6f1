import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { VisageError } from '../../src/errors.js';
import { decodeImage, sniffFormat, type RgbImage } from '../../src/image/index.js';
import { dataDir } from '../helpers/data.js';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-decode-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const W = 48;
const H = 32;
/** A smooth RGB test pattern (smooth so lossy codecs stay close). */
function pattern(w = W, h = H): Buffer {
  const buf = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      buf[o] = Math.round((x / (w - 1)) * 255);
      buf[o + 1] = Math.round((y / (h - 1)) * 255);
      buf[o + 2] = 128;
    }
  }
  return buf;
}
const rawInput = (buf: Buffer, w = W, h = H, channels: 1 | 2 | 3 | 4 = 3) =>
  sharp(buf, { raw: { width: w, height: h, channels } });

function save(name: string, bytes: Uint8Array): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, bytes);
  return p;
}
function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}
const px = (img: RgbImage, x: number, y: number): number[] =>
  Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

async function rejects(p: Promise<unknown>, code: string): Promise<VisageError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof VisageError, `expected a VisageError, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    return e;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

describe('decodeImage: formats', () => {
  const src = pattern();

  it('PNG and lossless WebP decode exactly', async () => {
    for (const [name, bytes] of [
      ['a.png', await rawInput(src).png().toBuffer()],
      ['a.webp', await rawInput(src).webp({ lossless: true }).toBuffer()],
    ] as const) {
      const img = await decodeImage(save(name, bytes));
      assert.equal(img.width, W);
      assert.equal(img.height, H);
      assert.deepEqual(Buffer.from(img.data), src, name);
    }
  });

  it('JPEG, TIFF and AVIF decode close to the source', async () => {
    const cases = [
      ['a.jpg', await rawInput(src).jpeg({ quality: 95 }).toBuffer(), 3],
      ['a.tiff', await rawInput(src).tiff().toBuffer(), 3],
      ['a.avif', await rawInput(src).avif({ quality: 90 }).toBuffer(), 4],
    ] as const;
    for (const [name, bytes, tol] of cases) {
      const img = await decodeImage(save(name, bytes));
      assert.equal(img.width, W, name);
      assert.equal(img.height, H, name);
      assert.ok(meanAbsDiff(img.data, src) < tol, `${name}: mean abs diff ${meanAbsDiff(img.data, src)}`);
    }
  });

  it('reads only the first frame of an animated GIF', async () => {
    const frames = Buffer.alloc(W * H * 2 * 3);
    for (let i = 0; i < W * H; i++) frames.set([255, 0, 0], i * 3); // frame 1 red
    for (let i = W * H; i < 2 * W * H; i++) frames.set([0, 0, 255], i * 3); // frame 2 blue
    const gif = await sharp(frames, { raw: { width: W, height: 2 * H, channels: 3, pageHeight: H } })
      .gif()
      .toBuffer();
    assert.equal((await sharp(gif).metadata()).pages, 2);
    const img = await decodeImage(save('anim.gif', gif));
    assert.equal(img.width, W);
    assert.equal(img.height, H);
    for (const [x, y] of [
      [0, 0],
      [W - 1, H - 1],
      [20, 10],
    ]) {
      assert.deepEqual(px(img, x, y), [255, 0, 0]);
    }
  });

  it('chooses the decoder from the magic bytes, not the extension', async () => {
    const png = await rawInput(src).png().toBuffer();
    const img = await decodeImage(save('really-a-png.jpg', png));
    assert.deepEqual(Buffer.from(img.data), src);
    const fromBuffer = await decodeImage(png);
    assert.deepEqual(Buffer.from(fromBuffer.data), src);
    const fromView = await decodeImage(new Uint8Array(png.buffer, png.byteOffset, png.length));
    assert.deepEqual(fromView, fromBuffer);
  });

  it('applies EXIF orientation 6 (rotate 90° clockwise)', async () => {
    // Quadrants: TL red, TR blue, BL green, BR white. Rotating 90° CW puts BL top-left, TL top-right.
    const w = 64;
    const h = 32;
    const q = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const c =
          y < h / 2 ? (x < w / 2 ? [255, 0, 0] : [0, 0, 255]) : x < w / 2 ? [0, 255, 0] : [255, 255, 255];
        q.set(c, (y * w + x) * 3);
      }
    }
    const jpg = await rawInput(q, w, h).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    assert.equal((await sharp(jpg).metadata()).orientation, 6);
    const img = await decodeImage(save('orient6.jpg', jpg));
    assert.equal(img.width, h);
    assert.equal(img.height, w);
    const near = (got: number[], want: number[]) =>
      assert.ok(
        got.every((v, i) => Math.abs(v - want[i]) < 20),
        `${got} vs ${want}`,
      );
    near(px(img, 8, 16), [0, 255, 0]); // top-left: was bottom-left
    near(px(img, 24, 16), [255, 0, 0]); // top-right: was top-left
    near(px(img, 8, 48), [255, 255, 255]); // bottom-left: was bottom-right
    near(px(img, 24, 48), [0, 0, 255]); // bottom-right: was top-right
  });

  it('converts greyscale, grey+alpha, RGBA (onto white), CMYK and 16-bit to 8-bit RGB', async () => {
    const w = 4;
    const h = 2;
    const grey = Buffer.from([0, 50, 100, 150, 200, 250, 255, 7]);
    const gPng = await rawInput(grey, w, h, 1).toColourspace('b-w').png().toBuffer();
    assert.equal((await sharp(gPng).metadata()).channels, 1);
    const g = await decodeImage(gPng);
    assert.deepEqual(
      Array.from(g.data),
      Array.from(grey).flatMap((v) => [v, v, v]),
    );

    // Grey+alpha: alpha 0 → white, 255 → the grey, 128 → halfway to white.
    const ga = Buffer.from([100, 0, 100, 255, 100, 128, 0, 255, 0, 0, 255, 255, 50, 255, 60, 255]);
    const gaImg = await decodeImage(await rawInput(ga, w, h, 2).png().toBuffer());
    assert.deepEqual(px(gaImg, 0, 0), [255, 255, 255]);
    assert.deepEqual(px(gaImg, 1, 0), [100, 100, 100]);
    assert.ok(Math.abs(px(gaImg, 2, 0)[0] - (100 * 128 + 255 * 127) / 255) <= 1.5, `${px(gaImg, 2, 0)}`);
    assert.deepEqual(px(gaImg, 3, 0), [0, 0, 0]);

    const rgba = Buffer.alloc(w * h * 4);
    for (let i = 0; i < w * h; i++) rgba.set([200, 10, 30, i === 0 ? 0 : 255], i * 4);
    const rgbaPng = await rawInput(rgba, w, h, 4).png().toBuffer();
    assert.equal((await sharp(rgbaPng).metadata()).hasAlpha, true);
    const rgbaImg = await decodeImage(rgbaPng);
    assert.equal(rgbaImg.data.length, w * h * 3);
    assert.deepEqual(px(rgbaImg, 0, 0), [255, 255, 255]);
    assert.deepEqual(px(rgbaImg, 1, 0), [200, 10, 30]);

    const solid = Buffer.alloc(16 * 16 * 3);
    for (let i = 0; i < 256; i++) solid.set([180, 60, 60], i * 3);
    const cmyk = await rawInput(solid, 16, 16).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    const cm = await sharp(cmyk).metadata();
    assert.equal(cm.space, 'cmyk');
    assert.equal(cm.channels, 4);
    const c = await decodeImage(cmyk);
    const [r, gg, b] = px(c, 8, 8);
    assert.ok(
      Math.abs(r - 180) < 25 && Math.abs(gg - 60) < 25 && Math.abs(b - 60) < 25,
      `CMYK → ${[r, gg, b]}`,
    );

    const v16 = new Uint16Array(
      [0, 1000, 30000, 65535, 257 * 100, 257 * 200, 40000, 12345].flatMap((v) => [v, v, v]),
    );
    const png16 = await sharp(v16, { raw: { width: w, height: h, channels: 3 } })
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    assert.equal((await sharp(png16).metadata()).depth, 'ushort');
    const i16 = await decodeImage(png16);
    for (let i = 0; i < w * h; i++) {
      assert.ok(
        Math.abs(i16.data[i * 3] - v16[i * 3] / 257) <= 1,
        `16-bit ${v16[i * 3]} → ${i16.data[i * 3]}`,
      );
    }
  });

  it('decodes PGM P5/P2, PPM P6/P3 and 16-bit PGM by its own parser', async () => {
    const p5 = Buffer.concat([Buffer.from('P5\n3 2\n255\n'), Buffer.from([0, 10, 20, 30, 40, 255])]);
    const p2 = Buffer.from('P2\n# comment\n3 2\n255\n0 10 20\n30 40 255\n');
    for (const [name, bytes] of [
      ['a.pgm', p5],
      ['b.pgm', p2],
    ] as const) {
      const img = await decodeImage(save(name, bytes));
      assert.deepEqual(
        Array.from(img.data),
        [0, 10, 20, 30, 40, 255].flatMap((v) => [v, v, v]),
        name,
      );
    }
    const rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255, 1, 2, 3];
    const p6 = Buffer.concat([Buffer.from('P6 2 2 255\n'), Buffer.from(rgb)]);
    const p3 = Buffer.from(`P3\n2 2\n255\n${rgb.join(' ')}\n`);
    for (const [name, bytes] of [
      ['a.ppm', p6],
      ['b.ppm', p3],
    ] as const) {
      assert.deepEqual(Array.from((await decodeImage(save(name, bytes))).data), rgb, name);
    }
    const p16 = Buffer.concat([Buffer.from('P5\n2 1\n65535\n'), Buffer.from([0xff, 0xff, 0x80, 0x00])]);
    assert.deepEqual(
      Array.from((await decodeImage(save('c16.pgm', p16))).data),
      [255, 255, 255, 128, 128, 128],
    );
  });
});

describe('decodeImage: shared research data', () => {
  it('decodes ORL s1/1.pgm (92×112 P5) byte-exactly', async () => {
    const file = dataDir('faces', 'att_orl', 's1', '1.pgm');
    const img = await decodeImage(file);
    assert.equal(img.width, 92);
    assert.equal(img.height, 112);
    const bytes = fs.readFileSync(file);
    const raster = bytes.subarray(bytes.length - 92 * 112);
    for (let i = 0; i < 92 * 112; i += 37) {
      assert.equal(img.data[i * 3], raster[i]);
      assert.equal(img.data[i * 3 + 2], raster[i]);
    }
  });

  it('decodes a Yale faces GIF to grey RGB', async () => {
    const dir = dataDir('faces', 'yalefaces', 'subject01');
    const file = path.join(
      dir,
      fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.gif'))
        .sort()[0],
    );
    const img = await decodeImage(file);
    assert.equal(img.width, 320);
    assert.equal(img.height, 243);
    let lo = 255;
    let hi = 0;
    for (let i = 0; i < img.data.length; i += 3) {
      assert.ok(img.data[i] === img.data[i + 1] && img.data[i] === img.data[i + 2]);
      lo = Math.min(lo, img.data[i]);
      hi = Math.max(hi, img.data[i]);
    }
    assert.ok(hi - lo > 100, `a face photo has contrast (range ${lo}..${hi})`);
  });
});

describe('decodeImage: bad input', () => {
  it('missing file → E_FILE_NOT_FOUND with the path', async () => {
    const p = path.join(tmp, 'nope.png');
    const e = await rejects(decodeImage(p), 'E_FILE_NOT_FOUND');
    assert.equal(e.details?.path, p);
  });

  it('empty file or buffer → E_EMPTY_FILE', async () => {
    const e = await rejects(decodeImage(save('empty.jpg', Buffer.alloc(0))), 'E_EMPTY_FILE');
    assert.match(String(e.details?.path), /empty\.jpg$/);
    await rejects(decodeImage(Buffer.alloc(0)), 'E_EMPTY_FILE');
  });

  it('random bytes, text and a directory → E_NOT_AN_IMAGE', async () => {
    let seed = 12345;
    const noise = Buffer.alloc(4096);
    for (let i = 0; i < noise.length; i++) noise[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    const e = await rejects(decodeImage(save('noise.png', noise)), 'E_NOT_AN_IMAGE');
    assert.match(String(e.details?.path), /noise\.png$/);
    const t = await rejects(
      decodeImage(save('notes.jpg', Buffer.from('these are not the pixels you are looking for\n'))),
      'E_NOT_AN_IMAGE',
    );
    assert.match(t.message, /text/);
    await rejects(decodeImage(tmp), 'E_NOT_AN_IMAGE');
  });

  it('truncated JPEG, PNG and PGM → E_TRUNCATED_IMAGE', async () => {
    let seed = 7;
    const noisy = Buffer.alloc(96 * 64 * 3);
    for (let i = 0; i < noisy.length; i++) noisy[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    const jpg = await rawInput(noisy, 96, 64).jpeg().toBuffer();
    const png = await rawInput(noisy, 96, 64).png().toBuffer();
    for (const [name, bytes] of [
      ['cut.jpg', jpg],
      ['cut.png', png],
    ] as const) {
      const p = save(name, bytes.subarray(0, bytes.length >> 1));
      const e = await rejects(decodeImage(p), 'E_TRUNCATED_IMAGE');
      assert.equal(e.details?.path, p);
    }
    const pgm = Buffer.concat([Buffer.from('P5\n92 112\n255\n'), Buffer.alloc(92 * 50, 128)]);
    await rejects(decodeImage(save('cut.pgm', pgm)), 'E_TRUNCATED_IMAGE');
  });

  it('tells corrupt data (E_NOT_AN_IMAGE) from truncation, and tolerates benign JPEG warnings', async () => {
    const png = await rawInput(pattern()).png().toBuffer();
    const corrupt = Buffer.from(png);
    for (let i = 100; i < 140; i++) corrupt[i] ^= 0x55; // inside IDAT; IEND still present
    const e = await rejects(decodeImage(corrupt), 'E_NOT_AN_IMAGE');
    assert.match(e.message, /corrupt/);
    // "Corrupt JPEG data: 2 extraneous bytes before marker 0xd9" is a libjpeg warning, not an error.
    const jpg = await rawInput(pattern()).jpeg().toBuffer();
    const junk = Buffer.concat([
      jpg.subarray(0, jpg.length - 2),
      Buffer.from([0x12, 0x34]),
      jpg.subarray(jpg.length - 2),
    ]);
    assert.equal((await decodeImage(junk)).width, W);
  });

  it('recognised but unsupported formats → E_UNSUPPORTED_FORMAT', async () => {
    const bmp = Buffer.alloc(58);
    bmp.write('BM', 0, 'latin1');
    bmp.writeUInt32LE(58, 2);
    bmp.writeUInt32LE(54, 10);
    bmp.writeUInt32LE(40, 14);
    bmp.writeInt32LE(1, 18);
    bmp.writeInt32LE(1, 22);
    const e = await rejects(decodeImage(save('a.bmp', bmp)), 'E_UNSUPPORTED_FORMAT');
    assert.equal(e.details?.format, 'bmp');
    const svg = '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>';
    await rejects(decodeImage(save('a.svg', Buffer.from(svg))), 'E_UNSUPPORTED_FORMAT');
    assert.deepEqual(sniffFormat(Buffer.from('%PDF-1.7\n')), { format: 'pdf', supported: false });
  });

  it('more pixels than the limit → E_IMAGE_TOO_LARGE (option and VISAGE_MAX_PIXELS)', async () => {
    const png = save('small.png', await rawInput(pattern()).png().toBuffer());
    const e = await rejects(decodeImage(png, { maxPixels: W * H - 1 }), 'E_IMAGE_TOO_LARGE');
    assert.equal(e.details?.width, W);
    assert.equal(e.details?.path, png);
    assert.equal((await decodeImage(png, { maxPixels: W * H })).width, W);
    const pgm = save('small.pgm', Buffer.concat([Buffer.from('P5\n92 112\n255\n'), Buffer.alloc(92 * 112)]));
    await rejects(decodeImage(pgm, { maxPixels: 10_000 }), 'E_IMAGE_TOO_LARGE');

    const saved = process.env.VISAGE_MAX_PIXELS;
    try {
      process.env.VISAGE_MAX_PIXELS = '1000';
      await rejects(decodeImage(png), 'E_IMAGE_TOO_LARGE');
      process.env.VISAGE_MAX_PIXELS = 'lots';
      await rejects(decodeImage(png), 'E_BAD_OPTION');
    } finally {
      if (saved === undefined) delete process.env.VISAGE_MAX_PIXELS;
      else process.env.VISAGE_MAX_PIXELS = saved;
    }
  });

  it('refuses a 50-megapixel PNG from its header, without decoding the pixels', async () => {
    const bomb = await sharp({ create: { width: 10_000, height: 5_000, channels: 3, background: '#0a0' } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    assert.ok(bomb.length < 1_000_000, `a solid 50 MP PNG is small on disk (${bomb.length} bytes)`);
    const e = await rejects(decodeImage(save('bomb.png', bomb)), 'E_IMAGE_TOO_LARGE');
    assert.deepEqual([e.details?.width, e.details?.height, e.details?.pixels], [10_000, 5_000, 50_000_000]);
    // Proof that the pixel data is never read: cut the compressed data short. Decoding would notice
    // (E_TRUNCATED_IMAGE once the limit allows it); under the limit the header check answers first.
    const cut = save('bomb-cut.png', bomb.subarray(0, Math.floor(bomb.length * 0.6)));
    await rejects(decodeImage(cut), 'E_IMAGE_TOO_LARGE');
    await rejects(decodeImage(cut, { maxPixels: 60_000_000 }), 'E_TRUNCATED_IMAGE');
  });
});
