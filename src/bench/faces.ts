/**
 * `visage bench faces`: the whole pipeline (images/s) and the encoder alone (faces/s at batch 1 and 16),
 * ours against @vladmandic/face-api — the same models' reference implementation — on the same images, in
 * the same run. face-api runs as its Node users run it without tfjs-node: tfjs-wasm, one thread. Ours
 * runs on the product's engine (VISAGE_ENGINE), on every core and on one core (one intra-op thread), so
 * both the machine-level and the per-core ratio are reported.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { envThreads, type EngineName } from '../config.js';
import { median } from '../util/stats.js';
import { initEngine } from '../engine/backend.js';
import { activeEngine, inferenceThreads, setInferenceThreads } from '../engine/inference/index.js';
import { decodeImage } from '../image/decode.js';
import type { RgbImage } from '../image/rgb.js';
import { embedFiles } from '../faces/batch.js';
import { SsdFaceDetector, type Pass } from '../faces/detector/ssd-detector.js';
import { LandmarkDetector } from '../faces/landmarks.js';
import { loadDlibEncoder } from '../faces/encoder.js';
import { faceApiModelDir } from '../faces/models/faceapi-weights.js';
import { FacePipeline } from '../faces/pipeline.js';

const require = createRequire(import.meta.url);

export interface FacesBenchResult {
  engine: EngineName;
  /** Intra-op threads of our sessions in the every-core figures (onnx; tfjs-wasm runs one). */
  threads: number;
  images: number;
  faces: number;
  pipeline: {
    /** One process, every core (the engine's intra-op threads). */
    oursImagesPerS: number;
    /** One process, one thread. */
    oursOneThreadImagesPerS: number;
    faceApiImagesPerS: number;
    /** ours on every core / face-api. */
    ratio: number;
    /** ours on one thread / face-api on its one thread. */
    perCoreRatio: number;
    /** embedFiles over a pool of worker threads (decoding included), each on its share of the cores. */
    oursPooledImagesPerS: number;
    workers: number;
    /** Every core, every pass the detector plans (`adaptive: false`): the plan before passes were adaptive. */
    oursAllPassesImagesPerS: number;
  };
  /** Where one image's time goes (ms per image, every core), and how many detector passes of each kind ran. */
  stages: {
    detectMs: number;
    passes: Record<Pass['kind'], { runs: number; msPerImage: number }>;
    landmarksMs: number;
    /** Alignment, the mirror and jittered chips and the encoder batch, as the pipeline's defaults run them. */
    embedMs: number;
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
  const engine = await activeEngine();
  const threads = inferenceThreads();
  const pipelineRate = async (
    n: number | undefined,
    adaptive = true,
  ): Promise<{ ms: number; faces: number }> => {
    // Sessions take their thread count when built: a fresh pipeline per setting.
    setInferenceThreads(n);
    const p = new FacePipeline({ detect: { adaptive } });
    let faces = 0;
    try {
      const ms = await timeIt(async () => {
        faces = 0;
        for (const img of images) faces += (await p.embedAll(img)).length;
      }, repeats);
      return { ms, faces };
    } finally {
      await p.dispose();
      setInferenceThreads(undefined);
    }
  };
  log(`whole pipeline: detect + landmarks + align + encode, engine ${engine}, ${threads} thread(s)`);
  const all = await pipelineRate(undefined);
  const faces = all.faces;
  log('whole pipeline, every planned detector pass');
  const allPasses = await pipelineRate(undefined, false);
  log('whole pipeline, one thread');
  const one = engine === 'onnx' ? await pipelineRate(1) : all;
  log('face-api (tfjs-wasm, one thread)');
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
  const workers = envThreads();
  log(`whole pipeline over a pool of ${workers} worker(s), files decoded in the workers`);
  const pooledMs = await timeIt(
    () => embedFiles(files, { cache: false, threads: workers, fallback: false }),
    1,
  );
  log('stages');
  const stages = await stageTimes(images);
  const pipeline = new FacePipeline();

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
    engine,
    threads: engine === 'onnx' ? threads : 1,
    images: images.length,
    faces,
    pipeline: {
      oursImagesPerS: (1000 * images.length) / all.ms,
      oursOneThreadImagesPerS: (1000 * images.length) / one.ms,
      faceApiImagesPerS: (1000 * images.length) / apiMs,
      ratio: apiMs / all.ms,
      perCoreRatio: apiMs / one.ms,
      oursPooledImagesPerS: (1000 * images.length) / pooledMs,
      workers,
      oursAllPassesImagesPerS: (1000 * images.length) / allPasses.ms,
    },
    stages,
    encoder,
  };
}

/** One timed run of the pipeline's parts over the photos (after one untimed run), every core. */
async function stageTimes(images: RgbImage[]): Promise<FacesBenchResult['stages']> {
  const detector = SsdFaceDetector.load();
  const landmarker = LandmarkDetector.load();
  // The pipeline's own embedFaces, so the stage includes its default flip and jitter chips.
  const pipeline = new FacePipeline();
  const t = { detect: 0, landmarks: 0, embed: 0 };
  try {
    for (const timed of [false, true]) {
      if (timed) for (const s of Object.values(detector.passStats)) s.runs = s.ms = 0;
      for (const img of images) {
        let t0 = performance.now();
        const faces = await detector.detect(img);
        const t1 = performance.now();
        if (timed) t.detect += t1 - t0;
        const points = await landmarker.detect(
          img,
          faces.map((f) => f.box),
        );
        t0 = performance.now();
        if (timed) t.landmarks += t0 - t1;
        await pipeline.embedFaces(
          img,
          faces.map((f, i) => ({ ...f, landmarks: points[i] })),
        );
        if (timed) t.embed += performance.now() - t0;
      }
    }
  } finally {
    detector.dispose();
    landmarker.dispose();
    await pipeline.dispose();
  }
  const n = images.length;
  const passes = {} as FacesBenchResult['stages']['passes'];
  for (const [k, s] of Object.entries(detector.passStats))
    passes[k as Pass['kind']] = { runs: s.runs, msPerImage: s.ms / n };
  return {
    detectMs: t.detect / n,
    passes,
    landmarksMs: t.landmarks / n,
    embedMs: t.embed / n,
  };
}

export function formatFacesBench(r: FacesBenchResult): string {
  const f = (v: number) => v.toFixed(2);
  const p = r.pipeline;
  return [
    `${r.images} photos (${r.faces} faces), ${os.cpus()[0]?.model ?? 'cpu'}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `engine ${r.engine}, ${r.threads} thread(s); peer: @vladmandic/face-api on tfjs-wasm, one thread`,
    `whole pipeline, every core (${r.threads} thread(s)): ours ${f(p.oursImagesPerS)} images/s, face-api ${f(p.faceApiImagesPerS)} images/s → ${f(p.ratio)}×`,
    `whole pipeline, per core (1 thread each): ours ${f(p.oursOneThreadImagesPerS)} images/s, face-api ${f(p.faceApiImagesPerS)} images/s → ${f(p.perCoreRatio)}×`,
    `whole pipeline, every core, every planned detector pass (the plan before it was adaptive): ours ${f(p.oursAllPassesImagesPerS)} images/s → ${f(p.oursAllPassesImagesPerS / p.faceApiImagesPerS)}×`,
    `whole pipeline, ${p.workers} worker thread(s), decoding, worker start and model loading included: ours ${f(p.oursPooledImagesPerS)} images/s`,
    `where an image's time goes (every core, ms per image): detect ${r.stages.detectMs.toFixed(0)} (${Object.entries(
      r.stages.passes,
    )
      .map(([k, v]) => `${k} pass ${v.runs}× ${v.msPerImage.toFixed(0)}`)
      .join(
        ', ',
      )}), landmarks ${r.stages.landmarksMs.toFixed(0)}, align + encode (with flip and jitter) ${r.stages.embedMs.toFixed(0)}`,
    ...r.encoder.map(
      (e) =>
        `encoder batch ${e.batch} (every core): ours ${f(e.oursFacesPerS)} faces/s, face-api ${f(e.faceApiFacesPerS)} faces/s → ${f(e.ratio)}×`,
    ),
  ].join('\n');
}
