/**
 * Worker-side tasks of the face pipeline: each worker keeps one FacePipeline (models load once per
 * worker) and embeds whole files, so many images spread over every core.
 */
import { setInferenceThreads } from '../engine/inference/index.js';
import { sibling } from '../engine/pool/pool.js';
import { decodeImage } from '../image/decode.js';
import { crop } from '../image/geometry.js';
import { FacePipeline } from './pipeline.js';
import type { DetectedFace } from './types.js';

export const faceTasks = sibling(import.meta.url, './tasks');

export interface EmbedFileTask {
  file: string;
  flip: boolean;
  /** Visage model folder, or undefined for the default encoder. */
  model?: string;
  /** Embed a centred crop when no face is found (evaluation protocols ask for this). */
  fallback: boolean;
  /** onnxruntime intra-op threads of this worker's sessions (its share of the cores). */
  inferenceThreads?: number;
}

export interface EmbedFileResult {
  faces: Array<{ face: DetectedFace; vector: Float32Array }>;
  fallback?: Float32Array;
}

const pipelines = new Map<string, FacePipeline>();

function pipelineFor(model: string | undefined): FacePipeline {
  const key = model ?? '';
  let p = pipelines.get(key);
  if (!p) {
    p = new FacePipeline({ model });
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
  const pipeline = pipelineFor(task.model);
  const img = await decodeImage(task.file).catch((e: Error & { details?: object }) => {
    if (e && typeof e === 'object' && 'details' in e) e.details = { ...e.details, path: task.file };
    throw e;
  });
  const faces = await pipeline.embedAll(img, { flip: task.flip });
  const result: EmbedFileResult = { faces: faces.map((f) => ({ face: f.face, vector: f.embedding.vector })) };
  if (faces.length === 0 && task.fallback) {
    const encoder = await pipeline.encoder();
    const [v] = await encoder.encode([crop(img, centreCrop(img.width, img.height))], { flip: task.flip });
    result.fallback = v;
  }
  return result;
}
