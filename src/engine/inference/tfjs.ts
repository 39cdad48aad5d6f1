/** The tfjs executor behind the InferenceNetwork seam: the explicit fallback engine (VISAGE_ENGINE=tfjs). */
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../backend.js';
import { TfjsNetwork } from '../graph/tfjs-executor.js';
import type { NetworkDef, WeightMap } from '../graph/types.js';
import type { HostTensor, InferenceNetwork } from './types.js';

export class TfjsInference implements InferenceNetwork {
  private net?: TfjsNetwork;

  constructor(
    private readonly def: NetworkDef,
    private weights: WeightMap | undefined,
  ) {}

  /** The tfjs variables are made once the backend is up (it may not be when the network is declared). */
  private async ready(): Promise<TfjsNetwork> {
    if (!this.net) {
      await initEngine();
      this.net ??= new TfjsNetwork(this.def, this.weights!);
      this.weights = undefined;
    }
    return this.net;
  }

  async run(input: HostTensor, outputs?: string[]): Promise<Record<string, HostTensor>> {
    const net = await this.ready();
    const outs = tf.tidy(() => {
      const x = tf.tensor4d(input.data, input.shape as [number, number, number, number], 'float32');
      return net.forward(x, { outputs });
    });
    const result: Record<string, HostTensor> = {};
    try {
      for (const [name, v] of Object.entries(outs))
        result[name] = { data: (await v.data()) as Float32Array, shape: [...v.shape] };
    } finally {
      tf.dispose(Object.values(outs));
    }
    return result;
  }

  engine(): Promise<'tfjs'> {
    return Promise.resolve('tfjs');
  }

  dispose(): void {
    this.net?.dispose();
    this.net = undefined;
  }
}
