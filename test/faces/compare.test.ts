import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DEFAULT_POLICIES,
  confidence,
  cosineDistance,
  distanceAtConfidence,
  fitConfidence,
  flipAverage,
  l2Normalize,
  sigmoid,
  squaredL2,
  verifyDecision,
} from '../../src/faces/compare.js';
import { calibrationEntry } from '../../src/eval/calibrate.js';
import {
  loadCalibration,
  parseCalibration,
  policyFor,
  saveCalibration,
  withPolicy,
  type CalibrationFile,
} from '../../src/faces/calibration.js';
import { gaussianPaired, mulberry32 } from '../../src/util/random.js';
import { VisageError, type ErrorCode } from '../../src/errors.js';

function throwsCode(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VisageError, String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('distances', () => {
  test('squared L2 and cosine on known vectors', () => {
    assert.equal(squaredL2([1, 2, 3], [1, 2, 3]), 0);
    assert.equal(squaredL2([0, 0], [3, 4]), 25);
    assert.equal(cosineDistance([1, 0], [0, 1]), 1);
    assert.equal(cosineDistance([1, 0], [-2, 0]), 2);
    assert.equal(cosineDistance([2, 0], [5, 0]), 0);
    // For unit vectors d² = 2·(1 − cos).
    const a = l2Normalize([1, 2, 2]);
    const b = l2Normalize([2, -1, 0.5]);
    assert.ok(Math.abs(squaredL2(a, b) - 2 * cosineDistance(a, b)) < 1e-6);
    assert.ok(Math.abs(Math.hypot(...a) - 1) < 1e-7);
    throwsCode(() => squaredL2([1], [1, 2]), 'E_BAD_INPUT');
    throwsCode(() => cosineDistance([0, 0], [1, 0]), 'E_BAD_INPUT');
    throwsCode(() => l2Normalize([1, Number.NaN]), 'E_BAD_INPUT', /index 1/);
    throwsCode(() => l2Normalize([0, 0]), 'E_BAD_INPUT');
  });

  test('verify decision: inclusive threshold, margin', () => {
    assert.deepEqual(verifyDecision(0.3, 0.36), {
      same: true,
      distance: 0.3,
      threshold: 0.36,
      margin: 0.36 - 0.3,
    });
    assert.equal(verifyDecision(0.36, 0.36).same, true);
    assert.equal(verifyDecision(0.37, 0.36).same, false);
    throwsCode(() => verifyDecision(-1, 0.36), 'E_BAD_INPUT');
    throwsCode(() => verifyDecision(0.1, Number.NaN), 'E_BAD_OPTION');
  });
});

test('flipAverage: each row the unit-length mean of the image’s and its mirror’s embedding', () => {
  const a = Float32Array.from([1, 0, 0.6, 0.8]);
  const b = Float32Array.from([0, 1, 0.6, 0.8]);
  const m = flipAverage(a, b, 2);
  const h = Math.SQRT1_2;
  for (const [i, v] of [h, h, 0.6, 0.8].entries()) assert.ok(Math.abs(m[i] - v) < 1e-7, `${i}: ${m[i]}`);
  // Opposite vectors have no mean direction: the zero row is left as it is instead of becoming NaN.
  assert.deepEqual(
    flipAverage(Float32Array.from([1, 0]), Float32Array.from([-1, 0]), 2),
    new Float32Array(2),
  );
  assert.throws(() => flipAverage(a, b.subarray(0, 2), 2), /cannot average/);
});

describe('confidence model', () => {
  test('recovers the parameters of data drawn from a known logistic', () => {
    const rand = mulberry32(2024);
    const a = -12;
    const b = 5;
    const d: number[] = [];
    const y: boolean[] = [];
    for (let i = 0; i < 20000; i++) {
      const di = rand() * 1.2;
      d.push(di);
      y.push(rand() < sigmoid(a * di + b));
    }
    const fit = fitConfidence(d, y);
    assert.ok(fit.converged && fit.iterations < 30, `converged in ${fit.iterations}`);
    // Standard errors at n = 20 000 are ≈ 0.25 (a) and 0.1 (b); allow ~4 of them.
    assert.ok(Math.abs(fit.a - a) < 1, `a = ${fit.a}`);
    assert.ok(Math.abs(fit.b - b) < 0.4, `b = ${fit.b}`);
    assert.ok(Math.abs(distanceAtConfidence(fit, 0.5) - 5 / 12) < 0.02);
    // A fitted model beats the constant one on log loss.
    const p = y.filter(Boolean).length / y.length;
    const constLoss = -(p * Math.log(p) + (1 - p) * Math.log(1 - p));
    assert.ok(fit.logLoss < constLoss - 0.1);
  });

  test('separable data: the prior keeps it finite, confidence is sharp and monotone', () => {
    const fit = fitConfidence([0.1, 0.2, 0.3, 0.6, 0.7, 0.8], [1, 1, 1, 0, 0, 0]);
    assert.ok(fit.converged);
    assert.ok(Number.isFinite(fit.a) && Number.isFinite(fit.b) && fit.a < 0);
    assert.ok(confidence(fit, 0.1) > 0.99 && confidence(fit, 0.8) < 0.01);
    const mid = distanceAtConfidence(fit, 0.5);
    assert.ok(mid > 0.3 && mid < 0.6, `p = 0.5 in the gap (${mid})`);
    for (let x = 0; x < 1; x += 0.05) assert.ok(confidence(fit, x) >= confidence(fit, x + 0.05));
  });

  test('balanced: one same pair in 50 weighs like even odds (the fit of the data with same pairs repeated)', () => {
    const rand = mulberry32(9);
    const same = Array.from({ length: 40 }, () => 0.1 + 0.1 * rand());
    const diff = Array.from({ length: 2000 }, () => 0.15 + 0.3 * rand());
    const balanced = fitConfidence([...same, ...diff], [...same.map(() => 1), ...diff.map(() => 0)], {
      balanced: true,
    });
    const repeated = Array.from({ length: 50 }, () => same).flat();
    const even = fitConfidence([...repeated, ...diff], [...repeated.map(() => 1), ...diff.map(() => 0)]);
    const plain = fitConfidence([...same, ...diff], [...same.map(() => 1), ...diff.map(() => 0)]);
    const mid = (f: { a: number; b: number }) => distanceAtConfidence(f, 0.5);
    assert.ok(Math.abs(mid(balanced) - mid(even)) < 2e-3, `${mid(balanced)} vs ${mid(even)}`);
    // Without balancing, rare same pairs pull p = 0.5 down to where almost nothing is called same.
    assert.ok(mid(plain) < mid(balanced) - 0.01, `${mid(plain)} vs ${mid(balanced)}`);
  });

  test('refuses one-class or mismatched input', () => {
    throwsCode(() => fitConfidence([0.1, 0.2], [1, 1]), 'E_BAD_INPUT');
    throwsCode(() => fitConfidence([0.1], [1, 0]), 'E_BAD_INPUT');
    throwsCode(() => fitConfidence([], []), 'E_BAD_INPUT');
    throwsCode(() => distanceAtConfidence({ a: -1, b: 0 }, 1), 'E_BAD_OPTION');
    const big = sigmoid(800);
    const small = sigmoid(-800);
    assert.equal(big, 1);
    assert.equal(small, 0);
    assert.ok(Number.isFinite(gaussianPaired(mulberry32(1))()));
  });
});

describe('calibration file', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-calib-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const entry = {
    metric: 'squared-l2' as const,
    threshold: 0.42,
    confidence: { a: -14.2, b: 6.1 },
    calibratedOn: {
      dataset: 'lfw',
      pairs: 6000,
      date: '2025-01-01',
      criterion: 'best-accuracy',
      accuracy: 0.99,
    },
  };

  test('save → load round trip; policyFor prefers the file, falls back to defaults', () => {
    const file = path.join(tmp, 'calibration.json');
    const cal = withPolicy(undefined, 'my-model@1', entry);
    saveCalibration(file, cal);
    const back = loadCalibration(file);
    assert.deepEqual(back, cal);
    assert.deepEqual(policyFor('my-model@1', back), {
      model: 'my-model@1',
      metric: 'squared-l2',
      threshold: 0.42,
      confidence: { a: -14.2, b: 6.1 },
    });
    const dflt = policyFor('dlib-resnet34@face-api-1.7', back);
    assert.deepEqual(dflt, DEFAULT_POLICIES['dlib-resnet34@face-api-1.7']);
    assert.equal(dflt.threshold, 0.17);
    const overridden = withPolicy(back, 'dlib-resnet34@face-api-1.7', {
      metric: 'squared-l2',
      threshold: 0.4,
    });
    assert.equal(policyFor('dlib-resnet34@face-api-1.7', overridden).threshold, 0.4);
    assert.equal(Object.keys(overridden.policies).length, 2);
    throwsCode(() => policyFor('unknown@0', back), 'E_BAD_MODEL');
    assert.deepEqual(
      fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp')),
      [],
    );
  });

  test('calibrationEntry: τ by best accuracy or by FAR, fitted confidence, figures recorded', () => {
    const same = [0.1, 0.2, 0.3, 0.45];
    const diff = [0.4, 0.7, 0.8, 0.9];
    const d = [...same, ...diff];
    const y = [...same.map(() => true), ...diff.map(() => false)];
    const e = calibrationEntry(d, y, { dataset: 'hand-made' });
    // Best accuracy 7/8: accept ≤ 0.3 (threshold midway to 0.4).
    assert.ok(Math.abs(e.threshold - 0.35) < 1e-12);
    assert.equal(e.calibratedOn?.accuracy, 7 / 8);
    assert.equal(e.calibratedOn?.auc, 15 / 16);
    assert.equal(e.calibratedOn?.pairs, 8);
    assert.ok(e.confidence && e.confidence.a < 0);
    // FAR ≤ 0.25 allows the one different pair at 0.4, so τ moves up to the operating point 0.45.
    assert.equal(calibrationEntry(d, y, { dataset: 'x', criterion: { far: 0.25 } }).threshold, 0.45);
    assert.equal(calibrationEntry(d, y, { dataset: 'x', criterion: { far: 0 } }).threshold, 0.3);
    // The entry is valid for the file format.
    assert.deepEqual(parseCalibration(withPolicy(undefined, 'm', e)).policies.m, e);
  });

  test('malformed files name the offending field', () => {
    const bad = (policies: Record<string, unknown>, version: unknown = 1): unknown => ({ version, policies });
    throwsCode(
      () => parseCalibration(bad({ m: { ...entry, threshold: 5 } })),
      'E_BAD_INPUT',
      /policies\.m\.threshold/,
    );
    throwsCode(
      () => parseCalibration(bad({ m: { ...entry, confidence: { a: 2, b: 0 } } })),
      'E_BAD_INPUT',
      /confidence\.a/,
    );
    throwsCode(() => parseCalibration(bad({ m: { ...entry, metric: 'cosine' } })), 'E_BAD_INPUT', /metric/);
    throwsCode(() => parseCalibration(bad({}, 2)), 'E_BAD_INPUT', /version/);
    const file = path.join(tmp, 'broken.json');
    fs.writeFileSync(file, '{"version": 1, "policies": {');
    throwsCode(() => loadCalibration(file), 'E_BAD_INPUT', /not valid JSON/);
    throwsCode(() => loadCalibration(path.join(tmp, 'none.json')), 'E_FILE_NOT_FOUND');
    throwsCode(
      () => saveCalibration(path.join(tmp, 'x.json'), bad({ m: { threshold: -1 } }) as CalibrationFile),
      'E_BAD_INPUT',
    );
    assert.equal(fs.existsSync(path.join(tmp, 'x.json')), false);
  });
});
