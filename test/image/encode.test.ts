import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { VisageError } from '../../src/errors.js';
import {
  decodeImage,
  encodeJpeg,
  encodePng,
  sniffFormat,
  toGrey,
  writeImage,
  type RgbImage,
} from '../../src/image/index.js';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-encode-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const W = 40;
const H = 30;
const img: RgbImage = { width: W, height: H, data: new Uint8Array(W * H * 3) };
for (let y = 0; y < H; y++) {
  for (let x = 0; x < W; x++) img.data.set([x * 6, y * 8, 255 - x * 3], (y * W + x) * 3);
}
const meanAbsDiff = (a: Uint8Array, b: Uint8Array): number =>
  a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;

describe('encode / writeImage', () => {
  it('PNG round-trips exactly', async () => {
    const png = await encodePng(img);
    assert.deepEqual(sniffFormat(png), { format: 'png', supported: true });
    assert.deepEqual(await decodeImage(png), img);
  });

  it('JPEG is close, and smaller at lower quality', async () => {
    const hi = await encodeJpeg(img, 95);
    const lo = await encodeJpeg(img, 20);
    assert.ok(lo.length < hi.length);
    assert.ok(meanAbsDiff((await decodeImage(hi)).data, img.data) < 3);
    await assert.rejects(encodeJpeg(img, 0), (e) => e instanceof VisageError && e.code === 'E_BAD_OPTION');
  });

  it('writeImage picks the format from the extension and creates folders', async () => {
    const cases = [
      ['a.png', 'png', 0],
      ['sub/dir/b.jpg', 'jpeg', 3],
      ['c.JPEG', 'jpeg', 3],
      ['d.webp', 'webp', 0],
      ['e.ppm', 'pnm', 0],
    ] as const;
    for (const [name, format, tol] of cases) {
      const file = path.join(tmp, name);
      await writeImage(file, img);
      assert.equal(sniffFormat(fs.readFileSync(file))?.format, format, name);
      const back = await decodeImage(file);
      assert.ok(meanAbsDiff(back.data, img.data) <= tol, `${name}: ${meanAbsDiff(back.data, img.data)}`);
    }
    const pgm = path.join(tmp, 'f.pgm');
    await writeImage(pgm, img);
    const grey = toGrey(img).data;
    assert.deepEqual(
      Array.from((await decodeImage(pgm)).data.filter((_, i) => i % 3 === 0)),
      Array.from(grey),
    );
  });

  it('refuses unknown extensions and malformed images', async () => {
    await assert.rejects(
      writeImage(path.join(tmp, 'x.bmp'), img),
      (e) => e instanceof VisageError && e.code === 'E_UNSUPPORTED_FORMAT',
    );
    await assert.rejects(
      writeImage(path.join(tmp, 'x.png'), { width: 2, height: 2, data: new Uint8Array(3) }),
      (e) => e instanceof VisageError && e.code === 'E_BAD_INPUT',
    );
  });
});
