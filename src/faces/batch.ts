import { readInputFile } from '../files.js';
import { envThreads } from '../config.js';
import { activeEngine } from '../engine/inference/index.js';
import { WorkerPool } from '../engine/pool/pool.js';
import { loadModel } from '../engine/graph/serialize.js';
import { DLIB_ENCODER_ID, DLIB_PIPELINE_FLIP, DLIB_PIPELINE_JITTER } from './encoder.js';
import { EmbeddingCache } from './cache.js';
import { faceTasks, type EmbedFileResult, type EmbedFileTask } from './tasks.js';
import { chooseFace, DEFAULT_FACE_RULE, SECOND_CHANCE_SCORE, type FaceRule } from './choose.js';
import { decodeImage } from '../image/decode.js';

export interface BatchEmbedOptions {
  /** Test-time flip (default: the model's own, see FaceEncoder.flip). */
  flip?: boolean;
  /** Jitter averaging: N perturbed chips per face besides the chip (see EmbedOptions.jitter). Default: the encoder's. */
  jitter?: number;
  /** Visage model folder (from `visage train`); default: the dlib ResNet encoder. */
  model?: string;
  /** Centre-crop fallback for images without a detectable face. */
  fallback?: boolean;
  /** Landmarks averaged with the mirrored crop's (see LandmarkOptions.mirror). */
  mirrorLandmarks?: boolean;
  /** A second landmark pass on an upright crop around the first pass's points (LandmarkOptions.refine). */
  refineLandmarks?: boolean;
  /**
   * Photos without a face at the usual detector score are searched again at SECOND_CHANCE_SCORE before
   * the centred crop is used (default true).
   */
  secondChance?: boolean;
  /** Convert every photo to grey before detection (measures the greyscale-archive case). */
  grey?: boolean;
  /** Which face stands for a photo that holds several (default DEFAULT_FACE_RULE, see choose.ts). */
  faceRule?: FaceRule;
  /** Worker threads (default VISAGE_THREADS or every core). */
  threads?: number;
  /** false disables the on-disk embedding cache; a string names the cache file. */
  cache?: boolean | string;
  onProgress?: (done: number, total: number) => void;
}

export interface FileEmbedding {
  file: string;
  /** The chosen face's descriptor, or the centre-crop one when no face was found (fallback: true). */
  vector: Float32Array | null;
  fallback: boolean;
  faces: number;
  /** Detection index of the chosen face (-1 for the fallback or none). */
  chosen: number;
  /** The face was found only on the second chance (detector score below the usual minimum). */
  secondChance?: boolean;
}

/** Id of the encoder a batch will use, without loading the default model's weights. */
export function encoderIdFor(model: string | undefined): string {
  return encoderInfo(model).id;
}

/**
 * The encoder's id and its test-time defaults: flip (meta.flip; for dlib the pipeline's, DLIB_PIPELINE_FLIP)
 * and jitter (dlib: DLIB_PIPELINE_JITTER; a trained model: none).
 */
function encoderInfo(model: string | undefined): { id: string; flip: boolean; jitter: number } {
  if (!model) return { id: DLIB_ENCODER_ID, flip: DLIB_PIPELINE_FLIP, jitter: DLIB_PIPELINE_JITTER };
  const m = loadModel(model);
  return {
    id: typeof m.meta.id === 'string' ? m.meta.id : m.def.name,
    flip: m.meta.flip === true,
    jitter: 0,
  };
}

/**
 * Embeds many image files (one face of each, picked by `faceRule`) over a worker pool, reusing cached results: the
 * evaluation and calibration commands call this, so reruns cost only the scoring.
 */
export async function embedFiles(
  files: string[],
  opts: BatchEmbedOptions = {},
): Promise<Map<string, FileEmbedding>> {
  const encoder = encoderInfo(opts.model);
  const flip = opts.flip ?? encoder.flip;
  const fallback = opts.fallback ?? true;
  const jitter = opts.jitter ?? encoder.jitter;
  const model = encoder.id;
  const cache =
    opts.cache === false
      ? undefined
      : new EmbeddingCache(typeof opts.cache === 'string' ? opts.cache : undefined);
  // Bump the version whenever detection, alignment or encoding changes: cached results would be stale.
  // The engine is part of the key: onnx and tfjs descriptors agree only to float rounding (~1e-7).
  const engine = await activeEngine();
  // Every face of an image is cached, so the face rule is applied after the cache, not part of the key.
  const variant = `largest-v4;flip=${flip};fallback=${fallback};engine=${engine}${opts.grey ? ';grey' : ''}${opts.mirrorLandmarks ? ';lm-mirror' : ''}${opts.refineLandmarks ? ';lm-refine' : ''}${jitter > 0 ? `;jitter=${jitter}` : ''}`;
  const rule = opts.faceRule ?? DEFAULT_FACE_RULE;
  const unique = [...new Set(files)];
  const result = new Map<string, FileEmbedding>();
  const secondChance = new Set<string>();
  const take = async (file: string, r: EmbedFileResult) => {
    // Entries cached before the image size was recorded: read it (a decode; cheap next to detection).
    const size =
      r.size ??
      (r.faces.length > 1 && rule !== 'largest' ? await decodeImage(file) : { width: 1, height: 1 });
    const best = chooseFace(
      r.faces.map((f) => f.face),
      size,
      rule,
    );
    result.set(file, {
      file,
      vector: best >= 0 ? r.faces[best].vector : (r.fallback ?? null),
      fallback: best < 0 && r.fallback !== undefined,
      faces: r.faces.length,
      chosen: best,
      secondChance: secondChance.has(file),
    });
  };
  const bytesKey = (file: string, v: string) =>
    cache ? EmbeddingCache.key(readInputFile(file, 'image'), model, v) : '';
  // Each file's result: from the cache, else from a worker (then cached).
  const results = new Map<string, EmbedFileResult>();
  let done = 0;
  let total = unique.length;
  const run = async (items: Array<{ file: string; key: string }>, minScore?: number) => {
    const todo = items.filter(({ file, key }) => {
      const hit = cache?.get(key);
      if (hit) results.set(file, hit);
      return !hit;
    });
    done += items.length - todo.length;
    opts.onProgress?.(done, total);
    if (todo.length === 0) return;
    const threads = Math.min(opts.threads ?? envThreads(), todo.length);
    // Each worker's onnxruntime sessions get its share of the cores, so workers × intra-op threads
    // does not oversubscribe the machine.
    const inferenceThreads = Math.max(1, Math.floor(envThreads() / threads));
    const pool = new WorkerPool({ threads });
    try {
      await Promise.all(
        todo.map(async ({ file, key }) => {
          const task: EmbedFileTask = {
            file,
            flip,
            jitter,
            model: opts.model,
            fallback,
            inferenceThreads,
            grey: opts.grey,
            mirrorLandmarks: opts.mirrorLandmarks,
            refineLandmarks: opts.refineLandmarks,
            minScore,
          };
          const r = await pool.run<EmbedFileResult>({ module: faceTasks, fn: 'embedFile' }, task);
          cache?.put(key, r);
          results.set(file, r);
          opts.onProgress?.(++done, total);
        }),
      );
    } finally {
      await pool.close();
    }
  };
  await run(unique.map((file) => ({ file, key: bytesKey(file, variant) })));
  // Second chance for photos without a face at the detector's usual score (small, blurred or turned
  // faces): the best face found at SECOND_CHANCE_SCORE beats a centred crop. Cached under its own key,
  // so the first pass's entries stay valid.
  if (opts.secondChance !== false) {
    const none = unique.filter((f) => results.get(f)!.faces.length === 0);
    const first = new Map(none.map((f) => [f, results.get(f)!]));
    total += none.length;
    await run(
      none.map((file) => ({ file, key: bytesKey(file, `${variant};second-chance=${SECOND_CHANCE_SCORE}`) })),
      SECOND_CHANCE_SCORE,
    );
    for (const f of none) {
      const r = results.get(f)!;
      if (r.faces.length === 0) results.set(f, first.get(f)!);
      else secondChance.add(f);
    }
  }
  for (const file of unique) await take(file, results.get(file)!);
  cache?.close();
  return result;
}
