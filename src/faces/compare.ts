/**
 * Comparing face embeddings: distances, the same/different decision, and a calibrated confidence.
 *
 * Visage's one distance is the SQUARED Euclidean distance between L2-normalised embeddings, in [0, 4]
 * (= 2 − 2·cos). Squared because the gallery scores with one dot product per vector (‖a−b‖² = 2 − 2·a·b)
 * and a threshold on d² orders pairs exactly as one on d does. face-api's usual "0.6" is a plain
 * Euclidean distance between raw (not unit-length) dlib descriptors; see DEFAULT_POLICIES.
 */
import { VisageError } from '../errors.js';

/** Anything vector-like; embeddings are Float32Array but metrics also accept plain arrays. */
export type Vector = ArrayLike<number>;

function checkSameLength(a: Vector, b: Vector): void {
  if (a.length !== b.length) {
    throw new VisageError('E_BAD_INPUT', `vectors differ in length: ${a.length} vs ${b.length}`, {
      a: a.length,
      b: b.length,
    });
  }
}

export function dot(a: Vector, b: Vector): number {
  checkSameLength(a, b);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** ‖a − b‖², computed directly (no unit-norm assumption); accumulates in float64. */
export function squaredL2(a: Vector, b: Vector): number {
  checkSameLength(a, b);
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return s;
}

/** 1 − cos(a, b), in [0, 2]; for unit vectors this is exactly squaredL2 / 2. Zero vectors → E_BAD_INPUT. */
export function cosineDistance(a: Vector, b: Vector): number {
  checkSameLength(a, b);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  if (aa === 0 || bb === 0) throw new VisageError('E_BAD_INPUT', 'cosine distance of a zero vector');
  // Clamp: rounding can push |cos| a hair past 1.
  return 1 - Math.max(-1, Math.min(1, ab / Math.sqrt(aa * bb)));
}

/**
 * Test-time flip augmentation: row by row, the unit-length mean of an image's embedding (`a`) and its
 * mirror image's (`b`): what `--flip` means in the encoder and in `visage train --val-flip`.
 */
export function flipAverage(a: Float32Array, b: Float32Array, dim: number): Float32Array {
  if (a.length !== b.length || a.length % dim !== 0)
    throw new VisageError('E_INTERNAL', `cannot average ${a.length} and ${b.length} values of ${dim}-D rows`);
  const out = new Float32Array(a.length);
  for (let o = 0; o < a.length; o += dim)
    out.set(meanDirection([a.subarray(o, o + dim), b.subarray(o, o + dim)]), o);
  return out;
}

/**
 * The unit-length mean of several unit descriptors of one face (jitter averaging; flipAverage is the
 * two-vector case done row by row).
 */
export function meanDirection(vectors: readonly Float32Array[]): Float32Array {
  if (vectors.length === 0) throw new VisageError('E_INTERNAL', 'meanDirection of no vectors');
  const out = new Float32Array(vectors[0].length);
  for (const v of vectors) {
    checkSameLength(out, v);
    for (let k = 0; k < out.length; k++) out[k] += v[k];
  }
  let ss = 0;
  for (const x of out) ss += x * x;
  const norm = Math.sqrt(ss);
  if (norm > 0) for (let k = 0; k < out.length; k++) out[k] /= norm;
  return out;
}

/** A unit-length float32 copy of `v`; rejects non-finite and zero vectors (they carry no identity). */
export function l2Normalize(v: Vector): Float32Array {
  let ss = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (!Number.isFinite(x)) {
      throw new VisageError('E_BAD_INPUT', `embedding has a non-finite value at index ${i}`, { index: i });
    }
    ss += x * x;
  }
  if (ss === 0) throw new VisageError('E_BAD_INPUT', 'embedding is the zero vector');
  const inv = 1 / Math.sqrt(ss);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] * inv;
  return out;
}

export interface VerifyDecision {
  /** true when distance ≤ threshold (the threshold itself counts as "same", as in the ROC code). */
  same: boolean;
  distance: number;
  threshold: number;
  /** threshold − distance: positive = same, how far from the boundary (in squared-L2 units). */
  margin: number;
}

export function verifyDecision(distance: number, threshold: number): VerifyDecision {
  if (!Number.isFinite(distance) || distance < 0) {
    throw new VisageError('E_BAD_INPUT', `distance must be a finite number ≥ 0, got ${distance}`);
  }
  if (!Number.isFinite(threshold)) {
    throw new VisageError('E_BAD_OPTION', `threshold must be a finite number, got ${threshold}`);
  }
  return { same: distance <= threshold, distance, threshold, margin: threshold - distance };
}

/**
 * p(same | d) = σ(a·d + b). For a useful model a < 0 (larger distance, less likely the same person).
 * Fitted on labelled pairs rather than derived from the threshold, because the threshold fixes only where
 * p = 0.5 (roughly), not how quickly confidence falls off around it.
 */
export interface ConfidenceModel {
  a: number;
  b: number;
}

export function sigmoid(z: number): number {
  // Two branches so exp never overflows.
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

export function confidence(model: ConfidenceModel, distance: number): number {
  return sigmoid(model.a * distance + model.b);
}

/** The distance at which confidence equals p (0 < p < 1); e.g. p = 0.5 gives −b/a. */
export function distanceAtConfidence(model: ConfidenceModel, p: number): number {
  if (!(p > 0 && p < 1)) throw new VisageError('E_BAD_OPTION', `confidence must be in (0, 1), got ${p}`);
  if (model.a === 0) throw new VisageError('E_BAD_INPUT', 'confidence model is flat (a = 0)');
  return (Math.log(p / (1 - p)) - model.b) / model.a;
}

export interface FitOptions {
  /**
   * Strength λ of the Gaussian prior ½λ(a² + b²). Tiny by default: it changes nothing measurable on
   * overlapping classes, but keeps the optimum finite when same/different distances are separable
   * (the unpenalised MLE then runs off to a = −∞).
   */
  l2?: number;
  maxIter?: number;
  /**
   * Weight the two classes equally (each pair by n / (2 · its class count)), so that the confidence is
   * P(same | d) for even odds — what a 1:1 check of a claimed identity asks — and not the share of
   * same-person pairs in the calibration set (0.1 % when every pair of 300 people is used).
   */
  balanced?: boolean;
}

export interface FitResult extends ConfidenceModel {
  iterations: number;
  converged: boolean;
  /** Mean negative log-likelihood per pair at the optimum (without the prior term). */
  logLoss: number;
}

/**
 * Logistic regression of label on distance by Newton's method (= IRLS) with backtracking on the
 * penalised negative log-likelihood, which is strictly convex for λ > 0, so it converges from (0, 0).
 */
export function fitConfidence(
  distances: ArrayLike<number>,
  labels: ArrayLike<boolean | number>,
  opts: FitOptions = {},
): FitResult {
  const n = distances.length;
  if (n !== labels.length) {
    throw new VisageError('E_BAD_INPUT', `distances (${n}) and labels (${labels.length}) differ in length`);
  }
  if (n === 0) throw new VisageError('E_BAD_INPUT', 'cannot fit confidence on zero pairs');
  const y = new Float64Array(n);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(distances[i])) {
      throw new VisageError('E_BAD_INPUT', `distance ${i} is not finite: ${distances[i]}`, { index: i });
    }
    y[i] = labels[i] ? 1 : 0;
    pos += y[i];
  }
  if (pos === 0 || pos === n) {
    throw new VisageError('E_BAD_INPUT', 'confidence fit needs both same-person and different-person pairs', {
      same: pos,
      different: n - pos,
    });
  }
  const lambda = opts.l2 ?? 1e-4;
  const maxIter = opts.maxIter ?? 100;
  const wPos = opts.balanced ? n / (2 * pos) : 1;
  const wNeg = opts.balanced ? n / (2 * (n - pos)) : 1;
  const weight = new Float64Array(n);
  for (let i = 0; i < n; i++) weight[i] = y[i] ? wPos : wNeg;

  // Penalised objective, using log(1+e^z) in its overflow-safe form.
  const objective = (a: number, b: number): number => {
    let f = 0;
    for (let i = 0; i < n; i++) {
      const z = a * distances[i] + b;
      const softplus = z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
      f += weight[i] * (softplus - y[i] * z);
    }
    return f + 0.5 * lambda * (a * a + b * b);
  };

  let a = 0;
  let b = 0;
  let f = objective(a, b);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIter) {
    iterations++;
    let ga = lambda * a;
    let gb = lambda * b;
    let haa = lambda;
    let hab = 0;
    let hbb = lambda;
    for (let i = 0; i < n; i++) {
      const d = distances[i];
      const p = sigmoid(a * d + b);
      const r = weight[i] * (p - y[i]);
      const w = weight[i] * p * (1 - p);
      ga += r * d;
      gb += r;
      haa += w * d * d;
      hab += w * d;
      hbb += w;
    }
    const det = haa * hbb - hab * hab;
    // Newton step −H⁻¹g for the 2×2 system.
    const sa = -(hbb * ga - hab * gb) / det;
    const sb = -(haa * gb - hab * ga) / det;
    let t = 1;
    let fNew = objective(a + sa, b + sb);
    while (fNew > f && t > 1e-10) {
      t /= 2;
      fNew = objective(a + t * sa, b + t * sb);
    }
    a += t * sa;
    b += t * sb;
    const decrease = f - fNew;
    f = fNew;
    if (
      Math.abs(t * sa) + Math.abs(t * sb) < 1e-10 * (1 + Math.abs(a) + Math.abs(b)) ||
      decrease < 1e-13 * n
    ) {
      converged = true;
      break;
    }
  }
  const logLoss = (f - 0.5 * lambda * (a * a + b * b)) / n;
  return { a, b, iterations, converged, logLoss };
}

/** How one embedding model's distances are turned into decisions. Produced by calibration, see calibration.ts. */
export interface ThresholdPolicy {
  /** Embedding model id, e.g. 'dlib-resnet34@face-api-1.7'. */
  model: string;
  /** Always squared L2 between unit vectors for now; recorded so a file can never be misread. */
  metric: 'squared-l2';
  /** Default verification / open-set threshold τ: same person when d ≤ τ. */
  threshold: number;
  /** Calibrated confidence; absent until a calibration has been run for this model. */
  confidence?: ConfidenceModel;
}

/**
 * Built-in fallbacks used when no calibration file covers a model. The dlib ResNet-34 figure is dlib's
 * published Euclidean 0.6 on raw descriptors, converted to our unit vectors: raw descriptors of real faces
 * have length ≈ 1.45, so 0.6 / 1.45 ≈ 0.41, squared ≈ 0.17. Not a Visage measurement (that is
 * models/calibration.json); no confidence model, because that must be fitted on labelled pairs.
 */
export const DEFAULT_POLICIES: Readonly<Record<string, ThresholdPolicy>> = {
  'dlib-resnet34@face-api-1.7': {
    model: 'dlib-resnet34@face-api-1.7',
    metric: 'squared-l2',
    threshold: 0.17,
  },
};
