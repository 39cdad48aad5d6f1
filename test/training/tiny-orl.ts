/**
 * Shared by the end-to-end trainer tests (tfjs and onnxruntime engines): a tiny but real ORL run, and the
 * check that a saved model, loaded by the faces encoder, sees the held-out identities as training did.
 */
import path from 'node:path';
import { loadModel } from '../../src/engine/graph/index.js';
import type { FaceEncoder } from '../../src/faces/encoder.js';
import { decodeImage } from '../../src/image/index.js';
import { centreCropResize } from '../../src/training/data/index.js';
import { train, type TrainOptions, type TrainResult } from '../../src/training/trainer.js';
import { validationMetrics, type ValidationResult } from '../../src/training/validate.js';
import { dataDir } from '../helpers/data.js';

export const orl = dataDir('faces', 'att_orl');

/** ORL, 10 held-out identities, 32×32 grey, 2 epochs × 3 batches of 4×3, one thread; `over` sets the rest. */
export function tinyOrlRun(out: string, over: Partial<TrainOptions>): TrainOptions {
  return {
    data: orl,
    out,
    detect: false,
    size: 32,
    channels: 1,
    width: 8,
    depth: 3,
    dim: 32,
    P: 4,
    K: 3,
    epochs: 2,
    batchesPerEpoch: 3,
    valIdentities: 10,
    threads: 1,
    ...over,
  };
}

/** A run stopped as Ctrl-C would stop it, after optimiser step `step` (a checkpoint is left to --resume). */
export function trainInterruptedAt(opts: TrainOptions, step: number): Promise<TrainResult> {
  const controller = new AbortController();
  return train(opts, {
    signal: controller.signal,
    onStep: (s) => {
      if (s.step === step) controller.abort();
    },
  });
}

/** The encoder's embeddings of every image of the model's held-out identities, and their metrics. */
export async function heldOutMetrics(
  modelDir: string,
  encoder: FaceEncoder,
): Promise<{ embeddings: Float32Array[]; metrics: ValidationResult }> {
  const names = loadModel(modelDir).meta.valIdentities as string[];
  const size = encoder.inputSize;
  const chips = [];
  const labels: number[] = [];
  for (const [i, name] of names.entries())
    for (let k = 1; k <= 10; k++) {
      chips.push(centreCropResize(await decodeImage(path.join(orl, name, `${k}.pgm`)), size, size));
      labels.push(i);
    }
  const embeddings = await encoder.encode(chips);
  const flat = new Float32Array(embeddings.length * encoder.dim);
  embeddings.forEach((e, i) => flat.set(e, i * encoder.dim));
  return { embeddings, metrics: validationMetrics(flat, labels, encoder.dim) };
}
