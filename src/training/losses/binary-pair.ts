import { VisageError } from '../../errors.js';
import { checkSeed, deriveSeed, Rng } from '../data/rng.js';
import { HeadAdam, NO_ADAM, type HeadAdamState } from './head-adam.js';
import type { EmbeddingLoss, LossResult } from './types.js';

/**
 * Verification as binary classification (DeepFace / the course's alternative to the triplet loss): a
 * logistic head on a symmetric pair feature, ŷ = σ(Σ_k w_k·φ_k + b), trained with binary cross-entropy
 * on balanced same/different pairs of the batch. The encoder is shared by both branches (Siamese): the
 * loss returns dL/d(embeddings) for joint training, and also trains its own head.
 */

/**
 * Pair features, per coordinate k:
 * - 'abs':  φ_k = |f_i,k − f_j,k|
 * - 'chi2': φ_k = (f_i,k − f_j,k)² / (|f_i,k| + |f_j,k| + ε). The textbook χ² divides by f_i + f_j, meant
 *   for non-negative histograms; L2-normalised embeddings have negative coordinates, where f_i + f_j can
 *   vanish or change sign, so we divide by |f_i| + |f_j| (equal to f_i + f_j when both are ≥ 0).
 */
export type PairFeatures = 'abs' | 'chi2';

/** The logistic head, everything needed to score pairs. */
export interface PairHead {
  features: PairFeatures;
  w: Float32Array;
  b: number;
  /** ε of the χ² denominator (unused by 'abs'). */
  eps: number;
}

/** Pairs of batch rows (i < j) with their target: 1 = same identity, 0 = different. */
export interface Pairs {
  i: Int32Array;
  j: Int32Array;
  same: Uint8Array;
}

/**
 * Balanced pairs from a batch: every same-label pair and as many different-label pairs, drawn uniformly
 * without replacement with `rng`. When the batch has fewer different-label pairs than same-label ones
 * (e.g. a single identity), the same-label pairs are subsampled instead, so both classes are always equally
 * represented; with no pair of either kind the result is empty. Within each class pairs come in (i, j)
 * lexicographic order, same-label pairs first.
 */
export function balancedPairs(labels: ArrayLike<number>, rng: Rng): Pairs {
  const n = labels.length;
  const same: number[] = [];
  const diff: number[] = [];
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) (labels[i] === labels[j] ? same : diff).push(i * n + j);
  const m = Math.min(same.length, diff.length);
  const chosen = [pick(same, m, rng), pick(diff, m, rng)];
  const out: Pairs = { i: new Int32Array(2 * m), j: new Int32Array(2 * m), same: new Uint8Array(2 * m) };
  chosen.forEach((list, c) => {
    list.forEach((code, r) => {
      const q = c * m + r;
      out.i[q] = Math.floor(code / n);
      out.j[q] = code % n;
      out.same[q] = c === 0 ? 1 : 0;
    });
  });
  return out;
}

/** m of `all` uniformly without replacement (partial Fisher–Yates), sorted; all of them when m = length. */
function pick(all: number[], m: number, rng: Rng): number[] {
  if (m >= all.length) return all;
  const a = all.slice();
  for (let r = 0; r < m; r++) {
    const s = r + rng.int(a.length - r);
    const t = a[r];
    a[r] = a[s];
    a[s] = t;
  }
  return a.slice(0, m).sort((x, y) => x - y);
}

/** Loss of a head on given pairs, with gradients for the embeddings and the head (float64). */
export interface PairLossResult {
  loss: number;
  gradEmb: Float64Array;
  gradW: Float64Array;
  gradB: number;
  /** Pairs classified correctly at P(same) > 0.5. */
  correct: number;
  /** Mean P(same) over same-label pairs and over different-label pairs. */
  meanSameScore: number;
  meanDiffScore: number;
}

/** log(1 + eˣ) without overflow. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/**
 * Mean binary cross-entropy of ŷ = σ(w·φ(f_i, f_j) + b) over `pairs`, computed as softplus(z) − y·z (exact
 * for large |z|), with its gradient for the embeddings (n × dim) and for w and b. |x|'s subgradient at 0
 * is taken as 0. An empty pair set gives loss 0 and zero gradients.
 */
export function pairLoss(
  emb: ArrayLike<number>,
  dim: number,
  pairs: Pairs,
  head: { features: PairFeatures; w: ArrayLike<number>; b: number; eps: number },
): PairLossResult {
  const m = pairs.i.length;
  const gradEmb = new Float64Array(emb.length);
  const gradW = new Float64Array(dim);
  const phi = new Float64Array(dim);
  const res: PairLossResult = {
    loss: 0,
    gradEmb,
    gradW,
    gradB: 0,
    correct: 0,
    meanSameScore: 0,
    meanDiffScore: 0,
  };
  if (m === 0) return res;
  const chi2 = head.features === 'chi2';
  let nSame = 0;
  for (let q = 0; q < m; q++) {
    const oi = pairs.i[q] * dim;
    const oj = pairs.j[q] * dim;
    let z = head.b;
    for (let k = 0; k < dim; k++) {
      const u = emb[oi + k] - emb[oj + k];
      phi[k] = chi2 ? (u * u) / (Math.abs(emb[oi + k]) + Math.abs(emb[oj + k]) + head.eps) : Math.abs(u);
      z += head.w[k] * phi[k];
    }
    const y = pairs.same[q];
    const p = sigmoid(z);
    res.loss += softplus(z) - y * z;
    if (p > 0.5 === (y === 1)) res.correct++;
    if (y === 1) {
      nSame++;
      res.meanSameScore += p;
    } else res.meanDiffScore += p;
    const dz = (p - y) / m;
    res.gradB += dz;
    for (let k = 0; k < dim; k++) {
      gradW[k] += dz * phi[k];
      const g = dz * head.w[k];
      if (g === 0) continue;
      const fi = emb[oi + k];
      const fj = emb[oj + k];
      const u = fi - fj;
      if (chi2) {
        // φ = u²/s, s = |f_i| + |f_j| + ε: ∂φ/∂f_i = 2u/s − u²·sign(f_i)/s², ∂φ/∂f_j = −2u/s − u²·sign(f_j)/s².
        const s = Math.abs(fi) + Math.abs(fj) + head.eps;
        const a = (2 * u) / s;
        const c = (u * u) / (s * s);
        gradEmb[oi + k] += g * (a - c * Math.sign(fi));
        gradEmb[oj + k] += g * (-a - c * Math.sign(fj));
      } else {
        const sg = Math.sign(u);
        gradEmb[oi + k] += g * sg;
        gradEmb[oj + k] -= g * sg;
      }
    }
  }
  res.loss /= m;
  res.meanSameScore /= Math.max(nSame, 1);
  res.meanDiffScore /= Math.max(m - nSame, 1);
  return res;
}

/** P(same) for each row pair (a_r, b_r); a and b are r × dim with dim = head.w.length. */
export function scorePairs(head: PairHead, a: Float32Array, b: Float32Array): Float64Array {
  const dim = head.w.length;
  if (a.length !== b.length || a.length % dim !== 0)
    throw new VisageError(
      'E_BAD_INPUT',
      `cannot pair ${a.length} and ${b.length} values of ${dim}-d embeddings`,
    );
  const r = a.length / dim;
  const out = new Float64Array(r);
  for (let q = 0; q < r; q++) {
    let z = head.b;
    for (let k = 0; k < dim; k++) {
      const x = a[q * dim + k];
      const y = b[q * dim + k];
      const u = x - y;
      z +=
        head.w[k] *
        (head.features === 'chi2' ? (u * u) / (Math.abs(x) + Math.abs(y) + head.eps) : Math.abs(u));
    }
    out[q] = sigmoid(z);
  }
  return out;
}

export interface BinaryPairLossOptions {
  features?: PairFeatures;
  /** Seed of the different-pair draws (call c uses deriveSeed(seed, stream, c)); default 0. */
  seed?: number;
  /** Learning rate of the head's own Adam step (β = 0.9, 0.999); default 1e-2. */
  headLr?: number;
  /** Whether compute() also steps the head (default true); false keeps the head fixed. */
  trainHead?: boolean;
  /**
   * Initial weights: every w_k starts at `initWeight` (default −1, so that a larger feature, i.e. a larger
   * difference, lowers P(same) from the first step and the encoder gets a useful gradient at once; w = 0
   * would give it none), b at `initBias` (default 0).
   */
  initWeight?: number;
  initBias?: number;
  /** ε of the χ² denominator; default 1e-6. */
  eps?: number;
}

/** Everything compute() depends on besides its arguments: JSON-serialisable for checkpoints. */
export interface BinaryPairLossState extends HeadAdamState {
  features: PairFeatures;
  eps: number;
  w: number[] | null;
  b: number;
  calls: number;
}

/** Keeps the pair draws apart from the data pipeline's streams (data/rng.ts STREAM uses 1–3). */
const PAIR_STREAM = 0x706169;

/**
 * Binary cross-entropy on balanced same/different pairs of the batch (see balancedPairs), as an
 * EmbeddingLoss for joint training. Each compute() evaluates the current head, returns dL/d(embeddings),
 * then takes one Adam step on the head with the same pairs. The head is created on the first call, when
 * the embedding size is known.
 */
export class BinaryPairLoss implements EmbeddingLoss {
  readonly name = 'binary';
  readonly features: PairFeatures;
  readonly eps: number;
  readonly trainHead: boolean;
  private readonly seed: number;
  private readonly initWeight: number;
  private readonly initBias: number;
  /** [w_0 … w_{dim−1}, b] */
  private params: Float64Array | null = null;
  private adam: HeadAdam | null = null;
  private readonly headLr: number;
  private calls = 0;

  constructor(opts: BinaryPairLossOptions = {}) {
    this.features = opts.features ?? 'abs';
    if (this.features !== 'abs' && this.features !== 'chi2')
      throw new VisageError(
        'E_BAD_OPTION',
        `pair features must be 'abs' or 'chi2', got '${String(this.features)}'`,
      );
    this.seed = opts.seed ?? 0;
    checkSeed(this.seed);
    this.headLr = opts.headLr ?? 1e-2;
    if (!(this.headLr > 0))
      throw new VisageError('E_BAD_OPTION', `head learning rate must be > 0, got ${this.headLr}`);
    this.trainHead = opts.trainHead ?? true;
    this.initWeight = opts.initWeight ?? -1;
    this.initBias = opts.initBias ?? 0;
    this.eps = opts.eps ?? 1e-6;
    if (!(this.eps > 0)) throw new VisageError('E_BAD_OPTION', `eps must be > 0, got ${this.eps}`);
  }

  private ensureHead(dim: number): Float64Array {
    if (this.params === null) {
      this.params = new Float64Array(dim + 1).fill(this.initWeight);
      this.params[dim] = this.initBias;
      this.adam = new HeadAdam(dim + 1, this.headLr);
    } else if (this.params.length !== dim + 1)
      throw new VisageError(
        'E_BAD_INPUT',
        `the pair head has ${this.params.length - 1} inputs, got ${dim}-d embeddings`,
      );
    return this.params;
  }

  /** The pairs the next compute() will use for these labels (does not advance the draw). */
  nextPairs(labels: ArrayLike<number>): Pairs {
    return balancedPairs(labels, new Rng(deriveSeed(this.seed, PAIR_STREAM, this.calls)));
  }

  compute(emb: Float32Array, labels: ArrayLike<number>, dim: number): LossResult {
    const n = labels.length;
    if (emb.length !== n * dim)
      throw new VisageError('E_BAD_INPUT', `${emb.length} embedding values for ${n} labels × ${dim} dims`);
    const params = this.ensureHead(dim);
    const pairs = this.nextPairs(labels);
    this.calls++;
    const r = pairLoss(emb, dim, pairs, {
      features: this.features,
      w: params.subarray(0, dim),
      b: params[dim],
      eps: this.eps,
    });
    const m = pairs.i.length;
    if (this.trainHead && m > 0) {
      const g = new Float64Array(dim + 1);
      g.set(r.gradW);
      g[dim] = r.gradB;
      this.adam!.step(params, g);
    }
    return {
      loss: r.loss,
      grad: Float32Array.from(r.gradEmb),
      stats: {
        pairs: m,
        pairAccuracy: m ? r.correct / m : 0,
        meanSameScore: r.meanSameScore,
        meanDiffScore: r.meanDiffScore,
      },
    };
  }

  /** A copy of the current head; before the first compute() pass `dim` to create it (initWeight/initBias). */
  head(dim?: number): PairHead {
    const params = this.params ?? (dim !== undefined ? this.ensureHead(dim) : null);
    if (params === null)
      throw new VisageError('E_INTERNAL', 'the pair head has no size before the first batch');
    const d = params.length - 1;
    return {
      features: this.features,
      w: Float32Array.from(params.subarray(0, d)),
      b: params[d],
      eps: this.eps,
    };
  }

  state(): BinaryPairLossState {
    const p = this.params;
    return {
      features: this.features,
      eps: this.eps,
      w: p ? [...p.subarray(0, p.length - 1)] : null,
      b: p ? p[p.length - 1] : this.initBias,
      ...(this.adam?.state() ?? NO_ADAM),
      calls: this.calls,
    };
  }

  /** Puts back a state() taken from a loss with the same features and ε; throws E_BAD_INPUT otherwise. */
  restore(s: BinaryPairLossState): void {
    if (s.features !== this.features || s.eps !== this.eps)
      throw new VisageError(
        'E_BAD_INPUT',
        `checkpoint head uses ${s.features}/ε=${s.eps}, this loss ${this.features}/ε=${this.eps}`,
      );
    this.calls = s.calls;
    if (s.w === null) {
      this.params = null;
      this.adam = null;
      return;
    }
    this.adam = HeadAdam.restore(s.w.length + 1, this.headLr, s, 'head');
    this.params = Float64Array.from([...s.w, s.b]);
  }
}

export interface TrainHeadOptions {
  features?: PairFeatures;
  /** Full-batch Adam iterations; default 300. */
  iterations?: number;
  /** Default 0.05: the head is tiny and the problem convex, so a large step is safe. */
  lr?: number;
  /** Seed of the different-pair draw; default 0. */
  seed?: number;
  eps?: number;
  initWeight?: number;
  initBias?: number;
}

/**
 * Frozen-encoder mode: trains only the head on precomputed embeddings (n × dim, with their labels), full
 * batch, on one fixed balanced draw of pairs over the whole set (every same-label pair and as many
 * different-label ones; memory and time grow with that count, e.g. 2 × 1350 pairs for ORL's 30 × 10
 * training images). Returns the head, its accuracy on those pairs at P(same) > 0.5, and the final loss.
 */
export function trainHeadOnEmbeddings(
  emb: Float32Array,
  labels: ArrayLike<number>,
  dim: number,
  opts: TrainHeadOptions = {},
): { head: PairHead; accuracy: number; loss: number; pairs: number } {
  const n = labels.length;
  if (emb.length !== n * dim)
    throw new VisageError('E_BAD_INPUT', `${emb.length} embedding values for ${n} labels × ${dim} dims`);
  const iterations = opts.iterations ?? 300;
  if (!Number.isInteger(iterations) || iterations < 0)
    throw new VisageError('E_BAD_OPTION', `iterations must be a non-negative integer, got ${iterations}`);
  const lr = opts.lr ?? 0.05;
  // The constructor validates features, seed, lr and ε; its first draw is the fixed pair set.
  const loss = new BinaryPairLoss({ ...opts, headLr: lr });
  const pairs = loss.nextPairs(labels);
  const features = loss.features;
  const params = new Float64Array(dim + 1).fill(opts.initWeight ?? -1);
  params[dim] = opts.initBias ?? 0;
  const adam = new HeadAdam(dim + 1, lr);
  const g = new Float64Array(dim + 1);
  const evalHead = () =>
    pairLoss(emb, dim, pairs, { features, w: params.subarray(0, dim), b: params[dim], eps: loss.eps });
  for (let it = 0; it < iterations && pairs.i.length > 0; it++) {
    const r = evalHead();
    g.set(r.gradW);
    g[dim] = r.gradB;
    adam.step(params, g);
  }
  const r = evalHead();
  const m = pairs.i.length;
  return {
    head: { features, w: Float32Array.from(params.subarray(0, dim)), b: params[dim], eps: loss.eps },
    accuracy: m ? r.correct / m : 0,
    loss: r.loss,
    pairs: m,
  };
}
