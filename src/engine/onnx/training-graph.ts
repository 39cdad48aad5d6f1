/**
 * A network definition as ONNX graphs for training on onnxruntime's native CPU kernels: a forward graph
 * (training-mode batch norm; it also returns each batch norm's batch statistics and the activations the
 * backward pass needs), a backward graph (dLoss/dEmbedding in, every trainable weight's gradient out) and
 * an inference graph. onnxruntime-node runs inference graphs only, so the gradient of each op is written
 * here as ordinary ONNX ops (a convolution's input gradient is a ConvTranspose, its weight gradient a
 * convolution of the input with the output gradient, …), one file per op under ops/ (forward and gradient
 * side by side, looked up in ops/rules.ts); this file walks the network and assembles the three graphs.
 * Each rule is proved against the tfjs tape in test/engine/onnx-training.test.ts.
 *
 * Layouts: the graph takes NHWC images and our HWIO/[in, out] weights and hands back gradients in those
 * layouts; inside it works in NCHW, onnxruntime's native layout. Shapes are static (one graph per batch size).
 */
import { VisageError } from '../../errors.js';
import { inferShapes } from '../graph/shapes.js';
import { nodeInputs, type GraphNode, type NetworkDef } from '../graph/types.js';
import type { Back, OpContext } from './ops/context.js';
import { Emitter } from './ops/emitter.js';
import { IMAGE } from './ops/input.js';
import { opRule } from './ops/rules.js';
import {
  BOOL,
  FLOAT,
  INT64,
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

export { IMAGE };
export const D_EMBEDDING = 'd_embedding';
export const gradName = (param: string) => `grad:${param}`;
export const statName = (node: string, which: 'mean' | 'variance') => `stats:${node}:${which}`;

/** The weight roles that make a node's output depend on a trainable weight. */
const OWN_ROLES = ['kernel', 'bias', 'gamma', 'beta', 'scale', 'offset'];

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
  const trainable = (node: string, role: string) => byName.get(`${node}/${role}`)?.trainable === true;
  const statsOutputs: string[] = [];
  const unsupported = (n: GraphNode, what: string = n.op) =>
    new VisageError(
      'E_BAD_OPTION',
      `the onnxruntime trainer does not support ${what} (node "${n.name}"); train with --engine tfjs`,
    );
  /** Emits f's nodes into the inference graph only (they are taken back out of the forward list). */
  const inferenceOnly = (f: () => string): string => {
    const before = e.nodes.forward.length;
    const t = f();
    inferenceNodes.push(...e.nodes.forward.splice(before));
    return t;
  };

  // Backward bookkeeping: what each forward node needs to compute its input gradients.
  const backs = new Map<string, Back>();
  const weightGrads = new Map<string, string>();

  for (const n of def.nodes) {
    const ins = nodeInputs(n);
    const xs = ins.map((i) => fwd.get(i)!);
    const xis = ins.map((i) => inf.get(i)!);
    if (OWN_ROLES.some((r) => trainable(n.name, r)) || ins.some((i) => needs.has(i))) needs.add(n.name);
    const rule = opRule(n.op);
    if (!rule) throw unsupported(n);
    const setOutput = (training: string, inference: string) => {
      fwd.set(n.name, training);
      inf.set(n.name, inference);
    };
    const c: OpContext = {
      e,
      node: n,
      batch: N,
      xs,
      x: xs.length ? xs[0] : '',
      xis,
      xi: xis.length ? xis[0] : '',
      inShape: ins.length ? shapes.get(ins[0])! : [],
      outShape: shapes.get(n.name)!,
      inNeeds: ins.map((i) => needs.has(i)),
      weight: (role) => {
        const name = `${n.name}/${role}`;
        if (!byName.has(name)) throw new VisageError('E_BAD_MODEL', `weight ${name} is missing`);
        return name;
      },
      trainable: (role) => trainable(n.name, role),
      oihw: (w) => byName.get(w)?.order === 'oihw',
      setOutput,
      dual: (f) => {
        const r = f(xs);
        const same = xis.every((t, i) => t === xs[i]);
        setOutput(r.y, same ? r.y : inferenceOnly(() => f(xis).y));
        return r;
      },
      inferenceOnly,
      saveStats: (mean, variance) => {
        e.nodes.forward.push(
          { op: 'Identity', inputs: [mean], outputs: [statName(n.name, 'mean')] },
          { op: 'Identity', inputs: [variance], outputs: [statName(n.name, 'variance')] },
        );
        statsOutputs.push(statName(n.name, 'mean'), statName(n.name, 'variance'));
      },
      setGrad: (w, g) => weightGrads.set(w, g),
      unsupported: (what) => unsupported(n, what),
    };
    const back = rule(c);
    if (back) backs.set(n.name, back);
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
  const infNodes = nodesReaching([...e.nodes.forward, ...inferenceNodes], infOut);
  const inference: OnnxModel = {
    opset: 17,
    nodes: infNodes,
    inputs: [imageInput, ...paramInputs(read(infNodes))],
    outputs: [{ name: infOut, type: FLOAT, dims: [N, dim] }],
    initializers: constantsFor(infNodes),
  };
  return { forward, backward, inference, saved, embedding };
}

/** Nodes that turn the forward's embedding into D_EMBEDDING (a loss and its gradient), for fuseStep. */
export interface LossGraph {
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  /** Inputs besides the embedding (e.g. label masks). */
  inputs: OnnxValue[];
  /** The loss and its statistics. */
  outputs: OnnxValue[];
}

/**
 * Forward, loss and backward as one model, so that one session runs the whole step and the saved
 * activations stay inside onnxruntime: inputs are the image, the weights and the loss's inputs; outputs
 * the batch statistics, the loss's outputs and every gradient. The loss must write D_EMBEDDING.
 */
export function fuseStep(g: TrainingGraphs, loss: LossGraph): OnnxModel {
  const internal = new Set([...g.saved, D_EMBEDDING]);
  const inputs = new Map<string, OnnxValue>();
  for (const v of [...g.forward.inputs, ...g.backward.inputs, ...loss.inputs])
    if (!internal.has(v.name) && !inputs.has(v.name)) inputs.set(v.name, v);
  const initializers = new Map<string, OnnxTensor>();
  for (const t of [...g.forward.initializers, ...g.backward.initializers, ...loss.initializers])
    initializers.set(t.name, t);
  return {
    opset: 17,
    nodes: [...g.forward.nodes, ...loss.nodes, ...g.backward.nodes],
    inputs: [...inputs.values()],
    outputs: [
      ...g.forward.outputs.filter((o) => o.name.startsWith('stats:')),
      ...loss.outputs,
      ...g.backward.outputs,
    ],
    initializers: [...initializers.values()],
  };
}

/** The nodes (in their order) that `output` depends on. */
function nodesReaching(nodes: OnnxNode[], output: string): OnnxNode[] {
  const producer = new Map<string, OnnxNode>();
  for (const nd of nodes) for (const o of nd.outputs) producer.set(o, nd);
  const keep = new Set<OnnxNode>();
  const stack = [output];
  while (stack.length) {
    const t = stack.pop()!;
    const nd = producer.get(t);
    if (!nd || keep.has(nd)) continue;
    keep.add(nd);
    stack.push(...nd.inputs);
  }
  return nodes.filter((nd) => keep.has(nd));
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
