/**
 * A frozen NetworkDef as ONNX nodes for the optimisation of its *input* (style transfer): the forward pass
 * to any set of taps and, on request, the backward pass from gradients arriving at those taps down to the
 * input image. Weights are constants baked into the graph (already OIHW, and flipped for the backward
 * convolutions, in JS), so no weight gradient is ever formed — unlike training-graph.ts, which trains the
 * weights and feeds them as inputs. The caller adds its own nodes (costs, their gradients) with the same
 * `OnnxGraphBuilder`, so forward, costs and backward run in one session and every activation the backward
 * pass reads stays inside onnxruntime.
 *
 * Layout: NCHW inside (onnxruntime's native layout); the caller converts at the boundary. Shapes are
 * static: one graph per image size.
 */
import { VisageError } from '../../errors.js';
import { inferShapes, type Shape } from '../graph/shapes.js';
import { reachableNodes } from '../graph/reachable.js';
import { explicitPads, outputPadding } from './ops/padding.js';
import {
  nodeInputs,
  pair,
  type Activation,
  type GraphNode,
  type NetworkDef,
  type WeightMap,
} from '../graph/types.js';
import { FLOAT, INT64, type AttrValue, type OnnxNode, type OnnxTensor } from './proto.js';
import { permute } from './inference-graph.js';

/** Collects nodes and constants of one ONNX graph, naming temporaries. */
export class OnnxGraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private count = 0;
  private readonly cache = new Map<string, string>();

  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, outputs = 1): string[] {
    const outs = Array.from({ length: outputs }, () => `t${this.count++}`);
    this.nodes.push({ op, inputs, outputs: outs, attrs });
    return outs;
  }

  one(op: string, inputs: string[], attrs?: Record<string, AttrValue>): string {
    return this.op(op, inputs, attrs)[0];
  }

  /** A node whose output gets a chosen (graph output) name. */
  named(name: string, op: string, inputs: string[], attrs?: Record<string, AttrValue>): string {
    this.nodes.push({ op, inputs, outputs: [name], attrs });
    return name;
  }

  float(values: ArrayLike<number>, dims: number[]): string {
    const name = `c${this.count++}`;
    this.initializers.push({ name, dims, type: FLOAT, data: Float32Array.from(values) });
    return name;
  }

  scalar(v: number): string {
    return this.memo(`scalar:${v}`, () => this.float([v], []));
  }

  ints(values: number[], dims = [values.length]): string {
    const name = `c${this.count++}`;
    this.initializers.push({ name, dims, type: INT64, data: BigInt64Array.from(values.map(BigInt)) });
    return name;
  }

  /** A constant made once per key (weights shared by two passes over the same network). */
  memo(key: string, make: () => string): string {
    let v = this.cache.get(key);
    if (v === undefined) {
      v = make();
      this.cache.set(key, v);
    }
    return v;
  }
}

export interface FrozenPass {
  /** NCHW tensor of each tap (by the names asked for). */
  taps: Map<string, string>;
  /**
   * Emits the gradient with respect to the pass's input (NCHW) from gradients arriving at taps (NCHW,
   * several at one tap are summed). Only with `gradient: true`; call it once, after the cost nodes.
   */
  backward(tapGrads: Array<[tap: string, grad: string]>): string;
}

/**
 * Emit `def` (batch norm already folded) on the NCHW input `x` of spatial size input[0]×input[1] up to
 * `taps`. Only the nodes the taps depend on are emitted. With `gradient`, every rule also prepares its
 * input-gradient rule, and ops without one are refused (E_BAD_OPTION) rather than differentiated wrongly.
 */
export function emitFrozenPass(
  b: OnnxGraphBuilder,
  def: NetworkDef,
  weights: WeightMap,
  x: string,
  input: [number, number, number],
  taps: readonly string[],
  opts: { gradient: boolean },
): FrozenPass {
  const shapes = inferShapes(def, input);
  const need = reachableNodes(def, taps);
  const unsupported = (n: GraphNode, what: string) =>
    new VisageError(
      'E_BAD_OPTION',
      `the onnx style engine cannot differentiate ${what} (node "${n.name}" of ${def.name}); use VISAGE_ENGINE=tfjs`,
    );
  const w = (node: string, role: string) => {
    const t = weights.get(`${node}/${role}`);
    if (!t) throw new VisageError('E_BAD_MODEL', `network ${def.name} lacks weight "${node}/${role}"`);
    return t;
  };
  /** y = act(x) and the rule dy ↦ dx, written from y alone (x need not be kept). */
  const activate = (n: GraphNode, x: string, fn: Activation | undefined, alpha?: number) => {
    const one = b.scalar(1);
    const zero = b.scalar(0);
    const mul = (p: string, q: string) => b.one('Mul', [p, q]);
    const where = (cond: string, dy: string, other: string) => b.one('Where', [cond, dy, other]);
    switch (fn ?? 'linear') {
      case 'linear':
        return { y: x, back: (dy: string) => dy };
      case 'relu': {
        const y = b.one('Relu', [x]);
        return { y, back: (dy: string) => where(b.one('Greater', [y, zero]), dy, zero) };
      }
      case 'relu6': {
        const y = b.one('Clip', [x, zero, b.scalar(6)]);
        const inside = b.one('And', [b.one('Greater', [y, zero]), b.one('Less', [y, b.scalar(6)])]);
        return { y, back: (dy: string) => where(inside, dy, zero) };
      }
      case 'leakyRelu': {
        const a = alpha ?? 0.2;
        const y = b.one('LeakyRelu', [x], { alpha: { float: a } });
        return { y, back: (dy: string) => where(b.one('Greater', [y, zero]), dy, mul(dy, b.scalar(a))) };
      }
      case 'sigmoid': {
        const y = b.one('Sigmoid', [x]);
        return { y, back: (dy: string) => mul(dy, mul(y, b.one('Sub', [one, y]))) };
      }
      case 'tanh': {
        const y = b.one('Tanh', [x]);
        return { y, back: (dy: string) => mul(dy, b.one('Sub', [one, mul(y, y)])) };
      }
      case 'elu': {
        // y = x (x > 0), eˣ − 1 (x ≤ 0): dy/dx = 1 or y + 1.
        const y = b.one('Elu', [x]);
        return {
          y,
          back: (dy: string) => where(b.one('Greater', [y, zero]), dy, mul(dy, b.one('Add', [y, one]))),
        };
      }
      default:
        throw unsupported(n, `activation ${fn}`);
    }
  };

  type Back = (dy: string) => string[]; // one gradient per graph input
  const backs = new Map<string, Back>();
  const t = new Map<string, string>();
  const hw = (s: Shape): [number, number] => [s[0], s[1]];

  for (const n of def.nodes) {
    if (!need.has(n.name)) continue;
    const ins = nodeInputs(n);
    const xi = ins.length ? t.get(ins[0])! : x;
    const inShape = ins.length ? shapes.get(ins[0])! : input;
    const outShape = shapes.get(n.name)!;
    switch (n.op) {
      case 'input':
        t.set(n.name, x);
        break;
      case 'conv2d': {
        const kw = w(n.name, 'kernel');
        const [kh, kwd, I, O] = kw.shape;
        const k: [number, number] = [kh, kwd];
        const s = pair(n.strides, 1);
        const d = n.dilation ?? 1;
        const pads = explicitPads(n.padding, hw(inShape), k, s, d);
        const oihw = b.memo(`${n.name}/oihw`, () =>
          b.float(permute(kw.data, kw.shape, [3, 2, 0, 1]), [O, I, kh, kwd]),
        );
        const inputs = [xi, oihw];
        if (n.bias) inputs.push(b.memo(`${n.name}/bias`, () => b.float(w(n.name, 'bias').data, [O])));
        const conv = b.one('Conv', inputs, { kernel_shape: k, strides: s, dilations: [d, d], pads });
        const a = activate(n, conv, n.activation, n.alpha);
        t.set(n.name, a.y);
        backs.set(n.name, (dyOut) => {
          const dy = a.back(dyOut);
          if (s[0] === 1 && s[1] === 1 && d === 1 && pads.every((p, i) => p <= k[i % 2] - 1)) {
            // Unit stride: a plain convolution of dy with the kernel transposed (in ↔ out) and flipped,
            // padded by k − 1 − p (onnxruntime's blocked Conv runs it faster than ConvTranspose).
            const flipped = b.memo(`${n.name}/back`, () => {
              const src = permute(kw.data, kw.shape, [2, 3, 0, 1]); // [I, O, kh, kw]
              const out = new Float32Array(src.length);
              const plane = kh * kwd;
              for (let p = 0; p < I * O; p++)
                for (let i = 0; i < kh; i++)
                  for (let j = 0; j < kwd; j++)
                    out[p * plane + i * kwd + j] = src[p * plane + (kh - 1 - i) * kwd + (kwd - 1 - j)];
              return b.float(out, [I, O, kh, kwd]);
            });
            const back = [kh - 1 - pads[0], kwd - 1 - pads[1], kh - 1 - pads[2], kwd - 1 - pads[3]];
            return [b.one('Conv', [dy, flipped], { kernel_shape: k, pads: back })];
          }
          return [
            b.one('ConvTranspose', [dy, oihw], {
              kernel_shape: k,
              strides: s,
              dilations: [d, d],
              pads,
              output_padding: outputPadding(hw(inShape), hw(outShape), k, s, d, pads),
            }),
          ];
        });
        break;
      }
      case 'activation': {
        const a = activate(n, xi, n.fn, n.alpha);
        t.set(n.name, a.y);
        backs.set(n.name, (dy) => [a.back(dy)]);
        break;
      }
      case 'add': {
        const a = activate(
          n,
          b.one(
            'Sum',
            n.inputs.map((i) => t.get(i)!),
          ),
          n.activation,
        );
        t.set(n.name, a.y);
        backs.set(n.name, (dy) => {
          const g = a.back(dy);
          return n.inputs.map(() => g);
        });
        break;
      }
      case 'concat': {
        t.set(
          n.name,
          b.one(
            'Concat',
            n.inputs.map((i) => t.get(i)!),
            { axis: 1 },
          ),
        );
        const sizes = n.inputs.map((i) => shapes.get(i)![2]);
        backs.set(n.name, (dy) => b.op('Split', [dy, b.ints(sizes)], { axis: 1 }, sizes.length));
        break;
      }
      case 'maxPool':
      case 'avgPool': {
        const k = pair(n.size, 1);
        const s = pair(n.strides, 1);
        const pads = explicitPads(n.padding, hw(inShape), k, s, 1);
        const [H, W, C] = inShape;
        const [Ho, Wo] = outShape;
        const attrs = { kernel_shape: k, strides: s, pads };
        if (n.op === 'maxPool') {
          const [y, idx] = b.op('MaxPool', [xi], attrs, opts.gradient ? 2 : 1);
          t.set(n.name, y);
          backs.set(n.name, (dy) => {
            // Indices address the whole NCHW input; each output's gradient goes to its argmax.
            const zeros = b.one('ConstantOfShape', [b.ints([C * H * W])], {});
            const flat = b.one(
              'ScatterElements',
              [zeros, b.one('Reshape', [idx, b.ints([-1])]), b.one('Reshape', [dy, b.ints([-1])])],
              { axis: 0, reduction: 'add' },
            );
            return [b.one('Reshape', [flat, b.ints([1, C, H, W])])];
          });
          break;
        }
        // tfjs counts explicit zero padding in the mean; TF 'same' leaves padded cells out.
        const same = n.padding === 'same';
        t.set(n.name, b.one('AveragePool', [xi], { ...attrs, count_include_pad: same ? 0 : 1 }));
        backs.set(n.name, (dy) => {
          // Each output spreads dy/count over its window: dy scaled by 1/count per output cell, then a
          // per-channel transposed convolution with a kernel of ones.
          const count = new Float32Array(Ho * Wo);
          for (let oy = 0; oy < Ho; oy++)
            for (let ox = 0; ox < Wo; ox++) {
              let c = 0;
              for (let a = 0; a < k[0]; a++)
                for (let bb = 0; bb < k[1]; bb++) {
                  const iy = oy * s[0] + a - pads[0];
                  const ix = ox * s[1] + bb - pads[1];
                  if (!same || (iy >= 0 && iy < H && ix >= 0 && ix < W)) c++;
                }
              count[oy * Wo + ox] = 1 / c;
            }
          const scaled = b.one('Mul', [dy, b.float(count, [1, 1, Ho, Wo])]);
          const ones = b.memo(`ones:${C}:${k.join('x')}`, () =>
            b.float(new Float32Array(C * k[0] * k[1]).fill(1), [C, 1, k[0], k[1]]),
          );
          return [
            b.one('ConvTranspose', [scaled, ones], {
              group: C,
              kernel_shape: k,
              strides: s,
              pads,
              output_padding: outputPadding([H, W], [Ho, Wo], k, s, 1, pads),
            }),
          ];
        });
        break;
      }
      case 'pad': {
        const [[top, bottom], [left, right]] = n.pads;
        const mode = n.mode ?? 'constant';
        if (mode === 'symmetric') throw unsupported(n, 'symmetric padding');
        t.set(n.name, b.one('Pad', [xi, b.ints([0, 0, top, left, 0, 0, bottom, right])], { mode }));
        const [H, W] = inShape;
        backs.set(n.name, (dy) => {
          if (mode === 'constant')
            return [b.one('Slice', [dy, b.ints([top, left]), b.ints([top + H, left + W]), b.ints([2, 3])])];
          return [reflectPadBack(b, reflectPadBack(b, dy, 3, left, right, W), 2, top, bottom, H)];
        });
        break;
      }
      default:
        throw unsupported(n, `op ${n.op}`);
    }
  }

  const tapTensors = new Map(taps.map((name) => [name, t.get(name)!]));
  return {
    taps: tapTensors,
    backward(tapGrads) {
      if (!opts.gradient) throw new VisageError('E_INTERNAL', 'this pass was built without gradients');
      const grads = new Map<string, string[]>();
      for (const [tap, g] of tapGrads) {
        if (!need.has(tap)) throw new VisageError('E_INTERNAL', `no tap ${tap} in this pass`);
        grads.set(tap, [...(grads.get(tap) ?? []), g]);
      }
      for (const n of [...def.nodes].reverse()) {
        if (!need.has(n.name)) continue;
        const parts = grads.get(n.name);
        if (!parts) continue;
        const dy = parts.length === 1 ? parts[0] : b.one('Sum', parts);
        if (n.op === 'input') return dy;
        const dxs = backs.get(n.name)!(dy);
        nodeInputs(n).forEach((i, k) => grads.set(i, [...(grads.get(i) ?? []), dxs[k]]));
      }
      throw new VisageError('E_INTERNAL', `no gradient reaches the input of ${def.name}`);
    },
  };
}

/**
 * Gradient of reflect padding along `axis` (2: rows, 3: columns) of a map of `size` cells padded by
 * `before`/`after`: the middle, plus each padded border flipped back onto the cells it mirrored
 * (cell i of the top border copied input row `before − i`).
 */
function reflectPadBack(
  b: OnnxGraphBuilder,
  dy: string,
  axis: 2 | 3,
  before: number,
  after: number,
  size: number,
): string {
  if (before === 0 && after === 0) return dy;
  const ax = b.ints([axis]);
  const mid = b.one('Slice', [dy, b.ints([before]), b.ints([before + size]), ax]);
  const parts = [mid];
  const zeroPad = (t: string, lo: number, hi: number) => {
    const p = [0, 0, 0, 0, 0, 0, 0, 0];
    p[axis] = lo;
    p[axis + 4] = hi;
    return b.one('Pad', [t, b.ints(p)]);
  };
  if (before > 0) {
    // Padded rows 0..before−1 mirror input rows before..1: flipped, they land on rows 1..before.
    const top = b.one('Slice', [
      dy,
      b.ints([before - 1]),
      b.ints([-(before + size + after + 1)]),
      ax,
      b.ints([-1]),
    ]);
    parts.push(zeroPad(top, 1, size - 1 - before));
  }
  if (after > 0) {
    // Padded rows after the map mirror input rows size−2 down to size−1−after.
    const end = before + size + after;
    const bottom = b.one('Slice', [dy, b.ints([end - 1]), b.ints([before + size - 1]), ax, b.ints([-1])]);
    parts.push(zeroPad(bottom, size - 1 - after, 1));
  }
  return b.one('Sum', parts);
}
