import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gaussian, mulberry32 } from '../../src/util/random.js';
import {
  ProxySoftmaxLoss,
  TripletMarginLoss,
  WeightedSumLoss,
  proxySoftmax,
} from '../../src/training/losses/index.js';
import { tripletOptionsFor } from '../../src/training/miners/index.js';
import { unitRows } from '../helpers/vectors.js';

function randn(n: number, seed: number): Float64Array {
  const g = gaussian(mulberry32(seed));
  return Float64Array.from({ length: n }, () => g());
}

/** The loss written out the slow way: explicit normalisation, softmax and −log p of the true class. */
function reference(
  emb: ArrayLike<number>,
  labels: number[],
  dim: number,
  w: ArrayLike<number>,
  classes: number,
  s: number,
  m: number,
): number {
  const unit = (x: ArrayLike<number>, r: number) => {
    const v = Array.from({ length: dim }, (_, k) => x[r * dim + k]);
    const nrm = Math.hypot(...v);
    return v.map((a) => a / nrm);
  };
  let total = 0;
  labels.forEach((y, i) => {
    const e = unit(emb, i);
    const logits = Array.from({ length: classes }, (_, c) => {
      const cos = unit(w, c).reduce((acc, wk, k) => acc + wk * e[k], 0);
      return s * (cos - (c === y ? m : 0));
    });
    const p = logits.map(Math.exp);
    total += -Math.log(p[y] / p.reduce((a, b) => a + b, 0));
  });
  return total / labels.length;
}

/** ∂f/∂x_k by central differences (step 1e-6). */
function centralDifference(f: (x: Float64Array) => number, x: Float64Array, k: number): number {
  const h = 1e-6;
  const a = x.slice();
  const b = x.slice();
  a[k] += h;
  b[k] -= h;
  return (f(a) - f(b)) / (2 * h);
}

const labels = [0, 0, 1, 1, 2, 2, 3];
const dim = 5;
const classes = 4;

test('proxy softmax: value matches the slow reference, gradients match central differences', () => {
  const emb = randn(labels.length * dim, 1);
  const w = randn(classes * dim, 2);
  for (const [s, m] of [
    [16, 0.1],
    [4, 0],
    [30, 0.35],
  ]) {
    const r = proxySoftmax(emb, labels, dim, w, classes, s, m);
    assert.ok(Math.abs(r.loss - reference(emb, labels, dim, w, classes, s, m)) < 1e-9);
    const f = (e: Float64Array, p: Float64Array) => proxySoftmax(e, labels, dim, p, classes, s, m).loss;
    for (let k = 0; k < emb.length; k++) {
      const num = centralDifference((e) => f(e, w), emb, k);
      assert.ok(
        Math.abs(num - r.grad[k]) < 1e-5 * Math.max(1, Math.abs(num)),
        `emb ${k}: ${num} vs ${r.grad[k]}`,
      );
    }
    for (let k = 0; k < w.length; k++) {
      const num = centralDifference((p) => f(emb, p), w, k);
      assert.ok(Math.abs(num - r.proxyGrad[k]) < 1e-6 * Math.max(1, Math.abs(num)), `proxy ${k}`);
    }
  }
});

test('proxy softmax: the margin only raises the loss, accuracy counts the nearest proxy, bad labels are refused', () => {
  const w = randn(classes * dim, 3);
  // Each embedding is its class's proxy: every nearest proxy is right, and without margin the loss is small.
  const emb = Float64Array.from(labels.flatMap((y) => Array.from(w.subarray(y * dim, (y + 1) * dim))));
  const plain = proxySoftmax(emb, labels, dim, w, classes, 16, 0);
  const margin = proxySoftmax(emb, labels, dim, w, classes, 16, 0.3);
  assert.equal(plain.accuracy, 1);
  assert.ok(margin.loss > plain.loss);
  // Embeddings pointing away from their proxy: none is nearest to its own.
  const away = Float64Array.from(emb, (x) => -x);
  assert.ok(proxySoftmax(away, labels, dim, w, classes, 16, 0).accuracy < 1);
  assert.throws(
    () => proxySoftmax(emb, [0, 0, 1, 1, 2, 2, 4], dim, w, classes, 16, 0),
    (e: { code?: string }) => e.code === 'E_BAD_INPUT',
  );
  const zero = emb.slice();
  zero.fill(0, 0, dim);
  assert.throws(
    () => proxySoftmax(zero, labels, dim, w, classes, 16, 0),
    (e: { code?: string }) => e.code === 'E_BAD_INPUT',
  );
});

test('ProxySoftmaxLoss: the proxies learn (the loss falls on a fixed batch), and state() → restore() continues exactly', () => {
  const emb = Float32Array.from(randn(labels.length * dim, 4));
  const loss = new ProxySoftmaxLoss({ classes, seed: 7 });
  const first = loss.compute(emb, labels, dim).loss;
  for (let i = 0; i < 50; i++) loss.compute(emb, labels, dim);
  const saved = loss.state();
  const later = loss.compute(emb, labels, dim);
  assert.ok(later.loss < first, `${later.loss} < ${first}`);
  const copy = new ProxySoftmaxLoss({ classes, seed: 99 });
  copy.restore(JSON.parse(JSON.stringify(saved)));
  const again = copy.compute(emb, labels, dim);
  assert.equal(again.loss, later.loss);
  assert.deepEqual(again.grad, later.grad);
  // A fresh loss with the same seed starts from the same proxies.
  assert.equal(new ProxySoftmaxLoss({ classes, seed: 7 }).compute(emb, labels, dim).loss, first);
  assert.throws(
    () => new ProxySoftmaxLoss({ classes: 5 }).restore(saved),
    (e: { code?: string }) => e.code === 'E_BAD_INPUT',
  );
  assert.throws(
    () => new ProxySoftmaxLoss({ classes }).restore({ ...saved, adamM: saved.adamM!.slice(1) }),
    (e: { code?: string }) => e.code === 'E_BAD_INPUT',
  );
  assert.throws(
    () => new ProxySoftmaxLoss({ classes: 1 }),
    (e: { code?: string }) => e.code === 'E_BAD_OPTION',
  );
});

test('WeightedSumLoss: value and gradient are the weighted sums of its parts; stats keep the first loss names', () => {
  const emb = unitRows(labels.length, dim, 5);
  const mk = () => ({
    triplet: new TripletMarginLoss({ margin: 0.5, ...tripletOptionsFor('all', { seed: 0 }) }),
    softmax: new ProxySoftmaxLoss({ classes, seed: 3 }),
  });
  const a = mk();
  const t = a.triplet.compute(emb, labels, dim);
  const s = a.softmax.compute(emb, labels, dim);
  const b = mk();
  const sum = new WeightedSumLoss([
    { loss: b.triplet, weight: 1 },
    { loss: b.softmax, weight: 0.5 },
  ]).compute(emb, labels, dim);
  assert.ok(Math.abs(sum.loss - (t.loss + 0.5 * s.loss)) < 1e-6);
  sum.grad.forEach((g, k) => assert.ok(Math.abs(g - (t.grad[k] + 0.5 * s.grad[k])) < 1e-6));
  assert.equal(sum.stats.activeTriplets, t.stats.activeTriplets);
  assert.equal(sum.stats['softmax.classAccuracy'], s.stats.classAccuracy);
  assert.throws(
    () => new WeightedSumLoss([{ loss: b.softmax, weight: 0 }]),
    (e: { code?: string }) => e.code === 'E_BAD_OPTION',
  );
});
