import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import { initWeights, TfjsNetwork, type NetworkDef } from '../../src/engine/graph/index.js';
import { WorkerPool } from '../../src/engine/pool/index.js';
import { TripletMarginLoss } from '../../src/training/losses/index.js';
import { resnetEmbedding } from '../../src/training/nets/resnet.js';
import { Adam, Sgd } from '../../src/training/optim/index.js';
import { TrainingStep } from '../../src/training/step.js';
import { orlBatch } from './orl.js';

// 4 people × 2 ORL photos, 23×23 grey; a ResNet-18 shape at width 4 (projection shortcuts, batch-norm).
const batch = orlBatch(4, 2);
const S = batch.size;
const def: NetworkDef = resnetEmbedding({ depth: 18, inputSize: S, channels: 1, width: 4, embeddingDim: 8 });
const weights = initWeights(def, [S, S, 1], 5);
let pool: WorkerPool;

before(async () => {
  await initEngine();
  pool = new WorkerPool({ threads: 2 });
});
after(async () => {
  await pool.close();
});

const adam = () => (l: { trainableSize: number }) => new Adam(l.trainableSize, { lr: 0.01 });
const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test('data-parallel steps equal in-process steps with per-shard batch-norm', async () => {
  const local = await TrainingStep.create({ def, weights, threads: 1, bnGroups: 2, optimizer: adam() });
  const parallel = await TrainingStep.create({ def, weights, pool, optimizer: adam() });
  assert.equal(parallel.mode, 'data-parallel');
  assert.equal(parallel.bnGroups, 2);
  for (let s = 0; s < 2; s++) {
    const a = await local.step(batch.images, batch.labels);
    const b = await parallel.step(batch.images, batch.labels);
    assert.ok(Math.abs(a.loss - b.loss) < 1e-6, `step ${s}: loss ${a.loss} vs ${b.loss}`);
    assert.ok(a.loss > 0);
    const d = maxDiff(local.params, parallel.params);
    assert.ok(d < 1e-5, `step ${s}: parameters differ by ${d}`);
  }
  // And the parameters did move.
  assert.ok(maxDiff(local.params, parallel.layout.pack(weights)) > 1e-3);
  const [ea, eb] = [await local.embed(batch.images, 8), await parallel.embed(batch.images, 8)];
  assert.ok(maxDiff(ea, eb) < 1e-5);
  // Workers pick up replaced weights.
  await parallel.setWeights(weights);
  const fresh = await TrainingStep.create({ def, weights, threads: 1 });
  const [ef, er] = [await fresh.embed(batch.images, 8), await parallel.embed(batch.images, 8)];
  assert.ok(maxDiff(ef, er) < 1e-5 && maxDiff(ef, eb) > 1e-3);
  await fresh.close();
  await local.close();
  await parallel.close();
});

/** Batch-hard triplet loss written with tf ops, differentiated by tfjs itself (an independent check). */
function tfTripletLoss(emb: tf.Tensor2D, labels: Int32Array, margin: number): tf.Scalar {
  const n = labels.length;
  const sq = tf.sum(tf.square(emb), 1, true);
  const d = tf.relu(tf.sub(tf.add(sq, tf.transpose(sq)), tf.mul(2, tf.matMul(emb, emb, false, true))));
  const same = tf.equal(
    tf.reshape(tf.tensor1d(labels, 'int32'), [n, 1]),
    tf.reshape(tf.tensor1d(labels, 'int32'), [1, n]),
  );
  const eye = tf.cast(tf.eye(n), 'bool');
  const pos = tf.max(tf.where(tf.logicalAnd(same, tf.logicalNot(eye)), d, tf.fill([n, n], -1e9)), 1);
  const neg = tf.min(tf.where(same, tf.fill([n, n], 1e9), d), 1);
  return tf.mean(tf.relu(tf.add(tf.sub(pos, neg), margin))) as tf.Scalar;
}

test('the step applies the gradient of the whole-batch loss to every weight', async () => {
  // SGD with lr 1 and no momentum: new = old − gradient, so the update is the gradient.
  const step = await TrainingStep.create({
    def,
    weights,
    threads: 1,
    optimizer: (l) => new Sgd(l.trainableSize, { lr: 1, momentum: 0 }),
  });
  const before = step.params.slice();
  const r = await step.step(batch.images, batch.labels);

  const net = new TfjsNetwork(def, weights, { trainable: true });
  const x = tf.tensor4d(batch.images, [8, S, S, 1]);
  const { value, grads } = tf.variableGrads(() =>
    tfTripletLoss(net.forward(x, { training: true }).embedding as tf.Tensor2D, batch.labels, 0.2),
  );
  assert.ok(Math.abs(value.dataSync()[0] - r.loss) < 1e-5, `loss ${r.loss} vs tf ${value.dataSync()[0]}`);
  let worst = 0;
  let checked = 0;
  for (const e of step.layout.entries) {
    if (!e.trainable) continue;
    const g = grads[net.variables.get(e.name)!.name];
    const ref = g ? (g.dataSync() as Float32Array) : new Float32Array(e.size);
    const scale = Math.max(1e-3, ...ref.map(Math.abs));
    for (let i = 0; i < e.size; i++) {
      const applied = before[e.offset + i] - step.params[e.offset + i];
      worst = Math.max(worst, Math.abs(applied - ref[i]) / scale);
    }
    checked++;
  }
  assert.equal(checked, step.layout.entries.filter((e) => e.trainable).length);
  assert.ok(worst < 1e-3, `worst relative gradient error ${worst}`);
  tf.dispose([x, value, ...Object.values(grads)]);
  net.dispose();
  await step.close();
});

test('moving batch-norm statistics are those of the whole batch, however it is split', async () => {
  const step = await TrainingStep.create({ def, weights, threads: 1, bnGroups: 2 });
  await step.step(batch.images, batch.labels);
  const net = new TfjsNetwork(def, weights);
  const conv1 = tf.tidy(
    () => net.forward(tf.tensor4d(batch.images, [8, S, S, 1]), { outputs: ['conv1'] }).conv1,
  );
  const { mean, variance } = tf.moments(conv1, [0, 1, 2]);
  const [m, v] = [mean.dataSync(), variance.dataSync()];
  const me = step.layout.get('bn1/mean')!;
  const ve = step.layout.get('bn1/variance')!;
  for (let c = 0; c < 4; c++) {
    // momentum 0.9 from mean 0 / variance 1
    assert.ok(Math.abs(step.params[me.offset + c] - 0.1 * m[c]) < 1e-5);
    assert.ok(Math.abs(step.params[ve.offset + c] - (0.9 + 0.1 * v[c])) < 1e-4);
  }
  tf.dispose([conv1, mean, variance]);
  net.dispose();
  await step.close();
});

test('training lowers the loss on real faces', async () => {
  const step = await TrainingStep.create({
    def,
    weights,
    threads: 1,
    optimizer: adam(),
    loss: new TripletMarginLoss({ margin: 0.5 }),
  });
  const first = (await step.step(batch.images, batch.labels)).loss;
  await step.embed(batch.images, 8);
  const tensors = tf.memory().numTensors;
  let last = first;
  for (let s = 0; s < 5; s++) last = (await step.step(batch.images, batch.labels)).loss;
  assert.ok(last < 0.7 * first, `loss ${first} → ${last}`);
  await step.embed(batch.images, 8);
  assert.equal(tf.memory().numTensors, tensors, 'steps and embeddings leave no tensors behind');
  await assert.rejects(
    step.step(batch.images.subarray(1), batch.labels),
    (e: any) => e.code === 'E_BAD_INPUT',
  );
  await step.close();
  await assert.rejects(
    TrainingStep.create({ def, weights, pool, bnGroups: 3 }),
    (e: any) => e.code === 'E_BAD_OPTION',
  );
});
