import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAugmentSpec, trainOptionsFromCli } from '../../src/cli/commands/train.js';
import { runCli } from '../../src/cli/program.js';
import { runVisage } from '../helpers/cli.js';
import { loadModel } from '../../src/engine/graph/index.js';
import { isVisageError } from '../../src/errors.js';
import { embedFiles } from '../../src/faces/batch.js';
import { loadGraphEncoder } from '../../src/faces/encoder.js';
import { decodeImage } from '../../src/image/index.js';
import { centreCropResize } from '../../src/training/data/index.js';
import { train, type TrainOptions, type TrainResult } from '../../src/training/trainer.js';
import { heldOutMetrics, orl, tinyOrlRun, trainInterruptedAt } from './tiny-orl.js';

let tmp: string;

/** Random mining on the tfjs engine (onnx-engine.test.ts runs the default onnxruntime engine the same way). */
const tiny = (out: string): TrainOptions =>
  tinyOrlRun(path.join(tmp, out), { mining: 'random', seed: 7, engine: 'tfjs' });

async function rejects(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isVisageError(e), `expected a VisageError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('visage train (ORL)', () => {
  let full: TrainResult;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-train-'));
    full = await train(tiny('full'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('trains and reports loss, mining and validation metrics each epoch', () => {
    assert.equal(full.interrupted, false);
    assert.equal(full.steps, 6);
    assert.equal(full.trainIdentities, 30);
    assert.equal(full.valIdentities, 10);
    assert.equal(full.history.length, 2);
    for (const e of full.history) {
      assert.ok(e.loss > 0 && Number.isFinite(e.loss));
      assert.ok(e.activeFraction > 0 && e.activeFraction <= 1);
      assert.ok(e.meanDap >= 0 && e.meanDan >= 0);
      for (const v of [e.valAccuracy, e.valAuc, e.valRank1])
        assert.ok(typeof v === 'number' && v > 0 && v <= 1);
    }
    assert.ok(full.before && full.after);
    const report = fs.readFileSync(full.report!, 'utf8');
    assert.match(report, /<svg/);
    assert.match(report, /semi-hard|random/);
    // Which held-out people the final model gets wrong: all 10, under their folder names.
    assert.match(report, /Held-out identities/);
    const saved = JSON.parse(fs.readFileSync(path.join(tmp, 'full', 'history.json'), 'utf8')) as {
      heldOut: { name: string; falseReject: number; falseAccept: number }[];
    };
    assert.deepEqual(
      saved.heldOut.map((h) => h.name).sort(),
      [...(loadModel(full.model!).meta.valIdentities as string[])].sort(),
    );
    assert.deepEqual(full.heldOut, saved.heldOut, 'the result carries the same list');
    for (const h of saved.heldOut)
      assert.ok(h.falseReject >= 0 && h.falseReject <= 1 && h.falseAccept >= 0 && h.falseAccept <= 1);
  });

  it('an interrupted run resumed from its checkpoint ends exactly where the uninterrupted one does', async () => {
    const part = await trainInterruptedAt(tiny('resumed'), 4); // mid-epoch 2
    assert.equal(part.interrupted, true);
    assert.equal(part.steps, 4);
    assert.equal(part.model, undefined);
    const rest = await train({ out: path.join(tmp, 'resumed'), resume: true });
    assert.equal(rest.interrupted, false);
    assert.equal(rest.steps, 6);
    assert.deepEqual(rest.history.map(strip), full.history.map(strip));
    const a = loadModel(full.model!).weights;
    const b = loadModel(rest.model!).weights;
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [k, w] of a) assert.deepEqual(b.get(k)!.data, w.data, k);
    assert.equal(rest.modelId, full.modelId);
  });

  it('a version-1 checkpoint (from before the settings it lacks) is migrated and resumes exactly', async () => {
    const out = path.join(tmp, 'v1');
    await trainInterruptedAt(tiny('v1'), 4);
    // Rewrite the state as version 1 wrote it early on: `rng` beside the settings, no fixedNodes, and none
    // of the settings added later (engine, ema, fit, softmax, valFlip), which then meant this run's values.
    const file = path.join(out, 'checkpoint', 'state.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { state: Record<string, unknown> };
    const st = json.state;
    assert.equal(st.version, 2);
    const settings = { ...(st.settings as Record<string, unknown>) };
    for (const k of ['engine', 'ema', 'fit', 'softmax', 'valFlip']) delete settings[k];
    const { fixedNodes: _f, ...rest } = st;
    void _f;
    fs.writeFileSync(
      file,
      JSON.stringify({ ...json, state: { ...rest, version: 1, settings, rng: { seed: settings.seed } } }),
    );
    const resumed = await train({ out, resume: true });
    assert.equal(resumed.steps, 6);
    assert.deepEqual(resumed.history.map(strip), full.history.map(strip));
    assert.equal(resumed.modelId, full.modelId);
    // The checkpoint the resumed run left is the current version; a version from the future is refused.
    const after = JSON.parse(fs.readFileSync(file, 'utf8')) as { state: Record<string, unknown> };
    assert.equal(after.state.version, 2);
    assert.ok(!('rng' in after.state));
    fs.writeFileSync(file, JSON.stringify({ ...after, state: { ...after.state, version: 3 } }));
    await rejects(train({ out, resume: true }), 'E_BAD_MODEL', /checkpoint version/);
    // …and so is a state that does not fit its version's schema.
    fs.writeFileSync(file, JSON.stringify({ ...after, state: { ...after.state, frozenNodes: 'all' } }));
    await rejects(train({ out, resume: true }), 'E_BAD_MODEL', /frozenNodes/);
  });

  it('saves a model that loadGraphEncoder loads and that reproduces the validation metrics', async () => {
    const m = loadModel(full.model!);
    assert.equal(m.meta.id, full.modelId);
    assert.equal(m.meta.threshold, full.history[1].valThreshold);
    const enc = loadGraphEncoder(full.model!);
    try {
      assert.equal(enc.inputSize, 32);
      assert.equal(enc.dim, 32);
      assert.equal(enc.threshold, full.history[1].valThreshold);
      const { embeddings, metrics: v } = await heldOutMetrics(full.model!, enc);
      for (const e of embeddings) assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-4);
      // The encoder converts to grey after resizing RGB, training before: pixels may differ by rounding.
      assert.ok(Math.abs(v.auc - full.after!.auc) < 0.01, `AUC ${v.auc} vs ${full.after!.auc}`);
    } finally {
      enc.dispose();
    }
  });

  it('fine-tunes a saved model with its first blocks frozen', async () => {
    const ft = await train({
      data: orl,
      out: path.join(tmp, 'finetune'),
      detect: false,
      encoder: 'finetune',
      model: full.model!,
      freeze: 1,
      P: 4,
      K: 3,
      epochs: 1,
      batchesPerEpoch: 2,
      valIdentities: 10,
      weightDecay: 0.01,
      threads: 1,
    });
    const a = loadModel(full.model!).weights;
    const b = loadModel(ft.model!).weights;
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [k, w] of a) {
      const same = w.data.every((x, i) => x === b.get(k)!.data[i]);
      if (k.startsWith('input_norm/') || /^stage1\..*\/(kernel|gamma|beta)$/.test(k))
        assert.ok(same, `${k} changed`);
      else if (/\/(kernel|gamma|beta|bias)$/.test(k)) assert.ok(!same, `${k} did not change`);
    }
  });

  it('refuses bad options, a missing data folder and unsafe resumes with clear errors', async () => {
    await rejects(train({ ...tiny('bad1'), P: 1 }), 'E_BAD_OPTION', /P/);
    await rejects(train({ ...tiny('bad2'), mining: 'hardest' }), 'E_BAD_OPTION', /mining/);
    await rejects(train({ ...tiny('bad3'), lr: -1 }), 'E_BAD_OPTION', /--lr/);
    await rejects(train({ ...tiny('bad4'), channels: 2 as 1 }), 'E_BAD_OPTION', /channels/);
    await rejects(train({ ...tiny('bad5'), valIdentities: ['s1', 'nobody'] }), 'E_BAD_OPTION', /nobody/);
    await rejects(train({ ...tiny('bad7'), augment: { rotationDeg: 90 } }), 'E_BAD_OPTION', /rotation/);
    await rejects(
      train({ ...tiny('bad6'), data: path.join(tmp, 'no-such-folder') }),
      'E_BAD_DATASET',
      /not found/,
    );
    await rejects(train({ out: path.join(tmp, 'never-trained'), resume: true }), 'E_FILE_NOT_FOUND');
    // The finished run's checkpoint stays: a fresh run must not overwrite it, a resume must not change it.
    await rejects(train(tiny('full')), 'E_BAD_OPTION', /--resume/);
    await rejects(train({ out: path.join(tmp, 'full'), resume: true, lr: 0.1 }), 'E_BAD_OPTION', /lr/);
  });

  it('the CLI reports usage and data errors with their exit codes', async () => {
    const argv = (...a: string[]) => ['node', 'visage', '--quiet', 'train', ...a];
    const stderr = process.stderr.write;
    process.stderr.write = () => true;
    try {
      assert.equal(await runCli(argv('--out', path.join(tmp, 'c1'), '--data', orl, '--mining', 'x')), 1);
      assert.equal(await runCli(argv('--out', path.join(tmp, 'c2'), '--data', path.join(tmp, 'none'))), 2);
      for (const spec of ['spin=3', 'zoom=big', 'flip=2'])
        assert.equal(await runCli(argv('--out', path.join(tmp, 'c3'), '--data', orl, '--augment', spec)), 1);
      assert.ok(!fs.existsSync(path.join(tmp, 'c3')), 'nothing written for a refused run');
    } finally {
      process.stderr.write = stderr;
    }
  });

  it('weight averaging resumes exactly, and the average is what is saved', async () => {
    const opts = (out: string): TrainOptions => ({ ...tiny(out), ema: 0.8 });
    const whole = await train(opts('avg-whole'));
    assert.notEqual(whole.modelId, full.modelId, 'the average is not the last weights');
    const part = await trainInterruptedAt(opts('avg-resumed'), 4);
    assert.equal(part.interrupted, true);
    const rest = await train({ out: path.join(tmp, 'avg-resumed'), resume: true });
    assert.deepEqual(rest.history.map(strip), whole.history.map(strip));
    assert.equal(rest.modelId, whole.modelId);
    // The checkpoint holds the last weights; the model holds their average, which differs from them.
    const kernel = 'stage1.1.conv/kernel';
    const saved = loadModel(whole.model!).weights.get(kernel)!.data;
    const last = loadModel(path.join(tmp, 'avg-whole', 'checkpoint')).weights.get(kernel)!.data;
    assert.ok(saved.some((v, i) => v !== last[i]));
    // Averaging only reads the weights: training itself is the same as the plain run's.
    const plainLast = loadModel(path.join(tmp, 'full', 'checkpoint')).weights.get(kernel)!.data;
    assert.deepEqual(last, plainLast);
    const report = fs.readFileSync(whole.report!, 'utf8');
    assert.match(report, /EMA, decay 0\.8/);
    await rejects(train({ out: path.join(tmp, 'avg-whole'), resume: true, ema: 0.9 }), 'E_BAD_OPTION', /ema/);
    await rejects(train({ ...tiny('bad8'), ema: 1 }), 'E_BAD_OPTION', /ema/);
  });

  it('the identity-softmax term and the padded fit resume exactly (proxies in the checkpoint) and are reported', async () => {
    const opts = (out: string): TrainOptions => ({ ...tiny(out), softmax: 1, fit: 'pad' });
    const whole = await train(opts('softmax-whole'));
    assert.notEqual(whole.modelId, full.modelId);
    const part = await trainInterruptedAt(opts('softmax-resumed'), 4);
    assert.equal(part.interrupted, true);
    const rest = await train({ out: path.join(tmp, 'softmax-resumed'), resume: true });
    assert.deepEqual(rest.history.map(strip), whole.history.map(strip));
    assert.equal(rest.modelId, whole.modelId);
    const report = fs.readFileSync(whole.report!, 'utf8');
    assert.match(report, /identity softmax<\/td><td class="l">weight 1 /);
    assert.match(report, /fit<\/td><td class="l">pad</);
    await rejects(train({ ...tiny('bad9'), softmax: -1 }), 'E_BAD_OPTION', /softmax/);
    await rejects(train({ ...tiny('bad10'), softmax: 1, loss: 'binary' }), 'E_BAD_OPTION', /softmax/);
    await rejects(train({ ...tiny('bad11'), fit: 'stretch' as 'pad' }), 'E_BAD_OPTION', /fit/);
  });

  it('--val-flip validates on flip-averaged embeddings of the same weights, and the model keeps the flip', async () => {
    const run = await train({ ...tiny('val-flip'), valFlip: true });
    // Validation only reads the weights: training is the plain run's, step for step.
    assert.equal(run.modelId, full.modelId);
    assert.deepEqual(
      run.history.map((e) => e.loss),
      full.history.map((e) => e.loss),
    );
    assert.notEqual(run.after!.auc, full.after!.auc, 'the flip changes what validation sees');
    assert.equal(loadModel(run.model!).meta.flip, true);
    assert.equal(loadModel(full.model!).meta.flip, undefined);
    const file = path.join(orl, 's1', '1.pgm');
    const enc = loadGraphEncoder(run.model!);
    try {
      assert.equal(enc.flip, true);
      // verify/identify flip by default with this model and so see what its validation saw.
      const { metrics: v } = await heldOutMetrics(run.model!, enc);
      assert.ok(Math.abs(v.auc - run.after!.auc) < 0.01, `AUC ${v.auc} vs ${run.after!.auc}`);
      const chip = centreCropResize(await decodeImage(file), 32, 32);
      const [byDefault] = await enc.encode([chip]);
      assert.deepEqual(byDefault, (await enc.encode([chip], { flip: true }))[0]);
      assert.notDeepEqual(byDefault, (await enc.encode([chip], { flip: false }))[0]);
    } finally {
      enc.dispose();
    }
    // So does `visage eval --model` (batch embedding in workers), unless told otherwise.
    const embed = async (flip?: boolean) =>
      (await embedFiles([file], { model: run.model, flip, cache: false, threads: 1 })).get(file)!.vector;
    const byDefault = await embed();
    assert.ok(byDefault);
    assert.deepEqual(byDefault, await embed(true));
    assert.notDeepEqual(byDefault, await embed(false));
    assert.match(fs.readFileSync(run.report!, 'utf8'), /validation flip<\/td><td class="l">true</);
    await rejects(
      train({ out: path.join(tmp, 'val-flip'), resume: true, valFlip: false }),
      'E_BAD_OPTION',
      /valFlip/,
    );
  });

  it('the CLI summary names the held-out people the model errs on most', () => {
    const out = path.join(tmp, 'cli-run');
    const r = runVisage([
      '--quiet',
      'train',
      ...['--data', orl, '--out', out, '--no-detect', '--val-identities', '10', '--size', '32'],
      ...['--width', '8', '--depth', '3', '--dim', '32', '-P', '4', '-K', '3', '--epochs', '1'],
      ...['--batches', '2', '--threads', '1', '--seed', '7', '--mining', 'random'],
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /hardest held-out identities \(false rejects \/ false accepts\): s\d+ [\d.]+% \/ [\d.]+%/,
    );
    const names = loadModel(path.join(out, 'model')).meta.valIdentities as string[];
    const listed = [...r.stdout.matchAll(/(s\d+) [\d.]+% \//g)].map((m) => m[1]);
    assert.ok(
      listed.length >= 1 && listed.length <= 3 && listed.every((n) => names.includes(n)),
      listed.join(),
    );
  });
});

describe('visage train --augment', () => {
  it('reads name=value strengths over the defaults', () => {
    assert.deepEqual(
      parseAugmentSpec('rotation=15, shift=0.1,zoom=0.08,brightness=0.2,contrast=0.3,erase=0.5,flip=0'),
      {
        rotationDeg: 15,
        translate: 0.1,
        scale: 0.08,
        brightness: 0.2,
        contrast: 0.3,
        erase: 0.5,
        flip: false,
      },
    );
    assert.deepEqual(trainOptionsFromCli({ out: 'o', augment: 'erase=0.5' }).augment, { erase: 0.5 });
    assert.equal(trainOptionsFromCli({ out: 'o', augment: false }).augment, false);
    assert.equal(trainOptionsFromCli({ out: 'o' }).augment, undefined);
  });
});

/** Epoch records without their wall-clock time. */
function strip(e: TrainResult['history'][number]): Record<string, unknown> {
  const { seconds: _s, ...rest } = e;
  void _s;
  return rest;
}
