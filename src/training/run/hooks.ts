import type { TrainEpoch } from './state.js';

/** Callbacks and the abort signal of a training run (progress, logs, one record per epoch). */
export interface TrainHooks {
  /** Stop at the next step boundary, save a checkpoint and return with `interrupted: true`. */
  signal?: AbortSignal;
  log?: (msg: string) => void;
  onLoad?: (done: number, total: number) => void;
  onStart?: (info: {
    totalSteps: number;
    doneSteps: number;
    batchesPerEpoch: number;
    resumed: boolean;
  }) => void;
  onStep?: (info: {
    epoch: number;
    batch: number;
    step: number;
    totalSteps: number;
    loss: number;
    lr: number;
  }) => void;
  onEpoch?: (record: TrainEpoch) => void;
}
