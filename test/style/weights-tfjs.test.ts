import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { saveModel } from '../../src/engine/graph/index.js';
import { vgg19Def } from '../../src/style/nets/vgg19.js';
import { loadVgg19Weights, saveVgg19Weights, vgg19FromFile } from '../../src/style/weights/index.js';
import { decodeFloat16, loadTfjsVgg19 } from '../../src/style/weights/tfjs-json.js';
import {
  assertSameWeights,
  rejectsWithCode,
  smallVgg19Weights,
  truncateHalf,
  weightsTestDir,
  writeTfjs,
} from '../helpers/vgg19-weights.js';

const dir = weightsTestDir();
const source = smallVgg19Weights('conv2_1', 5);

test('tfjs model.json (float32, 3 shards split mid-weight, "vgg19/" prefix): exact values, Caffe preprocessing', async () => {
  const d = path.join(dir, 'f32');
  writeTfjs(d, source, { shards: 3, prefix: 'vgg19/' });
  // The folder and the model.json itself both work.
  for (const file of [d, path.join(d, 'model.json')]) {
    const w = await loadVgg19Weights(file, { until: 'conv2_1' });
    assert.equal(w.format, 'tfjs');
    assert.equal(w.preprocessing, 'caffe');
    assertSameWeights(w.weights, source);
  }
  // Only the layers asked for.
  assert.equal((await loadTfjsVgg19(d, { until: 'conv1_1' })).weights.size, 2);
});

for (const q of ['uint8', 'uint16', 'float16'] as const) {
  test(`tfjs model.json with ${q}-quantised weights decodes them`, async () => {
    const d = path.join(dir, q);
    const want = writeTfjs(d, source, { quantization: q, shards: 2 });
    const w = await loadVgg19Weights(d, { until: 'conv2_1' });
    assertSameWeights(w.weights, want);
    // And the decoded values are close to the originals (quantisation error only).
    const err = Math.max(
      ...w.weights
        .get('conv1_2/kernel')!
        .data.map((v, i) => Math.abs(v - source.get('conv1_2/kernel')!.data[i])),
    );
    assert.ok(err < (q === 'uint8' ? 0.01 : 1e-3), `max error ${err}`);
  });
}

test('float16 decoding: normal, subnormal, signed zero, infinity', () => {
  const got = decodeFloat16(new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001, 0x8000, 0x7c00, 0x7bff]));
  assert.deepEqual(Array.from(got), [1, -2, 0.333251953125, 2 ** -24, -0, Infinity, 65504]);
});

test('tfjs userDefinedMetadata.preprocessing is honoured; VGG-19 forward pass from a tfjs folder', async () => {
  const d = path.join(dir, 'torch');
  writeTfjs(d, source, { userDefinedMetadata: { preprocessing: 'torch' } });
  assert.equal((await loadTfjsVgg19(d)).preprocessing, 'torch');
  const net = await vgg19FromFile(d, { until: 'conv2_1', pooling: 'avg' });
  assert.equal(net.name, 'vgg19 (tfjs: torch)');
  const x = tf.randomUniform([1, 16, 16, 3], 0, 255, 'float32', 2) as tf.Tensor4D;
  const out = net.forward(net.preprocess(x), ['conv2_1', 'pool1']);
  assert.deepEqual(out.conv2_1.shape, [1, 8, 8, 128]);
  // Average pooling: pool1's first value is the mean of conv1_2's top-left 2×2 block.
  const c12 = net.forward(net.preprocess(x), ['conv1_2']).conv1_2;
  const block = c12.slice([0, 0, 0, 0], [1, 2, 2, 1]).mean().dataSync()[0];
  assert.ok(Math.abs(out.pool1.dataSync()[0] - block) < 1e-4 * (1 + Math.abs(block)));
  tf.dispose([x, c12, ...Object.values(out)]);
  net.dispose();
});

test("Visage's own format: saveVgg19Weights → load gives the same weights and keeps the preprocessing", async () => {
  const d = path.join(dir, 'visage');
  saveVgg19Weights(d, { weights: source, preprocessing: 'matconvnet', format: 'pytorch' });
  const meta = JSON.parse(fs.readFileSync(path.join(d, 'model.json'), 'utf8')).meta;
  assert.deepEqual(meta, { network: 'vgg19', preprocessing: 'matconvnet', source: 'pytorch' });
  const w = await loadVgg19Weights(d, { until: 'conv2_1' });
  assert.equal(w.preprocessing, 'matconvnet');
  assert.equal(w.format, 'visage');
  assertSameWeights(w.weights, source);
  assert.equal((await loadVgg19Weights(path.join(d, 'model.json'), { until: 'conv1_1' })).weights.size, 2);
});

test('tfjs / Visage errors: truncated shard or JSON → E_BAD_WEIGHTS, missing shard, other networks', async () => {
  const cut = path.join(dir, 'cut');
  writeTfjs(cut, source, { shards: 2 });
  truncateHalf(path.join(cut, 'group1-shard2of2.bin'));
  await rejectsWithCode(loadVgg19Weights(cut, { until: 'conv2_1' }), 'E_BAD_WEIGHTS', /truncated/);

  const cutJson = path.join(dir, 'cut-json');
  writeTfjs(cutJson, source);
  truncateHalf(path.join(cutJson, 'model.json'));
  await rejectsWithCode(loadVgg19Weights(cutJson), 'E_BAD_WEIGHTS', /not valid JSON/);

  const noShard = path.join(dir, 'no-shard');
  writeTfjs(noShard, source, { shards: 2 });
  fs.rmSync(path.join(noShard, 'group1-shard1of2.bin'));
  await rejectsWithCode(loadVgg19Weights(noShard), 'E_FILE_NOT_FOUND', /group1-shard1of2\.bin/);

  const cutVisage = path.join(dir, 'cut-visage');
  saveVgg19Weights(cutVisage, { weights: source, preprocessing: 'caffe', format: 'keras-h5' });
  truncateHalf(path.join(cutVisage, 'weights.bin'));
  await rejectsWithCode(loadVgg19Weights(cutVisage, { until: 'conv2_1' }), 'E_BAD_WEIGHTS', /truncated/);

  // JSON that is no model at all.
  const other = path.join(dir, 'package.json');
  fs.writeFileSync(other, JSON.stringify({ name: 'x', version: '1.0.0' }));
  await rejectsWithCode(loadVgg19Weights(other), 'E_UNSUPPORTED_FORMAT');

  // A tfjs VGG whose conv1_2 has 32 filters; a MobileNet-like tfjs model; a Visage model of another network.
  const narrow = smallVgg19Weights('conv1_2', 1);
  narrow.set('conv1_2/kernel', { shape: [3, 3, 64, 32], data: new Float32Array(9 * 64 * 32) });
  narrow.set('conv1_2/bias', { shape: [32], data: new Float32Array(32) });
  writeTfjs(path.join(dir, 'narrow'), narrow);
  await rejectsWithCode(
    loadVgg19Weights(path.join(dir, 'narrow'), { until: 'conv1_2' }),
    'E_WRONG_NETWORK',
    /conv1_2/,
  );

  const mobile = path.join(dir, 'mobilenet');
  fs.mkdirSync(mobile);
  fs.writeFileSync(path.join(mobile, 'w.bin'), Buffer.alloc(3 * 3 * 3 * 32 * 4));
  fs.writeFileSync(
    path.join(mobile, 'model.json'),
    JSON.stringify({
      weightsManifest: [
        { paths: ['w.bin'], weights: [{ name: 'conv1/kernel', shape: [3, 3, 3, 32], dtype: 'float32' }] },
      ],
    }),
  );
  await rejectsWithCode(loadVgg19Weights(mobile), 'E_WRONG_NETWORK', /no weights for conv1_1/);

  const face = path.join(dir, 'face-model');
  saveModel(face, {
    def: vgg19Def({ until: 'conv1_1' }),
    weights: new Map([...source].filter(([k]) => k.startsWith('conv1_1/'))),
    meta: { network: 'facenet' },
  });
  await rejectsWithCode(loadVgg19Weights(face, { until: 'conv1_1' }), 'E_WRONG_NETWORK', /facenet/);
});
