import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VisageError } from '../../src/errors.js';
import { decodePnm, encodePnm, parsePnmHeader } from '../../src/image/index.js';

const grey3 = (vals: number[]): number[] => vals.flatMap((v) => [v, v, v]);
const bytes = (header: string, raster: number[] = []): Buffer =>
  Buffer.concat([Buffer.from(header, 'latin1'), Buffer.from(raster)]);

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VisageError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
}

describe('PNM parser', () => {
  it('reads headers with comments and arbitrary whitespace', () => {
    const header = 'P5 # made by hand\n#another\n 4\t3\r\n# mid\n255\n';
    const h = parsePnmHeader(bytes(header, new Array(12).fill(0)));
    assert.deepEqual(h, {
      kind: 'P5',
      width: 4,
      height: 3,
      maxval: 255,
      channels: 1,
      dataOffset: header.length,
    });
  });

  it('binary data starts after exactly one whitespace byte (a raster may begin with a space value)', () => {
    // 32 is the ASCII space: it must be read as a pixel, not skipped as whitespace.
    const img = decodePnm(bytes('P5\n2 1\n255\n', [32, 10]), 1e6);
    assert.deepEqual(Array.from(img.data), grey3([32, 10]));
  });

  it('rescales maxval < 255 and 16-bit (big-endian) samples to 0..255', () => {
    assert.deepEqual(
      Array.from(decodePnm(bytes('P2\n4 1\n15\n0 5 10 15\n'), 1e6).data),
      grey3([0, 85, 170, 255]),
    );
    const p6 = decodePnm(bytes('P6\n1 1\n1023\n', [0x03, 0xff, 0x02, 0x00, 0x00, 0x00]), 1e6);
    assert.deepEqual(Array.from(p6.data), [255, Math.round((512 * 255) / 1023), 0]);
    const p2 = decodePnm(bytes('P2\n2 1\n65535\n65535 32768\n'), 1e6);
    assert.deepEqual(Array.from(p2.data), grey3([255, 128]));
  });

  it('reads P1 and P4 bitmaps (1 = black), including P1 digits without spaces and padded P4 rows', () => {
    const p1 = decodePnm(bytes('P1\n3 2\n1 0 1\n010\n'), 1e6);
    assert.deepEqual(Array.from(p1.data), grey3([0, 255, 0, 255, 0, 255]));
    // Width 10 → 2 bytes per row; bits beyond column 10 are padding.
    const p4 = decodePnm(bytes('P4\n10 1\n', [0b10000000, 0b01111111]), 1e6);
    assert.deepEqual(Array.from(p4.data), grey3([0, 255, 255, 255, 255, 255, 255, 255, 255, 0]));
  });

  it('ignores bytes after the raster', () => {
    const img = decodePnm(bytes('P5\n2 1\n255\n', [1, 2, 3, 4, 5]), 1e6);
    assert.deepEqual(Array.from(img.data), grey3([1, 2]));
  });

  it('refuses truncated headers and rasters with E_TRUNCATED_IMAGE', () => {
    throwsCode(() => decodePnm(bytes('P5\n92 11'), 1e6), 'E_TRUNCATED_IMAGE');
    throwsCode(() => decodePnm(bytes('P5\n2 2\n255'), 1e6), 'E_TRUNCATED_IMAGE');
    throwsCode(() => decodePnm(bytes('P5\n2 2\n255\n', [1, 2, 3]), 1e6), 'E_TRUNCATED_IMAGE');
    throwsCode(() => decodePnm(bytes('P5\n2 2\n65535\n', [1, 2, 3, 4, 5, 6, 7]), 1e6), 'E_TRUNCATED_IMAGE');
    throwsCode(() => decodePnm(bytes('P3\n2 1\n255\n1 2 3 4 5\n'), 1e6), 'E_TRUNCATED_IMAGE');
    throwsCode(() => decodePnm(bytes('P4\n9 2\n', [0, 0, 0]), 1e6), 'E_TRUNCATED_IMAGE');
  });

  it('refuses corrupt headers and samples with E_NOT_AN_IMAGE', () => {
    throwsCode(() => decodePnm(bytes('P5\n0 2\n255\n'), 1e6), 'E_NOT_AN_IMAGE');
    throwsCode(() => decodePnm(bytes('P5\nabc 2\n255\n'), 1e6), 'E_NOT_AN_IMAGE');
    throwsCode(() => decodePnm(bytes('P5\n1 1\n70000\n', [0, 0, 0]), 1e6), 'E_NOT_AN_IMAGE');
    throwsCode(() => decodePnm(bytes('P2\n2 1\n100\n50 101\n'), 1e6), 'E_NOT_AN_IMAGE');
    throwsCode(() => decodePnm(bytes('P1\n2 1\n1 2\n'), 1e6), 'E_NOT_AN_IMAGE');
    throwsCode(() => decodePnm(bytes('Q5\n1 1\n255\n', [0]), 1e6), 'E_NOT_AN_IMAGE');
  });

  it('checks the pixel limit from the header, before reading (or allocating for) the raster', () => {
    // 100000×100000 with no raster at all: the limit must answer, not a 10-GB allocation or "truncated".
    throwsCode(() => decodePnm(bytes('P5\n100000 100000\n255\n'), 40e6), 'E_IMAGE_TOO_LARGE');
  });

  it('encodePnm writes P6 and P5 (luma) that decode back', () => {
    const img = { width: 2, height: 1, data: Uint8Array.from([255, 0, 0, 10, 20, 30]) };
    const p6 = encodePnm(img, 'P6');
    assert.equal(p6.toString('latin1', 0, 11), 'P6\n2 1\n255\n');
    assert.deepEqual(decodePnm(p6, 1e6), { width: 2, height: 1, data: img.data });
    const p5 = decodePnm(encodePnm(img, 'P5'), 1e6);
    assert.deepEqual(Array.from(p5.data), grey3([76, 18])); // 0.299·255 = 76.2; 0.299·10+0.587·20+0.114·30 = 18.2
  });
});
