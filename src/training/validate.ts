/**
 * Validation of an embedding during training, on identities never trained on: every pair of images
 * (squared L2 distance, or the binary loss's pair head when it has one — a model trained as a classifier
 * is judged by its classifier) for pair accuracy at its best threshold and ROC AUC, and one-shot
 * identification (each identity's first image enrolled, every other image probed against that gallery).
 */
import { roc, rocAuc, type Roc } from '../eval/metrics.js';
import { VisageError } from '../errors.js';
import { scorePairs, type PairHead } from './losses/binary-pair.js';

export interface ValidationResult {
  /**
   * Pair accuracy at its best threshold (0…1) and that threshold (squared L2, or 1 − P(same) with a head). Same-person and
   * different-person pairs weigh alike (the mean of TAR and TNR, as on a balanced pair list): with every
   * pair of n identities the different ones outnumber the same ones n − 1 to 1, and plain accuracy would
   * reward answering "different" to everything.
   */
  accuracy: number;
  threshold: number;
  auc: number;
  /** Rank-1 one-shot identification rate (0…1); ties with another identity count as misses. */
  rank1: number;
  pairs: { same: number; different: number };
  probes: number;
  /**
   * Each identity's errors at that threshold (by label, ascending): the share of its same-person pairs
   * rejected, and of its pairs with other people accepted. Shows which people the model finds hard.
   */
  perIdentity: IdentityErrors[];
  /** Distances for histograms: every same-person pair, and at most `maxDifferent` different-person pairs. */
  same: number[];
  different: number[];
}

export interface IdentityErrors {
  label: number;
  /** Rejected same-person pairs / same-person pairs (NaN for an identity with one image). */
  falseReject: number;
  /** Accepted pairs with another identity's image / such pairs. */
  falseAccept: number;
}

function sqDist(emb: Float32Array, dim: number, i: number, j: number): number {
  let s = 0;
  for (let k = 0; k < dim; k++) {
    const d = emb[i * dim + k] - emb[j * dim + k];
    s += d * d;
  }
  return s;
}

/** Metrics of n embeddings (n × dim, row-major) with identity labels, images of an identity in order. */
export function validationMetrics(
  emb: Float32Array,
  labels: ArrayLike<number>,
  dim: number,
  opts: { maxDifferent?: number; head?: PairHead } = {},
): ValidationResult {
  const n = labels.length;
  if (emb.length !== n * dim) throw new VisageError('E_INTERNAL', `${emb.length} values for ${n}×${dim}`);
  const head = opts.head;
  // A pair's score as a distance (lower = more alike): squared L2, or 1 − P(same) from the pair head.
  const score = head
    ? (i: number, j: number) =>
        1 - scorePairs(head, emb.subarray(i * dim, (i + 1) * dim), emb.subarray(j * dim, (j + 1) * dim))[0]
    : (i: number, j: number) => sqDist(emb, dim, i, j);
  const scores: number[] = [];
  const same: number[] = [];
  const different: number[] = [];
  const isSame: boolean[] = [];
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const d = sqDist(emb, dim, i, j);
      const s = labels[i] === labels[j];
      scores.push(head ? score(i, j) : d);
      isSame.push(s);
      (s ? same : different).push(d);
    }
  if (same.length === 0 || different.length === 0)
    throw new VisageError('E_BAD_DATASET', 'validation needs same-person and different-person pairs');
  const curve = roc(scores, isSame);
  const best = bestBalanced(curve);
  const auc = rocAuc(curve);
  const perIdentity = identityErrors(scores, isSame, labels, best.threshold);
  // One-shot identification: the first image of each identity is its gallery entry.
  const gallery = new Map<number, number>();
  for (let i = 0; i < n; i++) if (!gallery.has(labels[i])) gallery.set(labels[i], i);
  let probes = 0;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    if (gallery.get(labels[i]) === i) continue;
    probes++;
    const dTruth = score(i, gallery.get(labels[i])!);
    let hit = true;
    for (const [id, g] of gallery) if (id !== labels[i] && score(i, g) <= dTruth) hit = false;
    if (hit) hits++;
  }
  const max = opts.maxDifferent ?? 20000;
  const stride = Math.max(1, Math.ceil(different.length / max));
  return {
    accuracy: best.accuracy,
    threshold: best.threshold,
    auc,
    rank1: probes ? hits / probes : NaN,
    pairs: { same: same.length, different: different.length },
    probes,
    perIdentity,
    same,
    different: stride === 1 ? different : different.filter((_, i) => i % stride === 0),
  };
}

/** Per-label error rates at `threshold` of the pair scores in validationMetrics' (i < j) order. */
function identityErrors(
  scores: number[],
  isSame: boolean[],
  labels: ArrayLike<number>,
  threshold: number,
): IdentityErrors[] {
  const tally = new Map<number, { sp: number; fr: number; dp: number; fa: number }>();
  const of = (l: number) => {
    let t = tally.get(l);
    if (!t) tally.set(l, (t = { sp: 0, fr: 0, dp: 0, fa: 0 }));
    return t;
  };
  const n = labels.length;
  let k = 0;
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++, k++) {
      const accepted = scores[k] <= threshold;
      if (isSame[k]) {
        const t = of(labels[i]);
        t.sp++;
        if (!accepted) t.fr++;
      } else
        for (const l of [labels[i], labels[j]]) {
          const t = of(l);
          t.dp++;
          if (accepted) t.fa++;
        }
    }
  return [...tally.entries()]
    .sort(([a], [b]) => a - b)
    .map(([label, t]) => ({
      label,
      falseReject: t.sp ? t.fr / t.sp : NaN,
      falseAccept: t.dp ? t.fa / t.dp : NaN,
    }));
}

/** The operating point with the best balanced accuracy; its threshold midway to the next score. */
function bestBalanced(curve: Roc): { accuracy: number; threshold: number } {
  const pts = curve.points;
  let best = 0;
  for (let i = 1; i < pts.length; i++) if (pts[i].tar - pts[i].far > pts[best].tar - pts[best].far) best = i;
  const p = pts[best];
  const next = pts[best + 1];
  const threshold = next && Number.isFinite(p.threshold) ? (p.threshold + next.threshold) / 2 : p.threshold;
  return { accuracy: (p.tar + 1 - p.far) / 2, threshold };
}
