/**
 * A NetworkDef on onnxruntime: the inference graph (inference-graph.ts) compiled into one
 * InferenceSession per set of requested outputs, built on first use and reused for every later call and
 * batch size (the batch dimension is symbolic). Building a session costs ~50–300 ms of graph
 * optimisation; rebuilding it per call would eat the speed this engine exists for.
 */
import type { NetworkDef, WeightMap } from '../graph/types.js';
import { buildInferenceGraph, INFERENCE_INPUT } from '../onnx/inference-graph.js';
import { createSession, loadOrt, type OrtSession } from '../onnx/runtime.js';
import { inferenceThreads } from './threads.js';
import type { HostTensor, InferenceNetwork } from './types.js';

export class OnnxInference implements InferenceNetwork {
  private readonly sessions = new Map<string, Promise<OrtSession>>();

  constructor(
    private readonly def: NetworkDef,
    private readonly weights: WeightMap,
  ) {}

  private session(outputs: string[]): Promise<OrtSession> {
    const key = outputs.join('\n');
    let s = this.sessions.get(key);
    if (!s) {
      const { model } = buildInferenceGraph(this.def, this.weights, outputs);
      s = createSession(model, inferenceThreads(), { spinning: false });
      // A failed build is not cached: the next call tries again.
      s.catch(() => this.sessions.delete(key));
      this.sessions.set(key, s);
    }
    return s;
  }

  async run(input: HostTensor, outputs: string[] = this.def.outputs): Promise<Record<string, HostTensor>> {
    const [ort, session] = await Promise.all([loadOrt(), this.session(outputs)]);
    const feed = { [INFERENCE_INPUT]: new ort.Tensor('float32', input.data, input.shape) };
    const res = await session.run(feed, outputs);
    const result: Record<string, HostTensor> = {};
    for (const o of outputs) {
      const v = res[o];
      result[o] = { data: v.data as Float32Array, shape: v.dims.map(Number) };
    }
    return result;
  }

  engine(): Promise<'onnx'> {
    return Promise.resolve('onnx');
  }

  dispose(): void {
    for (const s of this.sessions.values()) void s.then((x) => x.release()).catch(() => undefined);
    this.sessions.clear();
  }
}
