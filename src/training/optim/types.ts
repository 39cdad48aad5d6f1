import { VisageError } from '../../errors.js';

/**
 * Optimisers update a flat Float32Array of parameters in place from a gradient of the same length, so the
 * same code serves the in-process and the data-parallel step (whose parameters live in shared memory).
 */
export interface Optimizer {
  readonly name: string;
  /** Learning rate; may be changed between steps (schedules). */
  lr: number;
  /** Steps taken so far. */
  readonly steps: number;
  /** `grad` may come in parts (one per data-parallel shard) that the optimiser sums in its own pass. */
  step(params: Float32Array, grad: GradientParts): void;
}

/** A gradient, or per-shard parts that sum to it. */
export type GradientParts = Float32Array | readonly Float32Array[];

/**
 * The gradient as at most two arrays to add element by element: summing inside the update loop saves a
 * separate sweep over ~45 MB per part. Parts beyond the second are first added into the second, so
 * callers must pass scratch buffers when they pass more than two.
 */
export function gradientPair(grad: GradientParts, n: number): [Float32Array, Float32Array | undefined] {
  const parts = grad instanceof Float32Array ? [grad] : grad;
  if (parts.length === 0 || parts.some((g) => g.length !== n))
    throw new VisageError(
      'E_INTERNAL',
      `gradient parts of ${parts.map((g) => g.length)} values for ${n} parameters`,
    );
  const [a, b] = parts;
  for (let k = 2; k < parts.length; k++) {
    const c = parts[k];
    for (let i = 0; i < n; i++) b[i] += c[i];
  }
  return [a, b];
}

export interface WeightDecayOptions {
  /** L2 penalty coefficient (0 = none). */
  weightDecay?: number;
  /** Which parameters decay (1) and which not (0), e.g. kernels but not biases or batch-norm; default all. */
  decayMask?: Uint8Array;
}
