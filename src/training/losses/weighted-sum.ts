import { VisageError } from '../../errors.js';
import type { EmbeddingLoss, LossResult } from './types.js';

/**
 * Σ weight·loss over several losses of the same embeddings (e.g. triplets plus identity softmax, as in
 * re-identification's "bag of tricks"). Stats keep the first loss's names (the logs read the triplet
 * figures) and the others' under their loss name: `softmax.classAccuracy`.
 */
export class WeightedSumLoss implements EmbeddingLoss {
  readonly name: string;

  constructor(readonly parts: ReadonlyArray<{ loss: EmbeddingLoss; weight: number }>) {
    if (parts.length === 0) throw new VisageError('E_BAD_OPTION', 'a loss sum needs at least one loss');
    for (const p of parts)
      if (!(p.weight > 0) || !Number.isFinite(p.weight))
        throw new VisageError('E_BAD_OPTION', `loss weights must be > 0, got ${p.weight} for ${p.loss.name}`);
    this.name = parts.map((p) => p.loss.name).join('+');
  }

  compute(emb: Float32Array, labels: ArrayLike<number>, dim: number): LossResult {
    const grad = new Float32Array(emb.length);
    const stats: Record<string, number> = {};
    let loss = 0;
    this.parts.forEach(({ loss: part, weight }, i) => {
      const r = part.compute(emb, labels, dim);
      loss += weight * r.loss;
      for (let k = 0; k < grad.length; k++) grad[k] += weight * r.grad[k];
      for (const [key, v] of Object.entries(r.stats)) stats[i === 0 ? key : `${part.name}.${key}`] = v;
      stats[`${part.name}.loss`] = r.loss;
    });
    return { loss, grad, stats };
  }
}
