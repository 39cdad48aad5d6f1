/**
 * The epoch loop: one optimiser step per PK batch at the scheduled learning rate, the running sums of the
 * epoch, and at each epoch's end its validation, its record and a checkpoint. Stops early (after a whole
 * step) when the run's signal aborts.
 */
import { VisageError } from '../../errors.js';
import { buildBatch, type FaceImageSource, type PKSampler } from '../data/index.js';
import type { Optimizer, ParameterAverage } from '../optim/index.js';
import type { TrainingStep } from '../step.js';
import type { ValidationResult } from '../validate.js';
import type { TrainHooks } from './hooks.js';
import { augmentOptions, learningRate, type TrainSettings } from './settings.js';
import { emptyAccum, type EpochAccum, type TrainEpoch } from './state.js';

/** The epochs done and the sums of the one in progress: what a checkpoint saves of the loop. */
export interface EpochProgress {
  history: TrainEpoch[];
  accum: EpochAccum;
}

export interface EpochLoop {
  s: TrainSettings;
  step: TrainingStep;
  optimizer: Optimizer;
  average: ParameterAverage | null;
  sampler: PKSampler;
  train: FaceImageSource;
  totalSteps: number;
  progress: EpochProgress;
  validate: () => Promise<ValidationResult | null>;
  checkpoint: () => void;
  hooks: TrainHooks;
}

/** Runs steps until `totalSteps` or an abort; returns the last epoch's validation. */
export async function runEpochs(
  loop: EpochLoop,
): Promise<{ interrupted: boolean; lastVal: ValidationResult | null }> {
  const { s, step, optimizer, average, sampler, train, totalSteps, progress, hooks } = loop;
  const B = sampler.batchesPerEpoch;
  let lastVal: ValidationResult | null = null;
  while (sampler.index < totalSteps) {
    // An in-process step never leaves the microtask queue: yield so that signals (Ctrl-C) get handled.
    await new Promise((resolve) => setImmediate(resolve));
    if (hooks.signal?.aborted) return { interrupted: true, lastVal };
    const t0 = performance.now();
    const index = sampler.index;
    const lr = learningRate(s, index, totalSteps, B);
    optimizer.lr = lr;
    const batch = sampler.next();
    const input = buildBatch(train, batch, { augment: augmentOptions(s.augment), seed: s.seed });
    const r = await step.step(input.images, input.labels);
    average?.update(step.params, index);
    if (!Number.isFinite(r.loss))
      throw new VisageError('E_INTERNAL', `the loss diverged (${r.loss}) at step ${index}: try a lower --lr`);
    const st = r.stats;
    const accum = progress.accum;
    accum.batches++;
    accum.loss += r.loss;
    if (st.triplets !== undefined) {
      accum.triplets += st.triplets;
      accum.active += st.activeTriplets;
      accum.dap += st.meanPositiveDistance * st.triplets;
      accum.dan += st.meanNegativeDistance * st.triplets;
    }
    if (st.pairs !== undefined) {
      accum.pairs += st.pairs;
      accum.pairCorrect += st.pairAccuracy * st.pairs;
    }
    accum.seconds += (performance.now() - t0) / 1000;
    hooks.onStep?.({
      epoch: batch.epoch,
      batch: batch.batch,
      step: index + 1,
      totalSteps,
      loss: r.loss,
      lr,
    });
    if (batch.batch === B - 1) {
      const tv = performance.now();
      const v = await loop.validate();
      lastVal = v;
      const rec: TrainEpoch = {
        epoch: batch.epoch + 1,
        loss: accum.loss / accum.batches,
        activeFraction: accum.triplets ? accum.active / accum.triplets : NaN,
        meanDap: accum.triplets ? accum.dap / accum.triplets : NaN,
        meanDan: accum.triplets ? accum.dan / accum.triplets : NaN,
        ...(accum.pairs ? { pairAccuracy: accum.pairCorrect / accum.pairs } : {}),
        valAccuracy: v?.accuracy ?? null,
        valThreshold: v?.threshold ?? null,
        valAuc: v?.auc ?? null,
        valRank1: v?.rank1 ?? null,
        seconds: accum.seconds + (performance.now() - tv) / 1000,
        lr,
        steps: index + 1,
      };
      progress.history.push(rec);
      progress.accum = emptyAccum();
      loop.checkpoint();
      hooks.onEpoch?.(rec);
    }
  }
  return { interrupted: false, lastVal };
}
