import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import { imageToTensor, resize, type RgbImage } from '../../src/image/index.js';
import type { GraphFeatureNet } from '../../src/style/feature-net.js';
import { loadInceptionV3 } from '../../src/style/nets/inception-v3.js';
import { vgg19FeatureNet } from '../../src/style/nets/vgg19.js';
import { evaluateOnnx, prepareOnnxTargets } from '../../src/style/onnx-engine.js';
import { OnnxStyleSessions } from '../../src/style/onnx-objective.js';
import { generatedStyleImage } from '../../src/style/sample-style.js';
import { objective, prepareTargets, type TransferOptions } from '../../src/style/transfer.js';
import { smallVgg19Weights } from '../helpers/vgg19-weights.js';
import { randomImage, tinyNet } from './tiny-net.js';

/**
 * The onnx style engine computes the same J, parts and dJ/dG as the tfjs path (prepareTargets +
 * objective + tf.grad), on the shipped InceptionV3, VGG-19 and a tiny net with every activation rule.
 */

before(async () => {
  await initEngine();
});

const base: TransferOptions = {
  contentWeight: 0.7,
  styleWeight: 1.3,
  tvWeight: 5,
  contentLayer: '',
  styleLayers: {},
  normalizeStyleLayers: 'content',
  smoothing: 'none',
  iterations: 1,
  scales: [64],
  optimizer: 'adam',
  parametrization: 'pixels',
  learningRate: 1,
  init: 'content',
  initNoise: 0,
  seed: 1,
  jitter: 0,
  styleScale: 1,
};

const toT = (img: RgbImage) => tf.expandDims(imageToTensor(img, { scale: 1 }), 0) as tf.Tensor4D;
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);

/** ‖a − b‖ / ‖b‖. */
function relNorm(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / n);
}

async function compare(
  net: GraphFeatureNet,
  o: TransferOptions,
  size: [number, number],
  styleSize: [number, number],
  tol: number,
  jitterShift?: number,
  checkGradient = true,
): Promise<void> {
  const [w, h] = size;
  const content = randomImage(w, h, 11);
  // Styles unlike the content (random noise), so that the 'content' normaliser Σ(G(S) − G(C))² is not a
  // difference of two nearly equal Grams, which float32 cannot resolve to 1e-4 on any engine.
  const style = resize(generatedStyleImage(96, 7), styleSize[0], styleSize[1]);
  const g = randomImage(w, h, 13);
  const styles = [
    { image: style, weight: 1 },
    { image: resize(generatedStyleImage(96, 8), styleSize[0], styleSize[1]), weight: 0.5 },
  ];
  // tfjs: the reference.
  const C = toT(content);
  const G = toT(g);
  const targets = prepareTargets(net, C, styles, o);
  // A shifted content image as the content target (the jitter path), else the prepared one.
  const shifted = jitterShift ? toT(randomImage(w, h, 15)) : undefined;
  const ct = shifted
    ? tf.tidy(() => net.forward(net.preprocess(shifted), [o.contentLayer])[o.contentLayer])
    : targets.content;
  const ref = tf.tidy(() => {
    const c = objective(net, G, targets, o, ct);
    return [c.J, c.Jcontent, c.Jstyle, c.Jtv, ...Object.values(c.layers)].map((t) => t.dataSync()[0]);
  });
  const refGrad = tf.tidy(() =>
    tf
      .grad((x: tf.Tensor) => objective(net, x as tf.Tensor4D, targets, o, ct).J)(G)
      .dataSync(),
  );
  // onnx.
  const s = new OnnxStyleSessions(net, 2);
  try {
    const at = (img: RgbImage, k: number) =>
      resize(img, Math.round(img.width * k), Math.round(img.height * k));
    const k = o.styleScale * Math.sqrt((w * h) / (styleSize[0] * styleSize[1]));
    const t = await prepareOnnxTargets(
      s,
      content,
      styles.map((x) => ({ image: at(x.image, k), weight: x.weight })),
      o,
    );
    for (const l of Object.keys(o.styleLayers))
      assert.ok(
        rel(t.lambdas[l], targets.layers[l].lambda) < tol,
        `λ ${l}: ${t.lambdas[l]} vs ${targets.layers[l].lambda}`,
      );
    const r = await evaluateOnnx(s, t, Float32Array.from(g.data), o, {
      gradient: true,
      contentImage: shifted ? (shifted.dataSync() as Float32Array) : undefined,
    });
    const got = [r.costs.J, r.costs.Jcontent, r.costs.Jstyle, r.costs.Jtv, ...Object.values(r.costs.Jlayers)];
    got.forEach((v, i) =>
      assert.ok(rel(v, ref[i]) < tol, `${net.name} part ${i}: onnx ${v}, tfjs ${ref[i]}`),
    );
    const e = checkGradient ? relNorm(r.grad!, refGrad) : 0;
    assert.ok(e < tol, `${net.name}: dJ/dG differs by ${e.toExponential(2)} (relative norm)`);
    // Without the gradient, the same costs.
    const c = await evaluateOnnx(s, t, Float32Array.from(g.data), o, {
      gradient: false,
      contentImage: shifted ? (shifted.dataSync() as Float32Array) : undefined,
    });
    assert.ok(rel(c.costs.J, ref[0]) < tol);
    assert.equal(c.grad, undefined);
  } finally {
    s.release();
    targets.dispose();
    tf.dispose([C, G, ...(shifted ? [shifted, ct] : [])]);
  }
}

test('onnx style engine = tfjs on a tiny net (tanh, elu, strided conv, avg pool), smoothing on and off', async () => {
  const net = tinyNet();
  for (const smoothing of ['none', 'softmax'] as const)
    for (const normalizeStyleLayers of ['content', 'gram'] as const)
      await compare(
        net,
        {
          ...base,
          contentLayer: 'c3',
          styleLayers: { c1: 1, c2: 0.5, c3: 2 },
          smoothing,
          normalizeStyleLayers,
        },
        [20, 14],
        [23, 17],
        1e-4,
      );
  net.dispose();
});

test('onnx style engine = tfjs on the shipped InceptionV3 (defaults, jittered content target)', async () => {
  const net = loadInceptionV3({});
  const o = { ...base, contentLayer: net.defaultContentLayer, styleLayers: { ...net.defaultStyleLayers } };
  await compare(net, o, [75, 67], [80, 70], 1e-4, 3);
  net.dispose();
});

test('InceptionV3 with reflect padding and a folded batch-norm tap: same J; dJ/dG by finite differences', async () => {
  // tfjs' own MirrorPad gradient drops what the mirrored borders receive (it slices dy), so tfjs is no
  // reference for this gradient: the onnx one is checked against J itself along a random direction.
  const net = loadInceptionV3({
    padding: 'reflect',
    until: 'mixed2',
    defaultContentLayer: 'mixed2',
    defaultStyleLayers: { mixed0: 1 },
  });
  const o = {
    ...base,
    contentLayer: 'mixed2',
    styleLayers: { batch_normalization_1: 1, activation_3: 1, mixed0: 1 },
  };
  await compare(net, o, [61, 70], [64, 64], 1e-4, undefined, false);
  const s = new OnnxStyleSessions(net, 2);
  try {
    const content = randomImage(61, 70, 11);
    const t = await prepareOnnxTargets(
      s,
      content,
      [{ image: resize(generatedStyleImage(96, 7), 61, 70), weight: 1 }],
      o,
    );
    const g = Float32Array.from(randomImage(61, 70, 13).data);
    const { grad } = await evaluateOnnx(s, t, g, o, { gradient: true });
    // Along the gradient itself (a random direction is nearly orthogonal to it: J barely moves).
    const mx = grad!.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const dir = grad!.map((v) => v / mx);
    const J = async (eps: number) =>
      (
        await evaluateOnnx(
          s,
          t,
          g.map((v, i) => v + eps * dir[i]),
          o,
          { gradient: false },
        )
      ).costs.J;
    const eps = 0.1;
    const fd = ((await J(eps)) - (await J(-eps))) / (2 * eps);
    const an = grad!.reduce((m, v, i) => m + v * dir[i], 0);
    assert.ok(rel(an, fd) < 2e-3, `directional derivative: gradient ${an}, finite difference ${fd}`);
  } finally {
    s.release();
    net.dispose();
  }
});

test('onnx style engine = tfjs on VGG-19 (test weights, max and avg pooling)', async () => {
  const weights = smallVgg19Weights('conv3_1');
  for (const pooling of ['max', 'avg'] as const) {
    const net = vgg19FeatureNet(weights, { until: 'conv3_1', pooling });
    const o = {
      ...base,
      contentLayer: 'conv2_2',
      styleLayers: { conv1_1: 0.2, conv2_1: 0.2, conv3_1: 0.2 },
      normalizeStyleLayers: 'none' as const,
      tvWeight: 0,
    };
    await compare(net, o, [36, 28], [40, 30], 1e-4);
    net.dispose();
  }
});
