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
import { EmbeddingCache, type CachedFaces } from './cache.js';
import { chooseFace, type FaceRule } from './choose.js';
import { readInputFile } from '../files.js';
import { fromGrey, toGrey } from '../image/rgb.js';

/** Cache id of the peer's descriptors (raw, not unit length; they never mix with Visage's). */
const PEER_ID = 'face-api-peer@1.7';

const require = createRequire(import.meta.url);

export interface PeerOptions {
  /** Convert every photo to grey first (as `embedFiles` does with the same option). */
  grey?: boolean;
  /** Which face stands for a photo with several: face-api's users take the largest (the default). */
  faceRule?: FaceRule;
  /** false disables the embedding cache (the peer's results are cached like Visage's). */
  cache?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export async function faceApiEmbedFiles(
  files: string[],
  opts: PeerOptions = {},
): Promise<Map<string, FileEmbedding>> {
  const rule = opts.faceRule ?? 'largest';
  const cache = opts.cache === false ? undefined : new EmbeddingCache();
  const variant = `peer-v1${opts.grey ? ';grey' : ''}`;
  const out = new Map<string, FileEmbedding>();
  const take = (file: string, r: CachedFaces) => {
    const best = chooseFace(
      r.faces.map((f) => f.face),
      r.size ?? { width: 1, height: 1 },
      rule,
    );
    out.set(file, {
      file,
      vector: best >= 0 ? r.faces[best].vector : (r.fallback ?? null),
      fallback: best < 0,
      faces: r.faces.length,
      chosen: best,
    });
  };
  const unique = [...new Set(files)];
  const todo: Array<{ file: string; key: string }> = [];
  for (const file of unique) {
    const key = cache ? EmbeddingCache.key(readInputFile(file, 'image'), PEER_ID, variant) : '';
    const hit = cache?.get(key);
    if (hit) take(file, hit);
    else todo.push({ file, key });
  }
  let done = unique.length - todo.length;
  opts.onProgress?.(done, unique.length);
  if (todo.length === 0) {
    cache?.close();
    return out;
  }
  await initEngine();
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const dir = faceApiModelDir();
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(dir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(dir);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(dir);
  try {
    for (const { file, key } of todo) {
      const decoded = await decodeImage(file);
      const img = opts.grey ? fromGrey(toGrey(decoded)) : decoded;
      const t = tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
      try {
        const found: Array<{
          detection: { box: { x: number; y: number; width: number; height: number }; score: number };
          descriptor: Float32Array;
        }> = await faceapi.detectAllFaces(t).withFaceLandmarks().withFaceDescriptors();
        const r: CachedFaces = {
          faces: found.map((f) => ({
            face: {
              box: {
                x: f.detection.box.x,
                y: f.detection.box.y,
                width: f.detection.box.width,
                height: f.detection.box.height,
              },
              score: f.detection.score,
            },
            vector: f.descriptor,
          })),
          size: { width: img.width, height: img.height },
        };
        if (found.length === 0) {
          const chip = resize(crop(img, centreCrop(img.width, img.height)), 150, 150);
          const ct = tf.tensor3d(chip.data, [150, 150, 3], 'int32');
          r.fallback = await faceapi.computeFaceDescriptor(ct);
          ct.dispose();
        }
        cache?.put(key, r);
        take(file, r);
      } finally {
        t.dispose();
      }
      opts.onProgress?.(++done, unique.length);
    }
  } finally {
    cache?.close();
  }
  return out;
}
