/**
 * The onnx inference engine computes what the tfjs executor computes, op by op, on a network that uses
 * every node type and padding mode the face and style networks use, at two photo sizes and two batch
 * sizes — from one session, built once.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { weightSpecs, type NetworkDef, type WeightMap } from '../../src/engine/graph/index.js';
import { gaussian, mulberry32 } from '../../src/util/random.js';
import { createInferenceNetwork } from '../../src/engine/inference/index.js';
import { permute } from '../../src/engine/onnx/inference-graph.js';
import { sessionsCreated } from '../../src/engine/onnx/runtime.js';

const net: NetworkDef = {
  name: 'every-op',
  nodes: [
    { op: 'input', name: 'image', shape: [null, null, 3] },
    { op: 'affine', name: 'norm', input: 'image' },
    {
      op: 'conv2d',
      name: 'c1',
      input: 'norm',
      filters: 8,
      kernel: 3,
      strides: 2,
      padding: 'same',
      bias: true,
      activation: 'relu6',
    },
    { op: 'depthwiseConv2d', name: 'dw', input: 'c1', kernel: 3, multiplier: 2, padding: 'same', bias: true },
    { op: 'batchNorm', name: 'bn', input: 'dw', epsilon: 1e-3 },
    { op: 'activation', name: 'lr', input: 'bn', fn: 'leakyRelu', alpha: 0.1 },
    {
      op: 'conv2d',
      name: 'c2',
      input: 'lr',
      filters: 16,
      kernel: [3, 1],
      padding: [
        [1, 1],
        [0, 0],
      ],
    },
    { op: 'activation', name: 'c2e', input: 'c2', fn: 'elu' },
    { op: 'conv2d', name: 'c3', input: 'lr', filters: 16, kernel: 1, padding: 'valid' },
    // tfjs-wasm fuses only linear/relu/relu6/leakyRelu/sigmoid into a conv: tanh and elu stand alone.
    { op: 'activation', name: 'c3t', input: 'c3', fn: 'tanh' },
    { op: 'add', name: 'sum', inputs: ['lr', 'c2e', 'c3t'], activation: 'relu' },
    { op: 'maxPool', name: 'mp', input: 'sum', size: 3, strides: 2, padding: 'same' },
    { op: 'avgPool', name: 'ap', input: 'sum', size: 3, strides: 2, padding: 'same' },
    { op: 'concat', name: 'cat', inputs: ['mp', 'ap'] },
    {
      op: 'pad',
      name: 'pad',
      input: 'cat',
      pads: [
        [1, 2],
        [2, 1],
      ],
      mode: 'reflect',
    },
    { op: 'avgPool', name: 'ap2', input: 'pad', size: 2, strides: 2, padding: 'valid' },
    { op: 'padChannels', name: 'pc', input: 'ap2', channels: 40 },
    {
      op: 'conv2d',
      name: 'head',
      input: 'pc',
      filters: 6,
      kernel: 1,
      padding: 'valid',
      activation: 'sigmoid',
    },
    { op: 'globalAvgPool', name: 'gap', input: 'pc' },
    { op: 'dense', name: 'fc', input: 'gap', units: 10, activation: 'relu' },
    { op: 'batchNorm', name: 'bn2', input: 'fc', epsilon: 1e-3 },
    { op: 'dense', name: 'emb', input: 'bn2', units: 8, bias: false },
    { op: 'l2normalize', name: 'unit', input: 'emb' },
  ],
  outputs: ['unit', 'head'],
};

/** Every weight random (variances positive), so that no role can be silently ignored. */
function randomWeights(def: NetworkDef): WeightMap {
  const normal = gaussian(mulberry32(7));
  const w: WeightMap = new Map();
  for (const s of weightSpecs(def, [32, 32, 3])) {
    const data = new Float32Array(s.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++)
      data[i] =
        s.role === 'variance' ? 0.5 + Math.abs(normal()) : normal() * (s.role === 'kernel' ? 0.3 : 0.5);
    w.set(s.name, { shape: s.shape, data });
  }
  return w;
}

const image = (n: number, h: number, w: number) => {
  const r = mulberry32(h * 31 + n);
  return { data: Float32Array.from({ length: n * h * w * 3 }, () => r() * 2 - 1), shape: [n, h, w, 3] };
};

before(async () => {
  await initEngine();
});

test('permute reorders axes like a transpose', () => {
  // [2, 3] → [3, 2]
  assert.deepEqual([...permute(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3], [1, 0])], [1, 4, 2, 5, 3, 6]);
});

test('onnx engine matches tfjs on every op, any photo size and batch, one session', async () => {
  const weights = randomWeights(net);
  const onnx = createInferenceNetwork(net, weights, { engine: 'onnx' });
  const tfjs = createInferenceNetwork(net, weights, { engine: 'tfjs' });
  const before = sessionsCreated();
  for (const [n, h, w] of [
    [1, 32, 32],
    [3, 45, 27],
    [2, 32, 32],
  ]) {
    const x = image(n, h, w);
    const a = await onnx.run(x);
    const b = await tfjs.run(x);
    for (const o of net.outputs) {
      assert.deepEqual(a[o].shape, b[o].shape, `${o} shape at ${n}×${h}×${w}`);
      let max = 0;
      for (let i = 0; i < a[o].data.length; i++) max = Math.max(max, Math.abs(a[o].data[i] - b[o].data[i]));
      assert.ok(max < 1e-5, `${o} at ${n}×${h}×${w}: max |onnx − tfjs| = ${max}`);
    }
  }
  assert.equal(sessionsCreated() - before, 1, 'one session serves every size and batch');
  // A different set of taps is a different graph: one more session, then reused.
  await onnx.run(image(1, 32, 32), ['fc']);
  await onnx.run(image(2, 32, 32), ['fc']);
  assert.equal(sessionsCreated() - before, 2);
  onnx.dispose();
  tfjs.dispose();
});
