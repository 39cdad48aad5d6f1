import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import { VisageError } from '../../src/errors.js';
import {
  batchToImages,
  imagesToBatch,
  imageToTensor,
  tensorToImage,
  type RgbImage,
} from '../../src/image/index.js';

function randomImage(w: number, h: number, seed: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  return { width: w, height: h, data };
}
const bad = (code: string) => (e: unknown) => e instanceof VisageError && e.code === code;

before(async () => {
  await initEngine();
});

describe('image ↔ tensor', () => {
  const img = randomImage(7, 5, 9);

  it('imageToTensor gives [h, w, 3] float32 in [0, 1] by default', () => {
    const t = imageToTensor(img);
    assert.deepEqual(t.shape, [5, 7, 3]);
    assert.equal(t.dtype, 'float32');
    const v = t.dataSync();
    for (let i = 0; i < v.length; i++) assert.equal(v[i], Math.fround(img.data[i] * (1 / 255)));
    t.dispose();
  });

  it('applies scale, per-channel mean and std', () => {
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const t = imageToTensor(img, { mean, std });
    const v = t.dataSync();
    for (let i = 0; i < v.length; i++) {
      assert.ok(Math.abs(v[i] - (img.data[i] / 255 - mean[i % 3]) / std[i % 3]) < 1e-5);
    }
    t.dispose();
    const caffe = imageToTensor(img, { scale: 1, mean: [123.68, 116.779, 103.939] });
    assert.ok(Math.abs(caffe.dataSync()[1] - (img.data[1] - 116.779)) < 1e-4);
    caffe.dispose();
  });

  it('channels: 1 gives BT.601 luma', () => {
    const one: RgbImage = { width: 1, height: 1, data: Uint8Array.from([255, 0, 0]) };
    const t = imageToTensor(one, { channels: 1, scale: 1 });
    assert.deepEqual(t.shape, [1, 1, 1]);
    assert.equal(t.dataSync()[0], 76);
    t.dispose();
  });

  it('tensorToImage undoes the same normalisation exactly', () => {
    for (const opts of [{}, { mean: [0.5], std: [0.5] }, { scale: 1, mean: [123.68, 116.779, 103.939] }]) {
      const t = imageToTensor(img, opts);
      assert.deepEqual(tensorToImage(t, opts), img);
      t.dispose();
    }
  });

  it('tensorToImage clamps, rounds, maps NaN to 0, and accepts [h, w, 1] and [1, h, w, 3]', () => {
    const t = tf.tensor3d([-0.5, 0.5 / 255, 0.7 / 255, 1.7, NaN, 128 / 255], [1, 2, 3]);
    assert.deepEqual(Array.from(tensorToImage(t).data), [0, 1, 1, 255, 0, 128]);
    const g = tf.tensor3d([0, 1], [1, 2, 1]);
    assert.deepEqual(Array.from(tensorToImage(g).data), [0, 0, 0, 255, 255, 255]);
    const b = tf.tensor4d([0, 1, 0], [1, 1, 1, 3]);
    assert.deepEqual(Array.from(tensorToImage(b).data), [0, 255, 0]);
    const flat = tf.zeros([2, 2]);
    const two = tf.zeros([2, 2, 2, 3]);
    assert.throws(() => tensorToImage(flat), bad('E_BAD_INPUT'));
    assert.throws(() => tensorToImage(two), bad('E_BAD_INPUT'));
    tf.dispose([t, g, b, flat, two]);
  });

  it('imagesToBatch stacks equal-sized images and batchToImages splits them', () => {
    const imgs = [img, randomImage(7, 5, 10), randomImage(7, 5, 11)];
    const before = tf.memory().numTensors;
    const batch = imagesToBatch(imgs, { mean: [0.5], std: [0.25] });
    assert.equal(tf.memory().numTensors, before + 1, 'no intermediate tensors are left behind');
    assert.deepEqual(batch.shape, [3, 5, 7, 3]);
    assert.deepEqual(batchToImages(batch, { mean: [0.5], std: [0.25] }), imgs);
    batch.dispose();
    assert.throws(() => imagesToBatch([img, randomImage(5, 7, 1)]), bad('E_BAD_INPUT'));
    assert.throws(() => imagesToBatch([]), bad('E_BAD_INPUT'));
  });

  it('refuses bad options', () => {
    assert.throws(() => imageToTensor(img, { std: [1, 0, 1] }), bad('E_BAD_OPTION'));
    assert.throws(() => imageToTensor(img, { mean: [1, 2] }), bad('E_BAD_OPTION'));
  });
});
