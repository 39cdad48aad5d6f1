import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unitRows } from '../helpers/vectors.js';
import { euclidean, squaredEuclidean } from '../../src/training/distances/index.js';
import { TripletMarginLoss } from '../../src/training/losses/index.js';
import { batchHardMiner } from '../../src/training/miners/index.js';

// Four identities of three images and one singleton (it has no positive, so it anchors no triplet).
const labels = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4];
const dim = 8;

/** Brute-force batch-hard triplet loss, written independently of the library (plain arrays, no miner). */
function reference(emb: Float32Array, margin: number, dist: (a: number[], b: number[]) => number): number {
  const rows = labels.map((_, i) => [...emb.subarray(i * dim, (i + 1) * dim)]);
  const terms: number[] = [];
  rows.forEach((a, i) => {
    const pos = rows.filter((_, j) => j !== i && labels[j] === labels[i]).map((b) => dist(a, b));
    const neg = rows.filter((_, j) => labels[j] !== labels[i]).map((b) => dist(a, b));
    if (pos.length && neg.length) terms.push(Math.max(0, Math.max(...pos) - Math.min(...neg) + margin));
  });
  return terms.reduce((s, t) => s + t, 0) / terms.length;
}
const sq = (a: number[], b: number[]) => a.reduce((s, v, k) => s + (v - b[k]) ** 2, 0);

test('batch-hard triplet loss equals a brute-force reference', () => {
  for (const seed of [1, 2, 3]) {
    const emb = unitRows(labels.length, dim, seed);
    for (const margin of [0.2, 1]) {
      const r = new TripletMarginLoss({ margin }).compute(emb, labels, dim);
      const ref = reference(emb, margin, sq);
      assert.ok(Math.abs(r.loss - ref) < 1e-9, `seed ${seed} margin ${margin}: ${r.loss} vs ${ref}`);
      assert.equal(r.stats.triplets, 12);
      assert.ok(r.loss > 0);
    }
    const e = new TripletMarginLoss({ distance: euclidean }).compute(emb, labels, dim);
    const refE = reference(emb, 0.2, (a, b) => Math.sqrt(sq(a, b)));
    assert.ok(Math.abs(e.loss - refE) < 1e-9, `euclidean: ${e.loss} vs ${refE}`);
  }
});

test('the miner picks the farthest positive and the nearest negative', () => {
  // 1-D embeddings: identity 0 at 0, 0.1, 0.5; identity 1 at 0.3, 2.
  const emb = new Float32Array([0, 0.1, 0.5, 0.3, 2]);
  const d = squaredEuclidean.pairwise(emb, 5, 1);
  const t = batchHardMiner.mine(d, [0, 0, 0, 1, 1], 5);
  assert.deepEqual([...t.anchors], [0, 1, 2, 3, 4]);
  assert.deepEqual([...t.positives], [2, 2, 0, 4, 3]);
  assert.deepEqual([...t.negatives], [3, 3, 3, 2, 2]);
});

test('loss gradients match central finite differences', () => {
  const cases = [
    { name: 'squared, mean', loss: new TripletMarginLoss({ margin: 0.5 }) },
    {
      name: 'euclidean, meanNonZero',
      loss: new TripletMarginLoss({ distance: euclidean, reduction: 'meanNonZero' }),
    },
  ];
  for (const { name, loss } of cases) {
    const emb = unitRows(labels.length, dim, 11);
    const { grad, stats } = loss.compute(emb, labels, dim);
    assert.ok(stats.activeTriplets > 0, `${name}: some triplets must be active`);
    let maxErr = 0;
    let maxGrad = 0;
    for (let k = 0; k < emb.length; k++) {
      const keep = emb[k];
      emb[k] = keep + 1e-3;
      const up = emb[k];
      const lUp = loss.compute(emb, labels, dim).loss;
      emb[k] = keep - 1e-3;
      const down = emb[k];
      const lDown = loss.compute(emb, labels, dim).loss;
      emb[k] = keep;
      const fd = (lUp - lDown) / (up - down);
      maxErr = Math.max(maxErr, Math.abs(fd - grad[k]));
      maxGrad = Math.max(maxGrad, Math.abs(grad[k]));
    }
    assert.ok(maxGrad > 0.01, `${name}: gradient is not trivially zero`);
    assert.ok(maxErr < 1e-4, `${name}: max |fd − grad| = ${maxErr}`);
  }
});

test('a batch without any positive pair gives zero loss and gradient', () => {
  const emb = unitRows(4, dim, 5);
  const r = new TripletMarginLoss().compute(emb, [0, 1, 2, 3], dim);
  assert.equal(r.loss, 0);
  assert.equal(r.stats.triplets, 0);
  assert.ok(r.grad.every((g) => g === 0));
  assert.throws(
    () => new TripletMarginLoss().compute(emb, [0, 1], dim),
    (e: any) => e.code === 'E_BAD_INPUT',
  );
});
