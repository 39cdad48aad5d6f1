/**
 * The node and constant sink every op rule writes into: the nodes of both passes (forward, backward) and
 * the constants they read, with temporaries named in emission order (`t0`, `c1`, …), so the same network
 * always gives byte-identical graphs.
 */
import { DOUBLE, FLOAT, INT64, type AttrValue, type OnnxNode, type OnnxTensor } from '../proto.js';

export type Phase = 'forward' | 'backward';

export class Emitter {
  readonly nodes: Record<Phase, OnnxNode[]> = { forward: [], backward: [] };
  readonly constants: OnnxTensor[] = [];
  phase: Phase = 'forward';
  private count = 0;
  /** Prefixes every name, so that the nodes of two emitters can share one graph. */
  private readonly prefix: string;

  constructor(prefix = '') {
    this.prefix = prefix;
  }

  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, outputs = 1): string[] {
    const outs = Array.from({ length: outputs }, () => `${this.prefix}t${this.count++}`);
    this.nodes[this.phase].push({ op, inputs, outputs: outs, attrs });
    return outs;
  }

  one(op: string, inputs: string[], attrs?: Record<string, AttrValue>): string {
    return this.op(op, inputs, attrs)[0];
  }

  float(values: number[] | Float32Array, dims: number[]): string {
    const name = `${this.prefix}c${this.count++}`;
    this.constants.push({ name, dims, type: FLOAT, data: Float32Array.from(values) });
    return name;
  }

  double(values: number[], dims: number[]): string {
    const name = `${this.prefix}c${this.count++}`;
    this.constants.push({ name, dims, type: DOUBLE, data: Float64Array.from(values) });
    return name;
  }

  ints(values: number[], dims = [values.length]): string {
    const name = `${this.prefix}c${this.count++}`;
    this.constants.push({ name, dims, type: INT64, data: BigInt64Array.from(values.map(BigInt)) });
    return name;
  }

  /** A per-channel vector [C] as [1, C, 1, 1], to broadcast over an NCHW map. */
  reshapeC(t: string, c: number): string {
    return this.one('Reshape', [t, this.ints([1, c, 1, 1])]);
  }

  toVec(t: string): string {
    return this.one('Reshape', [t, this.ints([-1])]);
  }

  sumAxes(t: string, axes: number[], keep: 0 | 1): string {
    return this.one('ReduceSum', [t, this.ints(axes)], { keepdims: keep });
  }
}
