import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import { loadModel, TfjsNetwork, type WeightMap } from '../../src/engine/graph/index.js';
import { isVisageError } from '../../src/errors.js';
import { loadDlibEncoder, loadGraphEncoder } from '../../src/faces/encoder.js';
import { FacePipeline } from '../../src/faces/pipeline.js';
import { decodeImage, type RgbImage } from '../../src/image/index.js';
import { PIXEL_OFFSET, PIXEL_SCALE } from '../../src/training/data/index.js';
import { planFreeze } from '../../src/training/freeze.js';
import { dlibTrainingNetwork } from '../../src/training/nets/dlib.js';
import { TrainingStep } from '../../src/training/step.js';
import { train, type TrainResult } from '../../src/training/trainer.js';
import { dataDir } from '../helpers/data.js';

/** A chip as training pixels (x·PIXEL_SCALE + PIXEL_OFFSET), NHWC. */
const trainingPixels = (chip: RgbImage) =>
  Float32Array.from(chip.data, (p) => p * PIXEL_SCALE + PIXEL_OFFSET);

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const node = (weight: string) => weight.slice(0, weight.lastIndexOf('/'));

describe('fine-tuning the dlib encoder (--model dlib)', () => {
  let chip: RgbImage;
  let tmp: string;
  let run: TrainResult;
  const logs: string[] = [];

  before(async () => {
    await initEngine();
    const img = await decodeImage(dataDir('faces', 'face_recognition_examples', 'obama', 'obama.jpg'));
    const pipeline = new FacePipeline();
    try {
      const [face] = await pipeline.detect(img);
      chip = (await pipeline.align(img, face)).chip;
    } finally {
      await pipeline.dispose();
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-ft-dlib-'));
    // One real step: ORL at 150 px (centre crops), 2×2 batch, 8 blocks frozen, 2 held-out identities.
    run = await train(
      {
        data: dataDir('faces', 'att_orl'),
        out: path.join(tmp, 'run'),
        detect: false,
        encoder: 'finetune',
        model: 'dlib',
        freeze: 8,
        P: 2,
        K: 2,
        epochs: 1,
        batchesPerEpoch: 1,
        valIdentities: 2,
        lr: 1e-3,
        weightDecay: 0.01,
        threads: 1,
      },
      { log: (m) => logs.push(m) },
    );
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('as a training network gives loadDlibEncoder’s descriptors on an aligned chip', async () => {
    const net = dlibTrainingNetwork();
    const step = await TrainingStep.create({
      def: net.def,
      weights: net.weights,
      threads: 1,
      frozen: net.fixed,
    });
    try {
      const ours = await step.embed(trainingPixels(chip), 1);
      const encoder = loadDlibEncoder();
      const [theirs] = await encoder.encode([chip]);
      encoder.dispose();
      const d = maxDiff(ours, theirs);
      assert.ok(d < 1e-4, `max |training net − dlib encoder| = ${d}`);
    } finally {
      await step.close();
    }
  });

  it('--freeze counts the stem and residual blocks, and says which', () => {
    const { def, fixed } = dlibTrainingNetwork();
    const plan = planFreeze(def, [150, 150, 3], 8, fixed);
    assert.deepEqual(
      plan.frozenBlocks.map((b) => b.name),
      ['conv32_down', 'conv32_1', 'conv32_2', 'conv32_3', 'conv64_down', 'conv64_1', 'conv64_2', 'conv64_3'],
    );
    assert.deepEqual(plan.trainableBlocks.map((b) => b.name).slice(-2), ['conv256_down_out', 'fc']);
    assert.ok(plan.frozen.includes('normalize') && plan.frozen.includes('conv64_3/conv2/scale'));
    assert.throws(
      () => planFreeze(def, [150, 150, 3], 16, fixed),
      (e: unknown) => isVisageError(e) && e.code === 'E_BAD_OPTION',
    );
    assert.ok(
      logs.some((l) => l.startsWith('frozen blocks (8): conv32_down conv32_1')),
      logs.join('\n'),
    );
    assert.ok(
      logs.some((l) => l.startsWith('trainable blocks (8): conv128_down')),
      logs.join('\n'),
    );
  });

  it('a step leaves frozen weights bit-identical and changes the others', () => {
    assert.equal(run.steps, 1);
    const start = dlibTrainingNetwork();
    const frozen = new Set(planFreeze(start.def, [150, 150, 3], 8, start.fixed).frozen);
    const trained = loadModel(path.join(tmp, 'run', 'checkpoint')).weights;
    let same = 0;
    let changed = 0;
    for (const [k, w] of start.weights) {
      const t = trained.get(k)!;
      const identical = Buffer.compare(Buffer.from(w.data.buffer), Buffer.from(t.data.buffer)) === 0;
      if (frozen.has(node(k))) {
        assert.ok(identical, `frozen ${k} changed`);
        same++;
      } else {
        assert.ok(!identical, `trainable ${k} did not change`);
        changed++;
      }
    }
    // normalize (2), stem (4), 7 residual blocks of two conv + scale pairs (8 each); the rest + fc.
    assert.equal(same, 2 + 4 + 7 * 8);
    assert.equal(changed, 7 * 8 + 1);
  });

  it('the saved model loads as a face encoder computing the trained network', async () => {
    const encoder = loadGraphEncoder(run.model!);
    try {
      assert.equal(encoder.inputSize, 150);
      assert.equal(encoder.dim, 128);
      assert.match(encoder.id, /^dlib-resnet34@[0-9a-f]{12}$/);
      const [saved] = await encoder.encode([chip]);
      // The training network with the trained weights, fed training pixels.
      const cp = loadModel(path.join(tmp, 'run', 'checkpoint'));
      const net = new TfjsNetwork(cp.def, cp.weights as WeightMap);
      const x = tf.tensor4d(trainingPixels(chip), [1, 150, 150, 3]);
      const y = net.forward(x).embedding;
      const trained = (await y.data()) as Float32Array;
      tf.dispose([x, y]);
      net.dispose();
      const d = maxDiff(saved, trained);
      assert.ok(d < 1e-4, `max |saved encoder − trained network| = ${d}`);
      // …and it is no longer the pretrained encoder.
      const dlib = loadDlibEncoder();
      const [pre] = await dlib.encode([chip]);
      dlib.dispose();
      assert.ok(maxDiff(saved, pre) > 1e-4);
      assert.deepEqual(loadModel(run.model!).meta.fixedNodes, ['normalize']);
    } finally {
      encoder.dispose();
    }
  });
});
