import { VisageError } from '../../errors.js';

/** An optimiser's resumable state: its step count and its per-parameter buffers (moments, velocity). */
export interface OptimizerState {
  steps: number;
  buffers: Record<string, Float32Array>;
}

/** An optimiser that can be checkpointed (Adam and Sgd are). */
export interface StatefulOptimizer {
  state(): OptimizerState;
  restore(state: OptimizerState): void;
}

/** Copies saved buffers into an optimiser's own, refusing missing names or other sizes (a different network). */
export function restoreBuffers(
  optimizer: string,
  own: Record<string, Float32Array>,
  saved: Record<string, Float32Array>,
): void {
  for (const [name, buf] of Object.entries(own)) {
    const s = saved[name];
    if (!s || s.length !== buf.length)
      throw new VisageError(
        'E_BAD_OPTION',
        `${optimizer} state "${name}" has ${s ? s.length : 'no'} values, expected ${buf.length}`,
      );
  }
  for (const [name, buf] of Object.entries(own)) buf.set(saved[name]);
}
