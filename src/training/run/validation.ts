/**
 * Validation on the held-out identities during a run: embeddings of the live parameters or of their
 * average (--ema), flip-averaged with --val-flip, and judged by the binary loss's pair head when there is one.
 */
import { flipAverage } from '../../faces/compare.js';
import { gatherInput, mirrorImages, type FaceImageSource } from '../data/index.js';
import { BinaryPairLoss, type EmbeddingLoss } from '../losses/index.js';
import type { ParameterAverage } from '../optim/index.js';
import type { HeldOutIdentity } from '../report/index.js';
import type { TrainingStep } from '../step.js';
import { validationMetrics, type ValidationResult } from '../validate.js';

export interface ValidationSummary {
  accuracy: number;
  threshold: number;
  auc: number;
  rank1: number;
}

export const summary = (v: ValidationResult | null): ValidationSummary | null =>
  v && { accuracy: v.accuracy, threshold: v.threshold, auc: v.auc, rank1: v.rank1 };

/** The final validation's per-identity errors under the identities' folder names. */
export function heldOutErrors(v: ValidationResult, names: readonly string[]): HeldOutIdentity[] {
  return v.perIdentity.map((e) => ({
    name: names[e.label],
    falseReject: e.falseReject,
    falseAccept: e.falseAccept,
  }));
}

/** Inference embeddings with the averaged parameters when there are any, the live ones otherwise. */
async function embedAveraged(
  step: TrainingStep,
  average: ParameterAverage | null,
  images: Float32Array,
  n: number,
): Promise<Float32Array> {
  if (!average) return step.embed(images, n);
  const live = step.params.slice();
  await step.loadParams(average.values);
  try {
    return await step.embed(images, n);
  } finally {
    await step.loadParams(live);
  }
}

/** A function that validates the step's current parameters (null without validation images). */
export function heldOutValidator(
  step: TrainingStep,
  average: ParameterAverage | null,
  loss: EmbeddingLoss,
  val: FaceImageSource | null,
  opts: { flip: boolean; size: number; channels: 1 | 3 },
): () => Promise<ValidationResult | null> {
  const valInput = val
    ? gatherInput(
        val,
        Int32Array.from({ length: val.count }, (_, i) => i),
      )
    : null;
  const valMirrored =
    valInput && opts.flip
      ? mirrorImages(valInput.images, val!.count, opts.size, opts.size, opts.channels)
      : null;
  return async () => {
    if (!valInput || !val) return null;
    let emb = await embedAveraged(step, average, valInput.images, val.count);
    if (valMirrored) {
      const mirrored = await embedAveraged(step, average, valMirrored, val.count);
      emb = flipAverage(emb, mirrored, step.dim);
    }
    // A binary-loss model is judged by its pair head (what it was trained to answer).
    const head = loss instanceof BinaryPairLoss ? loss.head(step.dim) : undefined;
    return validationMetrics(emb, valInput.labels, step.dim, { head });
  };
}
