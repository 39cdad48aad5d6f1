import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Adam, ParameterAverage, Sgd } from '../../src/training/optim/index.js';

const grads = [
  [0.5, -0.2, 0.01, 3],
  [0.4, 0.1, -0.02, 2],
  [-0.3, 0.3, 0.0, 1],
];
const p0 = [1, -1, 0.5, 2];

test('Adam follows Kingma & Ba with bias correction (as torch.optim.Adam / AdamW)', () => {
  for (const variant of [
    { weightDecay: 0, decoupled: false },
    { weightDecay: 0.1, decoupled: false },
    { weightDecay: 0.1, decoupled: true },
  ]) {
    const mask = new Uint8Array([1, 1, 0, 1]);
    const opt = new Adam(4, { lr: 0.01, ...variant, decayMask: mask });
    const p = Float32Array.from(p0);
    const ref = [...p0];
    const m = [0, 0, 0, 0];
    const v = [0, 0, 0, 0];
    grads.forEach((g, step) => {
      opt.step(p, Float32Array.from(g));
      const t = step + 1;
      for (let i = 0; i < 4; i++) {
        let gi = g[i];
        if (mask[i] && !variant.decoupled) gi += variant.weightDecay * ref[i];
        if (mask[i] && variant.decoupled) ref[i] -= 0.01 * variant.weightDecay * ref[i];
        m[i] = 0.9 * m[i] + 0.1 * gi;
        v[i] = 0.999 * v[i] + 0.001 * gi * gi;
        const mHat = m[i] / (1 - 0.9 ** t);
        const vHat = v[i] / (1 - 0.999 ** t);
        ref[i] -= (0.01 * mHat) / (Math.sqrt(vHat) + 1e-8);
      }
      for (let i = 0; i < 4; i++)
        assert.ok(
          Math.abs(p[i] - ref[i]) < 1e-6,
          `${JSON.stringify(variant)} step ${t} [${i}]: ${p[i]} vs ${ref[i]}`,
        );
    });
    assert.equal(opt.steps, 3);
  }
  // The first Adam step moves every parameter with a non-zero gradient by lr, against the gradient's sign.
  const p = Float32Array.from(p0);
  new Adam(4, { lr: 0.01 }).step(p, Float32Array.from(grads[0]));
  assert.ok(Math.abs(p[3] - (p0[3] - 0.01)) < 1e-6 && Math.abs(p[1] - (p0[1] + 0.01)) < 1e-6);
});

test('SGD with momentum and Nesterov matches torch.optim.SGD', () => {
  for (const nesterov of [false, true]) {
    const opt = new Sgd(4, { lr: 0.1, momentum: 0.9, nesterov, weightDecay: 0.01 });
    const p = Float32Array.from(p0);
    const ref = [...p0];
    const b = [0, 0, 0, 0];
    grads.forEach((g, step) => {
      opt.step(p, Float32Array.from(g));
      for (let i = 0; i < 4; i++) {
        const gi = g[i] + 0.01 * ref[i];
        b[i] = step === 0 ? gi : 0.9 * b[i] + gi;
        ref[i] -= 0.1 * (nesterov ? gi + 0.9 * b[i] : b[i]);
      }
    });
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(p[i] - ref[i]) < 1e-6, `nesterov=${nesterov} [${i}]`);
  }
});

test('optimisers refuse mismatched sizes', () => {
  assert.throws(
    () => new Adam(3).step(new Float32Array(3), new Float32Array(2)),
    (e: any) => e.code === 'E_INTERNAL',
  );
  assert.throws(
    () => new Sgd(3, { decayMask: new Uint8Array(2) }),
    (e: any) => e.code === 'E_BAD_OPTION',
  );
});

test('gradient parts (one per shard) are summed by the optimiser', () => {
  const whole = new Adam(4, { lr: 0.01 });
  const split = new Adam(4, { lr: 0.01 });
  const pw = Float32Array.from(p0);
  const ps = Float32Array.from(p0);
  for (const g of grads) {
    whole.step(pw, Float32Array.from(g));
    const parts = [0.5, 0.25, 0.25].map((f) => Float32Array.from(g, (v) => v * f));
    split.step(ps, parts);
  }
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(pw[i] - ps[i]) < 1e-6, `[${i}] ${pw[i]} vs ${ps[i]}`);
});

test('the parameter average follows avg ← d·avg + (1 − d)·p with the warm-up min(d, (1 + t)/(10 + t))', () => {
  const start = new Float32Array([1, -2, 0.5]);
  const avg = new ParameterAverage(0.5, start);
  start[0] = 99; // the average holds its own copy
  const ref = [1, -2, 0.5];
  const seq = [
    [0, 0, 0],
    [2, 2, 2],
    [-1, 4, 0.25],
    [3, 3, 3],
  ];
  for (const [t, p] of seq.entries()) {
    avg.update(Float32Array.from(p), t);
    const d = Math.min(0.5, (1 + t) / (10 + t)); // 0.1, 0.18…, 0.25, 0.3…: the warm-up binds here
    for (let i = 0; i < 3; i++) ref[i] = d * ref[i] + (1 - d) * p[i];
  }
  for (let i = 0; i < 3; i++)
    assert.ok(Math.abs(avg.values[i] - ref[i]) < 1e-6, `${avg.values[i]} vs ${ref[i]}`);
  // Long after the warm-up the decay itself binds: 40 steps at a constant p converge to p.
  for (let t = 4; t < 44; t++) avg.update(new Float32Array([7, 7, 7]), t);
  assert.ok(avg.values.every((v) => Math.abs(v - 7) < 1e-6));
  assert.throws(() => new ParameterAverage(1, start), { code: 'E_BAD_OPTION' });
  assert.throws(() => new ParameterAverage(0, start), { code: 'E_BAD_OPTION' });
  assert.throws(() => avg.restore(new Float32Array(2)), { code: 'E_BAD_MODEL' });
  assert.throws(() => avg.update(new Float32Array(4), 0), { code: 'E_INTERNAL' });
});
