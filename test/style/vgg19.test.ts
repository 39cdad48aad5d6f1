import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import { inferShapes } from '../../src/engine/graph/index.js';
import { isVisageError } from '../../src/errors.js';
import { randomVgg19, VGG19_CONV_LAYERS, vgg19Def, vgg19Preprocess } from '../../src/style/nets/vgg19.js';

before(async () => {
  await initEngine();
});

test('VGG-19 architecture: 16 convolutions conv1_1…conv5_4, 5 poolings, 20 024 384 conv parameters', () => {
  assert.equal(VGG19_CONV_LAYERS.length, 16);
  assert.equal(VGG19_CONV_LAYERS[0], 'conv1_1');
  assert.equal(VGG19_CONV_LAYERS[15], 'conv5_4');
  const def = vgg19Def();
  const shapes = inferShapes(def, [224, 224, 3]);
  assert.deepEqual(shapes.get('conv1_2'), [224, 224, 64]);
  assert.deepEqual(shapes.get('conv4_2'), [28, 28, 512]);
  assert.deepEqual(shapes.get('pool5'), [7, 7, 512]);
  let params = 0;
  let cin = 3;
  for (const n of def.nodes)
    if (n.op === 'conv2d') {
      params += 9 * cin * n.filters + n.filters;
      cin = n.filters;
    }
  // The published count of VGG-19's convolutional part.
  assert.equal(params, 20024384);
  assert.throws(
    () => vgg19Def({ until: 'conv6_1' }),
    (e) => isVisageError(e) && e.code === 'E_UNKNOWN_LAYER',
  );
});

test('Caffe preprocessing is BGR minus the mean pixel; torch is RGB/255 standardised', () => {
  const x = tf.tensor4d([255, 128, 0], [1, 1, 1, 3]);
  const caffe = Array.from(vgg19Preprocess('caffe')(x).dataSync());
  [0 - 103.939, 128 - 116.779, 255 - 123.68].forEach((v, i) => assert.ok(Math.abs(caffe[i] - v) < 1e-3));
  const torch = Array.from(vgg19Preprocess('torch')(x).dataSync());
  [(1 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (0 - 0.406) / 0.225].forEach((v, i) =>
    assert.ok(Math.abs(torch[i] - v) < 1e-4),
  );
});

test('random-weight VGG-19 FeatureNet taps the default layers and gives input gradients', () => {
  const net = randomVgg19(3);
  const x = tf.randomUniform([1, 48, 48, 3], 0, 255, 'float32', 1) as tf.Tensor4D;
  const taps = [net.defaultContentLayer, ...Object.keys(net.defaultStyleLayers)];
  const out = net.forward(net.preprocess(x), taps);
  assert.deepEqual(out.conv1_1.shape, [1, 48, 48, 64]);
  assert.deepEqual(out.conv4_2.shape, [1, 6, 6, 512]);
  assert.deepEqual(out.conv5_1.shape, [1, 3, 3, 512]);
  const g = tf.grad((t: tf.Tensor) =>
    tf.sum(net.forward(net.preprocess(t as tf.Tensor4D), ['conv3_1']).conv3_1),
  )(x);
  assert.ok(tf.max(tf.abs(g)).dataSync()[0] > 0);
  tf.dispose([x, g, ...Object.values(out)]);
  net.dispose();
});
