import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import h5wasm from 'h5wasm/node';
import { loadKerasVgg19 } from '../../src/style/weights/keras-h5.js';
import { loadVgg19Weights, vgg19FromFile } from '../../src/style/weights/index.js';
import {
  assertSameWeights,
  rejectsWithCode,
  smallVgg19Weights,
  truncateHalf,
  weightsTestDir,
  writeKerasH5,
  type KerasH5Options,
} from '../helpers/vgg19-weights.js';

const dir = weightsTestDir();
const source = smallVgg19Weights('conv2_1', 11);

const layouts: Array<[string, KerasH5Options]> = [
  ['Keras 2 names (block1_conv1/kernel:0 in a nested group)', {}],
  ['Keras 1 names (block1_conv1_W_1:0)', { naming: 'keras1' }],
  ['a whole-model save (model_weights/, optimizer_weights/ ignored)', { wholeModel: true }],
  ['a Theano-era file (OIHW, flipped kernels)', { theano: true }],
];
for (const [what, opts] of layouts) {
  test(`Keras .h5 — ${what}: exact values in our HWIO layout, Caffe preprocessing`, async () => {
    const file = path.join(dir, `layout-${layouts.findIndex((l) => l[1] === opts)}.h5`);
    await writeKerasH5(file, source, opts);
    const w = await loadVgg19Weights(file, { until: 'conv2_1' });
    assert.equal(w.format, 'keras-h5');
    assert.equal(w.preprocessing, 'caffe');
    assertSameWeights(w.weights, source);
    // One element by hand: conv1_2 kernel at h=2, w=0, in=5, out=63 (HWIO, row-major).
    const k = w.weights.get('conv1_2/kernel')!;
    assert.equal(
      k.data[((2 * 3 + 0) * 64 + 5) * 64 + 63],
      source.get('conv1_2/kernel')!.data[2 * 3 * 64 * 64 + 5 * 64 + 63],
    );
  });
}

test('Keras .h5: only the layers up to `until` are read; a relative path works', async () => {
  const file = path.join(dir, 'until.h5');
  await writeKerasH5(file, source);
  const w = await loadKerasVgg19(path.relative(process.cwd(), file), { until: 'conv1_2' });
  assert.deepEqual(
    [...w.weights.keys()],
    ['conv1_1/kernel', 'conv1_1/bias', 'conv1_2/kernel', 'conv1_2/bias'],
  );
  // pool1 needs exactly conv1_1 and conv1_2 as well.
  assert.equal((await loadKerasVgg19(file, { until: 'pool1' })).weights.size, 4);
});

test('VGG-19 from a Keras .h5: a forward pass gives BGR-minus-mean convolutions of the file weights', async () => {
  const file = path.join(dir, 'forward.h5');
  await writeKerasH5(file, source);
  const net = await vgg19FromFile(file, { until: 'conv1_2' });
  assert.equal(net.name, 'vgg19 (keras-h5: forward.h5)');
  assert.equal(net.defaultContentLayer, 'conv1_2');
  assert.deepEqual(net.defaultStyleLayers, { conv1_1: 0.2 });
  // A uniform RGB image: away from the border conv1_1 = relu(b + Σ_{h,w,i} K[h,w,i,o]·x_i) with x in BGR
  // minus the Caffe mean pixel.
  const rgb = [200, 100, 30];
  const x = tf.tidy(() => tf.mul(tf.ones([1, 8, 8, 3]), tf.tensor1d(rgb)) as tf.Tensor4D);
  const out = net.forward(net.preprocess(x), ['conv1_1', 'conv1_2']);
  const bgr = [30 - 103.939, 100 - 116.779, 200 - 123.68];
  const K = source.get('conv1_1/kernel')!.data;
  const b = source.get('conv1_1/bias')!.data;
  const got = out.conv1_1.dataSync();
  for (const o of [0, 17, 63]) {
    let s = b[o];
    for (let hw = 0; hw < 9; hw++) for (let i = 0; i < 3; i++) s += K[(hw * 3 + i) * 64 + o] * bgr[i];
    assert.ok(
      Math.abs(got[(4 * 8 + 4) * 64 + o] - Math.max(0, s)) < 1e-3 * (1 + Math.abs(s)),
      `channel ${o}`,
    );
  }
  assert.deepEqual(out.conv1_2.shape, [1, 8, 8, 64]);
  tf.dispose([x, ...Object.values(out)]);
  net.dispose();
});

test('Keras .h5 errors: truncated or corrupt → E_BAD_WEIGHTS, no HDF5 → E_UNSUPPORTED_FORMAT, missing, empty', async () => {
  const cut = path.join(dir, 'cut.h5');
  await writeKerasH5(cut, source);
  truncateHalf(cut);
  await rejectsWithCode(loadVgg19Weights(cut, { until: 'conv2_1' }), 'E_BAD_WEIGHTS', /truncated/);
  await rejectsWithCode(loadKerasVgg19(cut), 'E_BAD_WEIGHTS', /truncated/);

  // Same size, garbage after the superblock: HDF5 itself fails (quietly), and we say so.
  const bad = path.join(dir, 'corrupt.h5');
  await writeKerasH5(bad, source);
  const bytes = fs.readFileSync(bad);
  bytes.fill(0xa5, 96, bytes.length);
  fs.writeFileSync(bad, bytes);
  await rejectsWithCode(loadKerasVgg19(bad, { until: 'conv2_1' }), 'E_BAD_WEIGHTS', /damaged HDF5/);

  const text = path.join(dir, 'notes.h5');
  fs.writeFileSync(text, 'not an HDF5 file at all');
  await rejectsWithCode(loadKerasVgg19(text), 'E_UNSUPPORTED_FORMAT');
  await rejectsWithCode(loadKerasVgg19(path.join(dir, 'missing.h5')), 'E_FILE_NOT_FOUND');
  const empty = path.join(dir, 'empty.h5');
  fs.writeFileSync(empty, '');
  await rejectsWithCode(loadKerasVgg19(empty), 'E_EMPTY_FILE');
  // The loader is still usable afterwards (no emscripten abort left behind).
  const ok = path.join(dir, 'ok.h5');
  await writeKerasH5(ok, source);
  assert.equal((await loadKerasVgg19(ok, { until: 'conv2_1' })).weights.size, 6);
});

test('Keras .h5 of another network → E_WRONG_NETWORK naming the layer', async () => {
  // VGG-like, but conv1_2 has 32 filters (and conv2_1 32 inputs).
  const narrow = smallVgg19Weights('conv2_1', 3);
  narrow.set('conv1_2/kernel', { shape: [3, 3, 64, 32], data: new Float32Array(9 * 64 * 32) });
  narrow.set('conv1_2/bias', { shape: [32], data: new Float32Array(32) });
  const f1 = path.join(dir, 'narrow.h5');
  await writeKerasH5(f1, narrow);
  await rejectsWithCode(loadVgg19Weights(f1, { until: 'conv2_1' }), 'E_WRONG_NETWORK', /conv1_2/);

  // A ResNet-style file: layer groups conv1, res2a_branch2a … and no blockB_convI at all.
  const f2 = path.join(dir, 'resnet.h5');
  await h5wasm.ready;
  const f = new h5wasm.File(f2, 'w');
  f.create_attribute('layer_names', ['conv1', 'res2a_branch2a']);
  for (const l of ['conv1', 'res2a_branch2a']) {
    const g = f.create_group(l);
    g.create_attribute('weight_names', [`${l}/kernel:0`, `${l}/bias:0`]);
    const n = g.create_group(l);
    n.create_dataset({
      name: 'kernel:0',
      data: new Float32Array(7 * 7 * 3 * 64),
      shape: [7, 7, 3, 64],
      dtype: '<f',
    });
    n.create_dataset({ name: 'bias:0', data: new Float32Array(64), shape: [64], dtype: '<f' });
  }
  f.close();
  await rejectsWithCode(loadVgg19Weights(f2), 'E_WRONG_NETWORK', /not VGG-19: it has no weights for conv1_1/);

  // A real VGG-19 file that stops before the layers asked for.
  const short = path.join(dir, 'short.h5');
  await writeKerasH5(short, smallVgg19Weights('conv1_2'));
  await rejectsWithCode(loadVgg19Weights(short, { until: 'conv2_1' }), 'E_WRONG_NETWORK', /conv2_1/);
});
