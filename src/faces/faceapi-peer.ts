/**
 * @vladmandic/face-api as an evaluation peer: the same dlib encoder run the way face-api users run it
 * (its SSD detector, its landmarks, its unaligned box crop, raw descriptors), on the same decoded pixels.
 * Used by `visage eval pairs --peer face-api` to put our accuracy beside the reference implementation's.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../engine/backend.js';
import { decodeImage } from '../image/decode.js';
import { crop, resize } from '../image/geometry.js';
import type { FileEmbedding } from './batch.js';
import { faceApiModelDir } from './models/faceapi-weights.js';
import { centreCrop } from './tasks.js';

const require = createRequire(import.meta.url);

export async function faceApiEmbedFiles(
  files: string[],
  onProgress?: (done: number, total: number) => void,
): Promise<Map<string, FileEmbedding>> {
  await initEngine();
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const dir = faceApiModelDir();
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(dir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(dir);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(dir);
  const out = new Map<string, FileEmbedding>();
  const unique = [...new Set(files)];
  let done = 0;
  for (const file of unique) {
    const img = await decodeImage(file);
    const t = tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
    try {
      const found: Array<{ detection: { box: { area: number } }; descriptor: Float32Array }> = await faceapi
        .detectAllFaces(t)
        .withFaceLandmarks()
        .withFaceDescriptors();
      if (found.length > 0) {
        const best = found.reduce((a, b) => (b.detection.box.area > a.detection.box.area ? b : a));
        out.set(file, { file, vector: best.descriptor, fallback: false, faces: found.length });
      } else {
        const chip = resize(crop(img, centreCrop(img.width, img.height)), 150, 150);
        const ct = tf.tensor3d(chip.data, [150, 150, 3], 'int32');
        const d: Float32Array = await faceapi.computeFaceDescriptor(ct);
        ct.dispose();
        out.set(file, { file, vector: d, fallback: true, faces: 0 });
      }
    } finally {
      t.dispose();
    }
    onProgress?.(++done, unique.length);
  }
  return out;
}
