/**
 * The default loss — triplet margin loss, batch-hard mining, squared Euclidean distance — as ONNX nodes, so
 * that the onnxruntime engine runs forward, loss and backward as one session: the activations the backward
 * pass reads then never leave onnxruntime (onnxruntime-node copies every output into a new JavaScript
 * buffer, 160 MB a step for ResNet-18). It computes in float64 like TripletMarginLoss.compute, which stays
 * the reference (test/training/triplet-graph.test.ts holds the two together); mining ties go to the lowest
 * index in both. Other losses and miners keep running in JavaScript between two sessions.
 */
import { Emitter } from '../../engine/onnx/ops/emitter.js';
import {
  BOOL,
  DOUBLE,
  FLOAT,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValue,
} from '../../engine/onnx/proto.js';
import { squaredEuclidean } from '../distances/index.js';
import { batchHardMiner } from '../miners/index.js';
import { TripletMarginLoss } from './triplet.js';
import type { EmbeddingLoss, LossResult } from './types.js';

export interface InGraphTriplet {
  margin: number;
  reduction: 'mean' | 'meanNonZero';
}

/** The settings of `loss` if the graph writer below computes it, else undefined. */
export function inGraphTriplet(loss: EmbeddingLoss): InGraphTriplet | undefined {
  if (!(loss instanceof TripletMarginLoss)) return undefined;
  if (loss.miner !== batchHardMiner || loss.distance !== squaredEuclidean || loss.softMargin)
    return undefined;
  return { margin: loss.margin, reduction: loss.reduction };
}

/** Graph inputs: [n, n] booleans, same identity and not the anchor itself / another identity. */
export const POSITIVE_PAIRS = 'loss:positives';
export const NEGATIVE_PAIRS = 'loss:negatives';
/** Graph outputs (float64 scalars), in LossResult's terms. */
export const LOSS_OUTPUTS = {
  loss: 'loss:value',
  triplets: 'loss:triplets',
  activeTriplets: 'loss:active',
  meanPositiveDistance: 'loss:mean-positive',
  meanNegativeDistance: 'loss:mean-negative',
} as const;

/** The pair masks for `labels` (row-major n × n, 1 = true). */
export function pairMasks(labels: ArrayLike<number>): { positives: Uint8Array; negatives: Uint8Array } {
  const n = labels.length;
  const positives = new Uint8Array(n * n);
  const negatives = new Uint8Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      if (labels[i] === labels[j]) positives[i * n + j] = i === j ? 0 : 1;
      else negatives[i * n + j] = 1;
    }
  return { positives, negatives };
}

/** The loss's nodes: `embedding` ([n, dim] float) in, its gradient out as `gradient` ([n, dim] float). */
export interface LossPart {
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
}

export function tripletLossGraph(
  embedding: string,
  gradient: string,
  n: number,
  spec: InGraphTriplet,
): LossPart {
  const e = new Emitter('loss/');
  const f64 = (t: string) => e.one('Cast', [t], { to: DOUBLE });
  const x = f64(embedding);
  // dist[i, j] = Σ (x_i − x_j)², as squaredPairwise.
  const diff = e.one('Sub', [e.one('Unsqueeze', [x, e.ints([1])]), e.one('Unsqueeze', [x, e.ints([0])])]);
  const dist = e.one('ReduceSum', [e.one('Mul', [diff, diff]), e.ints([2])], { keepdims: 0 });
  // Hardest positive and negative per anchor; ArgMax/ArgMin take the first of equals, as the miner does.
  const pos = e.one('ArgMax', [e.one('Where', [POSITIVE_PAIRS, dist, e.double([-Infinity], [])])], {
    axis: 1,
    keepdims: 1,
  });
  const neg = e.one('ArgMin', [e.one('Where', [NEGATIVE_PAIRS, dist, e.double([Infinity], [])])], {
    axis: 1,
    keepdims: 1,
  });
  const dap = e.one('GatherElements', [dist, pos], { axis: 1 }); // [n, 1]
  const dan = e.one('GatherElements', [dist, neg], { axis: 1 });
  const any = (mask: string) => e.one('ReduceMax', [f64(mask)], { axes: [1], keepdims: 1 }); // opset 17: axes attribute;
  const valid = e.one('Mul', [any(POSITIVE_PAIRS), any(NEGATIVE_PAIRS)]); // 1: the anchor has a triplet
  const total = (t: string) => e.one('ReduceSum', [t], { keepdims: 0 });
  const triplets = total(valid);
  const hinge = e.one('Add', [e.one('Sub', [dap, dan]), e.double([spec.margin], [])]);
  const active = e.one('Mul', [valid, f64(e.one('Greater', [hinge, e.double([0], [])]))]);
  const activeCount = total(active);
  const one = e.double([1], []);
  const per = (count: string) => e.one('Div', [one, e.one('Max', [count, one])]);
  const g = per(spec.reduction === 'mean' ? triplets : activeCount);
  const loss = e.one('Mul', [total(e.one('Mul', [hinge, active])), g]);
  const meanOver = (t: string) => e.one('Mul', [total(e.one('Mul', [t, valid])), per(triplets)]);
  // W[a, j] = 2g (+1 at the positive, −1 at the negative) for active anchors; then
  // dL/dx = (rowsum W + colsum W) ⊙ x − (W + Wᵀ) x, the sum of squaredEuclidean.backward's pair terms.
  const columns = e.ints(
    Array.from({ length: n }, (_, j) => j),
    [1, n],
  );
  const oneHot = (idx: string) => f64(e.one('Equal', [idx, columns]));
  const coef = e.one('Mul', [active, e.one('Mul', [g, e.double([2], [])])]);
  const w = e.one('Mul', [e.one('Sub', [oneHot(pos), oneHot(neg)]), coef]);
  const wt = e.one('Transpose', [w], { perm: [1, 0] });
  const rowsum = (t: string) => e.one('ReduceSum', [t, e.ints([1])], { keepdims: 1 });
  const grad = e.one('Sub', [
    e.one('Mul', [e.one('Add', [rowsum(w), rowsum(wt)]), x]),
    e.one('MatMul', [e.one('Add', [w, wt]), x]),
  ]);
  const named = (t: string, name: string) =>
    e.nodes.forward.push({ op: 'Identity', inputs: [t], outputs: [name] });
  e.nodes.forward.push({ op: 'Cast', inputs: [grad], outputs: [gradient], attrs: { to: FLOAT } });
  named(loss, LOSS_OUTPUTS.loss);
  named(triplets, LOSS_OUTPUTS.triplets);
  named(activeCount, LOSS_OUTPUTS.activeTriplets);
  named(meanOver(dap), LOSS_OUTPUTS.meanPositiveDistance);
  named(meanOver(dan), LOSS_OUTPUTS.meanNegativeDistance);
  return {
    nodes: e.nodes.forward,
    initializers: e.constants,
    inputs: [POSITIVE_PAIRS, NEGATIVE_PAIRS].map((name) => ({ name, type: BOOL, dims: [n, n] })),
    outputs: Object.values(LOSS_OUTPUTS).map((name) => ({ name, type: DOUBLE, dims: [] })),
  };
}

/** The loss graph alone as a model (embedding in; loss, statistics and gradient out), for tests. */
export function tripletLossModel(n: number, dim: number, spec: InGraphTriplet): OnnxModel {
  const part = tripletLossGraph('embedding', 'gradient', n, spec);
  return {
    opset: 17,
    nodes: part.nodes,
    inputs: [{ name: 'embedding', type: FLOAT, dims: [n, dim] }, ...part.inputs],
    outputs: [{ name: 'gradient', type: FLOAT, dims: [n, dim] }, ...part.outputs],
    initializers: part.initializers,
  };
}

/** LossResult (without the gradient, which stays in the graph) from the graph's outputs. */
export function lossResult(values: Record<string, number>): Omit<LossResult, 'grad'> {
  return {
    loss: values[LOSS_OUTPUTS.loss],
    stats: {
      triplets: values[LOSS_OUTPUTS.triplets],
      activeTriplets: values[LOSS_OUTPUTS.activeTriplets],
      meanPositiveDistance: values[LOSS_OUTPUTS.meanPositiveDistance],
      meanNegativeDistance: values[LOSS_OUTPUTS.meanNegativeDistance],
    },
  };
}
