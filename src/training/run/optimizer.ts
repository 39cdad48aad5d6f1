/** A run's optimiser and parameter average, and their buffers in a checkpoint. */
import { Adam, Sgd, type Optimizer, type ParameterAverage } from '../optim/index.js';
import type { OptimizerState, StatefulOptimizer } from '../optim/state.js';
import type { ParamLayout } from '../params.js';
import type { TrainSettings } from './settings.js';

/** The optimiser over the trainable parameters (frozen nodes are outside the layout's trainable prefix). */
export function buildOptimizer(s: TrainSettings, layout: ParamLayout): Optimizer & StatefulOptimizer {
  const mask = layout.decayMask();
  return s.optimizer === 'sgd'
    ? new Sgd(layout.trainableSize, {
        lr: s.lr,
        momentum: s.momentum,
        weightDecay: s.weightDecay,
        decayMask: mask,
      })
    : new Adam(layout.trainableSize, { lr: s.lr, weightDecay: s.weightDecay, decayMask: mask });
}

/** The checkpoint keeps the parameter average beside the optimiser's buffers (restore ignores names it lacks). */
const AVERAGE_BUFFER = 'parameterAverage';

export function withAverage(st: OptimizerState, average: ParameterAverage | null): OptimizerState {
  return average ? { ...st, buffers: { ...st.buffers, [AVERAGE_BUFFER]: average.values } } : st;
}

export function restoreAverage(average: ParameterAverage | null, st: OptimizerState): void {
  average?.restore(st.buffers[AVERAGE_BUFFER]);
}
