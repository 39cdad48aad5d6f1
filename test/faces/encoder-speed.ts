/**
 * Encoder throughput (not a test): `node --import tsx test/faces/encoder-speed.ts [rounds]`.
 * Prints faces/s of the dlib ResNet encoder at batch 1 and 16 on the current backend (VISAGE_BACKEND).
 */
import { engineInfo, initEngine } from '../../src/engine/backend.js';
import { loadDlibEncoder } from '../../src/faces/encoder.js';
import { createImage } from '../../src/image/rgb.js';

await initEngine();
const rounds = Number(process.argv[2] ?? 3);
const chips = Array.from({ length: 32 }, (_, i) => {
  const img = createImage(150, 150);
  for (let k = 0; k < img.data.length; k++) img.data[k] = (k * 7 + i * 13) % 256;
  return img;
});
const info = await engineInfo();
console.log(`backend ${info.backend} (simd ${info.simd}, threads ${info.wasmMultithread})`);
for (const batchSize of [1, 16]) {
  const encoder = loadDlibEncoder({ batchSize });
  await encoder.encode(chips.slice(0, batchSize)); // warm-up
  const n = batchSize === 1 ? 16 : 32;
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    await encoder.encode(chips.slice(0, n));
    best = Math.min(best, (performance.now() - t) / n);
  }
  const t = performance.now();
  await encoder.encode(chips.slice(0, n), { flip: true });
  const flipRate = (1000 * n) / (performance.now() - t);
  console.log(
    `batch ${batchSize}: ${(1000 / best).toFixed(1)} faces/s (${best.toFixed(1)} ms/face); with flip ${flipRate.toFixed(1)} faces/s`,
  );
  encoder.dispose();
}
