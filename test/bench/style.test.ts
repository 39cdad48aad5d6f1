import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import { initWeights, saveModel, TfjsNetwork, type NetworkDef } from '../../src/engine/graph/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { benchStyle, findTorchPython, formatStyleBench, stylePeerScript } from '../../src/bench/style.js';

test('bench style: a 64-px InceptionV3 case in a fresh process gives finite positive numbers', async () => {
  const b = await benchStyle({
    sizes: [64],
    networks: ['inception'],
    iterations: 1,
    warmup: 1,
    torch: false,
  });
  assert.equal(b.rows.length, 1);
  const r = b.rows[0];
  assert.equal(r.width, 64);
  assert.equal(r.height, 64);
  assert.equal(r.iterationSeconds.length, 1);
  assert.ok(
    Number.isFinite(r.secondsPerIteration) && r.secondsPerIteration > 0,
    `s/it ${r.secondsPerIteration}`,
  );
  assert.ok(r.peakRssBytes > 50 * 2 ** 20, `peak RSS ${r.peakRssBytes}`);
  assert.ok(r.peakTensorBytes > 0);
  // The engine the product uses: onnxruntime on every core unless VISAGE_ENGINE=tfjs.
  const tfjs = process.env.VISAGE_ENGINE === 'tfjs';
  assert.equal(r.engine, tfjs ? 'tfjs' : 'onnx');
  assert.deepEqual(b.engine.engine, r.engine);
  assert.ok(
    r.threads >= 1 && b.torchThreads[0] === r.threads,
    `threads ${r.threads}, torch ${b.torchThreads}`,
  );
  // On tfjs the wasm heap holds at least the network's weights (InceptionV3 to mixed5: ~10 M floats).
  if (r.engine === 'tfjs' && r.backend === 'wasm')
    assert.ok(r.peakHeapBytes > 40 * 2 ** 20, `peak heap ${r.peakHeapBytes}`);
  assert.deepEqual(r.torch, { skipped: 'disabled' });
});

test('bench style --check-size: a coarse-to-fine run per network, with wall time and peak RSS', async () => {
  const b = await benchStyle({
    sizes: [],
    networks: ['inception', 'vgg19'],
    iterations: 1,
    warmup: 1,
    torch: false,
    checkSize: 64,
    checkIterations: 1,
  });
  assert.equal(b.rows.length, 0);
  assert.deepEqual(
    b.coarseToFine?.map((c) => c.case),
    ['inception', 'vgg19'],
  );
  for (const c of b.coarseToFine!) {
    assert.deepEqual(c.scales, [64]);
    assert.ok(c.stylizeSeconds > 0 && Number.isFinite(c.stylizeSeconds), `${c.case}: ${c.stylizeSeconds} s`);
    assert.ok(c.peakRssBytes > 50 * 2 ** 20, `${c.case}: peak RSS ${c.peakRssBytes}`);
    assert.ok(c.fits);
  }
  assert.match(formatStyleBench(b), /coarse-to-fine vgg19 64 .*wall .* s.*peak RSS \d+ MB/);
});

/** Every op and padding kind the peer interprets, on an odd-sized input (asymmetric 'same' padding). */
const opsDef: NetworkDef = {
  name: 'peer-ops',
  nodes: [
    { op: 'input', name: 'image', shape: [null, null, 3] },
    {
      op: 'conv2d',
      name: 'c1',
      input: 'image',
      filters: 8,
      kernel: 3,
      strides: 2,
      padding: 'same',
      bias: true,
      activation: 'relu',
    },
    { op: 'batchNorm', name: 'bn1', input: 'c1', epsilon: 1e-3 },
    { op: 'activation', name: 'a1', input: 'bn1', fn: 'elu' },
    {
      op: 'pad',
      name: 'p1',
      input: 'a1',
      pads: [
        [1, 2],
        [2, 1],
      ],
      mode: 'reflect',
    },
    {
      op: 'conv2d',
      name: 'c2',
      input: 'p1',
      filters: 8,
      kernel: [3, 2],
      padding: 'valid',
      bias: true,
      activation: 'leakyRelu',
      alpha: 0.1,
    },
    {
      op: 'conv2d',
      name: 'c3',
      input: 'a1',
      filters: 8,
      kernel: 3,
      padding: [
        [0, 2],
        [1, 1],
      ],
      bias: false,
    },
    {
      op: 'conv2d',
      name: 'c3d',
      input: 'a1',
      filters: 8,
      kernel: 3,
      dilation: 2,
      padding: 'same',
      bias: true,
      activation: 'tanh',
    },
    {
      op: 'depthwiseConv2d',
      name: 'dw',
      input: 'a1',
      kernel: 3,
      multiplier: 2,
      padding: 'same',
      bias: true,
      activation: 'relu6',
    },
    { op: 'maxPool', name: 'mp', input: 'a1', size: 3, strides: 2, padding: 'same' },
    { op: 'avgPool', name: 'ap', input: 'a1', size: 3, strides: 1, padding: 'same' },
    { op: 'avgPool', name: 'ap2', input: 'a1', size: 2, strides: 2, padding: 'same' },
    {
      op: 'avgPool',
      name: 'ape',
      input: 'a1',
      size: 2,
      strides: 1,
      padding: [
        [1, 0],
        [0, 1],
      ],
    },
    { op: 'affine', name: 'af', input: 'ap' },
    { op: 'add', name: 'sum', inputs: ['af', 'c3', 'c3d'], activation: 'relu' },
    { op: 'concat', name: 'cat', inputs: ['sum', 'dw', 'ape'] },
    {
      op: 'conv2d',
      name: 'c4',
      input: 'cat',
      filters: 6,
      kernel: 1,
      padding: 'valid',
      bias: true,
      activation: 'sigmoid',
    },
    { op: 'padChannels', name: 'pc', input: 'c4', channels: 8 },
    { op: 'globalAvgPool', name: 'gap', input: 'pc' },
    { op: 'dense', name: 'fc', input: 'gap', units: 5 },
    { op: 'l2normalize', name: 'emb', input: 'fc' },
    { op: 'flatten', name: 'flat', input: 'ap2' },
    { op: 'dense', name: 'fc2', input: 'flat', units: 4, activation: 'tanh' },
  ],
  outputs: ['c2', 'mp', 'cat', 'pc', 'emb', 'fc2'],
};

test('the PyTorch peer interprets a NetworkDef like the tfjs executor', async (t) => {
  const py = findTorchPython();
  if (!py) {
    t.skip('no python3 with torch (set VISAGE_PYTHON)');
    return;
  }
  await initEngine();
  const input: [number, number, number] = [23, 19, 3];
  const weights = initWeights(opsDef, input, 5);
  // Random non-trivial biases and normalisation statistics (initWeights makes them identities).
  const rand = mulberry32(9);
  for (const [name, w] of weights) {
    const role = name.slice(name.lastIndexOf('/') + 1);
    if (role === 'kernel') continue;
    const positive = role === 'variance' || role === 'gamma' || role === 'scale';
    for (let i = 0; i < w.data.length; i++) w.data[i] = positive ? 0.5 + rand() : rand() - 0.5;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-peer-test-'));
  const net = new TfjsNetwork(opsDef, weights);
  try {
    saveModel(path.join(dir, 'model'), { def: opsDef, weights, meta: {} });
    const x = Float32Array.from({ length: input[0] * input[1] * input[2] }, () => rand() * 4 - 2);
    fs.writeFileSync(path.join(dir, 'x.f32'), Buffer.from(x.buffer));
    const taps = opsDef.outputs;
    execFileSync(
      py,
      [
        stylePeerScript(),
        'forward',
        `--model=${path.join(dir, 'model')}`,
        `--input=${path.join(dir, 'x.f32')}`,
        `--shape=${input.join(',')}`,
        `--taps=${taps.join(',')}`,
        `--out=${path.join(dir, 'out')}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
    );
    // The executor options of style transfer (GraphFeatureNet.forward).
    const outs = tf.tidy(() =>
      net.forward(tf.tensor4d(x, [1, ...input]), { outputs: taps, frozenWeights: true, unfused: true }),
    );
    for (const tap of taps) {
      const ours = outs[tap].dataSync();
      const buf = fs.readFileSync(path.join(dir, 'out', `${tap}.f32`));
      const theirs = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
      assert.equal(
        theirs.length,
        ours.length,
        `${tap}: ${theirs.length} values from torch, ${ours.length} from tfjs`,
      );
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < ours.length; i++) {
        diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
        scale = Math.max(scale, Math.abs(ours[i]));
      }
      assert.ok(scale > 0, `${tap} is all zeros`);
      assert.ok(diff / scale < 1e-4, `${tap}: max |tfjs − torch| / max |tfjs| = ${diff / scale}`);
    }
    tf.dispose(Object.values(outs));
  } finally {
    net.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
