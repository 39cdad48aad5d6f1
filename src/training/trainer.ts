/**
 * `visage train`: an embedding network trained on a folder of identity folders with a triplet (or binary
 * pair) loss over PK batches, validated each epoch on held-out identities, checkpointed each epoch (and on
 * interruption) so that a resumed run replays exactly what the uninterrupted one would have done, and saved
 * at the end in the Visage model format that `visage verify/identify/eval --model` load.
 *
 * Exact resumption rests on every random choice being a pure function of the seed and a position (split,
 * PK batches, augmentation, random miner calls, pair draws): a checkpoint holds the weights, the optimiser
 * buffers and step count, the sampler position, the loss's own state and the running sums of the epoch.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { envThreads } from '../config.js';
import { VisageError } from '../errors.js';
import {
  initWeights,
  loadModel,
  saveModel,
  type GraphNode,
  type NetworkDef,
  type WeightMap,
} from '../engine/graph/index.js';
import { flipAverage } from '../faces/compare.js';
import type { RgbImage } from '../image/index.js';
import { findCheckpoint, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import {
  buildBatch,
  FaceImageSource,
  gatherInput,
  mirrorImages,
  PIXEL_OFFSET,
  PIXEL_SCALE,
  PKSampler,
  augmentSpec,
  resolveAugment,
  scanIdentityFolders,
  splitByIdentity,
  type AlignFn,
  type AugmentOptions,
  type FitMode,
  type PKSamplerState,
} from './data/index.js';
import { planFreeze } from './freeze.js';
import {
  BinaryPairLoss,
  PROXY_SOFTMAX_DEFAULTS,
  ProxySoftmaxLoss,
  TripletMarginLoss,
  WeightedSumLoss,
  type BinaryPairLossState,
  type EmbeddingLoss,
  type ProxySoftmaxState,
} from './losses/index.js';
import { MINING_NAMES, tripletOptionsFor, type RandomMiner } from './miners/index.js';
import { DLIB_MODEL_NAME, dlibTrainingNetwork } from './nets/dlib.js';
import { smallCnn } from './nets/small-cnn.js';
import { Adam, ParameterAverage, Sgd, type Optimizer } from './optim/index.js';
import type { OptimizerState, StatefulOptimizer } from './optim/state.js';
import type { ParamLayout } from './params.js';
import {
  writeTrainingReport,
  type DistanceSamples,
  type EpochRecord,
  type HeldOutIdentity,
} from './report/index.js';
import { TrainingStep, type TrainingEngine } from './step.js';
import { validationMetrics, type ValidationResult } from './validate.js';

export type EncoderKind = 'small-cnn' | 'finetune';
export type LossKind = 'triplet' | 'binary';
export type ScheduleKind = 'constant' | 'cosine' | 'step';

/** Everything that shapes the run (what a checkpoint stores and --resume must not change). */
export interface TrainSettings {
  /** Folder of identity folders. */
  data: string;
  /** Validation identities: a count (seeded choice; −1 = 20 % of them) or their folder names. */
  valIdentities: number | string[];
  /** Detect and align faces (FacePipeline); false = pre-cropped sets, fitted (`fit`) + resize. */
  detect: boolean;
  /** Whole images of another aspect ratio (no-detect, or no face found): crop the centre or edge-pad. */
  fit: FitMode;
  encoder: EncoderKind;
  /** finetune: the Visage model folder to start from, or 'dlib' (DLIB_MODEL_NAME) for the built-in encoder. */
  model: string | null;
  /** finetune: leading weight blocks kept fixed (see weightBlocks; dlib: stem + residual blocks). */
  freeze: number;
  /** Square training size in pixels and channels (small-cnn; a fine-tuned model fixes its own). */
  size: number;
  channels: 1 | 3;
  width: number;
  depth: number;
  dim: number;
  /** small-cnn: how the last feature map becomes the embedding ('avg' pooling or 'flatten'). */
  head: 'avg' | 'flatten';
  loss: LossKind;
  mining: string;
  margin: number;
  softMargin: boolean;
  /**
   * Validate with test-time flip augmentation (flipAverage: each image's and its mirror image's embedding
   * averaged, as `visage verify --flip`); the saved model then records `flip` for verify/identify to use.
   */
  valFlip: boolean;
  /** Weight of an identity-softmax term (ProxySoftmaxLoss) added to the triplet loss; 0 = none. */
  softmax: number;
  P: number;
  K: number;
  optimizer: 'adam' | 'sgd';
  lr: number;
  momentum: number;
  weightDecay: number;
  /** Decay of the parameters' exponential moving average that is validated and saved (ParameterAverage); 0 = none. */
  ema: number;
  schedule: ScheduleKind;
  /** step schedule: multiply the rate by `lrGamma` every `lrStep` epochs. */
  lrStep: number;
  lrGamma: number;
  /** Training-time augmentation: false = none, true = the defaults (DEFAULT_AUGMENT), or strengths that override them. */
  augment: boolean | AugmentOptions;
  epochs: number;
  /** Batches per epoch; 0 = enough for every training identity to appear once (PKSampler 'identities'). */
  batchesPerEpoch: number;
  seed: number;
  /** 0 = auto: 1 with tfjs, every core with onnxruntime (see stepThreads). */
  threads: number;
  /** Kernels the steps run on (see TrainingStep): tfjs (WebAssembly) or onnxruntime (native). */
  engine: TrainingEngine;
}

/** Options of `train`: any TrainSettings (the rest take TRAIN_DEFAULTS) plus `resume` to continue from `out`/checkpoint. */
export type TrainOptions = Partial<TrainSettings> & {
  data?: string;
  /** Output folder: checkpoint/, model/, report.html, history.json. */
  out: string;
  /** Continue from `<out>/checkpoint/`; given settings must equal the saved ones. */
  resume?: boolean;
};

/** One epoch of training: the loss and mining figures, and the held-out validation when it ran. */
export interface TrainEpoch extends EpochRecord {
  /** Learning rate of the epoch's last step. */
  lr: number;
  /** Optimiser steps so far. */
  steps: number;
  /** Binary loss: fraction of the epoch's pairs the head classified correctly. */
  pairAccuracy?: number;
}

/** Callbacks and the abort signal of a training run (progress, logs, one record per epoch). */
export interface TrainHooks {
  /** Stop at the next step boundary, save a checkpoint and return with `interrupted: true`. */
  signal?: AbortSignal;
  log?: (msg: string) => void;
  onLoad?: (done: number, total: number) => void;
  onStart?: (info: {
    totalSteps: number;
    doneSteps: number;
    batchesPerEpoch: number;
    resumed: boolean;
  }) => void;
  onStep?: (info: {
    epoch: number;
    batch: number;
    step: number;
    totalSteps: number;
    loss: number;
    lr: number;
  }) => void;
  onEpoch?: (record: TrainEpoch) => void;
}

export interface ValidationSummary {
  accuracy: number;
  threshold: number;
  auc: number;
  rank1: number;
}

/** What `train` made: the saved model, the held-out metrics before and after, the run's counts. */
export interface TrainResult {
  settings: TrainSettings;
  interrupted: boolean;
  /** Steps taken (all runs together). */
  steps: number;
  history: TrainEpoch[];
  /** Validation of the untrained (or pretrained) encoder, and the final one. */
  before: ValidationSummary | null;
  after: ValidationSummary | null;
  checkpoint: string;
  /** Set when training completed. */
  model?: string;
  modelId?: string;
  report?: string;
  /** Set when training completed with validation: each held-out identity's errors at the final threshold. */
  heldOut?: HeldOutIdentity[];
  trainIdentities: number;
  valIdentities: number;
  images: { train: number; val: number; fallbacks: number };
}

/** The defaults of every training setting (what `visage train --help` shows). */
export const TRAIN_DEFAULTS: Omit<TrainSettings, 'data'> = {
  valIdentities: -1,
  detect: true,
  fit: 'crop',
  encoder: 'small-cnn',
  model: null,
  freeze: 0,
  size: 64,
  channels: 1,
  width: 32,
  depth: 4,
  dim: 128,
  head: 'avg',
  loss: 'triplet',
  mining: 'hard',
  margin: 0.2,
  softMargin: false,
  softmax: 0,
  valFlip: false,
  P: 8,
  K: 4,
  optimizer: 'adam',
  lr: 1e-3,
  momentum: 0.9,
  weightDecay: 0,
  ema: 0,
  schedule: 'constant',
  lrStep: 0,
  lrGamma: 0.1,
  augment: true,
  epochs: 10,
  batchesPerEpoch: 0,
  seed: 0,
  threads: 0,
  engine: 'onnxruntime',
};

/** Checkpoint state.json body. */
interface TrainState {
  version: 1;
  settings: TrainSettings;
  sampler: PKSamplerState;
  history: TrainEpoch[];
  accum: EpochAccum;
  lossState: { randomMinerCalls?: number; binary?: BinaryPairLossState; softmax?: ProxySoftmaxState };
  before: ValidationSummary | null;
  histogramsBefore: DistanceSamples | null;
  /** Derived-seed scheme: every random stream is deriveSeed(seed, stream, position), so the seed is the RNG state. */
  rng: { seed: number };
  /** The network as trained (no input normalisation; a 0…255 fine-tuned model keeps its bridge). */
  trainingDef: NetworkDef;
  /** Nodes whose weights never change (the bridge, and --freeze blocks). */
  frozenNodes: string[];
  /** Of those, the ones that never train whatever --freeze says (saved as the model's meta.fixedNodes). */
  fixedNodes?: string[];
}

interface EpochAccum {
  batches: number;
  loss: number;
  triplets: number;
  active: number;
  dap: number;
  dan: number;
  pairs: number;
  pairCorrect: number;
  seconds: number;
}

const emptyAccum = (): EpochAccum => ({
  batches: 0,
  loss: 0,
  triplets: 0,
  active: 0,
  dap: 0,
  dan: 0,
  pairs: 0,
  pairCorrect: 0,
  seconds: 0,
});

/** The name of the input-normalisation node a saved model starts with (0…255 → TRAINING_NORMALIZATION). */
export const INPUT_NORM_NODE = 'input_norm';
/** Training bridge of a fine-tuned 0…255 model: normalised input back to 0…255 (never trained). */
const INPUT_DENORM_NODE = 'input_denorm';

const bad = (msg: string, details?: Record<string, unknown>) => new VisageError('E_BAD_OPTION', msg, details);

function checkInt(name: string, v: number, lo: number, hi = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(v) || v < lo || v > hi)
    throw bad(`--${name} must be an integer in ${lo}…${hi === Number.MAX_SAFE_INTEGER ? '∞' : hi}, got ${v}`);
}
function checkNum(name: string, v: number, ok: (v: number) => boolean, what: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
    throw bad(`--${name} must be ${what}, got ${v}`);
}

/**
 * Threads of the training step: as set, or for 0 ("auto") one with tfjs (more would be data-parallel, which
 * changes batch-norm's grouping and so the run) and every core with onnxruntime (its threads change
 * nothing but the speed).
 */
function stepThreads(s: TrainSettings): number {
  if (s.threads > 0) return s.threads;
  return s.engine === 'onnxruntime' ? envThreads() : 1;
}

/** Fills in defaults and checks every setting (E_BAD_OPTION). */
export function resolveSettings(opts: Partial<TrainSettings>): TrainSettings {
  const s: TrainSettings = { ...TRAIN_DEFAULTS, data: '', ...stripUndefined(opts) };
  if (!s.data) throw bad('--data <dir> (a folder of identity folders) is required');
  // Absolute, so that --resume from another working directory finds (and compares) the same folders.
  s.data = path.resolve(s.data);
  if (s.model && s.model !== DLIB_MODEL_NAME) s.model = path.resolve(s.model);
  if (!['small-cnn', 'finetune'].includes(s.encoder))
    throw bad(`--encoder must be small-cnn or finetune, got ${s.encoder}`);
  if (s.encoder === 'finetune' && !s.model)
    throw bad(`--encoder finetune needs --model <dir|${DLIB_MODEL_NAME}> to start from`);
  if (s.encoder !== 'finetune' && s.model) throw bad('--model is only used with --encoder finetune');
  checkInt('freeze', s.freeze, 0);
  if (s.freeze > 0 && s.encoder !== 'finetune') throw bad('--freeze only applies to --encoder finetune');
  checkInt('size', s.size, 16, 256);
  if (s.channels !== 1 && s.channels !== 3) throw bad(`--channels must be 1 or 3, got ${s.channels}`);
  checkInt('width', s.width, 1, 512);
  checkInt('depth', s.depth, 1, 6);
  checkInt('dim', s.dim, 2, 4096);
  if (s.fit !== 'crop' && s.fit !== 'pad') throw bad(`--fit must be crop or pad, got ${String(s.fit)}`);
  if (s.head !== 'avg' && s.head !== 'flatten')
    throw bad(`--head must be avg or flatten, got ${String(s.head)}`);
  if (s.loss !== 'triplet' && s.loss !== 'binary')
    throw bad(`--loss must be triplet or binary, got ${s.loss}`);
  if (!(MINING_NAMES as readonly string[]).includes(s.mining))
    throw bad(`--mining must be one of ${MINING_NAMES.join(', ')}, got ${s.mining}`);
  checkNum('margin', s.margin, (v) => v >= 0, 'a number ≥ 0');
  checkNum('softmax', s.softmax, (v) => v >= 0, 'a number ≥ 0');
  if (s.softmax > 0 && s.loss !== 'triplet') throw bad('--softmax adds to the triplet loss (--loss triplet)');
  checkInt('P', s.P, 2);
  checkInt('K', s.K, 2);
  if (s.optimizer !== 'adam' && s.optimizer !== 'sgd')
    throw bad(`--optimizer must be adam or sgd, got ${s.optimizer}`);
  checkNum('lr', s.lr, (v) => v > 0, 'a number > 0');
  checkNum('momentum', s.momentum, (v) => v >= 0 && v < 1, 'in [0, 1)');
  checkNum('weight-decay', s.weightDecay, (v) => v >= 0, 'a number ≥ 0');
  checkNum('ema', s.ema, (v) => v >= 0 && v < 1, 'in [0, 1) (0: no averaging)');
  if (!['constant', 'cosine', 'step'].includes(s.schedule))
    throw bad(`--schedule must be constant, cosine or step, got ${s.schedule}`);
  checkInt('lr-step', s.lrStep, 0);
  checkNum('lr-gamma', s.lrGamma, (v) => v > 0 && v <= 1, 'in (0, 1]');
  if (typeof s.augment === 'object') resolveAugment(s.augment);
  else if (typeof s.augment !== 'boolean') throw bad('augment must be true, false or augmentation strengths');
  checkInt('epochs', s.epochs, 1);
  checkInt('batches', s.batchesPerEpoch, 0);
  if (!Number.isSafeInteger(s.seed)) throw bad(`--seed must be an integer, got ${s.seed}`);
  checkInt('threads', s.threads, 0, 256);
  if (s.engine !== 'tfjs' && s.engine !== 'onnxruntime')
    throw bad(`--engine must be tfjs or onnxruntime, got ${String(s.engine)}`);
  const v = s.valIdentities;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < -1)
      throw bad(`--val-identities must be a count ≥ 0 or a list of names, got ${v}`);
  } else if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || !x))
    throw bad('--val-identities must be a count or a comma-separated list of identity names');
  return s;
}

/** The batch builder's augmentation option for a run's `augment` setting. */
function augmentOptions(a: TrainSettings['augment']): AugmentOptions | false {
  if (a === false) return false;
  return a === true ? {} : a;
}

/** The final validation's per-identity errors under the identities' folder names. */
function heldOutErrors(v: ValidationResult, names: readonly string[]): HeldOutIdentity[] {
  return v.perIdentity.map((e) => ({
    name: names[e.label],
    falseReject: e.falseReject,
    falseAccept: e.falseAccept,
  }));
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Learning rate of global step `step` (0-based). */
export function learningRate(
  s: TrainSettings,
  step: number,
  totalSteps: number,
  batchesPerEpoch: number,
): number {
  if (s.schedule === 'cosine') return 0.5 * s.lr * (1 + Math.cos((Math.PI * step) / totalSteps));
  if (s.schedule === 'step') {
    const every = s.lrStep > 0 ? s.lrStep : Math.max(1, Math.floor(s.epochs / 3));
    return s.lr * Math.pow(s.lrGamma, Math.floor(Math.floor(step / batchesPerEpoch) / every));
  }
  return s.lr;
}

function inputNode(def: NetworkDef): Extract<GraphNode, { op: 'input' }> {
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

function buildLoss(s: TrainSettings, classes: number): EmbeddingLoss {
  if (s.loss === 'binary') return new BinaryPairLoss({ seed: s.seed });
  const triplet = new TripletMarginLoss({
    margin: s.margin,
    softMargin: s.softMargin,
    ...tripletOptionsFor(s.mining, { seed: s.seed }),
  });
  if (s.softmax === 0) return triplet;
  return new WeightedSumLoss([
    { loss: triplet, weight: 1 },
    { loss: new ProxySoftmaxLoss({ classes, seed: s.seed }), weight: s.softmax },
  ]);
}

/** The triplet loss inside a plain or weighted-sum loss, and the softmax term when there is one. */
function lossParts(loss: EmbeddingLoss): { triplet?: TripletMarginLoss; softmax?: ProxySoftmaxLoss } {
  const parts = loss instanceof WeightedSumLoss ? loss.parts.map((p) => p.loss) : [loss];
  return {
    triplet: parts.find((l): l is TripletMarginLoss => l instanceof TripletMarginLoss),
    softmax: parts.find((l): l is ProxySoftmaxLoss => l instanceof ProxySoftmaxLoss),
  };
}

/** The checkpoint keeps the parameter average beside the optimiser's buffers (restore ignores names it lacks). */
const AVERAGE_BUFFER = 'parameterAverage';

function withAverage(st: OptimizerState, average: ParameterAverage | null): OptimizerState {
  return average ? { ...st, buffers: { ...st.buffers, [AVERAGE_BUFFER]: average.values } } : st;
}

/** Inference embeddings with the averaged parameters when there are any, the live ones otherwise. */
async function embedAveraged(
  step: TrainingStep,
  average: ParameterAverage | null,
  images: Float32Array,
  n: number,
): Promise<Float32Array> {
  if (!average) return step.embed(images, n);
  const live = step.params.slice();
  await step.loadParams(average.values);
  try {
    return await step.embed(images, n);
  } finally {
    await step.loadParams(live);
  }
}

function lossState(loss: EmbeddingLoss): TrainState['lossState'] {
  if (loss instanceof BinaryPairLoss) return { binary: loss.state() };
  const { triplet, softmax } = lossParts(loss);
  const miner = triplet?.miner as Partial<RandomMiner> | undefined;
  return {
    ...(typeof miner?.calls === 'number' ? { randomMinerCalls: miner.calls } : {}),
    ...(softmax ? { softmax: softmax.state() } : {}),
  };
}

function restoreLossState(loss: EmbeddingLoss, st: TrainState['lossState']): void {
  if (loss instanceof BinaryPairLoss) {
    if (st.binary) loss.restore(st.binary);
    return;
  }
  const { triplet, softmax } = lossParts(loss);
  const miner = triplet?.miner as Partial<RandomMiner> | undefined;
  if (miner && typeof miner.calls === 'number' && typeof st.randomMinerCalls === 'number')
    miner.calls = st.randomMinerCalls;
  if (softmax && st.softmax) softmax.restore(st.softmax);
}

/** The optimiser over the trainable parameters (frozen nodes are outside the layout's trainable prefix). */
function buildOptimizer(s: TrainSettings, layout: ParamLayout): Optimizer & StatefulOptimizer {
  const mask = layout.decayMask();
  return s.optimizer === 'sgd'
    ? new Sgd(layout.trainableSize, {
        lr: s.lr,
        momentum: s.momentum,
        weightDecay: s.weightDecay,
        decayMask: mask,
      })
    : new Adam(layout.trainableSize, { lr: s.lr, weightDecay: s.weightDecay, decayMask: mask });
}

/** Face alignment for detect mode: the largest detected face, aligned at the training size. */
async function detectAligner(size: number): Promise<{ align: AlignFn; close: () => Promise<void> }> {
  const { FacePipeline } = await import('../faces/pipeline.js');
  const { alignFace } = await import('../faces/align.js');
  const pipeline = new FacePipeline();
  const align: AlignFn = async (img: RgbImage) => {
    const faces = await pipeline.detect(img);
    if (faces.length === 0) return null;
    const face = faces.reduce((a, b) => (b.box.width * b.box.height > a.box.width * a.box.height ? b : a));
    return alignFace(img, face, { size }).chip;
  };
  return { align, close: () => pipeline.dispose() };
}

const summary = (v: ValidationResult | null): ValidationSummary | null =>
  v && { accuracy: v.accuracy, threshold: v.threshold, auc: v.auc, rank1: v.rank1 };

/** JSON turns NaN into null; bring those back as NaN so resumed histories compare equal. */
function revive(h: TrainEpoch[]): TrainEpoch[] {
  return h.map((e) => {
    const out = { ...e } as Record<string, unknown>;
    for (const k of ['activeFraction', 'meanDap', 'meanDan', 'loss']) if (out[k] === null) out[k] = NaN;
    return out as unknown as TrainEpoch;
  });
}

function settingsDiff(a: TrainSettings, b: TrainSettings): string[] {
  return (Object.keys(a) as (keyof TrainSettings)[]).filter(
    (k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]),
  );
}

/** Trains as `opts` say; see the module comment. Throws VisageError for bad options and data. */
export async function train(opts: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const log = hooks.log ?? (() => undefined);
  if (!opts.out) throw bad('--out <dir> is required');
  const out = path.resolve(opts.out);
  const cpDir = path.join(out, 'checkpoint');
  const { out: _o, resume, ...given } = opts;
  void _o;
  let saved: TrainState | undefined;
  let cp: ReturnType<typeof readCheckpoint<TrainState>> | undefined;
  if (resume) {
    if (!findCheckpoint(cpDir))
      throw new VisageError('E_FILE_NOT_FOUND', `nothing to resume: no checkpoint in ${cpDir}`, {
        path: cpDir,
      });
    cp = readCheckpoint<TrainState>(cpDir);
    saved = cp.state;
    if (saved.version !== 1)
      throw new VisageError('E_BAD_MODEL', `unsupported checkpoint version in ${cpDir}`);
    // Checkpoints from before the engine option were all made on tfjs.
    saved.settings.engine ??= 'tfjs';
    // …and from before parameter averaging, without it.
    saved.settings.ema ??= 0;
    // …and from before the fit and identity-softmax options, cropped and without it.
    saved.settings.fit ??= 'crop';
    saved.settings.softmax ??= 0;
    // …and from before validation with flip, without it.
    saved.settings.valFlip ??= false;
  } else if (findCheckpoint(cpDir)) {
    throw bad(`${out} already holds a training checkpoint: pass --resume to continue it, or another --out`);
  }
  const settings = saved
    ? resolveSettings({ ...saved.settings, ...stripUndefined(given) })
    : resolveSettings(given as Partial<TrainSettings>);
  if (saved) {
    const diff = settingsDiff(saved.settings, settings);
    if (diff.length)
      throw bad(`cannot resume with different settings (${diff.join(', ')}); the checkpoint's are kept`, {
        diff,
      });
  }
  const s = settings;

  // ---- data
  const dataset = scanIdentityFolders(s.data);
  const valCount =
    s.valIdentities === -1 ? Math.max(2, Math.round(dataset.identities.length * 0.2)) : s.valIdentities;
  const split = splitByIdentity(dataset, { valIdentities: valCount, seed: s.seed });

  // ---- network
  let def: NetworkDef;
  let weights: WeightMap;
  let frozenNodes: string[] = [];
  let fixedNodes: string[] = [];
  if (saved && cp) {
    def = saved.trainingDef;
    weights = cp.weights;
    frozenNodes = saved.frozenNodes;
    fixedNodes = saved.fixedNodes ?? [];
  } else if (s.encoder === 'finetune') {
    const ft = finetuneNetwork(s.model!);
    def = ft.def;
    weights = ft.weights;
    fixedNodes = ft.fixed;
    const plan = planFreeze(def, inputNode(def).shape as [number, number, number], s.freeze, ft.fixed);
    frozenNodes = plan.frozen;
    const names = (bs: { name: string }[]) => bs.map((b) => b.name).join(' ') || '(none)';
    log(
      `frozen blocks (${plan.frozenBlocks.length}): ${names(plan.frozenBlocks)}; fixed nodes: ${ft.fixed.join(' ') || '(none)'}`,
    );
    log(`trainable blocks (${plan.trainableBlocks.length}): ${names(plan.trainableBlocks)}`);
  } else {
    def = smallCnn({
      inputSize: s.size,
      channels: s.channels,
      width: s.width,
      depth: s.depth,
      embeddingDim: s.dim,
      head: s.head,
    });
    const inp = inputNode(def).shape as [number, number, number];
    weights = initWeights(def, inp, s.seed);
  }
  const [size, , channels] = inputNode(def).shape as [number, number, 1 | 3];

  let aligner: Awaited<ReturnType<typeof detectAligner>> | undefined;
  let step: TrainingStep | undefined;
  try {
    if (s.detect) aligner = await detectAligner(size);
    const total = split.train.identities
      .concat(split.val.identities)
      .reduce((n, id) => n + id.files.length, 0);
    let loaded = 0;
    const onProgress = () => hooks.onLoad?.(++loaded, total);
    const srcOpts = { size, channels, align: aligner?.align, fit: s.fit, onProgress };
    const train = await FaceImageSource.load(split.train.identities, srcOpts);
    const val = split.val.identities.length
      ? await FaceImageSource.load(split.val.identities, srcOpts)
      : null;
    const fallbacks = train.stats.fallbacks + (val?.stats.fallbacks ?? 0);
    if (s.detect)
      log(`faces aligned: ${total - fallbacks} of ${total} (no face found, centre crop used: ${fallbacks})`);
    await aligner?.close();
    aligner = undefined;

    const sampler = new PKSampler(split.train.identities, {
      P: s.P,
      K: s.K,
      seed: s.seed,
      epochLength: s.batchesPerEpoch > 0 ? s.batchesPerEpoch : 'identities',
    });
    const B = sampler.batchesPerEpoch;
    const totalSteps = s.epochs * B;

    const loss = buildLoss(s, split.train.identities.length);
    step = await TrainingStep.create({
      def,
      weights,
      input: [size, size, channels],
      loss,
      threads: stepThreads(s),
      engine: s.engine,
      frozen: frozenNodes,
      optimizer: (layout) => buildOptimizer(s, layout),
    });
    const optimizer = step.optimizer as Optimizer & StatefulOptimizer;
    const average = s.ema > 0 ? new ParameterAverage(s.ema, step.params) : null;

    const valInput = val
      ? gatherInput(
          val,
          Int32Array.from({ length: val.count }, (_, i) => i),
        )
      : null;
    const valMirrored =
      valInput && s.valFlip ? mirrorImages(valInput.images, val!.count, size, size, channels) : null;
    const validate = async (): Promise<ValidationResult | null> => {
      if (!valInput || !val) return null;
      let emb = await embedAveraged(step!, average, valInput.images, val.count);
      if (valMirrored) {
        const mirrored = await embedAveraged(step!, average, valMirrored, val.count);
        emb = flipAverage(emb, mirrored, step!.dim);
      }
      // A binary-loss model is judged by its pair head (what it was trained to answer).
      const head = loss instanceof BinaryPairLoss ? loss.head(step!.dim) : undefined;
      return validationMetrics(emb, valInput.labels, step!.dim, { head });
    };

    let history: TrainEpoch[] = [];
    let accum = emptyAccum();
    let before: ValidationSummary | null = null;
    let histogramsBefore: DistanceSamples | null = null;
    if (saved && cp) {
      optimizer.restore(cp.optimizer);
      average?.restore(cp.optimizer.buffers[AVERAGE_BUFFER]);
      sampler.restore(saved.sampler);
      restoreLossState(loss, saved.lossState);
      history = revive(saved.history);
      accum = saved.accum;
      before = saved.before;
      histogramsBefore = saved.histogramsBefore;
      log(
        `resuming at epoch ${sampler.epoch + 1}, batch ${sampler.batchInEpoch + 1} (step ${sampler.index})`,
      );
    } else {
      const v0 = await validate();
      before = summary(v0);
      histogramsBefore = v0 && { same: v0.same, different: v0.different };
      if (v0)
        log(
          `before training: pair accuracy ${(100 * v0.accuracy).toFixed(2)}%, AUC ${v0.auc.toFixed(4)}, rank-1 ${(100 * v0.rank1).toFixed(2)}%`,
        );
    }

    const checkpoint = () =>
      writeCheckpoint<TrainState>(cpDir, {
        def,
        weights: step!.weights(),
        optimizer: withAverage(optimizer.state(), average),
        state: {
          version: 1,
          settings: s,
          sampler: sampler.state(),
          history,
          accum,
          lossState: lossState(loss),
          before,
          histogramsBefore,
          rng: { seed: s.seed },
          trainingDef: def,
          frozenNodes,
          fixedNodes,
        },
      });

    hooks.onStart?.({ totalSteps, doneSteps: sampler.index, batchesPerEpoch: B, resumed: Boolean(saved) });
    let lastVal: ValidationResult | null = null;
    let interrupted = false;
    while (sampler.index < totalSteps) {
      // An in-process step never leaves the microtask queue: yield so that signals (Ctrl-C) get handled.
      await new Promise((resolve) => setImmediate(resolve));
      if (hooks.signal?.aborted) {
        interrupted = true;
        break;
      }
      const t0 = performance.now();
      const index = sampler.index;
      const lr = learningRate(s, index, totalSteps, B);
      optimizer.lr = lr;
      const batch = sampler.next();
      const input = buildBatch(train, batch, { augment: augmentOptions(s.augment), seed: s.seed });
      const r = await step.step(input.images, input.labels);
      average?.update(step.params, index);
      if (!Number.isFinite(r.loss))
        throw new VisageError(
          'E_INTERNAL',
          `the loss diverged (${r.loss}) at step ${index}: try a lower --lr`,
        );
      const st = r.stats;
      accum.batches++;
      accum.loss += r.loss;
      if (st.triplets !== undefined) {
        accum.triplets += st.triplets;
        accum.active += st.activeTriplets;
        accum.dap += st.meanPositiveDistance * st.triplets;
        accum.dan += st.meanNegativeDistance * st.triplets;
      }
      if (st.pairs !== undefined) {
        accum.pairs += st.pairs;
        accum.pairCorrect += st.pairAccuracy * st.pairs;
      }
      accum.seconds += (performance.now() - t0) / 1000;
      hooks.onStep?.({
        epoch: batch.epoch,
        batch: batch.batch,
        step: index + 1,
        totalSteps,
        loss: r.loss,
        lr,
      });
      if (batch.batch === B - 1) {
        const tv = performance.now();
        const v = await validate();
        lastVal = v;
        const rec: TrainEpoch = {
          epoch: batch.epoch + 1,
          loss: accum.loss / accum.batches,
          activeFraction: accum.triplets ? accum.active / accum.triplets : NaN,
          meanDap: accum.triplets ? accum.dap / accum.triplets : NaN,
          meanDan: accum.triplets ? accum.dan / accum.triplets : NaN,
          ...(accum.pairs ? { pairAccuracy: accum.pairCorrect / accum.pairs } : {}),
          valAccuracy: v?.accuracy ?? null,
          valThreshold: v?.threshold ?? null,
          valAuc: v?.auc ?? null,
          valRank1: v?.rank1 ?? null,
          seconds: accum.seconds + (performance.now() - tv) / 1000,
          lr,
          steps: index + 1,
        };
        history.push(rec);
        accum = emptyAccum();
        checkpoint();
        hooks.onEpoch?.(rec);
      }
    }

    const base = {
      settings: s,
      steps: sampler.index,
      history,
      before,
      checkpoint: cpDir,
      trainIdentities: split.train.identities.length,
      valIdentities: split.val.identities.length,
      images: { train: train.count, val: val?.count ?? 0, fallbacks },
    };
    if (interrupted) {
      checkpoint();
      log(`interrupted: checkpoint saved at step ${sampler.index} of ${totalSteps}; continue with --resume`);
      return { ...base, interrupted: true, after: summary(lastVal) };
    }

    // ---- final model and report
    lastVal ??= await validate();
    const last = history[history.length - 1];
    const trained = deployableModel(def, average ? step.layout.unpack(average.values) : step.weights());
    const hash = createHash('sha256');
    for (const w of trained.weights.values())
      hash.update(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
    const modelId = `${def.name}@${hash.digest('hex').slice(0, 12)}`;
    const modelDir = path.join(out, 'model');
    const hyper = hyperParameters(s, size, channels, B, split);
    saveModel(modelDir, {
      ...trained,
      meta: {
        id: modelId,
        embeddingOutput: def.outputs[0],
        threshold: last?.valThreshold ?? lastVal?.threshold ?? undefined,
        // The threshold was chosen on flip-averaged embeddings: verify/identify average them too.
        ...(s.valFlip ? { flip: true } : {}),
        inputSize: size,
        channels,
        normalization: 'visage-training',
        createdAt: new Date().toISOString(),
        validation: summary(lastVal),
        valIdentities: split.val.identities.map((id) => id.name),
        hyperParameters: hyper,
        ...(fixedNodes.length ? { fixedNodes } : {}),
        // The binary loss's logistic head, for scoring pairs as it was trained to (verification uses distances).
        ...(loss instanceof BinaryPairLoss ? { pairHead: headJson(loss) } : {}),
      },
    });
    const heldOut = lastVal && val ? heldOutErrors(lastVal, val.names) : null;
    const report = path.join(out, 'report.html');
    writeTrainingReport(report, {
      title: `Visage training report: ${def.name}`,
      hyperParameters: hyper,
      epochs: history,
      histogramsBefore: histogramsBefore ?? undefined,
      histogramsAfter: lastVal ? { same: lastVal.same, different: lastVal.different } : undefined,
      thresholdBefore: before?.threshold,
      heldOut: heldOut ?? undefined,
      notes: [
        `data ${s.data}: ${split.train.identities.length} training identities (${train.count} images), ${split.val.identities.length} validation identities (${val?.count ?? 0} images)`,
        `model ${modelId} saved to ${modelDir}`,
      ],
    });
    fs.writeFileSync(
      path.join(out, 'history.json'),
      JSON.stringify({ settings: s, before, history, heldOut }, null, 2),
    );
    return {
      ...base,
      interrupted: false,
      after: summary(lastVal),
      model: modelDir,
      modelId,
      report,
      ...(heldOut ? { heldOut } : {}),
    };
  } finally {
    await aligner?.close();
    await step?.close();
  }
}

function headJson(loss: BinaryPairLoss): Record<string, unknown> {
  const h = loss.head();
  return { features: h.features, w: Array.from(h.w), b: h.b, eps: h.eps };
}

function hyperParameters(
  s: TrainSettings,
  size: number,
  channels: number,
  batchesPerEpoch: number,
  split: ReturnType<typeof splitByIdentity>,
): Record<string, string | number | boolean> {
  const augment = augmentOptions(s.augment);
  return {
    encoder: s.encoder === 'finetune' ? `finetune ${s.model} (freeze ${s.freeze})` : 'small-cnn',
    'input size': `${size}×${size}×${channels}`,
    ...(s.encoder === 'small-cnn'
      ? { width: s.width, depth: s.depth, 'embedding dim': s.dim, head: s.head }
      : {}),
    loss: s.loss,
    ...(s.loss === 'triplet'
      ? {
          mining: s.mining,
          margin: s.margin,
          'soft margin': s.softMargin,
          'identity softmax':
            s.softmax > 0
              ? `weight ${s.softmax} (scale ${PROXY_SOFTMAX_DEFAULTS.scale}, margin ${PROXY_SOFTMAX_DEFAULTS.margin})`
              : 'none',
        }
      : {}),
    P: s.P,
    K: s.K,
    optimizer: s.optimizer,
    'learning rate': s.lr,
    ...(s.optimizer === 'sgd' ? { momentum: s.momentum } : {}),
    'weight decay': s.weightDecay,
    'weight averaging': s.ema > 0 ? `EMA, decay ${s.ema}` : 'none',
    schedule: s.schedule,
    augmentation: augment ? augmentSpec(resolveAugment(augment)) : 'none',
    epochs: s.epochs,
    'batches per epoch': batchesPerEpoch,
    seed: s.seed,
    threads: s.threads,
    engine: s.engine,
    detect: s.detect,
    fit: s.fit,
    'validation flip': s.valFlip,
    'train / val identities': `${split.train.identities.length} / ${split.val.identities.length}`,
  };
}
