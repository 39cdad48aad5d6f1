import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorRatesAt } from '../../src/eval/error-rates.js';
import { imageComponents, imageGroupedFolds, usedFolds } from '../../src/eval/folds.js';
import { identityKFoldCalibration } from '../../src/eval/heldout-calibration.js';
import type { ImagePair } from '../../src/eval/pairs.js';
import { Rng } from '../../src/util/random.js';

const pair = (a: string, b: string, same: boolean): ImagePair => ({ a, b, same, fold: 0, line: 0 });

test('errorRatesAt counts false accepts and rejects at τ (accept when d ≤ τ)', () => {
  const r = errorRatesAt([0.1, 0.2, 0.3, 0.15, 0.4, 0.5], [true, true, true, false, false, false], 0.2);
  assert.equal(r.falseRejects, 1); // 0.3
  assert.equal(r.falseAccepts, 1); // 0.15
  const near = (x: number, y: number) => assert.ok(Math.abs(x - y) < 1e-12, `${x} ≠ ${y}`);
  near(r.frr, 1 / 3);
  near(r.far, 1 / 3);
  near(r.accuracy, 4 / 6);
  near(r.balancedAccuracy, 2 / 3);
});

test('image-grouped folds: pairs sharing an image stay in one fold, and the folds are balanced', () => {
  // 40 chains of three pairs each (x-y, y-z, z-w share images) and 20 lone pairs.
  const pairs: ImagePair[] = [];
  for (let c = 0; c < 40; c++)
    pairs.push(
      pair(`c${c}x`, `c${c}y`, true),
      pair(`c${c}y`, `c${c}z`, false),
      pair(`c${c}z`, `c${c}w`, true),
    );
  for (let l = 0; l < 20; l++) pairs.push(pair(`l${l}a`, `l${l}b`, l % 2 === 0));
  const comp = imageComponents(pairs);
  assert.equal(new Set(comp).size, 60);
  const folds = imageGroupedFolds(pairs, 10);
  assert.equal(usedFolds(folds), 10);
  const foldOfImage = new Map<string, number>();
  pairs.forEach((p, i) => {
    for (const img of [p.a, p.b]) {
      const f = foldOfImage.get(img);
      assert.ok(f === undefined || f === folds[i], `${img} is in folds ${f} and ${folds[i]}`);
      foldOfImage.set(img, folds[i]);
    }
  });
  const sizes = Array.from({ length: 10 }, (_, f) => folds.filter((x) => x === f).length);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 3, `fold sizes ${sizes}`);
  // Everything connected: one group, one fold (the evaluation then says it is in-sample).
  const chain = Array.from({ length: 10 }, (_, i) => pair(`i${i}`, `i${i + 1}`, true));
  assert.equal(usedFolds(imageGroupedFolds(chain, 10)), 1);
});

test('identity k-fold calibration: τ from the other folds, rates on pairs of held-out people only', () => {
  // 30 people with 4 images each; same-person distances ~ 0.1, different ~ 0.5 (with noise).
  const rng = new Rng(3);
  const d: number[] = [];
  const l: boolean[] = [];
  const a: string[] = [];
  const b: string[] = [];
  for (let i = 0; i < 30; i++)
    for (let j = i; j < 30; j++)
      for (let r = 0; r < (i === j ? 6 : 2); r++) {
        const same = i === j;
        d.push((same ? 0.1 : 0.5) + 0.08 * (rng.next() - 0.5) * 2);
        l.push(same);
        a.push(`p${i}`);
        b.push(`p${j}`);
      }
  const r = identityKFoldCalibration(d, l, { a, b }, { k: 5, criterion: { far: 0.01 } });
  assert.equal(r.folds.length, 5);
  assert.equal(
    r.folds.reduce((s, f) => s + f.identities, 0),
    30,
  );
  for (const f of r.folds) assert.ok(f.threshold > 0.18 && f.threshold < 0.45, `τ ${f.threshold}`);
  // Every held-out pair is counted once: same pairs of all 30 people, different pairs within folds only.
  assert.equal(r.pooled.same, 30 * 6);
  assert.ok(r.pooled.different < l.filter((x) => !x).length / 4);
  // τ for FAR ≤ 1 % on the other people gives about that FAR on new people, and no false rejects here.
  assert.ok(r.pooled.far <= 0.03, `held-out FAR ${r.pooled.far}`);
  assert.equal(r.pooled.frr, 0);
  assert.throws(
    () =>
      identityKFoldCalibration(
        d.slice(0, 6),
        l.slice(0, 6),
        { a: a.slice(0, 6), b: b.slice(0, 6) },
        { k: 5 },
      ),
    {
      code: 'E_BAD_DATASET',
    },
  );
});
