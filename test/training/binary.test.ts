import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gaussian, mulberry32 } from '../../src/util/random.js';
import { Rng } from '../../src/training/data/rng.js';
import {
  BinaryPairLoss,
  balancedPairs,
  pairLoss,
  scorePairs,
  trainHeadOnEmbeddings,
  type PairFeatures,
  type Pairs,
} from '../../src/training/losses/index.js';

/** Unit rows around `centers` (one per label) with Gaussian noise of size `noise` (seeded). */
function clustered(labels: number[], dim: number, noise: number, seed: number): Float32Array {
  const g = gaussian(mulberry32(seed));
  const ids = Math.max(...labels) + 1;
  const centers = Array.from({ length: ids }, () => Array.from({ length: dim }, () => g()));
  const e = new Float32Array(labels.length * dim);
  labels.forEach((l, i) => {
    const v = centers[l].map((c) => c / Math.sqrt(dim) + noise * g());
    const s = Math.hypot(...v);
    v.forEach((x, k) => (e[i * dim + k] = x / s));
  });
  return e;
}

const labels = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4];
const dim = 8;

// ---- Brute-force reference: every pair enumerated, plain arrays. ----

function allPairs(labs: number[]): { same: string[]; diff: string[] } {
  const same: string[] = [];
  const diff: string[] = [];
  for (let i = 0; i < labs.length; i++)
    for (let j = i + 1; j < labs.length; j++) (labs[i] === labs[j] ? same : diff).push(`${i},${j}`);
  return { same, diff };
}

function refFeature(x: number, y: number, f: PairFeatures, eps: number): number {
  return f === 'abs' ? Math.abs(x - y) : (x - y) ** 2 / (Math.abs(x) + Math.abs(y) + eps);
}

/** Mean BCE written from the definition: −[y·log ŷ + (1 − y)·log(1 − ŷ)]. */
function refLoss(
  emb: ArrayLike<number>,
  pairs: Pairs,
  w: ArrayLike<number>,
  b: number,
  f: PairFeatures,
): number {
  let s = 0;
  for (let q = 0; q < pairs.i.length; q++) {
    let z = b;
    for (let k = 0; k < dim; k++)
      z += w[k] * refFeature(emb[pairs.i[q] * dim + k], emb[pairs.j[q] * dim + k], f, 1e-6);
    const p = 1 / (1 + Math.exp(-z));
    s -= pairs.same[q] ? Math.log(p) : Math.log(1 - p);
  }
  return s / pairs.i.length;
}

const key = (p: Pairs, q: number) => `${p.i[q]},${p.j[q]}`;

test('balanced pairs: every same-label pair and as many distinct different-label pairs, reproducibly', () => {
  const ref = allPairs(labels);
  const p = balancedPairs(labels, new Rng(1));
  const m = ref.same.length;
  assert.equal(m, 12);
  assert.equal(p.i.length, 2 * m);
  const same = [...p.same.keys()].filter((q) => p.same[q] === 1).map((q) => key(p, q));
  const diff = [...p.same.keys()].filter((q) => p.same[q] === 0).map((q) => key(p, q));
  assert.deepEqual(same, ref.same);
  assert.equal(new Set(diff).size, m);
  for (const d of diff) assert.ok(ref.diff.includes(d), d);
  assert.deepEqual(balancedPairs(labels, new Rng(1)), p);
  assert.notDeepEqual(balancedPairs(labels, new Rng(2)).i, p.i);
  // One identity: no different pair to balance with, so no pair at all.
  assert.equal(balancedPairs([3, 3, 3], new Rng(1)).i.length, 0);
  // Two identities of four and a singleton: 12 same, 28 different → 12 + 12.
  assert.equal(balancedPairs([0, 0, 0, 0, 1, 1, 1, 1, 2], new Rng(1)).i.length, 24);
  // Few different pairs: [0,0,0,0,1] has 6 same and 4 different → 4 + 4.
  assert.equal(balancedPairs([0, 0, 0, 0, 1], new Rng(1)).i.length, 8);
});

test('pair loss equals the reference, and its gradients match finite differences (float64)', () => {
  const g = gaussian(mulberry32(5));
  for (const features of ['abs', 'chi2'] as const) {
    const emb = Float64Array.from(clustered(labels, dim, 0.5, 3));
    const pairs = balancedPairs(labels, new Rng(4));
    const w = Float64Array.from({ length: dim }, () => g());
    const head = { features, w, b: 0.3, eps: 1e-6 };
    const r = pairLoss(emb, dim, pairs, head);
    const ref = refLoss(emb, pairs, w, 0.3, features);
    assert.ok(Math.abs(r.loss - ref) < 1e-12, `${features}: ${r.loss} vs ${ref}`);

    const h = 1e-6;
    const fd = (set: (v: number) => void, at: number) => {
      set(at + h);
      const up = pairLoss(emb, dim, pairs, head).loss;
      set(at - h);
      const down = pairLoss(emb, dim, pairs, head).loss;
      set(at);
      return (up - down) / (2 * h);
    };
    let maxErr = 0;
    let maxGrad = 0;
    for (let k = 0; k < emb.length; k++) {
      const e = fd((v) => (emb[k] = v), emb[k]);
      maxErr = Math.max(maxErr, Math.abs(e - r.gradEmb[k]));
      maxGrad = Math.max(maxGrad, Math.abs(r.gradEmb[k]));
    }
    for (let k = 0; k < dim; k++) {
      const e = fd((v) => (w[k] = v), w[k]);
      maxErr = Math.max(maxErr, Math.abs(e - r.gradW[k]));
    }
    maxErr = Math.max(maxErr, Math.abs(fd((v) => (head.b = v), head.b) - r.gradB));
    assert.ok(maxGrad > 1e-3, `${features}: gradient is not trivially zero`);
    assert.ok(maxErr < 1e-4 * maxGrad, `${features}: max |fd − grad| = ${maxErr} (max |grad| ${maxGrad})`);
  }
});

test('compute() returns the current head’s loss and gradient, then trains the head', () => {
  const emb = clustered(labels, dim, 0.3, 6);
  for (const features of ['abs', 'chi2'] as const) {
    const loss = new BinaryPairLoss({ features, seed: 9 });
    const pairs = loss.nextPairs(labels);
    const head0 = loss.head(dim);
    const ref = pairLoss(emb, dim, pairs, head0);
    const r = loss.compute(emb, labels, dim);
    assert.ok(Math.abs(r.loss - ref.loss) < 1e-12);
    assert.deepEqual(r.grad, Float32Array.from(ref.gradEmb));
    assert.equal(r.stats.pairs, 24);
    assert.notDeepEqual(loss.head().w, head0.w, 'the head took a step');
    // The pairs change from call to call; on this batch the loss falls as the head learns.
    assert.notDeepEqual(loss.nextPairs(labels), pairs);
    let last = r.loss;
    for (let it = 0; it < 200; it++) last = loss.compute(emb, labels, dim).loss;
    assert.ok(last < 0.7 * r.loss, `${features}: ${r.loss} → ${last}`);
    assert.throws(
      () => loss.compute(emb, labels.slice(0, 12), dim),
      (e: any) => e.code === 'E_BAD_INPUT',
    );
  }
  // Frozen head: compute() leaves it alone.
  const still = new BinaryPairLoss({ trainHead: false });
  still.compute(emb, labels, dim);
  assert.ok(still.head().w.every((v) => v === -1));
});

test('edge cases: one identity, one image per identity, identical embeddings', () => {
  const emb = clustered([0, 0, 0, 0], dim, 0.3, 1);
  for (const labs of [
    [5, 5, 5, 5],
    [0, 1, 2, 3],
  ]) {
    const loss = new BinaryPairLoss();
    const r = loss.compute(emb, labs, dim);
    assert.equal(r.loss, 0);
    assert.equal(r.stats.pairs, 0);
    assert.ok(r.grad.every((g) => g === 0));
    assert.ok(
      loss.head().w.every((v) => v === -1),
      'no pair, no head step',
    );
  }
  // All rows equal: |x − x| = 0 (subgradient 0), χ² 0/(2|x|+ε) = 0; finite, and loss = log 2 at b = 0.
  const same = new Float32Array(4 * dim).fill(0.5);
  for (const features of ['abs', 'chi2'] as const) {
    const r = new BinaryPairLoss({ features }).compute(same, [0, 0, 1, 1], dim);
    assert.ok(Math.abs(r.loss - Math.log(2)) < 1e-12);
    assert.ok(r.grad.every((g) => g === 0));
  }
});

test('state() and restore() continue a run exactly', () => {
  const emb = clustered(labels, dim, 0.4, 2);
  const a = new BinaryPairLoss({ features: 'chi2', seed: 3 });
  for (let i = 0; i < 5; i++) a.compute(emb, labels, dim);
  const saved = JSON.parse(JSON.stringify(a.state()));
  const b = new BinaryPairLoss({ features: 'chi2', seed: 3 });
  b.restore(saved);
  for (let i = 0; i < 3; i++) assert.deepEqual(b.compute(emb, labels, dim), a.compute(emb, labels, dim));
  assert.deepEqual(b.head(), a.head());
  assert.throws(
    () => new BinaryPairLoss({ features: 'abs' }).restore(saved),
    (e: any) => e.code === 'E_BAD_INPUT',
  );
});

test('frozen encoder: the head alone separates well-clustered identities', () => {
  // 20 identities × 6 images in 16-d; train on 12 identities, score pairs of the other 8.
  const d = 16;
  const labs = Array.from({ length: 120 }, (_, i) => Math.floor(i / 6));
  const emb = clustered(labs, d, 0.08, 21);
  const train = 72 * d;
  for (const features of ['abs', 'chi2'] as const) {
    const t0 = Date.now();
    const r = trainHeadOnEmbeddings(emb.subarray(0, train), labs.slice(0, 72), d, { features, seed: 1 });
    const ms = Date.now() - t0;
    assert.equal(r.pairs, 2 * 12 * 15);
    // The initial head (w = −1, b = 0) calls every pair different: training is what separates them.
    const untrained = trainHeadOnEmbeddings(emb.subarray(0, train), labs.slice(0, 72), d, {
      features,
      iterations: 0,
    });
    assert.equal(untrained.accuracy, 0.5);
    assert.ok(r.accuracy >= 0.98, `${features}: training pair accuracy ${r.accuracy}`);
    // Held-out identities: every same pair and an equal number of different pairs.
    const test = balancedPairs(labs.slice(72), new Rng(2));
    const rows = (idx: Int32Array) => {
      const out = new Float32Array(idx.length * d);
      idx.forEach((i, q) => out.set(emb.subarray(train + i * d, train + (i + 1) * d), q * d));
      return out;
    };
    const p = scorePairs(r.head, rows(test.i), rows(test.j));
    const acc = [...p].filter((v, q) => v > 0.5 === (test.same[q] === 1)).length / p.length;
    assert.ok(acc >= 0.95, `${features}: held-out pair accuracy ${acc}`);
    console.log(
      `# ${features}: train acc ${r.accuracy.toFixed(3)}, held-out acc ${acc.toFixed(3)}, ${ms} ms`,
    );
  }
  assert.throws(
    () => scorePairs(trainHeadOnEmbeddings(emb, labs, d, { iterations: 0 }).head, emb, emb.subarray(1)),
    (e: any) => e.code === 'E_BAD_INPUT',
  );
});
