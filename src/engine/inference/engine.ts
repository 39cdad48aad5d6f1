/**
 * The one engine switch of the product. VISAGE_ENGINE=onnx (default) runs every inference on
 * onnxruntime's native kernels on every core; VISAGE_ENGINE=tfjs on TensorFlow.js (wasm). Where
 * onnxruntime-node cannot load (no prebuilt binary for the platform), the product falls back to tfjs and
 * says so once on stderr, rather than failing: tfjs is slower but computes the same descriptors.
 */
import { envEngine, type EngineName } from '../../config.js';
import type { NetworkDef, WeightMap } from '../graph/types.js';
import { loadOrt } from '../onnx/runtime.js';
import { OnnxInference } from './onnx.js';
import { TfjsInference } from './tfjs.js';
import type { HostTensor, InferenceNetwork } from './types.js';

let resolved: Promise<EngineName> | undefined;
/** Why the onnx engine is not in use although asked for (undefined while it is). */
let fallbackReason: string | undefined;

/** The engine in use: the requested one, or tfjs when onnxruntime-node failed to load. */
export function activeEngine(): Promise<EngineName> {
  resolved ??= (async (): Promise<EngineName> => {
    if (envEngine() === 'tfjs') return 'tfjs';
    try {
      await loadOrt();
      return 'onnx';
    } catch (e) {
      fallbackReason = (e as Error).message;
      process.stderr.write(
        `visage: onnxruntime-node could not be loaded (${fallbackReason}); falling back to the tfjs engine ` +
          '(set VISAGE_ENGINE=tfjs to silence this)\n',
      );
      return 'tfjs';
    }
  })();
  return resolved;
}

export function engineFallbackReason(): string | undefined {
  return fallbackReason;
}

/** Forget the resolved engine (tests switch VISAGE_ENGINE between cases). */
export function resetEngineChoice(): void {
  resolved = undefined;
  fallbackReason = undefined;
}

/**
 * An executor-independent handle on `def`: the engine is chosen on first run (so constructors of face
 * models stay synchronous), and the executor built then is kept for the network's life.
 */
export function createInferenceNetwork(
  def: NetworkDef,
  weights: WeightMap,
  opts: { engine?: EngineName } = {},
): InferenceNetwork {
  return new EngineNetwork(def, weights, opts.engine);
}

class EngineNetwork implements InferenceNetwork {
  private impl?: Promise<InferenceNetwork>;

  constructor(
    private readonly def: NetworkDef,
    private readonly weights: WeightMap,
    private readonly forced?: EngineName,
  ) {}

  private executor(): Promise<InferenceNetwork> {
    this.impl ??= (async () => {
      const engine = this.forced ?? (await activeEngine());
      return engine === 'onnx'
        ? new OnnxInference(this.def, this.weights)
        : new TfjsInference(this.def, this.weights);
    })();
    return this.impl;
  }

  async run(input: HostTensor, outputs?: string[]): Promise<Record<string, HostTensor>> {
    return (await this.executor()).run(input, outputs);
  }

  async engine(): Promise<EngineName> {
    return (await this.executor()).engine();
  }

  dispose(): void {
    const p = this.impl;
    this.impl = undefined;
    void p?.then((n) => n.dispose());
  }
}
