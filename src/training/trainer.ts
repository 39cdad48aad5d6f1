/**
 * `visage train`: an embedding network trained on a folder of identity folders with a triplet (or binary
 * pair) loss over PK batches, validated each epoch on held-out identities, checkpointed each epoch (and on
 * interruption) so that a resumed run replays exactly what the uninterrupted one would have done, and saved
 * at the end in the Visage model format that `visage verify/identify/eval --model` load.
 *
 * Exact resumption rests on every random choice being a pure function of the seed and a position (split,
 * PK batches, augmentation, random miner calls, pair draws): a checkpoint holds the weights, the optimiser
 * buffers and step count, the sampler position, the loss's own state and the running sums of the epoch.
 *
 * This file is the run's outline; each stage is a module of run/: settings (the zod schema of every
 * setting), state (the checkpoint's state and its migration), network, data, loss, optimizer, validation,
 * epochs (the loop) and export (model, report, history).
 */
import path from 'node:path';
import { VisageError } from '../errors.js';
import { findCheckpoint } from './checkpoint.js';
import { PKSampler } from './data/index.js';
import { ParameterAverage } from './optim/index.js';
import type { HeldOutIdentity } from './report/index.js';
import { TrainingStep } from './step.js';
import type { ValidationResult } from './validate.js';
import { loadImages, splitRun } from './run/data.js';
import { runEpochs, type EpochProgress } from './run/epochs.js';
import { exportRun } from './run/export.js';
import type { TrainHooks } from './run/hooks.js';
import { buildLoss, lossState, restoreLossState } from './run/loss.js';
import { runNetwork } from './run/network.js';
import { buildOptimizer, restoreAverage, withAverage } from './run/optimizer.js';
import {
  resolveSettings,
  runOptions,
  settingsDiff,
  stepThreads,
  type TrainOptions,
  type TrainSettings,
} from './run/settings.js';
import {
  emptyAccum,
  readTrainCheckpoint,
  writeTrainCheckpoint,
  type TrainEpoch,
  type TrainState,
} from './run/state.js';
import { heldOutValidator, summary, type ValidationSummary } from './run/validation.js';

export { INPUT_NORM_NODE, deployableModel } from './run/network.js';
export {
  TRAIN_DEFAULTS,
  learningRate,
  resolveSettings,
  type EncoderKind,
  type LossKind,
  type ScheduleKind,
  type TrainOptions,
  type TrainSettings,
} from './run/settings.js';
export type { TrainEpoch } from './run/state.js';
export type { TrainHooks } from './run/hooks.js';
export type { ValidationSummary } from './run/validation.js';

/** What `train` made: the saved model, the held-out metrics before and after, the run's counts. */
export interface TrainResult {
  settings: TrainSettings;
  interrupted: boolean;
  /** Steps taken (all runs together). */
  steps: number;
  history: TrainEpoch[];
  /** Validation of the untrained (or pretrained) encoder, and the final one. */
  before: ValidationSummary | null;
  after: ValidationSummary | null;
  checkpoint: string;
  /** Set when training completed. */
  model?: string;
  modelId?: string;
  report?: string;
  /** Set when training completed with validation: each held-out identity's errors at the final threshold. */
  heldOut?: HeldOutIdentity[];
  trainIdentities: number;
  valIdentities: number;
  images: { train: number; val: number; fallbacks: number };
}

const bad = (msg: string, details?: Record<string, unknown>) => new VisageError('E_BAD_OPTION', msg, details);

/** Trains as `opts` say; see the module comment. Throws VisageError for bad options and data. */
export async function train(opts: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const log = hooks.log ?? (() => undefined);
  const { out, resume, given } = runOptions(opts);
  const cpDir = path.join(out, 'checkpoint');

  // ---- settings: the given ones, or the checkpoint's (which a resume may not change)
  const resumed = resume ? readTrainCheckpoint(cpDir) : undefined;
  if (!resume && findCheckpoint(cpDir))
    throw bad(`${out} already holds a training checkpoint: pass --resume to continue it, or another --out`);
  const saved = resumed?.state;
  const s = resolveSettings(saved ? { ...saved.settings, ...given } : given);
  if (saved) {
    const diff = settingsDiff(saved.settings, s);
    if (diff.length)
      throw bad(`cannot resume with different settings (${diff.join(', ')}); the checkpoint's are kept`, {
        diff,
      });
  }

  // ---- data and network
  const split = splitRun(s);
  const net = runNetwork(s, resumed, log);
  const { def, size, channels } = net;

  let step: TrainingStep | undefined;
  try {
    const { train, val, fallbacks } = await loadImages(s, split, size, channels, hooks.onLoad, log);
    const sampler = new PKSampler(split.train.identities, {
      P: s.P,
      K: s.K,
      seed: s.seed,
      epochLength: s.batchesPerEpoch > 0 ? s.batchesPerEpoch : 'identities',
    });
    const B = sampler.batchesPerEpoch;
    const totalSteps = s.epochs * B;

    const loss = buildLoss(s, split.train.identities.length);
    step = await TrainingStep.create({
      def,
      weights: net.weights,
      input: [size, size, channels],
      loss,
      threads: stepThreads(s),
      engine: s.engine,
      frozen: net.frozenNodes,
      optimizer: (layout) => buildOptimizer(s, layout),
    });
    const optimizer = step.optimizer as ReturnType<typeof buildOptimizer>;
    const average = s.ema > 0 ? new ParameterAverage(s.ema, step.params) : null;
    const validate = heldOutValidator(step, average, loss, val, { flip: s.valFlip, size, channels });

    // ---- where the run stands: restored from the checkpoint, or the validation before training
    const progress: EpochProgress = { history: [], accum: emptyAccum() };
    let before: ValidationSummary | null = null;
    let histogramsBefore: TrainState['histogramsBefore'] = null;
    if (resumed && saved) {
      optimizer.restore(resumed.optimizer);
      restoreAverage(average, resumed.optimizer);
      sampler.restore(saved.sampler);
      restoreLossState(loss, saved.lossState);
      progress.history = saved.history;
      progress.accum = saved.accum;
      before = saved.before;
      histogramsBefore = saved.histogramsBefore;
      log(
        `resuming at epoch ${sampler.epoch + 1}, batch ${sampler.batchInEpoch + 1} (step ${sampler.index})`,
      );
    } else {
      const v0 = await validate();
      before = summary(v0);
      histogramsBefore = v0 && { same: v0.same, different: v0.different };
      if (v0)
        log(
          `before training: pair accuracy ${(100 * v0.accuracy).toFixed(2)}%, AUC ${v0.auc.toFixed(4)}, rank-1 ${(100 * v0.rank1).toFixed(2)}%`,
        );
    }

    const checkpoint = () =>
      writeTrainCheckpoint(cpDir, {
        def,
        weights: step!.weights(),
        optimizer: withAverage(optimizer.state(), average),
        state: {
          settings: s,
          sampler: sampler.state(),
          history: progress.history,
          accum: progress.accum,
          lossState: lossState(loss),
          before,
          histogramsBefore,
          trainingDef: def,
          frozenNodes: net.frozenNodes,
          fixedNodes: net.fixedNodes,
        },
      });

    // ---- the epochs
    hooks.onStart?.({ totalSteps, doneSteps: sampler.index, batchesPerEpoch: B, resumed: Boolean(saved) });
    const run = await runEpochs({
      s,
      step,
      optimizer,
      average,
      sampler,
      train,
      totalSteps,
      progress,
      validate,
      checkpoint,
      hooks,
    });
    const base = {
      settings: s,
      steps: sampler.index,
      history: progress.history,
      before,
      checkpoint: cpDir,
      trainIdentities: split.train.identities.length,
      valIdentities: split.val.identities.length,
      images: { train: train.count, val: val?.count ?? 0, fallbacks },
    };
    if (run.interrupted) {
      checkpoint();
      log(`interrupted: checkpoint saved at step ${sampler.index} of ${totalSteps}; continue with --resume`);
      return { ...base, interrupted: true, after: summary(run.lastVal) };
    }

    // ---- final model and report
    const lastVal: ValidationResult | null = run.lastVal ?? (await validate());
    const exported = exportRun({
      out,
      s,
      def,
      weights: average ? step.layout.unpack(average.values) : step.weights(),
      fixedNodes: net.fixedNodes,
      size,
      channels,
      batchesPerEpoch: B,
      loss,
      split,
      train,
      val,
      history: progress.history,
      before,
      histogramsBefore,
      lastVal,
    });
    return {
      ...base,
      interrupted: false,
      after: summary(lastVal),
      model: exported.model,
      modelId: exported.modelId,
      report: exported.report,
      ...(exported.heldOut ? { heldOut: exported.heldOut } : {}),
    };
  } finally {
    await step?.close();
  }
}
