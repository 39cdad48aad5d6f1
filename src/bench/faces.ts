/**
 * `visage bench faces`: the whole pipeline (images/s) and the encoder alone (faces/s at batch 1 and 16),
 * ours against @vladmandic/face-api — the same models' reference implementation — on the same images, in
 * the same run, on the same tfjs engine.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { envThreads } from '../config.js';
import { median } from '../util/stats.js';
import { initEngine } from '../engine/backend.js';
import { decodeImage } from '../image/decode.js';
import type { RgbImage } from '../image/rgb.js';
import { embedFiles } from '../faces/batch.js';
import { loadDlibEncoder } from '../faces/encoder.js';
import { faceApiModelDir } from '../faces/models/faceapi-weights.js';
import { FacePipeline } from '../faces/pipeline.js';

const require = createRequire(import.meta.url);

export interface FacesBenchResult {
  images: number;
  faces: number;
  pipeline: {
    oursImagesPerS: number;
    faceApiImagesPerS: number;
    ratio: number;
    oursPooledImagesPerS: number;
    threads: number;
  };
  encoder: Array<{ batch: number; oursFacesPerS: number; faceApiFacesPerS: number; ratio: number }>;
}

async function timeIt(f: () => Promise<unknown>, repeats: number): Promise<number> {
  await f(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  return median(times);
}

const toTensor = (img: RgbImage) => tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');

export async function benchFaces(
  opts: { repeats?: number; log?: (m: string) => void } = {},
): Promise<FacesBenchResult> {
  const repeats = opts.repeats ?? 3;
  const log = opts.log ?? (() => {});
  await initEngine();
  const dir = path.join(path.dirname(faceApiModelDir()), 'demo');
  const files = [1, 2, 3, 4, 5, 6].map((i) => path.join(dir, `sample${i}.jpg`));
  const images = await Promise.all(files.map((f) => decodeImage(f)));
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(faceApiModelDir());
  await faceapi.nets.faceLandmark68Net.loadFromDisk(faceApiModelDir());
  await faceapi.nets.faceRecognitionNet.loadFromDisk(faceApiModelDir());
  const pipeline = new FacePipeline();

  log('whole pipeline: detect + landmarks + align + encode, one thread each');
  let faces = 0;
  const oursMs = await timeIt(async () => {
    faces = 0;
    for (const img of images) faces += (await pipeline.embedAll(img)).length;
  }, repeats);
  const apiMs = await timeIt(async () => {
    for (const img of images) {
      const t = toTensor(img);
      try {
        await faceapi.detectAllFaces(t).withFaceLandmarks().withFaceDescriptors();
      } finally {
        t.dispose();
      }
    }
  }, repeats);
  const threads = envThreads();
  log(`whole pipeline over a pool of ${threads} worker(s)`);
  const pooledMs = await timeIt(() => embedFiles(files, { cache: false, threads, fallback: false }), 1);

  log('encoder alone on aligned 150×150 chips');
  const chips: RgbImage[] = [];
  for (const img of images)
    for (const f of await pipeline.detect(img)) chips.push((await pipeline.align(img, f)).chip);
  while (chips.length < 32) chips.push(...chips.slice(0, 32 - chips.length));
  const encoder = [] as FacesBenchResult['encoder'];
  for (const batch of [1, 16]) {
    const ours = loadDlibEncoder({ batchSize: batch });
    const n = 32;
    const oMs = await timeIt(() => ours.encode(chips.slice(0, n)), repeats);
    ours.dispose();
    const tensors = chips.slice(0, n).map(toTensor);
    const aMs = await timeIt(async () => {
      for (let i = 0; i < n; i += batch) {
        const r = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(
          batch === 1 ? tensors[i] : tensors.slice(i, i + batch),
        );
        void r;
      }
    }, repeats);
    tf.dispose(tensors);
    encoder.push({
      batch,
      oursFacesPerS: (1000 * n) / oMs,
      faceApiFacesPerS: (1000 * n) / aMs,
      ratio: aMs / oMs,
    });
  }
  await pipeline.dispose();
  return {
    images: images.length,
    faces,
    pipeline: {
      oursImagesPerS: (1000 * images.length) / oursMs,
      faceApiImagesPerS: (1000 * images.length) / apiMs,
      ratio: apiMs / oursMs,
      oursPooledImagesPerS: (1000 * images.length) / pooledMs,
      threads,
    },
    encoder,
  };
}

export function formatFacesBench(r: FacesBenchResult): string {
  const f = (v: number) => v.toFixed(2);
  return [
    `${r.images} photos (${r.faces} faces), ${os.cpus()[0]?.model ?? 'cpu'}; peer: @vladmandic/face-api on the same tfjs engine`,
    `whole pipeline, 1 thread: ours ${f(r.pipeline.oursImagesPerS)} images/s, face-api ${f(r.pipeline.faceApiImagesPerS)} images/s → ${f(r.pipeline.ratio)}×`,
    `whole pipeline, ${r.pipeline.threads} worker thread(s): ours ${f(r.pipeline.oursPooledImagesPerS)} images/s`,
    ...r.encoder.map(
      (e) =>
        `encoder batch ${e.batch}: ours ${f(e.oursFacesPerS)} faces/s, face-api ${f(e.faceApiFacesPerS)} faces/s → ${f(e.ratio)}×`,
    ),
  ].join('\n');
}
