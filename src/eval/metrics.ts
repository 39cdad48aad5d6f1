/**
 * Verification and open-set identification metrics.
 *
 * Conventions (used everywhere in this file):
 * - Scores are distances by default (lower = more likely the same person, as Visage's squared L2);
 *   pass `orientation: 'similarity'` for scores where higher means same.
 * - A threshold t accepts a pair ("same") when d ≤ t (distance) or s ≥ t (similarity): the threshold value
 *   itself is accepted, matching faces/compare.ts `verifyDecision`.
 * - FAR = false accepts / different-person pairs; TAR = true accepts / same-person pairs; FRR = 1 − TAR.
 * - Ties are never split: all pairs with the same score are accepted or rejected together, so the ROC
 *   has a diagonal segment across a tie, and AUC counts a tied (same, different) couple as ½ — AUC equals
 *   the Mann–Whitney probability P(score_same better than score_diff) + ½·P(tie).
 */
import { VisageError } from '../errors.js';

export type Orientation = 'distance' | 'similarity';

export interface ScoreOptions {
  orientation?: Orientation;
}

export interface RocPoint {
  /** Accept when d ≤ threshold (distance) / s ≥ threshold (similarity); ±Infinity for "accept nothing". */
  threshold: number;
  far: number;
  tar: number;
  /** Counts behind far / tar. */
  falseAccepts: number;
  trueAccepts: number;
}

export interface Roc {
  orientation: Orientation;
  positives: number;
  negatives: number;
  /** From "accept nothing" (0, 0) to "accept everything" (1, 1); FAR and TAR never decrease. */
  points: RocPoint[];
}

interface Prepared {
  /** Scores mapped so that lower = more likely same (similarities negated). */
  key: Float64Array;
  pos: Uint8Array;
  order: Uint32Array;
  positives: number;
  negatives: number;
  sign: 1 | -1;
}

function prepare(
  scores: ArrayLike<number>,
  labels: ArrayLike<boolean | number>,
  orientation: Orientation,
  needBoth = true,
): Prepared {
  const n = scores.length;
  if (n !== labels.length) {
    throw new VisageError('E_BAD_INPUT', `scores (${n}) and labels (${labels.length}) differ in length`);
  }
  if (orientation !== 'distance' && orientation !== 'similarity') {
    throw new VisageError(
      'E_BAD_OPTION',
      `orientation must be 'distance' or 'similarity', got ${String(orientation)}`,
    );
  }
  const sign = orientation === 'distance' ? 1 : -1;
  const key = new Float64Array(n);
  const pos = new Uint8Array(n);
  let positives = 0;
  for (let i = 0; i < n; i++) {
    const s = scores[i];
    if (typeof s !== 'number' || Number.isNaN(s)) {
      throw new VisageError('E_BAD_INPUT', `score ${i} is not a number: ${String(s)}`, { index: i });
    }
    key[i] = sign * s;
    pos[i] = labels[i] ? 1 : 0;
    positives += pos[i];
  }
  const negatives = n - positives;
  if (needBoth && (positives === 0 || negatives === 0)) {
    throw new VisageError('E_BAD_INPUT', 'need both same-person and different-person pairs', {
      same: positives,
      different: negatives,
    });
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => key[a] - key[b]);
  return { key, pos, order, positives, negatives, sign };
}

/** Walk the sorted scores group by equal value: cb(valueKey, positivesInGroup, negativesInGroup). */
function forEachGroup(p: Prepared, cb: (key: number, pos: number, neg: number) => void): void {
  const { key, pos, order } = p;
  let i = 0;
  while (i < order.length) {
    const k = key[order[i]];
    let gp = 0;
    let gn = 0;
    while (i < order.length && key[order[i]] === k) {
      if (pos[order[i]]) gp++;
      else gn++;
      i++;
    }
    cb(k, gp, gn);
  }
}

/** The ROC curve at every distinct score (the complete set of operating points this data allows). */
export function roc(
  scores: ArrayLike<number>,
  labels: ArrayLike<boolean | number>,
  opts: ScoreOptions = {},
): Roc {
  const orientation = opts.orientation ?? 'distance';
  const p = prepare(scores, labels, orientation);
  const points: RocPoint[] = [
    { threshold: -p.sign * Infinity, far: 0, tar: 0, falseAccepts: 0, trueAccepts: 0 },
  ];
  let ta = 0;
  let fa = 0;
  forEachGroup(p, (k, gp, gn) => {
    ta += gp;
    fa += gn;
    points.push({
      threshold: p.sign * k,
      far: fa / p.negatives,
      tar: ta / p.positives,
      falseAccepts: fa,
      trueAccepts: ta,
    });
  });
  return { orientation, positives: p.positives, negatives: p.negatives, points };
}

/** Area under the ROC (trapezoids, so ties count ½). 1 = perfect, 0.5 = chance, 0 = perfectly reversed. */
export function rocAuc(curve: Roc): number {
  let area = 0;
  const pts = curve.points;
  for (let i = 1; i < pts.length; i++) {
    area += (pts[i].far - pts[i - 1].far) * (pts[i].tar + pts[i - 1].tar) * 0.5;
  }
  return area;
}

export interface EerResult {
  eer: number;
  /** Threshold at the crossing, linearly interpolated between the two bracketing operating points. */
  threshold: number;
}

/**
 * Equal error rate: where FAR = FRR along the ROC, the polyline between operating points being linear
 * interpolation. When the crossing falls exactly on an operating point, that point's threshold is returned.
 */
export function eer(curve: Roc): EerResult {
  const pts = curve.points;
  for (let i = 1; i < pts.length; i++) {
    const g1 = pts[i].far - (1 - pts[i].tar);
    if (g1 < 0) continue;
    const g0 = pts[i - 1].far - (1 - pts[i - 1].tar);
    const lambda = g0 === g1 ? 1 : g0 / (g0 - g1);
    const rate = pts[i - 1].far + lambda * (pts[i].far - pts[i - 1].far);
    const t0 = pts[i - 1].threshold;
    const t1 = pts[i].threshold;
    const threshold = lambda === 1 || !Number.isFinite(t0) ? t1 : t0 + lambda * (t1 - t0);
    return { eer: rate, threshold };
  }
  // Unreachable: the last point has FAR = 1 ≥ FRR = 0.
  throw new VisageError('E_INTERNAL', 'ROC does not end at (1, 1)');
}

export interface TarAtFarResult {
  tar: number;
  /** The FAR actually achieved (≤ the target for 'step'; = the target when interpolated). */
  far: number;
  threshold: number;
  /** false when the target FAR is below 1/negatives: the data cannot measure it (tar is then at FAR = 0). */
  resolvable: boolean;
}

/**
 * TAR at a target FAR (e.g. 1e-3).
 * - 'step' (default): the best TAR over real thresholds whose FAR ≤ target. Conservative; what a deployed
 *   threshold would give on this data.
 * - 'linear': TAR linearly interpolated on the ROC between the operating points either side of the target
 *   FAR (the usual `interp(target, fpr, tpr)` figure). Such a point is only reachable by randomising between
 *   the two thresholds, so the returned threshold is interpolated too and is indicative only.
 */
export function tarAtFar(
  curve: Roc,
  targetFar: number,
  interpolation: 'step' | 'linear' = 'step',
): TarAtFarResult {
  if (!(targetFar >= 0 && targetFar <= 1)) {
    throw new VisageError('E_BAD_OPTION', `target FAR must be in [0, 1], got ${targetFar}`);
  }
  const pts = curve.points;
  const resolvable = targetFar * curve.negatives >= 1 || targetFar === 0;
  let i = 0;
  while (i + 1 < pts.length && pts[i + 1].far <= targetFar) i++;
  const at = pts[i];
  if (interpolation === 'step' || i + 1 >= pts.length || at.far === targetFar) {
    return { tar: at.tar, far: at.far, threshold: at.threshold, resolvable };
  }
  const next = pts[i + 1];
  const lambda = (targetFar - at.far) / (next.far - at.far);
  const threshold = Number.isFinite(at.threshold)
    ? at.threshold + lambda * (next.threshold - at.threshold)
    : next.threshold;
  return { tar: at.tar + lambda * (next.tar - at.tar), far: targetFar, threshold, resolvable };
}

export interface AccuracyResult {
  accuracy: number;
  /**
   * The threshold: midway between the last accepted and the first rejected score (so it generalises rather
   * than sitting on a sample), −Infinity/+Infinity for "accept nothing"/"accept everything".
   */
  threshold: number;
}

/** The threshold with the highest accuracy (TP + TN) / N on these pairs; on ties, the strictest one. */
export function bestAccuracy(
  scores: ArrayLike<number>,
  labels: ArrayLike<boolean | number>,
  opts: ScoreOptions = {},
): AccuracyResult {
  const orientation = opts.orientation ?? 'distance';
  const p = prepare(scores, labels, orientation, false);
  const n = p.order.length;
  if (n === 0) throw new VisageError('E_BAD_INPUT', 'no pairs');
  // Cut c = accept the first c groups. Accept nothing: correct = all negatives.
  let correct = p.negatives;
  let bestCorrect = correct;
  let bestKey = -Infinity;
  const keys: number[] = [];
  const correctAfter: number[] = [];
  forEachGroup(p, (k, gp, gn) => {
    correct += gp - gn;
    keys.push(k);
    correctAfter.push(correct);
  });
  for (let g = 0; g < keys.length; g++) {
    if (correctAfter[g] > bestCorrect) {
      bestCorrect = correctAfter[g];
      bestKey = g + 1 < keys.length ? (keys[g] + keys[g + 1]) / 2 : Infinity;
    }
  }
  return { accuracy: bestCorrect / n, threshold: p.sign * bestKey };
}

/** Accuracy of a fixed threshold (accepting d ≤ t, or s ≥ t). */
export function accuracyAt(
  scores: ArrayLike<number>,
  labels: ArrayLike<boolean | number>,
  threshold: number,
  opts: ScoreOptions = {},
): number {
  const orientation = opts.orientation ?? 'distance';
  if (scores.length !== labels.length || scores.length === 0) {
    throw new VisageError('E_BAD_INPUT', 'scores and labels must be non-empty and of equal length');
  }
  let correct = 0;
  for (let i = 0; i < scores.length; i++) {
    const accept = orientation === 'distance' ? scores[i] <= threshold : scores[i] >= threshold;
    if (accept === Boolean(labels[i])) correct++;
  }
  return correct / scores.length;
}

export interface FoldResult {
  fold: number;
  /** Threshold chosen on the other folds. */
  threshold: number;
  /** Accuracy of that threshold on this (held-out) fold. */
  accuracy: number;
  pairs: number;
}

export interface KFoldResult {
  mean: number;
  /** Sample standard deviation of the per-fold accuracies (n − 1), LFW's σ. */
  std: number;
  /** Standard error of the mean, std / √k — what the LFW results page reports as "±". */
  stderr: number;
  folds: FoldResult[];
}

/**
 * The LFW "unrestricted" verification protocol: for each fold, pick the best-accuracy threshold on the other
 * folds' pairs and measure accuracy on the held-out fold. `folds[i]` is pair i's fold id (any integers).
 */
export function kFoldAccuracy(
  scores: ArrayLike<number>,
  labels: ArrayLike<boolean | number>,
  folds: ArrayLike<number>,
  opts: ScoreOptions = {},
): KFoldResult {
  const n = scores.length;
  if (labels.length !== n || folds.length !== n) {
    throw new VisageError('E_BAD_INPUT', 'scores, labels and folds must have the same length');
  }
  const ids = [...new Set(Array.from(folds))].sort((a, b) => a - b);
  if (ids.length < 2)
    throw new VisageError('E_BAD_INPUT', `k-fold needs at least 2 folds, got ${ids.length}`);
  const results: FoldResult[] = [];
  for (const f of ids) {
    const trainS: number[] = [];
    const trainL: boolean[] = [];
    const testS: number[] = [];
    const testL: boolean[] = [];
    for (let i = 0; i < n; i++) {
      if (folds[i] === f) {
        testS.push(scores[i]);
        testL.push(Boolean(labels[i]));
      } else {
        trainS.push(scores[i]);
        trainL.push(Boolean(labels[i]));
      }
    }
    const { threshold } = bestAccuracy(trainS, trainL, opts);
    results.push({
      fold: f,
      threshold,
      accuracy: accuracyAt(testS, testL, threshold, opts),
      pairs: testS.length,
    });
  }
  const k = results.length;
  const mean = results.reduce((a, r) => a + r.accuracy, 0) / k;
  const std = Math.sqrt(results.reduce((a, r) => a + (r.accuracy - mean) ** 2, 0) / (k - 1));
  return { mean, std, stderr: std / Math.sqrt(k), folds: results };
}

/** Contiguous fold ids 0..k−1 for n items (the first n mod k folds one larger), for data without folds. */
export function contiguousFolds(n: number, k: number): Int32Array {
  if (!Number.isInteger(k) || k < 2 || k > n) {
    throw new VisageError('E_BAD_OPTION', `fold count must be an integer in [2, ${n}], got ${k}`);
  }
  const out = new Int32Array(n);
  const base = Math.floor(n / k);
  const extra = n % k;
  let i = 0;
  for (let f = 0; f < k; f++) {
    const size = base + (f < extra ? 1 : 0);
    for (let j = 0; j < size; j++) out[i++] = f;
  }
  return out;
}

export interface VerificationSummary {
  pairs: number;
  same: number;
  different: number;
  auc: number;
  eer: EerResult;
  tarAtFar: { far: number; result: TarAtFarResult }[];
  bestAccuracy: AccuracyResult;
}

/** The usual figures in one call. */
export function summarizeVerification(
  scores: ArrayLike<number>,
  labels: ArrayLike<boolean | number>,
  opts: ScoreOptions & { fars?: number[] } = {},
): VerificationSummary {
  const curve = roc(scores, labels, opts);
  return {
    pairs: scores.length,
    same: curve.positives,
    different: curve.negatives,
    auc: rocAuc(curve),
    eer: eer(curve),
    tarAtFar: (opts.fars ?? [1e-3, 1e-2, 1e-1]).map((far) => ({ far, result: tarAtFar(curve, far) })),
    bestAccuracy: bestAccuracy(scores, labels, opts),
  };
}

// ---- open-set identification ----------------------------------------------------------------------

/** One probe searched against a gallery: its true identity (null when not enrolled) and the candidates. */
export interface ProbeRanking {
  truth: string | null;
  /** Gallery identities with distances (any order; need not cover the whole gallery, e.g. a top-k list). */
  ranked: readonly { id: string; distance: number }[];
}

/**
 * The rank of the true identity: 1 + the number of other identities at a distance ≤ the truth's
 * (pessimistic on ties, so a tie never flatters). Infinity when the truth is not in `ranked`.
 */
export function rankOfTruth(probe: ProbeRanking): number {
  if (probe.truth === null) throw new VisageError('E_BAD_INPUT', 'a non-mated probe has no rank');
  let dTruth = Infinity;
  for (const c of probe.ranked) if (c.id === probe.truth && c.distance < dTruth) dTruth = c.distance;
  if (dTruth === Infinity) return Infinity;
  let rank = 1;
  const seen = new Set<string>([probe.truth]);
  for (const c of probe.ranked) {
    if (!seen.has(c.id) && c.distance <= dTruth) {
      rank++;
      seen.add(c.id);
    }
  }
  return rank;
}

function bestDistance(p: ProbeRanking): number {
  let d = Infinity;
  for (const c of p.ranked) if (c.distance < d) d = c.distance;
  return d;
}

/**
 * Closed-set CMC over the mated probes (truth ≠ null): cmc[k − 1] = fraction whose true identity ranks ≤ k.
 * Mated probes must have their identity enrolled; non-mated probes are ignored here.
 */
export function cmc(probes: readonly ProbeRanking[], maxRank = 10): number[] {
  const mated = probes.filter((p) => p.truth !== null);
  if (mated.length === 0) throw new VisageError('E_BAD_INPUT', 'CMC needs probes of enrolled identities');
  const counts = new Array<number>(maxRank).fill(0);
  for (const p of mated) {
    const r = rankOfTruth(p);
    if (r <= maxRank) counts[r - 1]++;
  }
  const out: number[] = [];
  let acc = 0;
  for (let k = 0; k < maxRank; k++) {
    acc += counts[k];
    out.push(acc / mated.length);
  }
  return out;
}

export interface OpenSetResult {
  /** Detection-and-identification rate: mated probes with the right identity at rank 1 AND within τ. */
  dir: number;
  /** False-alarm rate: non-mated probes whose nearest gallery identity is within τ. */
  far: number;
  threshold: number;
  mated: number;
  nonMated: number;
}

function splitProbes(probes: readonly ProbeRanking[]): { mated: ProbeRanking[]; nonMated: ProbeRanking[] } {
  const mated = probes.filter((p) => p.truth !== null);
  const nonMated = probes.filter((p) => p.truth === null);
  if (mated.length === 0 || nonMated.length === 0) {
    throw new VisageError('E_BAD_INPUT', 'open-set evaluation needs both enrolled and non-enrolled probes', {
      mated: mated.length,
      nonMated: nonMated.length,
    });
  }
  return { mated, nonMated };
}

/** Open-set identification at a fixed threshold τ (accept the nearest identity when its distance ≤ τ). */
export function openSetAt(probes: readonly ProbeRanking[], threshold: number): OpenSetResult {
  const { mated, nonMated } = splitProbes(probes);
  let hits = 0;
  for (const p of mated) if (rankOfTruth(p) === 1 && bestDistance(p) <= threshold) hits++;
  let alarms = 0;
  for (const p of nonMated) if (bestDistance(p) <= threshold) alarms++;
  return {
    dir: hits / mated.length,
    far: alarms / nonMated.length,
    threshold,
    mated: mated.length,
    nonMated: nonMated.length,
  };
}

/**
 * DIR at a target false-alarm rate: τ is set from the non-mated probes' nearest distances so that at most
 * ⌊FAR·N_nonmated⌋ of them fall within it, placed midway between the largest distance it accepts and the
 * smallest it must reject (among all probes' nearest distances). The achieved FAR is returned (≤ target).
 */
export function dirAtFar(probes: readonly ProbeRanking[], targetFar: number): OpenSetResult {
  if (!(targetFar >= 0 && targetFar <= 1)) {
    throw new VisageError('E_BAD_OPTION', `target FAR must be in [0, 1], got ${targetFar}`);
  }
  const { nonMated } = splitProbes(probes);
  const impostor = nonMated.map(bestDistance).sort((a, b) => a - b);
  const allowed = Math.floor(targetFar * impostor.length + 1e-9);
  if (allowed >= impostor.length) return openSetAt(probes, Infinity);
  const reject = impostor[allowed]; // the first distance that must be rejected (and all equal to it)
  let below = -Infinity;
  for (const p of probes) {
    const d = bestDistance(p);
    if (d < reject && d > below) below = d;
  }
  let threshold = below === -Infinity ? nextDown(reject) : (below + reject) / 2;
  if (threshold >= reject) threshold = nextDown(reject); // adjacent floats: the midpoint rounded up
  return openSetAt(probes, threshold);
}

/** The largest double below x (x finite or +Infinity). */
export function nextDown(x: number): number {
  if (Number.isNaN(x) || x === -Infinity) return x;
  if (x === 0) return -Number.MIN_VALUE;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  view.setBigUint64(0, x > 0 ? bits - 1n : bits + 1n);
  return view.getFloat64(0);
}
