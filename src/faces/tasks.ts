/**
 * Worker-side tasks of the face pipeline: each worker keeps one FacePipeline (models load once per
 * worker) and embeds whole files, so many images spread over every core.
 */
import { setInferenceThreads } from '../engine/inference/index.js';
import { sibling } from '../engine/pool/pool.js';
import { decodeImage } from '../image/decode.js';
import { crop } from '../image/geometry.js';
import { fromGrey, toGrey } from '../image/rgb.js';
import { FacePipeline } from './pipeline.js';
import type { DetectedFace } from './types.js';

export const faceTasks = sibling(import.meta.url, './tasks');

export interface EmbedFileTask {
  file: string;
  flip: boolean;
  /** Jitter averaging (EmbedOptions.jitter); the centre-crop fallback is not jittered. */
  jitter?: number;
  /** Visage model folder, or undefined for the default encoder. */
  model?: string;
  /** Embed a centred crop when no face is found (evaluation protocols ask for this). */
  fallback: boolean;
  /** onnxruntime intra-op threads of this worker's sessions (its share of the cores). */
  inferenceThreads?: number;
  /** Convert the photo to grey (Rec. 601 luma in all three channels) first: the greyscale-archive case. */
  grey?: boolean;
  /** Landmarks averaged with those of the mirrored crop (LandmarkOptions.mirror). */
  mirrorLandmarks?: boolean;
  /** A second landmark pass on an upright crop around the first pass's points (LandmarkOptions.refine). */
  refineLandmarks?: boolean;
  /** Detector score threshold for this file (default: the detector's own). */
  minScore?: number;
}

export interface EmbedFileResult {
  faces: Array<{ face: DetectedFace; vector: Float32Array }>;
  fallback?: Float32Array;
  /** The decoded image's size (for rules that weigh where a face sits in the photo). */
  size?: { width: number; height: number };
}

const pipelines = new Map<string, FacePipeline>();

function pipelineFor(model: string | undefined, mirror: boolean, refine: boolean): FacePipeline {
  const key = `${model ?? ''}|${mirror}|${refine}`;
  let p = pipelines.get(key);
  if (!p) {
    p = new FacePipeline({ model, landmarks: { mirror, refine } });
    pipelines.set(key, p);
  }
  return p;
}

/**
 * The centred square used when detection finds nothing: the whole short side for small, pre-cropped
 * images (ORL, Yale: ≤ 250 px), the central half of it for larger photos where a face fills less.
 */
export function centreCrop(
  width: number,
  height: number,
): { x: number; y: number; width: number; height: number } {
  const side = Math.min(width, height) * (Math.min(width, height) > 250 ? 0.5 : 1);
  return {
    x: Math.round((width - side) / 2),
    y: Math.round((height - side) / 2),
    width: Math.round(side),
    height: Math.round(side),
  };
}

export async function embedFile(task: EmbedFileTask): Promise<EmbedFileResult> {
  // Before the first session of this worker is built; later calls carry the same share.
  if (task.inferenceThreads !== undefined) setInferenceThreads(task.inferenceThreads);
  const pipeline = pipelineFor(task.model, task.mirrorLandmarks ?? false, task.refineLandmarks ?? false);
  const decoded = await decodeImage(task.file).catch((e: Error & { details?: object }) => {
    if (e && typeof e === 'object' && 'details' in e) e.details = { ...e.details, path: task.file };
    throw e;
  });
  const img = task.grey ? fromGrey(toGrey(decoded)) : decoded;
  const faces = await pipeline.embedAll(img, {
    flip: task.flip,
    jitter: task.jitter,
    detect: task.minScore === undefined ? undefined : { minScore: task.minScore },
  });
  const result: EmbedFileResult = {
    faces: faces.map((f) => ({ face: f.face, vector: f.embedding.vector })),
    size: { width: img.width, height: img.height },
  };
  if (faces.length === 0 && task.fallback) {
    const encoder = await pipeline.encoder();
    const [v] = await encoder.encode([crop(img, centreCrop(img.width, img.height))], { flip: task.flip });
    result.fallback = v;
  }
  return result;
}
