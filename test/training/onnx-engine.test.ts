import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { initWeights, loadModel } from '../../src/engine/graph/index.js';
import { isVisageError } from '../../src/errors.js';
import { loadGraphEncoder } from '../../src/faces/encoder.js';
import { TripletMarginLoss } from '../../src/training/losses/index.js';
import { batchAllMiner } from '../../src/training/miners/index.js';
import { resnetEmbedding } from '../../src/training/nets/resnet.js';
import { Sgd } from '../../src/training/optim/index.js';
import { TrainingStep } from '../../src/training/step.js';
import { train, type TrainOptions, type TrainResult } from '../../src/training/trainer.js';
import { orlBatch } from './orl.js';
import { heldOutMetrics, tinyOrlRun, trainInterruptedAt } from './tiny-orl.js';

// The onnxruntime engine end to end: the same steps as the tfjs engine, and `visage train --engine
// onnxruntime` with checkpoints, exact resume and a model the tfjs-based encoder loads.

const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

before(async () => {
  await initEngine();
});

it('onnxruntime steps equal tfjs steps (same loss, weights and moving statistics)', async () => {
  const batch = orlBatch(4, 3);
  const S = batch.size;
  const def = resnetEmbedding({ depth: 18, inputSize: S, channels: 1, width: 4, embeddingDim: 8 });
  const weights = initWeights(def, [S, S, 1], 5);
  const opts = {
    def,
    weights,
    threads: 1,
    // Batch-all: every triplet weighs in, so float rounding cannot flip which ones are mined.
    loss: new TripletMarginLoss({ miner: batchAllMiner, margin: 0.5 }),
    optimizer: (l: { trainableSize: number }) => new Sgd(l.trainableSize, { lr: 0.05, momentum: 0.9 }),
  };
  const tfjs = await TrainingStep.create(opts);
  const ort = await TrainingStep.create({ ...opts, engine: 'onnxruntime' });
  assert.equal(ort.mode, 'onnxruntime');
  for (let s = 0; s < 3; s++) {
    const a = await tfjs.step(batch.images, batch.labels);
    const b = await ort.step(batch.images, batch.labels);
    assert.ok(
      a.loss > 0 && Math.abs(a.loss - b.loss) < 1e-4 * Math.max(1, a.loss),
      `step ${s}: ${a.loss} vs ${b.loss}`,
    );
  }
  // Compared as weight maps: the onnxruntime step keeps conv kernels OIHW in its flat vector.
  const wa = tfjs.weights();
  const wb = ort.weights();
  for (const [k, w] of wa) {
    const d = maxDiff(w.data, wb.get(k)!.data);
    assert.ok(d < 1e-4, `${k} differs by ${d}`);
  }
  assert.ok(maxDiff(wa.get('conv1/kernel')!.data, weights.get('conv1/kernel')!.data) > 1e-3, 'weights moved');
  const [ea, eb] = [await tfjs.embed(batch.images, 12), await ort.embed(batch.images, 12)];
  assert.ok(maxDiff(ea, eb) < 1e-4);
  // Replaced weights reach the onnxruntime replica.
  await ort.setWeights(weights);
  const fresh = await TrainingStep.create({ def, weights, threads: 1 });
  assert.ok(maxDiff(await fresh.embed(batch.images, 12), await ort.embed(batch.images, 12)) < 1e-4);
  await Promise.all([tfjs.close(), ort.close(), fresh.close()]);
});

it('refuses what the onnxruntime engine cannot do, with E_BAD_OPTION', async () => {
  const def = resnetEmbedding({ depth: 18, inputSize: 16, channels: 1, width: 4, embeddingDim: 8 });
  const weights = initWeights(def, [16, 16, 1], 1);
  await assert.rejects(
    TrainingStep.create({ def, weights, engine: 'onnxruntime', bnGroups: 2 }),
    (e: unknown) => isVisageError(e) && e.code === 'E_BAD_OPTION',
  );
  const elu = {
    ...def,
    nodes: def.nodes.map((n) => (n.op === 'activation' ? { ...n, fn: 'elu' as const } : n)),
  };
  await assert.rejects(
    TrainingStep.create({ def: elu, weights, engine: 'onnxruntime' }),
    (e: unknown) => isVisageError(e) && e.code === 'E_BAD_OPTION' && /elu/.test(e.message),
  );
});

describe('visage train --engine onnxruntime (ORL)', () => {
  let tmp: string;
  let full: TrainResult;
  const tiny = (out: string): TrainOptions =>
    tinyOrlRun(path.join(tmp, out), { head: 'flatten', mining: 'semi-hard', seed: 3, engine: 'onnxruntime' });

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-train-ort-'));
    full = await train(tiny('full'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('an interrupted run resumed from its checkpoint ends exactly where the uninterrupted one does', async () => {
    assert.equal(full.steps, 6);
    assert.ok(full.history.every((e) => e.loss > 0 && typeof e.valAccuracy === 'number'));
    const part = await trainInterruptedAt(tiny('resumed'), 4);
    assert.equal(part.interrupted, true);
    const rest = await train({ out: path.join(tmp, 'resumed'), resume: true });
    assert.equal(rest.steps, 6);
    const a = loadModel(full.model!).weights;
    const b = loadModel(rest.model!).weights;
    for (const [k, w] of a) assert.deepEqual(b.get(k)!.data, w.data, k);
    // The engine is part of the run's settings: a resume cannot switch it.
    await assert.rejects(
      train({ out: path.join(tmp, 'resumed'), resume: true, engine: 'tfjs' }),
      (e: unknown) => isVisageError(e) && e.code === 'E_BAD_OPTION' && /engine/.test(e.message),
    );
  });

  it('saves canonical weights: the tfjs encoder reproduces the validation AUC', async () => {
    const enc = loadGraphEncoder(full.model!);
    try {
      const { metrics: v } = await heldOutMetrics(full.model!, enc);
      assert.ok(Math.abs(v.auc - full.after!.auc) < 0.01, `AUC ${v.auc} vs ${full.after!.auc}`);
    } finally {
      enc.dispose();
    }
  });
});
