import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validationMetrics } from '../../src/training/validate.js';

// Two identities × two images in 2-D: x says who it is, y is noise that dominates squared L2. A pair head
// that only looks at x separates them perfectly.
const emb = Float32Array.from([0, 0, 0, 6, 1, 3, 1, -3]);
const labels = [0, 0, 1, 1];

test('validation by distance: balanced pair accuracy, AUC and one-shot rank-1 from squared L2', () => {
  const v = validationMetrics(emb, labels, 2);
  assert.deepEqual(v.pairs, { same: 2, different: 4 });
  // same pairs: 36, 36; different: 10, 10, 10, 82 → only the 82 ranks behind the same pairs.
  assert.equal(v.auc, 2 / 8);
  assert.equal(v.accuracy, 0.625); // accept d ≤ 36: TAR 1, FAR 3/4
  assert.equal(v.rank1, 0); // each probe lies nearer the other identity's gallery image (10 < 36)
});

test("validation with a pair head: the head's P(same) ranks pairs, histograms stay distances", () => {
  const head = { features: 'abs' as const, w: Float32Array.from([-4, 0]), b: 4, eps: 1e-6 };
  const v = validationMetrics(emb, labels, 2, { head });
  assert.equal(v.auc, 1);
  assert.equal(v.accuracy, 1);
  assert.equal(v.rank1, 1);
  assert.deepEqual(v.same, [36, 36]);
});
