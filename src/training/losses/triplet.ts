import { VisageError } from '../../errors.js';
import { squaredEuclidean, type Distance } from '../distances/index.js';
import { batchHardMiner, type Miner } from '../miners/index.js';
import type { EmbeddingLoss, LossResult } from './types.js';

export interface TripletLossOptions {
  /** α in max(0, d(a,p) − d(a,n) + α); FaceNet's 0.2 suits squared distances of unit vectors. */
  margin?: number;
  distance?: Distance;
  miner?: Miner;
  /**
   * 'mean' averages over every mined triplet (Hermans et al.); 'meanNonZero' over those with a positive
   * loss only (pytorch-metric-learning's AvgNonZeroReducer), which keeps the gradient from fading as
   * more triplets become easy.
   */
  reduction?: 'mean' | 'meanNonZero';
  /**
   * Soft margin (Hermans et al.): softplus(d(a,p) − d(a,n)) instead of the hinge, with gradient
   * σ(d(a,p) − d(a,n)); `margin` is then unused, and every triplet counts as active (softplus > 0).
   */
  softMargin?: boolean;
}

/**
 * Triplet margin loss on L2-normalised embeddings, with batch-hard mining and squared Euclidean distance
 * by default (FaceNet's loss with Hermans et al.'s mining). Gradients are exact for the mined triplets
 * (the hinge's subgradient at 0 is taken as 0).
 */
export class TripletMarginLoss implements EmbeddingLoss {
  readonly name = 'triplet';
  readonly margin: number;
  readonly distance: Distance;
  readonly miner: Miner;
  readonly reduction: 'mean' | 'meanNonZero';
  readonly softMargin: boolean;

  constructor(opts: TripletLossOptions = {}) {
    this.margin = opts.margin ?? 0.2;
    if (!(this.margin >= 0)) throw new VisageError('E_BAD_OPTION', `margin must be ≥ 0, got ${this.margin}`);
    this.distance = opts.distance ?? squaredEuclidean;
    this.miner = opts.miner ?? batchHardMiner;
    this.reduction = opts.reduction ?? 'mean';
    this.softMargin = opts.softMargin ?? false;
  }

  compute(emb: Float32Array, labels: ArrayLike<number>, dim: number): LossResult {
    const n = labels.length;
    if (emb.length !== n * dim)
      throw new VisageError('E_BAD_INPUT', `${emb.length} embedding values for ${n} labels × ${dim} dims`);
    const dist = this.distance.pairwise(emb, n, dim);
    const { anchors, positives, negatives } = this.miner.mine(dist, labels, n);
    const t = anchors.length;
    const hinge = new Float64Array(t);
    const slope = this.softMargin ? new Float64Array(t) : null;
    let active = 0;
    let sumPos = 0;
    let sumNeg = 0;
    for (let k = 0; k < t; k++) {
      const dap = dist[anchors[k] * n + positives[k]];
      const dan = dist[anchors[k] * n + negatives[k]];
      sumPos += dap;
      sumNeg += dan;
      hinge[k] = dap - dan + this.margin;
      if (slope) {
        const x = dap - dan;
        hinge[k] = x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
        slope[k] = 1 / (1 + Math.exp(-x));
      }
      if (hinge[k] > 0) active++;
    }
    const denom = this.reduction === 'mean' ? t : active;
    const grad64 = new Float64Array(n * dim);
    let loss = 0;
    if (denom > 0) {
      const g = 1 / denom;
      for (let k = 0; k < t; k++) {
        if (!(hinge[k] > 0)) continue;
        loss += hinge[k] * g;
        const a = anchors[k];
        const gk = slope ? g * slope[k] : g;
        this.distance.backward(emb, dim, a, positives[k], dist[a * n + positives[k]], gk, grad64);
        this.distance.backward(emb, dim, a, negatives[k], dist[a * n + negatives[k]], -gk, grad64);
      }
    }
    return {
      loss,
      grad: Float32Array.from(grad64),
      stats: {
        triplets: t,
        activeTriplets: active,
        meanPositiveDistance: t ? sumPos / t : 0,
        meanNegativeDistance: t ? sumNeg / t : 0,
      },
    };
  }
}
