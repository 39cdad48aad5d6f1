import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracyAt,
  bestAccuracy,
  cmc,
  contiguousFolds,
  dirAtFar,
  eer,
  kFoldAccuracy,
  nextDown,
  openSetAt,
  rankOfTruth,
  roc,
  rocAuc,
  summarizeVerification,
  tarAtFar,
  type ProbeRanking,
} from '../../src/eval/metrics.js';
import { VisageError } from '../../src/errors.js';

const close = (a: number, b: number, eps = 1e-12): void => assert.ok(Math.abs(a - b) <= eps, `${a} ≉ ${b}`);

function labelled(same: number[], different: number[]): { scores: number[]; labels: boolean[] } {
  return {
    scores: [...same, ...different],
    labels: [...same.map(() => true), ...different.map(() => false)],
  };
}

describe('verification metrics', () => {
  test('perfect separation: AUC 1, EER 0, accuracy 1 with the threshold in the gap', () => {
    const { scores, labels } = labelled([0.1, 0.2, 0.3], [0.7, 0.8, 0.9]);
    const curve = roc(scores, labels);
    assert.equal(rocAuc(curve), 1);
    assert.deepEqual(eer(curve), { eer: 0, threshold: 0.3 });
    const acc = bestAccuracy(scores, labels);
    assert.equal(acc.accuracy, 1);
    close(acc.threshold, 0.5);
    assert.equal(tarAtFar(curve, 0).tar, 1);
  });

  test('reversed: AUC 0, EER 1', () => {
    const { scores, labels } = labelled([0.7, 0.8, 0.9], [0.1, 0.2, 0.3]);
    const curve = roc(scores, labels);
    assert.equal(rocAuc(curve), 0);
    assert.equal(eer(curve).eer, 1);
    assert.equal(tarAtFar(curve, 0.5).tar, 0);
  });

  test('hand-computed example (no ties)', () => {
    // sorted: .1P .3N .35P .4P .6N .7N .8P .9N
    const { scores, labels } = labelled([0.1, 0.35, 0.4, 0.8], [0.3, 0.6, 0.7, 0.9]);
    const curve = roc(scores, labels);
    assert.deepEqual(
      curve.points.map((p) => [p.threshold, p.far, p.tar]),
      [
        [-Infinity, 0, 0],
        [0.1, 0, 0.25],
        [0.3, 0.25, 0.25],
        [0.35, 0.25, 0.5],
        [0.4, 0.25, 0.75],
        [0.6, 0.5, 0.75],
        [0.7, 0.75, 0.75],
        [0.8, 0.75, 1],
        [0.9, 1, 1],
      ],
    );
    // Mann–Whitney: positives below each negative = 1, 3, 3, 4 of 4 → 11/16.
    close(rocAuc(curve), 11 / 16);
    // FAR = FRR = 0.25 exactly at the operating point d ≤ 0.4.
    assert.deepEqual(eer(curve), { eer: 0.25, threshold: 0.4 });
    // Best cut after 0.4: 3 of 4 same + 3 of 4 different; threshold midway to 0.6.
    const acc = bestAccuracy(scores, labels);
    assert.equal(acc.accuracy, 0.75);
    close(acc.threshold, 0.5);
    assert.equal(accuracyAt(scores, labels, 0.5), 0.75);
    assert.deepEqual(tarAtFar(curve, 0.25), { tar: 0.75, far: 0.25, threshold: 0.4, resolvable: true });
    // 0.2 × 4 negatives < 1 false accept: the data cannot resolve that FAR, which the result says.
    assert.deepEqual(tarAtFar(curve, 0.2), { tar: 0.25, far: 0, threshold: 0.1, resolvable: false });
  });

  test('ties count half, and linear TAR@FAR interpolates along the tie', () => {
    // 0.5 is shared by a same and a different pair: one diagonal ROC segment (0, .5) → (.5, 1).
    const { scores, labels } = labelled([0.2, 0.5], [0.5, 0.9]);
    const curve = roc(scores, labels);
    assert.deepEqual(
      curve.points.map((p) => [p.far, p.tar]),
      [
        [0, 0],
        [0, 0.5],
        [0.5, 1],
        [1, 1],
      ],
    );
    close(rocAuc(curve), 0.875);
    const e = eer(curve);
    close(e.eer, 0.25);
    close(e.threshold, 0.35);
    assert.deepEqual(tarAtFar(curve, 0.5), { tar: 1, far: 0.5, threshold: 0.5, resolvable: true });
    assert.deepEqual(tarAtFar(curve, 0.25), { tar: 0.5, far: 0, threshold: 0.2, resolvable: false });
    const lin = tarAtFar(curve, 0.25, 'linear');
    close(lin.tar, 0.75);
    close(lin.threshold, 0.35);
    assert.equal(lin.far, 0.25);
  });

  test('similarity orientation mirrors distance', () => {
    const { scores, labels } = labelled([0.1, 0.35, 0.4, 0.8], [0.3, 0.6, 0.7, 0.9]);
    const sims = scores.map((s) => -s);
    const curve = roc(sims, labels, { orientation: 'similarity' });
    close(rocAuc(curve), 11 / 16);
    assert.deepEqual(eer(curve), { eer: 0.25, threshold: -0.4 });
    const acc = bestAccuracy(sims, labels, { orientation: 'similarity' });
    assert.equal(acc.accuracy, 0.75);
    close(acc.threshold, -0.5);
    assert.equal(accuracyAt(sims, labels, -0.5, { orientation: 'similarity' }), 0.75);
  });

  test('k-fold: threshold from the other folds, accuracy on the held-out one', () => {
    // fold 0 is separable (τ = 0.35 from its pairs); fold 1 picks τ = 0.35 too ((0.3 + 0.4) / 2).
    const scores = [0.1, 0.2, 0.5, 0.6, 0.3, 0.45, 0.4, 0.7];
    const labels = [1, 1, 0, 0, 1, 1, 0, 0];
    const folds = [0, 0, 0, 0, 1, 1, 1, 1];
    const r = kFoldAccuracy(scores, labels, folds);
    assert.deepEqual(
      r.folds.map((f) => [f.fold, Number(f.threshold.toFixed(12)), f.accuracy, f.pairs]),
      [
        [0, 0.35, 1, 4],
        [1, 0.35, 0.75, 4],
      ],
    );
    close(r.mean, 0.875);
    close(r.std, Math.SQRT2 * 0.125);
    close(r.stderr, 0.125);
    assert.deepEqual([...contiguousFolds(7, 3)], [0, 0, 0, 1, 1, 2, 2]);
  });

  test('summary and input validation', () => {
    const { scores, labels } = labelled([0.1, 0.2], [0.8, 0.9]);
    const s = summarizeVerification(scores, labels, { fars: [0.5] });
    assert.deepEqual([s.pairs, s.same, s.different, s.auc, s.eer.eer], [4, 2, 2, 1, 0]);
    assert.equal(s.tarAtFar[0].result.tar, 1);
    assert.throws(
      () => roc([0.1, 0.2], [true, true]),
      (e: unknown) => e instanceof VisageError && e.code === 'E_BAD_INPUT',
    );
    assert.throws(() => roc([0.1], [true, false]), /differ in length/);
    assert.throws(() => roc([Number.NaN, 1], [true, false]), /not a number/);
  });
});

describe('open-set identification', () => {
  const probes: ProbeRanking[] = [
    {
      truth: 'A',
      ranked: [
        { id: 'A', distance: 0.1 },
        { id: 'B', distance: 0.5 },
        { id: 'C', distance: 0.9 },
      ],
    },
    {
      truth: 'B',
      ranked: [
        { id: 'A', distance: 0.2 },
        { id: 'B', distance: 0.3 },
        { id: 'C', distance: 0.8 },
      ],
    },
    // A tie with the truth counts against it (pessimistic rank 2).
    {
      truth: 'C',
      ranked: [
        { id: 'C', distance: 0.4 },
        { id: 'A', distance: 0.4 },
        { id: 'B', distance: 1 },
      ],
    },
    // Truth missing from a truncated list: never found.
    {
      truth: 'A',
      ranked: [
        { id: 'B', distance: 0.6 },
        { id: 'C', distance: 0.7 },
      ],
    },
    {
      truth: null,
      ranked: [
        { id: 'A', distance: 0.35 },
        { id: 'B', distance: 0.5 },
      ],
    },
    { truth: null, ranked: [{ id: 'C', distance: 0.6 }] },
    { truth: null, ranked: [{ id: 'B', distance: 0.25 }] },
    { truth: null, ranked: [{ id: 'A', distance: 0.9 }] },
  ];

  test('ranks and CMC', () => {
    assert.deepEqual(probes.slice(0, 4).map(rankOfTruth), [1, 2, 2, Infinity]);
    assert.deepEqual(cmc(probes, 3), [0.25, 0.75, 0.75]);
  });

  test('DIR@FAR picks τ from the non-mated probes, midway in the gap', () => {
    // Non-mated nearest distances .25 .35 .6 .9: FAR 0.25 allows one false alarm, so .35 must be rejected;
    // the largest nearest distance below .35 is .25 → τ = .3.
    const r = dirAtFar(probes, 0.25);
    close(r.threshold, 0.3);
    assert.deepEqual([r.dir, r.far, r.mated, r.nonMated], [0.25, 0.25, 4, 4]);
    const strict = dirAtFar(probes, 0);
    close(strict.threshold, 0.225);
    assert.deepEqual([strict.dir, strict.far], [0.25, 0]);
    const loose = dirAtFar(probes, 0.5);
    close(loose.threshold, 0.5);
    assert.deepEqual([loose.dir, loose.far], [0.25, 0.5]);
    assert.deepEqual(openSetAt(probes, 1), { dir: 0.25, far: 1, threshold: 1, mated: 4, nonMated: 4 });
    assert.deepEqual(dirAtFar(probes, 1).far, 1);
  });

  test('nextDown is the adjacent double', () => {
    assert.equal(nextDown(1), 1 - Number.EPSILON / 2);
    assert.equal(nextDown(0), -Number.MIN_VALUE);
    assert.equal(nextDown(-1), -1 - Number.EPSILON);
  });
});
