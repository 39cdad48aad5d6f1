import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import { inferShapes, initWeights, TfjsNetwork } from '../../src/engine/graph/index.js';
import { resnetEmbedding } from '../../src/training/nets/resnet.js';
import { smallCnn } from '../../src/training/nets/small-cnn.js';
import { ParamLayout } from '../../src/training/params.js';

before(async () => {
  await initEngine();
});

test('ResNet-18/34 embeddings have torchvision’s parameter counts and shapes', () => {
  // torchvision resnet18 / resnet34 without their 512→1000 classifier, plus our 512→128 embedding layer.
  const fc = 512 * 128 + 128;
  const r18 = resnetEmbedding({ depth: 18, inputSize: 112, channels: 3 });
  assert.equal(ParamLayout.of(r18, [112, 112, 3]).trainableSize, 11_689_512 - 513_000 + fc);
  const r34 = resnetEmbedding({ depth: 34, inputSize: 112, channels: 3 });
  assert.equal(ParamLayout.of(r34, [112, 112, 3]).trainableSize, 21_797_672 - 513_000 + fc);
  const shapes = inferShapes(r18, [112, 112, 3]);
  assert.deepEqual(shapes.get('conv1'), [56, 56, 64]);
  assert.deepEqual(shapes.get('maxpool'), [28, 28, 64]);
  assert.deepEqual(shapes.get('layer2.0.add'), [14, 14, 128]);
  assert.deepEqual(shapes.get('layer4.1.add'), [4, 4, 512]);
  assert.deepEqual(shapes.get('embedding'), [128]);
  // Small inputs get a 3×3 stem without pooling.
  const small = resnetEmbedding({ depth: 18, inputSize: 32, channels: 1, width: 8, embeddingDim: 16 });
  assert.deepEqual(inferShapes(small, [32, 32, 1]).get('layer4.1.add'), [4, 4, 64]);
  assert.throws(
    () => resnetEmbedding({ depth: 50 as 18, inputSize: 112, channels: 3 }),
    (e: any) => e.code === 'E_BAD_OPTION',
  );
});

test('the small CNN halves resolution per stage and stays small', () => {
  const def = smallCnn({ inputSize: 64, channels: 1, width: 32, depth: 4 });
  const shapes = inferShapes(def, [64, 64, 1]);
  assert.deepEqual(shapes.get('stage4.2.relu'), [8, 8, 256]);
  assert.deepEqual(shapes.get('embedding'), [128]);
  const size = ParamLayout.of(def, [64, 64, 1]).trainableSize;
  assert.ok(size > 1e6 && size < 1.3e6, `${size} parameters`);
  // The flatten head gives each of the 8×8 positions its own weights into the embedding.
  const flat = smallCnn({ inputSize: 64, channels: 1, width: 32, depth: 4, head: 'flatten' });
  assert.deepEqual(inferShapes(flat, [64, 64, 1]).get('flatten'), [8 * 8 * 256]);
  assert.equal(ParamLayout.of(flat, [64, 64, 1]).trainableSize - size, (64 - 1) * 256 * 128);
  assert.notEqual(flat.name, def.name);
  assert.throws(
    () => smallCnn({ inputSize: 8, channels: 1, depth: 5 }),
    (e: any) => e.code === 'E_BAD_OPTION',
  );
});

test('both nets run forward to unit-length embeddings', () => {
  for (const def of [
    resnetEmbedding({ depth: 18, inputSize: 24, channels: 3, width: 4, embeddingDim: 8 }),
    smallCnn({ inputSize: 24, channels: 3, width: 4, depth: 3, embeddingDim: 8 }),
    smallCnn({ inputSize: 24, channels: 3, width: 4, depth: 3, embeddingDim: 8, head: 'flatten' }),
  ]) {
    const net = new TfjsNetwork(def, initWeights(def, [24, 24, 3], 2));
    const norms = tf.tidy(() => {
      const e = net.forward(tf.randomNormal([3, 24, 24, 3], 0, 1, 'float32', 1) as tf.Tensor4D).embedding;
      assert.deepEqual(e.shape, [3, 8]);
      return tf.norm(e, 'euclidean', 1).arraySync() as number[];
    });
    for (const n of norms) assert.ok(Math.abs(n - 1) < 1e-5, `${def.name}: norm ${n}`);
    net.dispose();
  }
});
