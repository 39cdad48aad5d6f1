import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import { isVisageError, type ErrorCode } from '../../src/errors.js';
import { decodeImage, imageToTensor, resize, type RgbImage } from '../../src/image/index.js';
import { autoScales, stylize, releaseDefaultStyleNetwork } from '../../src/style/index.js';
import { prepareTargets, runTransfer, type TransferOptions } from '../../src/style/transfer.js';
import { dataDir } from '../helpers/data.js';
import { randomImage, tinyNet } from './tiny-net.js';
import os from 'node:os';
import path from 'node:path';

let net: ReturnType<typeof tinyNet>;
let dog: RgbImage;
let scream: RgbImage;

before(async () => {
  await initEngine();
  net = tinyNet();
  dog = resize(await decodeImage(path.join(dataDir('images'), 'dog.jpg')), 64, 48);
  scream = resize(await decodeImage(path.join(dataDir('images'), 'scream.jpg')), 44, 56);
});
after(() => {
  net.dispose();
  releaseDefaultStyleNetwork();
});

const base: TransferOptions = {
  contentWeight: 1,
  styleWeight: 1,
  tvWeight: 0,
  contentLayer: 'c3',
  styleLayers: { c1: 1, c2: 1, c3: 1 },
  normalizeStyleLayers: 'content',
  smoothing: 'none',
  iterations: 12,
  scales: [32],
  optimizer: 'adam',
  parametrization: 'pixels',
  learningRate: 4,
  init: 'content',
  initNoise: 5,
  seed: 7,
  jitter: 0,
  styleScale: 1,
};

const code = (c: ErrorCode) => (e: unknown) => isVisageError(e) && e.code === c;

test('a short run on a 32-px image lowers J and J_style (each optimiser / parametrisation)', async () => {
  const variants: Array<Partial<TransferOptions>> = [
    {},
    { parametrization: 'pyramid', jitter: 2 },
    { optimizer: 'lbfgs', learningRate: 1 },
    { smoothing: 'softmax', tvWeight: 1 },
  ];
  for (const v of variants) {
    const tensors = tf.memory().numTensors;
    const r = await runTransfer(net, dog, [{ image: scream, weight: 1 }], { ...base, ...v });
    const label = JSON.stringify(v);
    assert.equal(tf.memory().numTensors, tensors, `${label}: no tensor leaks`);
    assert.deepEqual([r.image.width, r.image.height], [32, 24]);
    assert.equal(r.history.length, 12);
    const first = r.history[0].J;
    const last = r.history[r.history.length - 1].J;
    assert.ok(last < 0.8 * first, `${label}: J ${first} → ${last}`);
    assert.ok(r.stats.final.Jstyle < r.stats.initial.Jstyle, `${label}: J_style did not fall`);
    assert.ok(r.stats.styleReduction > 1);
  }
});

test('coarse-to-fine: scales run in order and the output has the last size', async () => {
  const sizes: string[] = [];
  const r = await runTransfer(net, dog, [{ image: scream, weight: 1 }], {
    ...base,
    scales: [32, 48],
    iterations: [4, 3],
    onProgress: (p) => sizes.push(`${p.width}x${p.height}`),
  });
  assert.deepEqual(sizes, ['32x24', '32x24', '32x24', '32x24', '48x36', '48x36', '48x36']);
  assert.deepEqual([r.image.width, r.image.height], [48, 36]);
  assert.equal(r.history.at(-1)!.step, 7);
});

test('large outputs run coarse-to-fine from ≥ 256 px', () => {
  assert.deepEqual(autoScales(256), [256]);
  assert.deepEqual(autoScales(512), [256, 512]);
  assert.deepEqual(autoScales(1024), [256, 512, 1024]);
  assert.deepEqual(autoScales(400), [400]);
});

test('the same seed gives the same image; another seed another one', async () => {
  const run = (seed: number) =>
    runTransfer(net, dog, [{ image: scream, weight: 1 }], { ...base, seed, iterations: 3 });
  const [a, b, c] = [await run(1), await run(1), await run(2)];
  assert.deepEqual(a.image.data, b.image.data);
  assert.notDeepEqual(a.image.data, c.image.data);
});

test('abort signal stops the run and returns the best image so far', async () => {
  const ctl = new AbortController();
  const r = await runTransfer(net, dog, [{ image: scream, weight: 1 }], {
    ...base,
    iterations: 50,
    signal: ctl.signal,
    onProgress: (p) => p.iteration === 3 && ctl.abort(),
  });
  assert.equal(r.stats.aborted, true);
  assert.equal(r.history.length, 3);
  assert.deepEqual([r.image.width, r.image.height], [32, 24]);
  const best = Math.min(...r.history.map((h) => h.J));
  assert.equal(r.history[r.stats.bestStep].J, best);
});

test('several styles: the target Gram is the weighted blend of the styles’ Gram matrices', () => {
  const C = tf.expandDims(imageToTensor(randomImage(16, 16, 1), { scale: 1 }), 0) as tf.Tensor4D;
  const s1 = randomImage(16, 16, 2);
  const s2 = randomImage(16, 16, 3);
  const o = { ...base, normalizeStyleLayers: 'none' as const };
  const t1 = prepareTargets(net, C, [{ image: s1, weight: 1 }], o);
  const t2 = prepareTargets(net, C, [{ image: s2, weight: 1 }], o);
  const tb = prepareTargets(
    net,
    C,
    [
      { image: s1, weight: 1 },
      { image: s2, weight: 3 },
    ],
    o,
  );
  for (const l of ['c1', 'c2', 'c3']) {
    const want = tf.add(tf.mul(t1.layers[l].gram, 0.25), tf.mul(t2.layers[l].gram, 0.75));
    const err = tf.max(tf.abs(tf.sub(want, tb.layers[l].gram))).dataSync()[0];
    assert.ok(err <= 1e-4 * tf.max(tf.abs(want)).dataSync()[0], `${l}: ${err}`);
  }
  [t1, t2, tb].forEach((t) => t.dispose());
  C.dispose();
});

test('stylize() with the shipped InceptionV3: defaults run end to end at 80 px and lower J_style', async () => {
  const r = await stylize(dog, [scream], { size: 80, iterations: 4 });
  assert.deepEqual([r.image.width, r.image.height], [80, 60]);
  assert.equal(r.options.network, 'inception-v3-nsfwjs');
  assert.ok(r.stats.final.Jstyle < r.stats.initial.Jstyle, JSON.stringify(r.stats));
});

test('preserveColors keeps the content’s chrominance', async () => {
  const r = await stylize(dog, [scream], { network: net, size: 32, iterations: 3, preserveColors: true });
  const c = resize(dog, 32, 24);
  const iq = (img: RgbImage, p: number) => {
    const [R, G, B] = [img.data[p], img.data[p + 1], img.data[p + 2]];
    return [0.596 * R - 0.274 * G - 0.322 * B, 0.211 * R - 0.523 * G + 0.312 * B];
  };
  let err = 0;
  let n = 0;
  for (let p = 0; p < c.data.length; p += 3) {
    const [a, b] = [iq(r.image, p), iq(c, p)];
    // Pixels that hit 0 or 255 lose some chrominance; skip them.
    if ([0, 1, 2].some((k) => r.image.data[p + k] === 0 || r.image.data[p + k] === 255)) continue;
    err += Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]);
    n++;
  }
  assert.ok(n > 100 && err / n < 2, `mean chrominance error ${err / n} over ${n} pixels`);
});

test('bad options and inputs fail with stable codes', async () => {
  const run = (o: Parameters<typeof stylize>[2], styles = [scream]) =>
    stylize(dog, styles, { network: net, size: 32, iterations: 1, ...o });
  await assert.rejects(run({ styleWeight: -1 }), code('E_BAD_OPTION'));
  await assert.rejects(run({ contentWeight: Number.NaN }), code('E_BAD_OPTION'));
  await assert.rejects(run({ iterations: -5 }), code('E_BAD_OPTION'));
  await assert.rejects(run({ iterations: 2.5 }), code('E_BAD_OPTION'));
  await assert.rejects(run({ styleLayers: { c1: -0.2 } }), code('E_BAD_OPTION'));
  await assert.rejects(run({ learningRate: 0 }), code('E_BAD_OPTION'));
  await assert.rejects(run({ scales: [64, 32] }), code('E_BAD_OPTION'));
  await assert.rejects(run({ styleBlend: [1, 2] }), code('E_BAD_OPTION'));
  await assert.rejects(run({ styleLayers: { nope: 1 } }), code('E_UNKNOWN_LAYER'));
  await assert.rejects(run({ contentLayer: 'conv4_2' }), code('E_UNKNOWN_LAYER'));
  await assert.rejects(run({}, []), code('E_BAD_INPUT'));
  await assert.rejects(run({ size: 256 }, [resize(scream, 22, 28)]), code('E_BAD_INPUT'));
});

test('an output beyond what the engine can hold is refused up front with E_IMAGE_TOO_LARGE', async () => {
  // onnxruntime: more than this machine's memory by the measured peak RSS per pixel (tfjs: its 4 GiB heap).
  const size = Math.ceil(1.2 * Math.sqrt(os.totalmem() / 3014));
  const side = Math.ceil(size / 3);
  const style: RgbImage = { width: side, height: side, data: new Uint8Array(side * side * 3).fill(128) };
  const t0 = Date.now();
  await assert.rejects(stylize(randomImage(64, 64, 1), [style], { size, iterations: 1 }), (e) => {
    assert.ok(isVisageError(e) && e.code === 'E_IMAGE_TOO_LARGE', String(e));
    return true;
  });
  assert.ok(Date.now() - t0 < 30_000, 'refused before any work');
});
