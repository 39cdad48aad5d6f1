import { VisageError } from '../../errors.js';
import { checkSeed, deriveSeed, Rng } from '../data/rng.js';
import { HeadAdam, NO_ADAM, type HeadAdamState } from './head-adam.js';
import type { EmbeddingLoss, LossResult } from './types.js';

/**
 * Identity classification as a metric-learning loss (NormFace / CosFace): one learned proxy per training
 * identity, logits s·cos(f(x), w_c) with the true class's cosine lowered by a margin m, and softmax cross
 * entropy. Every image is compared with every identity, not only with the few in its batch, so the loss
 * keeps a signal after the batch's triplets are all satisfied. The proxies live in the loss (like the pair
 * head) and take an Adam step per batch; only the embedding is kept, so held-out people need no proxy.
 */
export interface ProxySoftmaxOptions {
  /** Number of training identities: labels must lie in 0…classes−1. */
  classes: number;
  /** s: the logits' scale (cosines alone are too flat for a softmax). Default 16. */
  scale?: number;
  /** m: additive cosine margin on the true class (CosFace). Default 0.1. */
  margin?: number;
  /** Adam learning rate of the proxies. Default 0.01. */
  lr?: number;
  seed?: number;
}

/** Everything compute() depends on besides its arguments: JSON-serialisable for checkpoints. */
export interface ProxySoftmaxState extends HeadAdamState {
  classes: number;
  proxies: number[] | null;
}

/** The defaults of ProxySoftmaxOptions (also named in the training report). */
export const PROXY_SOFTMAX_DEFAULTS = { scale: 16, margin: 0.1, lr: 1e-2 } as const;

/** Keeps the proxies' initialisation apart from the other seeded streams. */
const PROXY_STREAM = 0x70726f;

export class ProxySoftmaxLoss implements EmbeddingLoss {
  readonly name = 'softmax';
  readonly classes: number;
  readonly scale: number;
  readonly margin: number;
  private readonly lr: number;
  private readonly seed: number;
  /** classes × dim, unnormalised (the loss normalises them). */
  private w: Float64Array | null = null;
  private adam: HeadAdam | null = null;

  constructor(opts: ProxySoftmaxOptions) {
    this.classes = opts.classes;
    if (!Number.isInteger(this.classes) || this.classes < 2)
      throw new VisageError('E_BAD_OPTION', `softmax needs ≥ 2 classes, got ${this.classes}`);
    this.scale = opts.scale ?? PROXY_SOFTMAX_DEFAULTS.scale;
    if (!(this.scale > 0))
      throw new VisageError('E_BAD_OPTION', `softmax scale must be > 0, got ${this.scale}`);
    this.margin = opts.margin ?? PROXY_SOFTMAX_DEFAULTS.margin;
    if (!(this.margin >= 0))
      throw new VisageError('E_BAD_OPTION', `softmax margin must be ≥ 0, got ${this.margin}`);
    this.lr = opts.lr ?? PROXY_SOFTMAX_DEFAULTS.lr;
    if (!(this.lr > 0))
      throw new VisageError('E_BAD_OPTION', `proxy learning rate must be > 0, got ${this.lr}`);
    this.seed = opts.seed ?? 0;
    checkSeed(this.seed);
  }

  /** Gaussian proxies, one seeded stream per class (Box–Muller). */
  private ensureProxies(dim: number): Float64Array {
    if (this.w === null) {
      const w = new Float64Array(this.classes * dim);
      for (let c = 0; c < this.classes; c++) {
        const rng = new Rng(deriveSeed(this.seed, PROXY_STREAM, c));
        for (let k = 0; k < dim; k++) {
          const u = 1 - rng.next();
          w[c * dim + k] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
        }
      }
      this.w = w;
      this.adam = new HeadAdam(w.length, this.lr);
    } else if (this.w.length !== this.classes * dim)
      throw new VisageError(
        'E_BAD_INPUT',
        `the proxies are ${this.w.length / this.classes}-d, got ${dim}-d embeddings`,
      );
    return this.w;
  }

  compute(emb: Float32Array, labels: ArrayLike<number>, dim: number): LossResult {
    const r = proxySoftmax(emb, labels, dim, this.ensureProxies(dim), this.classes, this.scale, this.margin);
    this.adam!.step(this.w!, r.proxyGrad);
    return { loss: r.loss, grad: r.grad, stats: { classAccuracy: r.accuracy } };
  }

  state(): ProxySoftmaxState {
    return {
      classes: this.classes,
      proxies: this.w ? [...this.w] : null,
      ...(this.adam?.state() ?? NO_ADAM),
    };
  }

  /** Puts back a state() taken from a loss with the same number of classes; throws E_BAD_INPUT otherwise. */
  restore(s: ProxySoftmaxState): void {
    if (s.classes !== this.classes)
      throw new VisageError('E_BAD_INPUT', `checkpoint has ${s.classes} proxies, this run ${this.classes}`);
    if (s.proxies === null) {
      this.w = null;
      this.adam = null;
      return;
    }
    this.adam = HeadAdam.restore(s.proxies.length, this.lr, s, 'proxy');
    this.w = Float64Array.from(s.proxies);
  }
}

function normalizeRows(
  x: ArrayLike<number>,
  rows: number,
  dim: number,
): { unit: Float64Array; norm: Float64Array } {
  const unit = new Float64Array(rows * dim);
  const norm = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += x[i * dim + k] ** 2;
    const n = Math.sqrt(s);
    if (!(n > 0)) throw new VisageError('E_BAD_INPUT', `row ${i} of the softmax input has zero norm`);
    norm[i] = n;
    for (let k = 0; k < dim; k++) unit[i * dim + k] = x[i * dim + k] / n;
  }
  return { unit, norm };
}

/** The gradient of a unit vector's loss carried back through u = x/|x|: (g − u(u·g)) / |x|. */
function throughNormalize(
  g: Float64Array,
  unit: Float64Array,
  norm: Float64Array,
  rows: number,
  dim: number,
): Float64Array {
  const out = new Float64Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    let dot = 0;
    for (let k = 0; k < dim; k++) dot += g[i * dim + k] * unit[i * dim + k];
    for (let k = 0; k < dim; k++) out[i * dim + k] = (g[i * dim + k] - unit[i * dim + k] * dot) / norm[i];
  }
  return out;
}

/**
 * Mean over the batch of −log softmax(s·cos − s·m·onehot)_y, with its gradients for the embeddings and the
 * (unnormalised) proxies; `accuracy` is the share of images whose nearest proxy is their own.
 */
export function proxySoftmax(
  emb: ArrayLike<number>,
  labels: ArrayLike<number>,
  dim: number,
  proxies: ArrayLike<number>,
  classes: number,
  scale: number,
  margin: number,
): { loss: number; grad: Float32Array; proxyGrad: Float64Array; accuracy: number } {
  const n = labels.length;
  if (emb.length !== n * dim)
    throw new VisageError('E_BAD_INPUT', `${emb.length} embedding values for ${n} labels × ${dim} dims`);
  for (let i = 0; i < n; i++)
    if (!Number.isInteger(labels[i]) || labels[i] < 0 || labels[i] >= classes)
      throw new VisageError('E_BAD_INPUT', `label ${labels[i]} is outside 0…${classes - 1}`);
  const e = normalizeRows(emb, n, dim);
  const w = normalizeRows(proxies, classes, dim);
  const gCos = new Float64Array(n * classes);
  let loss = 0;
  let correct = 0;
  const z = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    let best = 0;
    let bestCos = -Infinity;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) {
      let cos = 0;
      for (let k = 0; k < dim; k++) cos += e.unit[i * dim + k] * w.unit[c * dim + k];
      if (cos > bestCos) {
        bestCos = cos;
        best = c;
      }
      z[c] = scale * (cos - (c === y ? margin : 0));
      if (z[c] > max) max = z[c];
    }
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(z[c] - max);
    loss += max + Math.log(sum) - z[y];
    for (let c = 0; c < classes; c++)
      gCos[i * classes + c] = (scale * (Math.exp(z[c] - max) / sum - (c === y ? 1 : 0))) / n;
    if (best === y) correct++;
  }
  // d/dê_i = Σ_c gCos_ic ŵ_c and d/dŵ_c = Σ_i gCos_ic ê_i, then back through both normalisations.
  const gE = new Float64Array(n * dim);
  const gW = new Float64Array(classes * dim);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < classes; c++) {
      const g = gCos[i * classes + c];
      for (let k = 0; k < dim; k++) {
        gE[i * dim + k] += g * w.unit[c * dim + k];
        gW[c * dim + k] += g * e.unit[i * dim + k];
      }
    }
  return {
    loss: loss / n,
    grad: Float32Array.from(throughNormalize(gE, e.unit, e.norm, n, dim)),
    proxyGrad: throughNormalize(gW, w.unit, w.norm, classes, dim),
    accuracy: correct / n,
  };
}
