import assert from 'node:assert/strict';
import { it } from 'node:test';
import { initWeights } from '../../src/engine/graph/index.js';
import { createSession, loadOrt } from '../../src/engine/onnx/runtime.js';
import { TripletMarginLoss } from '../../src/training/losses/index.js';
import {
  inGraphTriplet,
  LOSS_OUTPUTS,
  NEGATIVE_PAIRS,
  pairMasks,
  POSITIVE_PAIRS,
  tripletLossModel,
} from '../../src/training/losses/triplet-graph.js';
import { batchAllMiner } from '../../src/training/miners/index.js';
import { smallCnn } from '../../src/training/nets/small-cnn.js';
import { TrainingStep } from '../../src/training/step.js';
import { orlBatch } from './orl.js';

// The in-graph triplet loss (forward, loss and backward as one onnxruntime session) against
// TripletMarginLoss.compute, its JavaScript reference, on embeddings of real ORL faces.

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

const net = () => smallCnn({ inputSize: 23, channels: 1, width: 4, depth: 2, embeddingDim: 16 });

it('only the batch-hard, squared-Euclidean hinge loss goes in-graph', () => {
  assert.deepEqual(inGraphTriplet(new TripletMarginLoss({ margin: 0.3 })), {
    margin: 0.3,
    reduction: 'mean',
  });
  assert.equal(inGraphTriplet(new TripletMarginLoss({ miner: batchAllMiner })), undefined);
  assert.equal(inGraphTriplet(new TripletMarginLoss({ softMargin: true })), undefined);
});

it('the loss graph gives the JavaScript loss, statistics and gradient (ORL embeddings)', async () => {
  // 5 people × 3 faces and one person with a single face (an anchor without a positive).
  const batch = orlBatch(6, 3);
  const keep = 16;
  const images = batch.images.subarray(0, keep * batch.size * batch.size);
  const labels = Array.from(batch.labels.subarray(0, keep));
  const def = net();
  const step = await TrainingStep.create({
    def,
    weights: initWeights(def, [batch.size, batch.size, 1], 3),
    threads: 1,
    engine: 'onnxruntime',
  });
  const raw = await step.embed(images, keep);
  await step.close();
  // An untrained network puts every face about equally far apart; pulling each embedding most of the way to its
  // person's mean (and back onto the sphere) makes some triplets easy, so the hinge is tested on both sides.
  const emb = new Float32Array(raw.length);
  for (let i = 0; i < keep; i++) {
    const same = labels.flatMap((l, j) => (l === labels[i] ? [j] : []));
    let norm = 0;
    for (let k = 0; k < 16; k++) {
      const mean = same.reduce((s, j) => s + raw[j * 16 + k], 0) / same.length;
      emb[i * 16 + k] = 0.2 * raw[i * 16 + k] + 0.8 * mean;
      norm += emb[i * 16 + k] ** 2;
    }
    for (let k = 0; k < 16; k++) emb[i * 16 + k] /= Math.sqrt(norm);
  }
  const ort = await loadOrt();
  const masks = pairMasks(labels);
  let sawInactive = false;
  let sawActive = false;
  for (const reduction of ['mean', 'meanNonZero'] as const)
    for (const margin of [0, 0.05, 0.2, 1]) {
      const ref = new TripletMarginLoss({ margin, reduction }).compute(emb, labels, 16);
      const s = await createSession(tripletLossModel(keep, 16, { margin, reduction }), 1);
      const r = await s.run({
        embedding: new ort.Tensor('float32', emb, [keep, 16]),
        [POSITIVE_PAIRS]: new ort.Tensor('bool', masks.positives, [keep, keep]),
        [NEGATIVE_PAIRS]: new ort.Tensor('bool', masks.negatives, [keep, keep]),
      });
      await s.release();
      const out = (k: keyof typeof LOSS_OUTPUTS) => (r[LOSS_OUTPUTS[k]].data as Float64Array)[0];
      const what = `${reduction}, margin ${margin}`;
      assert.equal(out('triplets'), ref.stats.triplets, what);
      assert.equal(ref.stats.triplets, 15, 'the single face anchors no triplet');
      assert.equal(out('activeTriplets'), ref.stats.activeTriplets, what);
      if (ref.stats.activeTriplets < ref.stats.triplets) sawInactive = true;
      assert.ok(Math.abs(out('loss') - ref.loss) <= 1e-12 * Math.max(1, ref.loss), what);
      for (const k of ['meanPositiveDistance', 'meanNegativeDistance'] as const)
        assert.ok(Math.abs(out(k) - ref.stats[k]) < 1e-12, `${what}: ${k}`);
      const d = maxDiff(r.gradient.data as Float32Array, ref.grad);
      assert.ok(d < 1e-5, `${what}: gradient differs by ${d}`);
      if (ref.stats.activeTriplets > 0) {
        sawActive = true;
        assert.ok(ref.loss > 0 && maxDiff(ref.grad, new Float32Array(ref.grad.length)) > 0, what);
      }
    }
  assert.ok(sawInactive && sawActive, 'the margins leave some triplets inactive and some active');
});

it('a step with the loss in-graph equals the two-session step with the JavaScript loss', async () => {
  const batch = orlBatch(6, 4);
  const def = net();
  const opts = {
    def,
    weights: initWeights(def, [batch.size, batch.size, 1], 4),
    threads: 1,
    engine: 'onnxruntime' as const,
    loss: new TripletMarginLoss({ margin: 0.5 }),
  };
  const fused = await TrainingStep.create(opts);
  const split = await TrainingStep.create({ ...opts, lossInGraph: false });
  const start = fused.params.slice();
  for (let s = 0; s < 3; s++) {
    const a = await split.step(batch.images, batch.labels);
    const b = await fused.step(batch.images, batch.labels);
    assert.ok(a.loss > 0 && Math.abs(a.loss - b.loss) < 1e-5, `step ${s}: ${a.loss} vs ${b.loss}`);
    assert.deepEqual([b.stats.triplets, b.stats.activeTriplets], [a.stats.triplets, a.stats.activeTriplets]);
  }
  const d = maxDiff(split.params, fused.params);
  assert.ok(d < 1e-5, `parameters differ by ${d}`);
  assert.ok(maxDiff(start, fused.params) > 1e-3, 'the weights moved');
  await Promise.all([fused.close(), split.close()]);
});
