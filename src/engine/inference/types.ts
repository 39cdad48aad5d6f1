/**
 * The seam between the product and its executors: a network that maps an NHWC float batch to named
 * outputs. Face models hold one of these and never see which engine runs it (see engine.ts).
 */
import type { EngineName } from '../../config.js';

export interface HostTensor {
  data: Float32Array;
  /** NHWC for maps ([n, h, w, c]), [n, c] for vectors. */
  shape: number[];
}

export interface InferenceNetwork {
  /** Runs the batch; `outputs` default to the network's own. Outputs come back in the definition's layout. */
  run(input: HostTensor, outputs?: string[]): Promise<Record<string, HostTensor>>;
  /** The engine that runs (or will run) it, after any fallback. */
  engine(): Promise<EngineName>;
  dispose(): void;
}
