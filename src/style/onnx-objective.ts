/**
 * Style transfer's objective on onnxruntime: the feature network forward to the taps, the costs (content,
 * Gram style with optional softmax smoothing, total variation) and the gradient of J with respect to the
 * generated image, as one ONNX graph built from the network's own NetworkDef (engine/onnx/input-gradient.ts
 * writes the network and its input gradient; this file the costs and their gradients). One session runs the
 * whole iteration on every core, so no activation crosses between sessions or into JavaScript; only the
 * image goes in and J, its parts and dJ/dG come out. A second graph per size makes the targets (content
 * features, style Gram matrices). The optimisers stay in transfer.ts.
 *
 * Images cross the boundary as NHWC float32 in 0..255, as everywhere in style/; inside it is NCHW.
 */
import { VisageError } from '../errors.js';
import { inferShapes } from '../engine/graph/shapes.js';
import type { NetworkDef } from '../engine/graph/types.js';
import { emitFrozenPass, OnnxGraphBuilder } from '../engine/onnx/input-gradient.js';
import { FLOAT, type OnnxModel, type OnnxValue } from '../engine/onnx/proto.js';
import { createSession, loadOrt, type OrtSession } from '../engine/onnx/runtime.js';
import type { GraphFeatureNet, PreprocessSpec } from './feature-net.js';

/** Ops and activations the input-gradient writer handles; anything else keeps a network on tfjs. */
const OPS = new Set(['input', 'conv2d', 'activation', 'add', 'concat', 'maxPool', 'avgPool', 'pad']);

/** Why `net` cannot run on the onnx style engine, or undefined when it can. */
export function onnxStyleUnsupported(net: GraphFeatureNet): string | undefined {
  if (!net.preprocessSpec) return `${net.name} has no preprocess spec`;
  for (const n of net.def.nodes) {
    if (!OPS.has(n.op)) return `op ${n.op} (node ${n.name})`;
    if (n.op === 'pad' && n.mode === 'symmetric') return `symmetric padding (node ${n.name})`;
  }
  return undefined;
}

export interface ObjectiveLayout {
  height: number;
  width: number;
  contentLayer: string;
  /** Style layers with λ ≠ 0. */
  styleLayers: string[];
  smoothing: boolean;
  tv: boolean;
  /** 'image': the content target is computed in-graph from a (jittered) content image; else fed. */
  content: 'target' | 'image';
  gradient: boolean;
}

export interface TargetsLayout {
  height: number;
  width: number;
  /** Return this layer's activation (NCHW) as `content`. */
  contentLayer?: string;
  gramLayers: string[];
  /** Softmax smoothing: none, temperatures fed, or computed from this image (and returned as `std:<l>`). */
  temperature: 'none' | 'input' | 'self';
}

export const layerShape = (def: NetworkDef, input: [number, number, number], node: string) => {
  const s = inferShapes(def, input).get(node);
  if (!s || s.length !== 3) throw new VisageError('E_INTERNAL', `layer ${node} is not a feature map`);
  return { h: s[0], w: s[1], c: s[2] };
};

/** NHWC 0..255 image → preprocessed NCHW; returns the NCHW image (for TV) and the network input. */
function emitPreprocess(b: OnnxGraphBuilder, image: string, spec: PreprocessSpec) {
  const x = b.one('Transpose', [image], { perm: [0, 3, 1, 2] });
  const identity = spec.perm.every((p, i) => p === i);
  const permuted = identity ? x : b.one('Gather', [x, b.ints(spec.perm)], { axis: 1 });
  const scale = b.memo('pre:scale', () => b.float(spec.scale, [1, 3, 1, 1]));
  const offset = b.memo('pre:offset', () => b.float(spec.offset, [1, 3, 1, 1]));
  return { x, pre: b.one('Add', [b.one('Mul', [permuted, scale]), offset]) };
}

/** [1, C, h, w] → [C, h·w], optionally softmax-smoothed by temperature T [C, 1] (times h·w). */
function emitSmoothed(b: OnnxGraphBuilder, a: string, c: number, hw: number, temp: string | undefined) {
  const m = b.one('Reshape', [a, b.ints([c, hw])]);
  if (!temp) return { m, mm: m };
  const sm = b.one('Softmax', [b.one('Div', [m, temp])], { axis: 1 });
  return { m, mm: b.one('Mul', [sm, b.scalar(hw)]), sm };
}

const gram = (b: OnnxGraphBuilder, mm: string) => b.one('Gemm', [mm, mm], { transB: 1 });

const sumAll = (b: OnnxGraphBuilder, t: string) => b.one('ReduceSum', [t], { keepdims: 0 });

/** The iteration's graph (see ObjectiveLayout); outputs J, Jcontent, Jstyle, Jtv, J:<layer>, grad. */
export function buildObjectiveModel(net: GraphFeatureNet, L: ObjectiveLayout): OnnxModel {
  const b = new OnnxGraphBuilder();
  const spec = net.preprocessSpec!;
  const input: [number, number, number] = [L.height, L.width, 3];
  const node = (l: string) => net.resolveLayer(l);
  const taps = [...new Set([L.contentLayer, ...L.styleLayers].map(node))];
  const { x, pre } = emitPreprocess(b, 'g', spec);
  const pass = emitFrozenPass(b, net.def, net.weights, pre, input, taps, { gradient: L.gradient });
  const inputs: OnnxValue[] = [{ name: 'g', type: FLOAT, dims: [1, L.height, L.width, 3] }];
  const scalarIn = (name: string) => {
    inputs.push({ name, type: FLOAT, dims: [] });
    return name;
  };
  const alpha = scalarIn('alpha');
  const beta = scalarIn('beta');
  const gamma = scalarIn('gamma');
  const tapGrads: Array<[string, string]> = [];

  // Content: Σ(a − t)² / (4·h·w·c).
  const cs = layerShape(net.def, input, node(L.contentLayer));
  let target: string;
  if (L.content === 'image') {
    inputs.push({ name: 'content_image', type: FLOAT, dims: [1, L.height, L.width, 3] });
    const c = emitPreprocess(b, 'content_image', spec);
    target = emitFrozenPass(b, net.def, net.weights, c.pre, input, [node(L.contentLayer)], {
      gradient: false,
    }).taps.get(node(L.contentLayer))!;
  } else {
    inputs.push({ name: 'content_target', type: FLOAT, dims: [1, cs.c, cs.h, cs.w] });
    target = 'content_target';
  }
  const normC = 4 * cs.h * cs.w * cs.c;
  const d = b.one('Sub', [pass.taps.get(node(L.contentLayer))!, target]);
  const Jc = b.named('Jcontent', 'Mul', [sumAll(b, b.one('Mul', [d, d])), b.scalar(1 / normC)]);
  if (L.gradient)
    tapGrads.push([node(L.contentLayer), b.one('Mul', [d, b.one('Mul', [alpha, b.scalar(2 / normC)])])]);

  // Style: per layer Σ(G(S) − G(G))² / (4·c²·(h·w)²), weighted by λ[l].
  const weighted: string[] = [];
  for (const l of L.styleLayers) {
    const s = layerShape(net.def, input, node(l));
    const hw = s.h * s.w;
    inputs.push({ name: `gram:${l}`, type: FLOAT, dims: [s.c, s.c] });
    const lambda = scalarIn(`lambda:${l}`);
    const temp = L.smoothing ? `temp:${l}` : undefined;
    if (temp) inputs.push({ name: temp, type: FLOAT, dims: [s.c, 1] });
    const { mm, sm } = emitSmoothed(b, pass.taps.get(node(l))!, s.c, hw, temp);
    const diff = b.one('Sub', [gram(b, mm), `gram:${l}`]);
    const normS = 4 * s.c * s.c * hw * hw;
    const Jl = b.named(`J:${l}`, 'Mul', [sumAll(b, b.one('Mul', [diff, diff])), b.scalar(1 / normS)]);
    weighted.push(b.one('Mul', [Jl, lambda]));
    if (!L.gradient) continue;
    // dJ/dmm = (dG + dGᵀ)·mm with dG = 2·β·λ·diff/normS (diff is symmetric).
    const coef = b.one('Mul', [b.one('Mul', [beta, lambda]), b.scalar(4 / normS)]);
    let dm = b.one('Mul', [b.one('MatMul', [diff, mm]), coef]);
    if (sm && temp) {
      // Through mm = hw·softmax(m/T) along positions: dz = s ⊙ (ds − Σ ds ⊙ s), dm = dz / T.
      const ds = b.one('Mul', [dm, b.scalar(hw)]);
      const dot = b.one('ReduceSum', [b.one('Mul', [ds, sm]), b.ints([1])], { keepdims: 1 });
      dm = b.one('Div', [b.one('Mul', [sm, b.one('Sub', [ds, dot])]), temp]);
    }
    tapGrads.push([node(l), b.one('Reshape', [dm, b.ints([1, s.c, s.h, s.w])])]);
  }
  const Js =
    weighted.length === 0
      ? b.named('Jstyle', 'Identity', [b.scalar(0)])
      : b.named('Jstyle', weighted.length === 1 ? 'Identity' : 'Sum', weighted);

  // Total variation of g/255: Σ squared neighbour differences / (H·W·3).
  const H = L.height;
  const W = L.width;
  let tvGrad: string | undefined;
  let Jtv: string;
  if (L.tv) {
    const gn = b.one('Mul', [x, b.scalar(1 / 255)]);
    const slice = (axis: number, from: number, to: number) =>
      b.one('Slice', [gn, b.ints([from]), b.ints([to]), b.ints([axis])]);
    const dv = b.one('Sub', [slice(2, 1, H), slice(2, 0, H - 1)]);
    const dh = b.one('Sub', [slice(3, 1, W), slice(3, 0, W - 1)]);
    const normT = H * W * 3;
    Jtv = b.named('Jtv', 'Mul', [
      b.one('Add', [sumAll(b, b.one('Mul', [dv, dv])), sumAll(b, b.one('Mul', [dh, dh]))]),
      b.scalar(1 / normT),
    ]);
    if (L.gradient) {
      // d/dgn of Σ dv²: +2dv at rows 1.., −2dv at rows ..H−2 (likewise along columns); then ×γ/255.
      const k = b.one('Mul', [gamma, b.scalar(2 / normT / 255)]);
      const spread = (t: string, axis: 2 | 3) => {
        const lo = [0, 0, 0, 0, 0, 0, 0, 0];
        const hi = [0, 0, 0, 0, 0, 0, 0, 0];
        lo[axis] = 1;
        hi[axis + 4] = 1;
        return b.one('Sub', [b.one('Pad', [t, b.ints(lo)]), b.one('Pad', [t, b.ints(hi)])]);
      };
      tvGrad = b.one('Mul', [b.one('Add', [spread(dv, 2), spread(dh, 3)]), k]);
    }
  } else Jtv = b.named('Jtv', 'Identity', [b.scalar(0)]);

  b.named('J', 'Sum', [b.one('Mul', [Jc, alpha]), b.one('Mul', [Js, beta]), b.one('Mul', [Jtv, gamma])]);

  const outputs: OnnxValue[] = ['J', 'Jcontent', 'Jstyle', 'Jtv', ...L.styleLayers.map((l) => `J:${l}`)].map(
    (name) => ({ name, type: FLOAT, dims: [] }),
  );
  if (L.gradient) {
    // Through the preprocess: y[c] = x[perm[c]]·scale[c] + offset[c] ⇒ dx[j] = dy[inv[j]]·scale[inv[j]].
    const dPre = pass.backward(tapGrads);
    const scaled = b.one('Mul', [dPre, b.memo('pre:scale', () => b.float(spec.scale, [1, 3, 1, 1]))]);
    const inv = [0, 1, 2].map((j) => spec.perm.indexOf(j));
    let dx = inv.every((p, i) => p === i) ? scaled : b.one('Gather', [scaled, b.ints(inv)], { axis: 1 });
    if (tvGrad) dx = b.one('Add', [dx, tvGrad]);
    b.named('grad', 'Transpose', [dx], { perm: [0, 2, 3, 1] });
    outputs.push({ name: 'grad', type: FLOAT, dims: [1, H, W, 3] });
  }
  return { opset: 17, nodes: b.nodes, inputs, outputs, initializers: b.initializers };
}

/** The targets graph (see TargetsLayout); outputs `content`, `gram:<l>` and, when computed, `std:<l>`. */
export function buildTargetsModel(net: GraphFeatureNet, L: TargetsLayout): OnnxModel {
  const b = new OnnxGraphBuilder();
  const input: [number, number, number] = [L.height, L.width, 3];
  const node = (l: string) => net.resolveLayer(l);
  const taps = [...new Set([...(L.contentLayer ? [L.contentLayer] : []), ...L.gramLayers].map(node))];
  const { pre } = emitPreprocess(b, 'image', net.preprocessSpec!);
  const pass = emitFrozenPass(b, net.def, net.weights, pre, input, taps, { gradient: false });
  const inputs: OnnxValue[] = [{ name: 'image', type: FLOAT, dims: [1, L.height, L.width, 3] }];
  const outputs: OnnxValue[] = [];
  if (L.contentLayer) {
    b.named('content', 'Identity', [pass.taps.get(node(L.contentLayer))!]);
    outputs.push({ name: 'content', type: FLOAT });
  }
  for (const l of L.gramLayers) {
    const s = layerShape(net.def, input, node(l));
    const hw = s.h * s.w;
    let temp: string | undefined;
    if (L.temperature === 'input') {
      temp = `temp:${l}`;
      inputs.push({ name: temp, type: FLOAT, dims: [s.c, 1] });
    } else if (L.temperature === 'self') {
      // A channel's std over positions (biased, as tf.moments) + 1e-3.
      const m = b.one('Reshape', [pass.taps.get(node(l))!, b.ints([s.c, hw])]);
      const mean = b.one('ReduceMean', [m], { axes: [1], keepdims: 1 });
      const dev = b.one('Sub', [m, mean]);
      const variance = b.one('ReduceMean', [b.one('Mul', [dev, dev])], { axes: [1], keepdims: 1 });
      temp = b.named(`std:${l}`, 'Add', [b.one('Sqrt', [variance]), b.scalar(1e-3)]);
      outputs.push({ name: temp, type: FLOAT, dims: [s.c, 1] });
    }
    const { mm } = emitSmoothed(b, pass.taps.get(node(l))!, s.c, hw, temp);
    b.named(`gram:${l}`, 'Identity', [gram(b, mm)]);
    outputs.push({ name: `gram:${l}`, type: FLOAT, dims: [s.c, s.c] });
  }
  return { opset: 17, nodes: b.nodes, inputs, outputs, initializers: b.initializers };
}

/** Sessions of one network's graphs, built on first use per layout and kept until `release`. */
export class OnnxStyleSessions {
  private readonly sessions = new Map<string, Promise<OrtSession>>();

  constructor(
    readonly net: GraphFeatureNet,
    readonly threads: number,
  ) {}

  private session(key: string, build: () => OnnxModel): Promise<OrtSession> {
    let s = this.sessions.get(key);
    if (!s) {
      s = createSession(build(), this.threads);
      s.catch(() => this.sessions.delete(key));
      this.sessions.set(key, s);
    }
    return s;
  }

  /** Run a graph: feeds are NHWC/[C,C]/scalar float arrays with their dims; returns every output by name. */
  async run(
    kind: 'objective' | 'targets',
    layout: ObjectiveLayout | TargetsLayout,
    feeds: Record<string, { data: Float32Array; dims: number[] }>,
  ): Promise<Record<string, { data: Float32Array; dims: number[] }>> {
    const key = `${kind}:${JSON.stringify(layout)}`;
    const [ort, session] = await Promise.all([
      loadOrt(),
      this.session(key, () =>
        kind === 'objective'
          ? buildObjectiveModel(this.net, layout as ObjectiveLayout)
          : buildTargetsModel(this.net, layout as TargetsLayout),
      ),
    ]);
    const f: Record<string, InstanceType<typeof ort.Tensor>> = {};
    for (const [k, v] of Object.entries(feeds)) f[k] = new ort.Tensor('float32', v.data, v.dims);
    const res = await session.run(f);
    const out: Record<string, { data: Float32Array; dims: number[] }> = {};
    for (const [k, v] of Object.entries(res))
      out[k] = { data: v.data as Float32Array, dims: v.dims.map(Number) };
    return out;
  }

  /** Drop sessions whose key does not contain `keep` (e.g. the previous scale's), or all. */
  release(keep?: (key: string) => boolean): void {
    for (const [k, s] of [...this.sessions]) {
      if (keep?.(k)) continue;
      this.sessions.delete(k);
      void s.then((x) => x.release()).catch(() => undefined);
    }
  }

  get size(): number {
    return this.sessions.size;
  }
}
