/**
 * Small real training batches for tests: AT&T/ORL faces (92×112 binary PGM), centre-cropped to 92×92 and
 * box-downsampled, as NHWC float32 in [0, 1]. The reader is deliberately minimal (the product's image
 * loader lives in src/image and has its own tests).
 */
import fs from 'node:fs';
import path from 'node:path';
import { dataDir } from '../helpers/data.js';

function readPgm(file: string): { w: number; h: number; pixels: Uint8Array } {
  const buf = fs.readFileSync(file);
  const header = buf.subarray(0, 64).toString('latin1');
  const m = /^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(header);
  if (!m || m[3] !== '255') throw new Error(`${file}: not an 8-bit binary PGM`);
  const [w, h] = [Number(m[1]), Number(m[2])];
  return { w, h, pixels: buf.subarray(m[0].length, m[0].length + w * h) };
}

/** Images `perPerson` of each of `people` (s1, s2, …), identity-major; side = 92 / factor. */
export function orlBatch(
  people: number,
  perPerson: number,
  factor = 4,
): {
  images: Float32Array;
  labels: Int32Array;
  size: number;
} {
  const root = dataDir('faces', 'att_orl');
  const size = Math.floor(92 / factor);
  const images = new Float32Array(people * perPerson * size * size);
  const labels = new Int32Array(people * perPerson);
  let k = 0;
  for (let p = 0; p < people; p++) {
    for (let i = 0; i < perPerson; i++, k++) {
      const { w, h, pixels } = readPgm(path.join(root, `s${p + 1}`, `${i + 1}.pgm`));
      const top = (h - 92) >> 1;
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          let s = 0;
          for (let dy = 0; dy < factor; dy++)
            for (let dx = 0; dx < factor; dx++) s += pixels[(top + y * factor + dy) * w + x * factor + dx];
          images[k * size * size + y * size + x] = s / (factor * factor * 255);
        }
      labels[k] = p;
    }
  }
  return { images, labels, size };
}
