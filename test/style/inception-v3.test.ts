import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { isVisageError } from '../../src/errors.js';
import { loadInceptionV3 } from '../../src/style/nets/inception-v3.js';
import { parseJsLiteral } from '../../src/style/nets/nsfwjs-modules.js';
import type { GraphFeatureNet } from '../../src/style/feature-net.js';

let net: GraphFeatureNet;

before(async () => {
  await initEngine();
  net = loadInceptionV3();
});
after(() => net.dispose());

test('minified object literals parse like JavaScript would', () => {
  const src = '{a:1,b:.5,c:-1.25,d:!0,e:!1,f:"x:y,.5 !1",g:[1e-3,-.25,null,16788238754359384e-30],h:{i:[]}}';
  assert.deepEqual(parseJsLiteral(src), {
    a: 1,
    b: 0.5,
    c: -1.25,
    d: true,
    e: false,
    f: 'x:y,.5 !1',
    g: [1e-3, -0.25, null, 16788238754359384e-30],
    h: { i: [] },
  });
  assert.throws(() => parseJsLiteral('{a:alert(1)}'));
});

test('trunk up to mixed5 with Keras layer names and the expected tap shapes', () => {
  for (const l of ['conv2d_1', 'activation_3', 'max_pooling2d_2', 'mixed0', 'mixed2', 'mixed3', 'mixed5'])
    assert.ok(net.layers.includes(l), l);
  assert.ok(!net.layers.includes('mixed6'));
  const x = tf.zeros([1, 160, 128, 3]) as tf.Tensor4D;
  const taps = ['activation_3', 'mixed0', 'mixed1', 'mixed2', 'mixed3', 'mixed5'];
  const out = net.forward(net.preprocess(x), taps);
  // 160: conv 3×3/2 valid → 79, conv valid → 77, same → 77, pool 3/2 → 38, 1×1 → 38, 3×3 valid → 36,
  // pool 3/2 → 17, mixed3 (3×3/2 valid) → 8.
  assert.deepEqual(out.activation_3.shape, [1, 77, 61, 64]);
  assert.deepEqual(out.mixed0.shape, [1, 17, 13, 256]);
  assert.deepEqual(out.mixed1.shape, [1, 17, 13, 288]);
  assert.deepEqual(out.mixed2.shape, [1, 17, 13, 288]);
  assert.deepEqual(out.mixed3.shape, [1, 8, 6, 768]);
  assert.deepEqual(out.mixed5.shape, [1, 8, 6, 768]);
  tf.dispose([x, ...Object.values(out)]);
});

test('folded batch-norm layers stay tappable: relu(batch_normalization_3) = activation_3', () => {
  const x = tf.randomUniform([1, 75, 75, 3], 0, 255, 'float32', 4) as tf.Tensor4D;
  const out = net.forward(net.preprocess(x), ['batch_normalization_3', 'activation_3']);
  const diff = tf.max(tf.abs(tf.sub(tf.relu(out.batch_normalization_3), out.activation_3))).dataSync()[0];
  assert.equal(diff, 0);
  assert.ok(tf.min(out.batch_normalization_3).dataSync()[0] < 0, 'pre-activation has negative values');
});

test('unknown tap → E_UNKNOWN_LAYER', () => {
  const x = tf.zeros([1, 96, 96, 3]) as tf.Tensor4D;
  assert.throws(
    () => net.forward(x, ['mixed3', 'mixed9']),
    (e) => isVisageError(e) && e.code === 'E_UNKNOWN_LAYER' && e.details?.layer === 'mixed9',
  );
  assert.throws(
    () => net.checkLayers(['conv4_2']),
    (e) => isVisageError(e) && e.code === 'E_UNKNOWN_LAYER',
  );
});

test('matches nsfwjs’ own tfjs-layers model (its own loader) on the same input', async () => {
  const { load } = await import('nsfwjs');
  const info = console.info;
  console.info = () => {};
  const nsfw = await load('InceptionV3', { type: 'layers' } as any).finally(() => (console.info = info));
  const model = (nsfw as unknown as { model: tfl.LayersModel }).model;
  const taps = ['activation_3', 'mixed0', 'mixed3', 'mixed5'];
  const sub = tfl.model({
    inputs: model.inputs,
    outputs: taps.map((n) => model.getLayer(n).output as tfl.SymbolicTensor),
  });
  const x = tf.randomUniform([1, 299, 299, 3], 0, 255, 'float32', 1) as tf.Tensor4D;
  const pre = net.preprocess(x);
  const ours = net.forward(pre, taps);
  const ref = sub.predict(pre) as tf.Tensor[];
  taps.forEach((t, i) => {
    const err = tf.max(tf.abs(tf.sub(ours[t], ref[i]))).dataSync()[0];
    const mag = tf.max(tf.abs(ref[i])).dataSync()[0];
    assert.ok(mag > 1, `${t} is not degenerate`);
    assert.ok(err <= 1e-4 * mag, `${t}: max error ${err} vs max |a| ${mag}`);
  });
  tf.dispose([x, pre, ...Object.values(ours), ...ref]);
  nsfw.dispose();
});

test('ImageNet features: activations vary across the image and between images', () => {
  const a = tf.randomUniform([1, 128, 128, 3], 0, 255, 'float32', 7) as tf.Tensor4D;
  const b = tf.randomUniform([1, 128, 128, 3], 0, 255, 'float32', 8) as tf.Tensor4D;
  const fa = net.forward(net.preprocess(a), ['mixed2']).mixed2;
  const fb = net.forward(net.preprocess(b), ['mixed2']).mixed2;
  // Guards against mis-decoded weights (a broken number parser once made every layer past
  // max_pooling2d_1 constant).
  assert.ok(tf.mean(tf.abs(tf.sub(fa, fb))).dataSync()[0] > 0.05);
  assert.ok(tf.mean(tf.sqrt(tf.moments(fa, [1, 2]).variance)).dataSync()[0] > 0.05);
  tf.dispose([a, b, fa, fb]);
});

test('reflect padding changes only the borders', () => {
  const reflect = loadInceptionV3({
    padding: 'reflect',
    until: 'activation_3',
    defaultContentLayer: 'activation_3',
    defaultStyleLayers: { activation_1: 1 },
  });
  const x = tf.randomUniform([1, 64, 64, 3], 0, 255, 'float32', 2) as tf.Tensor4D;
  const z = net.forward(net.preprocess(x), ['activation_3']).activation_3;
  const r = reflect.forward(reflect.preprocess(x), ['activation_3']).activation_3;
  assert.deepEqual(r.shape, z.shape);
  const inner = (t: tf.Tensor) => tf.slice(t, [0, 1, 1, 0], [1, t.shape[1]! - 2, t.shape[2]! - 2, -1]);
  assert.ok(tf.max(tf.abs(tf.sub(inner(z), inner(r)))).dataSync()[0] < 1e-4);
  assert.ok(tf.max(tf.abs(tf.sub(z, r))).dataSync()[0] > 1e-3);
  reflect.dispose();
});
