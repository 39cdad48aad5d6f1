/**
 * A network definition as ONNX graphs for training on onnxruntime's native CPU kernels: a forward graph
 * (training-mode batch norm; it also returns each batch norm's batch statistics and the activations the
 * backward pass needs), a backward graph (dLoss/dEmbedding in, every trainable weight's gradient out) and
 * an inference graph. onnxruntime-node runs inference graphs only, so the gradient of each op is written
 * here as ordinary ONNX ops (a convolution's input gradient is a ConvTranspose, its weight gradient a
 * convolution of the input with the output gradient, …). Each rule is proved against the tfjs tape in
 * test/engine/onnx-training.test.ts.
 *
 * Layouts: the graph takes NHWC images and our HWIO/[in, out] weights and hands back gradients in those
 * layouts; inside it works in NCHW, onnxruntime's native layout. Shapes are static (one graph per batch size).
 */
import { VisageError } from '../../errors.js';
import { inferShapes, type Shape } from '../graph/shapes.js';
import {
  nodeInputs,
  pair,
  type Activation,
  type GraphNode,
  type NetworkDef,
  type Padding,
} from '../graph/types.js';
import {
  BOOL,
  FLOAT,
  INT64,
  type AttrValue,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValue,
} from './proto.js';

export interface TrainingGraphParam {
  /** Canonical shape ([kh, kw, in, out] for conv kernels). */
  name: string;
  shape: number[];
  trainable: boolean;
  /** 'oihw': a conv kernel fed (and its gradient returned) as [out, in, kh, kw], no transposes in the graph. */
  order?: 'oihw';
}

/** A parameter's dimensions as fed to the graphs (and as stored in the training step's flat vector). */
export const storedShape = (p: TrainingGraphParam): number[] =>
  p.order === 'oihw' ? [p.shape[3], p.shape[2], p.shape[0], p.shape[1]] : p.shape;

export interface TrainingGraphs {
  forward: OnnxModel;
  backward: OnnxModel;
  inference: OnnxModel;
  /** Forward outputs the backward graph reads (besides the image and the weights). */
  saved: string[];
  embedding: string;
}

export const IMAGE = 'image';
export const D_EMBEDDING = 'd_embedding';
export const gradName = (param: string) => `grad:${param}`;
export const statName = (node: string, which: 'mean' | 'variance') => `stats:${node}:${which}`;

/** TF "same"/"valid"/explicit padding of one conv or pool as [top, left, bottom, right]. */
function explicitPads(
  padding: Padding,
  input: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilation: number,
): [number, number, number, number] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding !== 'same') return [padding[0][0], padding[1][0], padding[0][1], padding[1][1]];
  const one = (i: 0 | 1) => {
    const ek = (kernel[i] - 1) * dilation + 1;
    const out = Math.ceil(input[i] / strides[i]);
    const total = Math.max((out - 1) * strides[i] + ek - input[i], 0);
    return [total >> 1, total - (total >> 1)];
  };
  const [t, b] = one(0);
  const [l, r] = one(1);
  return [t, l, b, r];
}

/**
 * ConvTranspose's output_padding that makes it return exactly the forward op's input size: the rows and
 * columns a strided forward window never reached (their gradient is 0).
 */
function outputPadding(
  input: [number, number],
  output: [number, number],
  k: [number, number],
  s: [number, number],
  d: number,
  pads: number[],
): [number, number] {
  const reach = (i: 0 | 1) => (output[i] - 1) * s[i] + (k[i] - 1) * d + 1 - pads[i] - pads[i + 2];
  return [input[0] - reach(0), input[1] - reach(1)];
}

type Phase = 'forward' | 'backward';

/** Collects nodes and constants of both passes, naming temporaries. */
class Emitter {
  readonly nodes: Record<Phase, OnnxNode[]> = { forward: [], backward: [] };
  readonly constants: OnnxTensor[] = [];
  phase: Phase = 'forward';
  private count = 0;

  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, outputs = 1): string[] {
    const outs = Array.from({ length: outputs }, () => `t${this.count++}`);
    this.nodes[this.phase].push({ op, inputs, outputs: outs, attrs });
    return outs;
  }

  one(op: string, inputs: string[], attrs?: Record<string, AttrValue>): string {
    return this.op(op, inputs, attrs)[0];
  }

  float(values: number[] | Float32Array, dims: number[]): string {
    const name = `c${this.count++}`;
    this.constants.push({ name, dims, type: FLOAT, data: Float32Array.from(values) });
    return name;
  }

  ints(values: number[], dims = [values.length]): string {
    const name = `c${this.count++}`;
    this.constants.push({ name, dims, type: INT64, data: BigInt64Array.from(values.map(BigInt)) });
    return name;
  }
}

/**
 * Output maps of at most this many positions (8×8) are convolved as im2col + GEMM rather than by
 * onnxruntime's Conv, which runs such small maps at about half its GEMM rate. When chosen (a temporary
 * switch, the bench's networks): steps 17 % (small CNN) and 23 % (ResNet-18) faster than with Conv
 * everywhere; a threshold of 256 positions was slower than 64.
 */
const SMALL_MAP = 64;

const SUPPORTED_ACTIVATIONS: ReadonlySet<Activation> = new Set(['linear', 'relu', 'sigmoid', 'tanh']);

/**
 * Build the graphs for `batch` images of `input` ([h, w, c]). Weights not in `params` are an error; those
 * marked untrainable (moving statistics, frozen nodes) get no gradient.
 */
export function buildTrainingGraphs(
  def: NetworkDef,
  input: [number, number, number],
  params: TrainingGraphParam[],
  batch: number,
): TrainingGraphs {
  const N = batch;
  const shapes = inferShapes(def, input);
  const byName = new Map(params.map((p) => [p.name, p]));
  const e = new Emitter();
  const fwd = new Map<string, string>(); // graph node → ONNX tensor (NCHW maps, [N, C] vectors)
  const inf = new Map<string, string>(); // same for the inference graph (built alongside, see below)
  const inferenceNodes: OnnxNode[] = [];
  const needs = new Set<string>(); // nodes whose output depends on a trainable weight
  const weight = (node: string, role: string): string => {
    const name = `${node}/${role}`;
    if (!byName.has(name)) throw new VisageError('E_BAD_MODEL', `weight ${name} is missing`);
    return name;
  };
  const trainable = (node: string, role: string) => byName.get(`${node}/${role}`)?.trainable === true;
  const nchw = (s: Shape): number[] => [N, s[2], s[0], s[1]];
  const statsOutputs: string[] = [];
  const unsupported = (n: GraphNode, what: string = n.op) =>
    new VisageError(
      'E_BAD_OPTION',
      `the onnxruntime trainer does not support ${what} (node "${n.name}"); train with --engine tfjs`,
    );

  // Backward bookkeeping: what each forward node needs to compute its input gradients.
  type Back = (dy: string) => Array<string | undefined>; // one gradient per graph input (undefined: none)
  const backs = new Map<string, Back>();
  const weightGrads = new Map<string, string>();

  const reshapeC = (t: string, c: number) => e.one('Reshape', [t, e.ints([1, c, 1, 1])]);
  const toVec = (t: string) => e.one('Reshape', [t, e.ints([-1])]);
  const sumAxes = (t: string, axes: number[], keep: 0 | 1) =>
    e.one('ReduceSum', [t, e.ints(axes)], { keepdims: keep });

  /**
   * im2col by a grouped convolution with one-hot kernels: output channel (c, a, b) is input channel c seen
   * through tap (a, b), with the given stride, dilation and padding → [N, C·kh·kw, Ho, Wo].
   */
  const im2col = (
    t: string,
    C: number,
    k: [number, number],
    attrs: { strides: [number, number]; dilations: [number, number]; pads: number[] },
  ) => {
    const K = k[0] * k[1];
    const oneHot = new Float32Array(C * K * K);
    for (let c = 0; c < C * K; c++) oneHot[c * K + (c % K)] = 1;
    return e.one('Conv', [t, e.float(oneHot, [C * K, 1, k[0], k[1]])], {
      group: C,
      kernel_shape: k,
      ...attrs,
    });
  };
  /**
   * A convolution (kernel [Cout, Cin, kh, kw]) as im2col and one GEMM over batch × positions. On small maps
   * onnxruntime's Conv runs well below its GEMM rate; see SMALL_MAP.
   */
  const convAsGemm = (
    t: string,
    w: string,
    Cin: number,
    Cout: number,
    k: [number, number],
    attrs: { strides: [number, number]; dilations: [number, number]; pads: number[] },
    out: [number, number],
  ) => {
    const KC = Cin * k[0] * k[1];
    const P = out[0] * out[1];
    const cols = e.one('Reshape', [
      e.one('Transpose', [e.one('Reshape', [im2col(t, Cin, k, attrs), e.ints([N, KC, P])])], {
        perm: [1, 0, 2],
      }),
      e.ints([KC, N * P]),
    ]);
    const y = e.one('Gemm', [e.one('Reshape', [w, e.ints([Cout, KC])]), cols]); // [Cout, N·P]
    return e.one('Transpose', [e.one('Reshape', [y, e.ints([Cout, N, out[0], out[1]])])], {
      perm: [1, 0, 2, 3],
    });
  };

  /** y = act(x); returns y and the backward rule dy ↦ dx through the activation. */
  const activation = (
    n: GraphNode,
    x: string,
    fn: Activation | undefined,
  ): { y: string; back: (dy: string) => string } => {
    const f = fn ?? 'linear';
    if (!SUPPORTED_ACTIVATIONS.has(f)) throw unsupported(n, `activation ${f}`);
    if (f === 'linear') return { y: x, back: (dy) => dy };
    if (f === 'relu') {
      const y = e.one('Relu', [x]);
      return {
        y,
        back: (dy) => e.one('Where', [e.one('Greater', [y, e.float([0], [])]), dy, e.float([0], [])]),
      };
    }
    if (f === 'sigmoid') {
      const y = e.one('Sigmoid', [x]);
      return { y, back: (dy) => e.one('Mul', [dy, e.one('Mul', [y, e.one('Sub', [e.float([1], []), y])])]) };
    }
    const y = e.one('Tanh', [x]);
    return { y, back: (dy) => e.one('Mul', [dy, e.one('Sub', [e.float([1], []), e.one('Mul', [y, y])])]) };
  };

  for (const n of def.nodes) {
    const ins = nodeInputs(n);
    const x = ins.length ? fwd.get(ins[0])! : '';
    const xi = ins.length ? inf.get(ins[0])! : '';
    const inShape = ins.length ? shapes.get(ins[0])! : [];
    const outShape = shapes.get(n.name)!;
    const ownTrainable = ['kernel', 'bias', 'gamma', 'beta', 'scale', 'offset'].some((r) =>
      trainable(n.name, r),
    );
    if (ownTrainable || ins.some((i) => needs.has(i))) needs.add(n.name);
    const inNeeds = ins.map((i) => needs.has(i));
    // Ops whose forward is the same in training and inference: emitted on the training tensors, then again
    // on the inference ones unless those are the same tensors (before the first batch norm).
    const dual = <T extends { y: string }>(f: (t: string) => T): T => {
      const r = f(x);
      fwd.set(n.name, r.y);
      if (xi === x) inf.set(n.name, r.y);
      else {
        const before = e.nodes.forward.length;
        inf.set(n.name, f(xi).y);
        inferenceNodes.push(...e.nodes.forward.splice(before));
      }
      return r;
    };

    switch (n.op) {
      case 'input': {
        const t = e.one('Transpose', [IMAGE], { perm: [0, 3, 1, 2] });
        fwd.set(n.name, t);
        inf.set(n.name, t);
        break;
      }
      case 'conv2d': {
        if (n.activation && !SUPPORTED_ACTIVATIONS.has(n.activation))
          throw unsupported(n, `activation ${n.activation}`);
        const k = pair(n.kernel, 1);
        const s = pair(n.strides, 1);
        const d = n.dilation ?? 1;
        const pads = explicitPads(n.padding, [inShape[0], inShape[1]], k, s, d);
        const attrs = { kernel_shape: k, strides: s, dilations: [d, d], pads };
        const kernel = weight(n.name, 'kernel');
        const bias = n.bias ? weight(n.name, 'bias') : undefined;
        const [H, W, I] = inShape;
        const [Ho, Wo, O] = outShape;
        const K = k[0] * k[1];
        const oihw = byName.get(kernel)!.order === 'oihw';
        const w = oihw ? kernel : e.one('Transpose', [kernel], { perm: [3, 2, 0, 1] }); // HWIO → OIHW
        const smallMap = Ho * Wo <= SMALL_MAP && k[0] * k[1] > 1;
        const geo = { strides: s, dilations: [d, d] as [number, number], pads };
        const a = dual((t) => {
          let y: string;
          if (smallMap) {
            y = convAsGemm(t, w, I, O, k, geo, [Ho, Wo]);
            if (bias) y = e.one('Add', [y, reshapeC(bias, O)]);
          } else y = e.one('Conv', bias ? [t, w, bias] : [t, w], attrs);
          return activation(n, y, n.activation);
        });
        backs.set(n.name, (dyOut) => {
          const dy = a.back(dyOut);
          if (trainable(n.name, 'kernel')) {
            // dW[o,i,a,b] = Σ dy[n,o,y,x]·xpad[n,i,y·s+a·d,x·s+b·d]. im2col by a grouped convolution with
            // one-hot kernels (output channel (i, a, b) is input channel i seen through tap (a, b), with the
            // forward's stride, dilation and padding), then per image [I·K, P] × [P, O] (P = Ho·Wo), summed
            // over the batch. Twice as fast in onnxruntime as slicing the taps out and stacking them, and
            // far faster than a convolution with dy as the kernel (a GEMM only kh·kw wide).
            let g: string; // [I·kh·kw, O]: rows (in, kh, kw)
            const cols = im2col(x, I, k, geo);
            const P = Ho * Wo;
            const cols3 = e.one('Reshape', [cols, e.ints([N, I * K, P])]);
            const dy3 = e.one('Reshape', [dy, e.ints([N, O, P])]);
            if (O <= P) {
              // Large maps, few channels: per-image products, then a sum over the batch no larger than cols.
              const dyT = e.one('Transpose', [dy3], { perm: [0, 2, 1] });
              g = sumAxes(e.one('MatMul', [cols3, dyT]), [0], 0);
            } else {
              // Small maps, many channels: batch and positions side by side, one GEMM.
              const flat = (t: string, rows: number) =>
                e.one('Reshape', [e.one('Transpose', [t], { perm: [1, 0, 2] }), e.ints([rows, N * P])]);
              g = e.one('Gemm', [flat(cols3, I * K), flat(dy3, O)], { transB: 1 });
            }
            weightGrads.set(
              kernel,
              oihw
                ? e.one('Reshape', [e.one('Transpose', [g], { perm: [1, 0] }), e.ints([O, I, k[0], k[1]])])
                : e.one('Reshape', [
                    e.one('Transpose', [e.one('Reshape', [g, e.ints([I, K, O])])], { perm: [1, 0, 2] }),
                    e.ints([k[0], k[1], I, O]),
                  ]),
            );
          }
          if (bias && trainable(n.name, 'bias')) weightGrads.set(bias, sumAxes(dy, [0, 2, 3], 0));
          if (!inNeeds[0]) return [undefined];
          if (s[0] === 1 && s[1] === 1 && d === 1 && pads.every((p, i) => p <= k[i % 2] - 1)) {
            // Unit stride: the input gradient is a plain convolution of dy with the kernel transposed
            // (in ↔ out) and flipped, padded by k − 1 − p: onnxruntime's blocked Conv runs it faster than
            // its ConvTranspose.
            const iohw = e.one('Transpose', [w], { perm: [1, 0, 2, 3] });
            const flipped = e.one('Slice', [
              iohw,
              e.ints([-1, -1]),
              e.ints([-(k[0] + 1), -(k[1] + 1)]),
              e.ints([2, 3]),
              e.ints([-1, -1]),
            ]);
            const back = [k[0] - 1 - pads[0], k[1] - 1 - pads[1], k[0] - 1 - pads[2], k[1] - 1 - pads[3]];
            return [
              H * W <= SMALL_MAP
                ? convAsGemm(dy, flipped, O, I, k, { strides: [1, 1], dilations: [1, 1], pads: back }, [H, W])
                : e.one('Conv', [dy, flipped], { kernel_shape: k, pads: back }),
            ];
          }
          const dx = e.one('ConvTranspose', [dy, w], {
            kernel_shape: k,
            strides: s,
            dilations: [d, d],
            pads,
            output_padding: outputPadding([H, W], [Ho, Wo], k, s, d, pads),
          });
          return [dx];
        });
        break;
      }
      case 'batchNorm': {
        const C = outShape[outShape.length - 1];
        if (outShape.length !== 3) throw unsupported(n, 'batch norm of a vector');
        const gamma = n.scale === false ? undefined : weight(n.name, 'gamma');
        const beta = n.center === false ? undefined : weight(n.name, 'beta');
        const g = gamma ?? e.float(new Float32Array(C).fill(1), [C]);
        const b = beta ?? e.float(new Float32Array(C), [C]);
        const moving = [weight(n.name, 'mean'), weight(n.name, 'variance')];
        const eps = { float: n.epsilon };
        // onnxruntime's fused training-mode batch norm; momentum 0 makes its "running" outputs the batch
        // mean and (biased, as tf.moments) variance, which become the step's statistics.
        const [y, mean, variance] = e.op(
          'BatchNormalization',
          [x, g, b, ...moving],
          {
            epsilon: eps,
            momentum: { float: 0 },
            training_mode: 1,
          },
          3,
        );
        fwd.set(n.name, y);
        e.nodes.forward.push(
          { op: 'Identity', inputs: [mean], outputs: [statName(n.name, 'mean')] },
          { op: 'Identity', inputs: [variance], outputs: [statName(n.name, 'variance')] },
        );
        statsOutputs.push(statName(n.name, 'mean'), statName(n.name, 'variance'));
        {
          const before = e.nodes.forward.length;
          inf.set(n.name, e.one('BatchNormalization', [xi, g, b, ...moving], { epsilon: eps }));
          inferenceNodes.push(...e.nodes.forward.splice(before));
        }
        const M = N * outShape[0] * outShape[1];
        backs.set(n.name, (dy) => {
          // x̂ is recomputed here rather than kept from the forward pass (the fused op does not return it).
          const invstd = e.one('Reciprocal', [
            e.one('Sqrt', [e.one('Add', [reshapeC(variance, C), e.float([n.epsilon], [])])]),
          ]);
          const xhat = e.one('Mul', [e.one('Sub', [x, reshapeC(mean, C)]), invstd]);
          const dbeta = sumAxes(dy, [0, 2, 3], 1);
          const dgamma = sumAxes(e.one('Mul', [dy, xhat]), [0, 2, 3], 1);
          if (beta && trainable(n.name, 'beta')) weightGrads.set(beta, toVec(dbeta));
          if (gamma && trainable(n.name, 'gamma')) weightGrads.set(gamma, toVec(dgamma));
          if (!inNeeds[0]) return [undefined];
          // dx = γσ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)), with the per-channel factors multiplied out first
          const scale = gamma ? e.one('Mul', [reshapeC(gamma, C), invstd]) : invstd;
          const perM = e.float([1 / M], []);
          const c1 = e.one('Mul', [scale, e.one('Mul', [dgamma, perM])]);
          const c2 = e.one('Mul', [scale, e.one('Mul', [dbeta, perM])]);
          return [e.one('Sub', [e.one('Sub', [e.one('Mul', [dy, scale]), e.one('Mul', [xhat, c1])]), c2])];
        });
        break;
      }
      case 'affine': {
        const C = outShape[outShape.length - 1];
        if (outShape.length !== 3) throw unsupported(n, 'affine of a vector');
        const scale = weight(n.name, 'scale');
        const offset = weight(n.name, 'offset');
        const s4 = reshapeC(scale, C);
        const o4 = reshapeC(offset, C);
        dual((t) => ({ y: e.one('Add', [e.one('Mul', [t, s4]), o4]) }));
        backs.set(n.name, (dy) => {
          if (trainable(n.name, 'scale'))
            weightGrads.set(scale, sumAxes(e.one('Mul', [dy, x]), [0, 2, 3], 0));
          if (trainable(n.name, 'offset')) weightGrads.set(offset, sumAxes(dy, [0, 2, 3], 0));
          return [inNeeds[0] ? e.one('Mul', [dy, s4]) : undefined];
        });
        break;
      }
      case 'dense': {
        if (inShape.length !== 1) throw unsupported(n, 'dense on a feature map (flatten first)');
        if (n.activation && !SUPPORTED_ACTIVATIONS.has(n.activation))
          throw unsupported(n, `activation ${n.activation}`);
        const kernel = weight(n.name, 'kernel');
        const bias = n.bias === false ? undefined : weight(n.name, 'bias');
        const a = dual((t) =>
          activation(n, bias ? e.one('Gemm', [t, kernel, bias]) : e.one('MatMul', [t, kernel]), n.activation),
        );
        backs.set(n.name, (dyOut) => {
          const dy = a.back(dyOut);
          if (trainable(n.name, 'kernel')) weightGrads.set(kernel, e.one('Gemm', [x, dy], { transA: 1 }));
          if (bias && trainable(n.name, 'bias')) weightGrads.set(bias, sumAxes(dy, [0], 0));
          return [inNeeds[0] ? e.one('Gemm', [dy, kernel], { transB: 1 }) : undefined];
        });
        break;
      }
      case 'activation': {
        const a = dual((t) => activation(n, t, n.fn));
        backs.set(n.name, (dy) => [a.back(dy)]);
        break;
      }
      case 'add': {
        const xs = ins.map((i) => fwd.get(i)!);
        const xis = ins.map((i) => inf.get(i)!);
        const sum = e.one('Sum', xs);
        const a = activation(n, sum, n.activation);
        fwd.set(n.name, a.y);
        if (xis.every((t, i) => t === xs[i])) inf.set(n.name, a.y);
        else {
          const before = e.nodes.forward.length;
          inf.set(n.name, activation(n, e.one('Sum', xis), n.activation).y);
          inferenceNodes.push(...e.nodes.forward.splice(before));
        }
        backs.set(n.name, (dy) => {
          const g = a.back(dy);
          return inNeeds.map((need) => (need ? g : undefined));
        });
        break;
      }
      case 'maxPool': {
        const k = pair(n.size, 1);
        const s = pair(n.strides, 1);
        const pads = explicitPads(n.padding, [inShape[0], inShape[1]], k, s, 1);
        const attrs = { kernel_shape: k, strides: s, pads };
        const [y, idx] = e.op('MaxPool', [x], attrs, 2);
        fwd.set(n.name, y);
        if (xi === x) inf.set(n.name, y);
        else {
          const before = e.nodes.forward.length;
          inf.set(n.name, e.one('MaxPool', [xi], attrs));
          inferenceNodes.push(...e.nodes.forward.splice(before));
        }
        const total = N * inShape[0] * inShape[1] * inShape[2];
        backs.set(n.name, (dy) => {
          if (!inNeeds[0]) return [undefined];
          // Indices address the whole NCHW input; each output's gradient goes to its argmax.
          const zeros = e.one('ConstantOfShape', [e.ints([total])], {});
          const flat = e.one('ScatterElements', [zeros, toVec(idx), toVec(dy)], {
            axis: 0,
            reduction: 'add',
          });
          return [e.one('Reshape', [flat, e.ints(nchw(inShape))])];
        });
        break;
      }
      case 'avgPool': {
        // 'valid' or explicit padding (tfjs pads with zeros that count), so every window divides by kh·kw;
        // TF 'same' excludes the padding from the count, which this rule does not model.
        if (n.padding === 'same') throw unsupported(n, "avgPool with 'same' padding");
        const k = pair(n.size, 1);
        const s = pair(n.strides, 1);
        const pads = explicitPads(n.padding, [inShape[0], inShape[1]], k, s, 1);
        const attrs = { kernel_shape: k, strides: s, pads, count_include_pad: 1 };
        dual((t) => ({ y: e.one('AveragePool', [t], attrs) }));
        const [H, W, C] = inShape;
        const [Ho, Wo] = outShape;
        backs.set(n.name, (dy) => {
          if (!inNeeds[0]) return [undefined];
          // Each output spreads dy/(kh·kw) over its window: a per-channel transposed convolution with a
          // constant kernel.
          const K = k[0] * k[1];
          return [
            e.one('ConvTranspose', [dy, e.float(new Float32Array(C * K).fill(1 / K), [C, 1, k[0], k[1]])], {
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
        if (n.mode && n.mode !== 'constant') throw unsupported(n, `${n.mode} padding`);
        const [[t, b], [l, r]] = n.pads;
        dual((x) => ({ y: e.one('Pad', [x, e.ints([0, 0, t, l, 0, 0, b, r])]) }));
        const [H, W] = inShape;
        backs.set(n.name, (dy) => [
          inNeeds[0]
            ? e.one('Slice', [dy, e.ints([t, l]), e.ints([t + H, l + W]), e.ints([2, 3])])
            : undefined,
        ]);
        break;
      }
      case 'padChannels': {
        const c = inShape[2];
        dual((x) => ({ y: e.one('Pad', [x, e.ints([0, 0, 0, 0, 0, n.channels - c, 0, 0])]) }));
        backs.set(n.name, (dy) => [
          inNeeds[0] ? e.one('Slice', [dy, e.ints([0]), e.ints([c]), e.ints([1])]) : undefined,
        ]);
        break;
      }
      case 'globalAvgPool': {
        dual((t) => ({ y: e.one('ReduceMean', [t], { axes: [2, 3], keepdims: 0 }) }));
        const [H, W, C] = inShape;
        backs.set(n.name, (dy) => {
          if (!inNeeds[0]) return [undefined];
          const spread = e.one('Reshape', [dy, e.ints([N, C, 1, 1])]);
          return [e.one('Expand', [e.one('Div', [spread, e.float([H * W], [])]), e.ints([N, C, H, W])])];
        });
        break;
      }
      case 'flatten': {
        if (inShape.length !== 3) {
          fwd.set(n.name, x);
          inf.set(n.name, xi);
          backs.set(n.name, (dy) => [dy]);
          break;
        }
        // Flatten in NHWC order so dense weights mean the same as on the tfjs executor.
        dual((t) => ({
          y: e.one('Reshape', [e.one('Transpose', [t], { perm: [0, 2, 3, 1] }), e.ints([N, -1])]),
        }));
        backs.set(n.name, (dy) => {
          if (!inNeeds[0]) return [undefined];
          const nhwc = e.one('Reshape', [dy, e.ints([N, inShape[0], inShape[1], inShape[2]])]);
          return [e.one('Transpose', [nhwc], { perm: [0, 3, 1, 2] })];
        });
        break;
      }
      case 'l2normalize': {
        if (inShape.length !== 1) throw unsupported(n, 'l2normalize of a feature map');
        const eps = n.epsilon ?? 1e-12;
        const { y, norm } = dual((t) => {
          const ss = e.one('ReduceSum', [e.one('Mul', [t, t]), e.ints([1])], { keepdims: 1 });
          const nm = e.one('Sqrt', [e.one('Max', [ss, e.float([eps], [])])]);
          return { y: e.one('Div', [t, nm]), norm: nm };
        });
        backs.set(n.name, (dy) => {
          if (!inNeeds[0]) return [undefined];
          // dx = (dy − y·⟨dy, y⟩)/‖x‖ (exact while ‖x‖² > ε, where the max() is inactive)
          const dot = e.one('ReduceSum', [e.one('Mul', [dy, y]), e.ints([1])], { keepdims: 1 });
          return [e.one('Div', [e.one('Sub', [dy, e.one('Mul', [y, dot])]), norm])];
        });
        break;
      }
      default:
        throw unsupported(n);
    }
  }

  const out = def.outputs[0];
  if (shapes.get(out)!.length !== 1)
    throw new VisageError('E_BAD_MODEL', `${def.name}: output ${out} is not a vector`);
  const embedding = fwd.get(out)!;
  const dim = shapes.get(out)![0];

  // Backward: reverse graph order, summing gradients of tensors read by several nodes.
  e.phase = 'backward';
  const grads = new Map<string, string[]>([[out, [D_EMBEDDING]]]);
  for (const n of [...def.nodes].reverse()) {
    const parts = grads.get(n.name);
    const back = backs.get(n.name);
    if (!parts || !back || !needs.has(n.name)) continue;
    const dy = parts.length === 1 ? parts[0] : e.one('Sum', parts);
    const dxs = back(dy);
    nodeInputs(n).forEach((i, k) => {
      const g = dxs[k];
      if (g === undefined) return;
      if (!grads.has(i)) grads.set(i, []);
      grads.get(i)!.push(g);
    });
  }

  const trainableParams = params.filter((p) => p.trainable);
  for (const p of trainableParams)
    if (!weightGrads.has(p.name))
      throw new VisageError('E_INTERNAL', `no gradient reaches trainable weight ${p.name}`);
  // Gradients are graph outputs under stable names.
  for (const p of trainableParams)
    e.nodes.backward.push({
      op: 'Identity',
      inputs: [weightGrads.get(p.name)!],
      outputs: [gradName(p.name)],
    });

  const produced = (nodes: OnnxNode[]) => new Set(nodes.flatMap((n) => n.outputs));
  const read = (nodes: OnnxNode[]) => new Set(nodes.flatMap((n) => n.inputs));
  hoistReluMasks(e.nodes.forward, e.nodes.backward);
  const fwdProduced = produced(e.nodes.forward);
  const bwdRead = read(e.nodes.backward);
  const saved = [...bwdRead].filter((t) => fwdProduced.has(t));
  const paramInputs = (reads: Set<string>): OnnxValue[] =>
    params.filter((p) => reads.has(p.name)).map((p) => ({ name: p.name, type: FLOAT, dims: storedShape(p) }));
  const constantsFor = (nodes: OnnxNode[]) => {
    const r = read(nodes);
    return e.constants.filter((c) => r.has(c.name));
  };
  const imageInput: OnnxValue = { name: IMAGE, type: FLOAT, dims: [N, ...input] };
  const untyped = (name: string): OnnxValue => ({ name, type: FLOAT });

  const fwdRead = read(e.nodes.forward);
  const forward: OnnxModel = {
    opset: 17,
    nodes: e.nodes.forward,
    inputs: [imageInput, ...paramInputs(fwdRead)],
    outputs: [
      { name: embedding, type: FLOAT, dims: [N, dim] },
      ...statsOutputs.map(untyped),
      ...saved.filter((t) => t !== embedding).map((t) => ({ name: t, type: savedType(t, e.nodes.forward) })),
    ],
    initializers: constantsFor(e.nodes.forward),
  };
  const backward: OnnxModel = {
    opset: 17,
    nodes: e.nodes.backward,
    inputs: [
      { name: D_EMBEDDING, type: FLOAT, dims: [N, dim] },
      ...saved.map((t) => ({ name: t, type: savedType(t, e.nodes.forward) })),
      ...(bwdRead.has(IMAGE) ? [imageInput] : []),
      ...paramInputs(bwdRead),
    ],
    outputs: trainableParams.map((p) => ({ name: gradName(p.name), type: FLOAT, dims: storedShape(p) })),
    initializers: constantsFor(e.nodes.backward),
  };
  // The inference graph: the forward nodes the inference path reads, plus its own (moving-statistics) nodes.
  const infOut = inf.get(out)!;
  const allInf = [...e.nodes.forward, ...inferenceNodes];
  const producer = new Map<string, OnnxNode>();
  for (const nd of allInf) for (const o of nd.outputs) producer.set(o, nd);
  const keep = new Set<OnnxNode>();
  const stack = [infOut];
  while (stack.length) {
    const t = stack.pop()!;
    const nd = producer.get(t);
    if (!nd || keep.has(nd)) continue;
    keep.add(nd);
    stack.push(...nd.inputs);
  }
  const infNodes = allInf.filter((nd) => keep.has(nd));
  const inference: OnnxModel = {
    opset: 17,
    nodes: infNodes,
    inputs: [imageInput, ...paramInputs(read(infNodes))],
    outputs: [{ name: infOut, type: FLOAT, dims: [N, dim] }],
    initializers: constantsFor(infNodes),
  };
  return { forward, backward, inference, saved, embedding };
}

/**
 * A ReLU output that the backward pass reads only to test y > 0 (e.g. one followed by a max-pool, whose
 * own gradient uses its indices) is handed over as that boolean mask instead: the comparison moves into
 * the forward graph and a quarter of the bytes cross between the two sessions.
 */
function hoistReluMasks(forward: OnnxNode[], backward: OnnxNode[]): void {
  const relus = new Set(forward.filter((n) => n.op === 'Relu').map((n) => n.outputs[0]));
  const readers = new Map<string, OnnxNode[]>();
  for (const n of backward)
    for (const i of n.inputs) {
      if (!relus.has(i)) continue;
      if (!readers.has(i)) readers.set(i, []);
      readers.get(i)!.push(n);
    }
  for (const nodes of readers.values()) {
    if (!nodes.every((n) => n.op === 'Greater')) continue;
    for (const n of nodes) {
      backward.splice(backward.indexOf(n), 1);
      forward.push(n);
    }
  }
}

/** MaxPool's second output (indices) is int64, a hoisted ReLU mask bool; every other saved tensor float. */
function savedType(t: string, nodes: OnnxNode[]): typeof FLOAT | typeof INT64 | typeof BOOL {
  const n = nodes.find((nd) => nd.outputs.includes(t));
  if (n?.op === 'Greater') return BOOL;
  return n && n.op === 'MaxPool' && n.outputs[1] === t ? INT64 : FLOAT;
}
