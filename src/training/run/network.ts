/**
 * The network a run trains: a fresh small CNN, a saved model or the built-in dlib encoder to fine-tune
 * (with its frozen blocks), or the one in the checkpoint being resumed; and the deployable model a
 * finished run saves (input normalisation in front).
 */
import { VisageError } from '../../errors.js';
import {
  initWeights,
  loadModel,
  type GraphNode,
  type NetworkDef,
  type WeightMap,
} from '../../engine/graph/index.js';
import type { Checkpoint } from '../checkpoint.js';
import { PIXEL_OFFSET, PIXEL_SCALE } from '../data/index.js';
import { planFreeze } from '../freeze.js';
import { DLIB_MODEL_NAME, dlibTrainingNetwork } from '../nets/dlib.js';
import { smallCnn } from '../nets/small-cnn.js';
import type { TrainSettings } from './settings.js';
import type { TrainState } from './state.js';

/** The name of the input-normalisation node a saved model starts with (0…255 → TRAINING_NORMALIZATION). */
export const INPUT_NORM_NODE = 'input_norm';
/** Training bridge of a fine-tuned 0…255 model: normalised input back to 0…255 (never trained). */
const INPUT_DENORM_NODE = 'input_denorm';

export function inputNode(def: NetworkDef): Extract<GraphNode, { op: 'input' }> {
  const n = def.nodes.find((x) => x.op === 'input');
  if (n?.op !== 'input') throw new VisageError('E_BAD_MODEL', `${def.name} has no input node`);
  return n;
}

/** Inserts `node` (reading the input) right after the input node; every former reader of the input reads it. */
function afterInput(def: NetworkDef, node: GraphNode): NetworkDef {
  const input = inputNode(def).name;
  const rewire = (n: GraphNode): GraphNode => {
    if (n.op === 'input') return n;
    if (n.op === 'add' || n.op === 'concat')
      return { ...n, inputs: n.inputs.map((x) => (x === input ? node.name : x)) };
    return { ...n, input: n.input === input ? node.name : n.input } as GraphNode;
  };
  const nodes = def.nodes.map(rewire);
  const at = nodes.findIndex((n) => n.op === 'input');
  nodes.splice(at + 1, 0, node);
  return { ...def, nodes };
}

function affineWeights(name: string, channels: number, scale: number, offset: number): WeightMap {
  return new Map([
    [`${name}/scale`, { shape: [channels], data: new Float32Array(channels).fill(scale) }],
    [`${name}/offset`, { shape: [channels], data: new Float32Array(channels).fill(offset) }],
  ]);
}

/**
 * The deployable network: an input-normalisation affine (0…255 → (x/255 − 0.5)/0.5, exactly the training
 * pixels) in front of the training network, as GraphFaceEncoder expects.
 */
export function deployableModel(
  def: NetworkDef,
  weights: WeightMap,
): { def: NetworkDef; weights: WeightMap } {
  const c = inputNode(def).shape[2];
  const out = afterInput(def, { op: 'affine', name: INPUT_NORM_NODE, input: inputNode(def).name });
  return {
    def: out,
    weights: new Map([...affineWeights(INPUT_NORM_NODE, c, PIXEL_SCALE, PIXEL_OFFSET), ...weights]),
  };
}

/**
 * The training network of a saved model (its normalisation dropped, or bridged if it is not ours), or of
 * the built-in dlib encoder; `fixed` names the nodes that never train (bridge, input normalisation).
 */
function finetuneNetwork(dir: string): { def: NetworkDef; weights: WeightMap; fixed: string[] } {
  if (dir === DLIB_MODEL_NAME) return dlibTrainingNetwork();
  const m = loadModel(dir);
  // Nodes a previous fine-tuning kept fixed (e.g. dlib's normalisation) stay fixed.
  const kept = Array.isArray(m.meta.fixedNodes)
    ? m.meta.fixedNodes.filter(
        (n): n is string => typeof n === 'string' && m.def.nodes.some((x) => x.name === n),
      )
    : [];
  const inp = inputNode(m.def);
  const [h, w, c] = inp.shape;
  if (h === null || h !== w || (c !== 1 && c !== 3))
    throw new VisageError(
      'E_BAD_MODEL',
      `${dir}: a face encoder needs a fixed square input, got [${inp.shape}]`,
    );
  const output = typeof m.meta.embeddingOutput === 'string' ? m.meta.embeddingOutput : m.def.outputs[0];
  let def: NetworkDef = { ...m.def, outputs: [output] };
  const weights = new Map(m.weights);
  const norm = def.nodes.find((n) => n.name === INPUT_NORM_NODE);
  if (m.meta.normalization === 'visage-training' && norm?.op === 'affine' && norm.input === inp.name) {
    def = {
      ...def,
      nodes: def.nodes
        .filter((n) => n !== norm)
        .map((n) => {
          if (n.op === 'input') return n;
          if (n.op === 'add' || n.op === 'concat')
            return { ...n, inputs: n.inputs.map((x) => (x === INPUT_NORM_NODE ? inp.name : x)) };
          return { ...n, input: n.input === INPUT_NORM_NODE ? inp.name : n.input } as GraphNode;
        }),
    };
    weights.delete(`${INPUT_NORM_NODE}/scale`);
    weights.delete(`${INPUT_NORM_NODE}/offset`);
    return { def, weights, fixed: kept };
  }
  // A model reading 0…255 pixels: map the training pixels back (y = 127.5·x + 127.5), a frozen bridge.
  def = afterInput(def, { op: 'affine', name: INPUT_DENORM_NODE, input: inp.name });
  for (const [k, v] of affineWeights(INPUT_DENORM_NODE, c, 127.5, 127.5)) weights.set(k, v);
  return { def, weights, fixed: [INPUT_DENORM_NODE, ...kept] };
}

export interface RunNetwork {
  def: NetworkDef;
  weights: WeightMap;
  /** Nodes whose weights never change (the bridge, and --freeze blocks). */
  frozenNodes: string[];
  /** Of those, the ones that never train whatever --freeze says (saved as the model's meta.fixedNodes). */
  fixedNodes: string[];
  /** The training input: square size and channels. */
  size: number;
  channels: 1 | 3;
}

/** The network of a run: the resumed checkpoint's, or a new one as the settings say. */
export function runNetwork(
  s: TrainSettings,
  resumed: Checkpoint<TrainState> | undefined,
  log: (msg: string) => void,
): RunNetwork {
  const net = resumed
    ? {
        def: resumed.state.trainingDef,
        weights: resumed.weights,
        frozenNodes: resumed.state.frozenNodes,
        fixedNodes: resumed.state.fixedNodes,
      }
    : s.encoder === 'finetune'
      ? finetune(s, log)
      : smallCnnNetwork(s);
  const [size, , channels] = inputNode(net.def).shape as [number, number, 1 | 3];
  return { ...net, size, channels };
}

function finetune(s: TrainSettings, log: (msg: string) => void): Omit<RunNetwork, 'size' | 'channels'> {
  const ft = finetuneNetwork(s.model!);
  const plan = planFreeze(ft.def, inputNode(ft.def).shape as [number, number, number], s.freeze, ft.fixed);
  const names = (bs: { name: string }[]) => bs.map((b) => b.name).join(' ') || '(none)';
  log(
    `frozen blocks (${plan.frozenBlocks.length}): ${names(plan.frozenBlocks)}; fixed nodes: ${ft.fixed.join(' ') || '(none)'}`,
  );
  log(`trainable blocks (${plan.trainableBlocks.length}): ${names(plan.trainableBlocks)}`);
  return { def: ft.def, weights: ft.weights, frozenNodes: plan.frozen, fixedNodes: ft.fixed };
}

function smallCnnNetwork(s: TrainSettings): Omit<RunNetwork, 'size' | 'channels'> {
  const def = smallCnn({
    inputSize: s.size,
    channels: s.channels,
    width: s.width,
    depth: s.depth,
    embeddingDim: s.dim,
    head: s.head,
  });
  const inp = inputNode(def).shape as [number, number, number];
  return { def, weights: initWeights(def, inp, s.seed), frozenNodes: [], fixedNodes: [] };
}
