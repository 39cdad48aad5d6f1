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

test('per-identity errors at the best threshold equal a brute-force count (an identity with one image has no rejects)', () => {
  const dim = 3;
  const labels = [0, 0, 0, 1, 1, 2, 3, 3, 3, 3];
  let seed = 7;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const emb = Float32Array.from(
    { length: labels.length * dim },
    (_, i) => labels[Math.floor(i / dim)] * 0.3 + rand(),
  );
  const v = validationMetrics(emb, labels, dim);
  const d = (i: number, j: number) => {
    let s = 0;
    for (let k = 0; k < dim; k++) s += (emb[i * dim + k] - emb[j * dim + k]) ** 2;
    return s;
  };
  const expected = [0, 1, 2, 3].map((label) => {
    let same = 0;
    let rejected = 0;
    let other = 0;
    let accepted = 0;
    for (let i = 0; i < labels.length; i++)
      for (let j = 0; j < labels.length; j++) {
        if (i === j || labels[i] !== label) continue;
        const ok = d(i, j) <= v.threshold;
        if (labels[j] === label) {
          if (j < i) continue; // each same pair once
          same++;
          if (!ok) rejected++;
        } else {
          other++;
          if (ok) accepted++;
        }
      }
    return { label, falseReject: same ? rejected / same : NaN, falseAccept: accepted / other };
  });
  assert.deepEqual(v.perIdentity, expected);
  assert.ok(Number.isNaN(v.perIdentity[2].falseReject));
  assert.ok(
    v.perIdentity.some((e) => e.falseReject > 0 || e.falseAccept > 0),
    'the case has errors',
  );
});
