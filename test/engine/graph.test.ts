import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import {
  foldBatchNorm,
  initWeights,
  inferShapes,
  loadModel,
  saveModel,
  TfjsNetwork,
  type NetworkDef,
} from '../../src/engine/graph/index.js';

const net: NetworkDef = {
  name: 'test-net',
  nodes: [
    { op: 'input', name: 'image', shape: [null, null, 3] },
    { op: 'conv2d', name: 'c1', input: 'image', filters: 8, kernel: 3, strides: 2, padding: 'same' },
    { op: 'batchNorm', name: 'bn1', input: 'c1', epsilon: 1e-3 },
    { op: 'activation', name: 'r1', input: 'bn1', fn: 'relu' },
    {
      op: 'conv2d',
      name: 'c2',
      input: 'r1',
      filters: 8,
      kernel: 3,
      padding: [
        [1, 1],
        [1, 1],
      ],
      bias: true,
    },
    { op: 'add', name: 'sum', inputs: ['r1', 'c2'], activation: 'relu' },
    { op: 'maxPool', name: 'pool', input: 'sum', size: 2, strides: 2, padding: 'valid' },
    { op: 'globalAvgPool', name: 'gap', input: 'pool' },
    { op: 'dense', name: 'fc', input: 'gap', units: 4 },
    { op: 'l2normalize', name: 'emb', input: 'fc' },
  ],
  outputs: ['emb'],
};

function randomise(w: ReturnType<typeof initWeights>, seed: number): void {
  let s = seed;
  for (const t of w.values())
    for (let i = 0; i < t.data.length; i++) {
      s = (s * 1103515245 + 12345) % 2147483648;
      t.data[i] += (s / 2147483648 - 0.5) * 0.2 + (t.shape.length === 1 && t.data[i] === 1 ? 0.5 : 0);
    }
}

before(async () => {
  await initEngine();
});

test('shape inference follows strides and padding', () => {
  const shapes = inferShapes(net, [17, 15, 3]);
  assert.deepEqual(shapes.get('c1'), [9, 8, 8]);
  assert.deepEqual(shapes.get('pool'), [4, 4, 8]);
  assert.deepEqual(shapes.get('emb'), [4]);
});

test('forward matches hand-written tfjs ops, and taps are computed on request', () => {
  const w = initWeights(net, [17, 15, 3], 7);
  randomise(w, 3);
  const model = new TfjsNetwork(net, w);
  const x = tf.randomUniform([2, 17, 15, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
  const g = (n: string) => {
    const t = w.get(n)!;
    return tf.tensor(t.data, t.shape);
  };
  const ref = tf.tidy(() => {
    let h: tf.Tensor4D = tf.conv2d(x, g('c1/kernel') as tf.Tensor4D, 2, 'same');
    h = tf.relu(
      tf.batchNorm(h, g('bn1/mean'), g('bn1/variance'), g('bn1/beta'), g('bn1/gamma'), 1e-3),
    ) as tf.Tensor4D;
    const c2 = tf.add(tf.conv2d(h, g('c2/kernel') as tf.Tensor4D, 1, 'same'), g('c2/bias'));
    const s = tf.maxPool(tf.relu(tf.add(h, c2)) as tf.Tensor4D, 2, 2, 'valid');
    const fc = tf.add(
      tf.matMul(tf.mean(s, [1, 2]) as tf.Tensor2D, g('fc/kernel') as tf.Tensor2D),
      g('fc/bias'),
    );
    return tf.div(fc, tf.norm(fc, 'euclidean', 1, true));
  });
  const out = tf.tidy(() => model.forward(x, { outputs: ['emb', 'r1'] }));
  assert.deepEqual(out.r1.shape, [2, 9, 8, 8]);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(out.emb, ref))).dataSync()[0]);
  assert.ok(diff < 1e-5, `max diff ${diff}`);
  tf.dispose([x, ref, out.emb, out.r1]);
  model.dispose();
});

test('forward leaves no tensors behind, and gradients flow through inference-mode forward', () => {
  const w = initWeights(net, [9, 9, 3], 2);
  const model = new TfjsNetwork(net, w);
  const x = tf.randomNormal([1, 9, 9, 3]) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++)
    tf.tidy(() => {
      model.forward(x);
    });
  assert.equal(tf.memory().numTensors, before);
  const grad = tf.tidy(() =>
    tf.grad((inp: tf.Tensor) => tf.sum(tf.mul(model.forward(inp as tf.Tensor4D).emb, tf.range(1, 5))))(x),
  );
  assert.equal(grad.shape.join(), x.shape.join());
  assert.ok(tf.tidy(() => tf.sum(tf.abs(grad)).dataSync()[0]) > 0);
  tf.dispose([grad, x]);
  assert.equal(tf.memory().numTensors, before - 1);
  model.dispose();
});

test('folding batch-norm into the conv keeps outputs', () => {
  const w = initWeights(net, [11, 11, 3], 4);
  randomise(w, 9);
  const folded = foldBatchNorm(net, w);
  assert.ok(!folded.def.nodes.some((n) => n.op === 'batchNorm'));
  const a = new TfjsNetwork(net, w);
  const b = new TfjsNetwork(folded.def, folded.weights);
  const x = tf.randomNormal([2, 11, 11, 3]) as tf.Tensor4D;
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a.forward(x).emb, b.forward(x).emb))).dataSync()[0]);
  assert.ok(d < 1e-5, `max diff ${d}`);
  x.dispose();
  a.dispose();
  b.dispose();
});

test('save/load round-trips, and a truncated weights file is refused', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-model-'));
  const w = initWeights(net, [8, 8, 3], 1);
  saveModel(dir, { def: net, weights: w, meta: { note: 'x' } });
  const back = loadModel(dir);
  assert.deepEqual(back.def, net);
  assert.deepEqual([...back.weights.get('c1/kernel')!.data], [...w.get('c1/kernel')!.data]);
  const bin = path.join(dir, 'weights.bin');
  fs.truncateSync(bin, fs.statSync(bin).size - 8);
  assert.throws(
    () => loadModel(dir),
    (e: any) => e.code === 'E_BAD_MODEL',
  );
  fs.rmSync(dir, { recursive: true });
});
