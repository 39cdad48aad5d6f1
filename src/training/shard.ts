import * as tf from '@tensorflow/tfjs-core';
import { VisageError } from '../errors.js';
import { inferShapes, TfjsNetwork, type NetworkDef, type WeightMap } from '../engine/graph/index.js';
import { registerBatchNormGradient } from '../engine/gradients/fused-batch-norm.js';
import { ParamLayout, type ParamEntry } from './params.js';

/** What a shard needs to rebuild the network anywhere (plain data: it is posted to workers). */
export interface ShardSpec {
  def: NetworkDef;
  input: [number, number, number];
  entries: ParamEntry[];
}

/** Batch-norm layers whose batch statistics a training step reports, in graph order. */
export interface BnSlot {
  node: string;
  channels: number;
  /** Offset of [mean…, variance…] in a statistics vector. */
  offset: number;
  momentum: number;
}

export function bnSlots(spec: ShardSpec): { slots: BnSlot[]; size: number } {
  const layout = new ParamLayout(spec.entries);
  const slots: BnSlot[] = [];
  let offset = 0;
  for (const n of spec.def.nodes) {
    if (n.op !== 'batchNorm' || !layout.get(`${n.name}/mean`)) continue;
    const channels = layout.get(`${n.name}/mean`)!.size;
    slots.push({ node: n.name, channels, offset, momentum: n.momentum ?? 0.99 });
    offset += 2 * channels;
  }
  return { slots, size: offset };
}

export function embeddingDim(spec: ShardSpec): number {
  const s = inferShapes(spec.def, spec.input).get(spec.def.outputs[0])!;
  if (s.length !== 1)
    throw new VisageError('E_BAD_MODEL', `${spec.def.name}: output ${spec.def.outputs[0]} is not a vector`);
  return s[0];
}

/** Copy a float32 tensor's values into `into` at `offset`: straight from the wasm heap when possible. */
function copyOut(t: tf.Tensor, into: Float32Array, offset: number): void {
  const heap = (tf.backend() as unknown as { typedArrayFromHeap?: (t: tf.TensorInfo) => Float32Array })
    .typedArrayFromHeap;
  if (tf.getBackend() === 'wasm' && heap) into.set(heap.call(tf.backend(), t), offset);
  else into.set(t.dataSync() as Float32Array, offset);
}

/** Sizes of `groups` near-equal consecutive parts of n (the first ones get the remainder). */
export function splitSizes(n: number, groups: number): number[] {
  const base = Math.floor(n / groups);
  return Array.from({ length: groups }, (_, g) => base + (g < n % groups ? 1 : 0)).filter((s) => s > 0);
}

export interface ShardTimings {
  /** Copying parameters into the engine. */
  loadMs: number;
  forwardMs: number;
  /** Waiting for the loss gradient (includes the other shards' forward passes in data-parallel mode). */
  exchangeMs: number;
  backwardMs: number;
  /** Reading gradients out of the engine. */
  readMs: number;
}

export interface ShardStepResult {
  /** groupSizes.length × statistics vectors (see bnSlots), one per batch-norm group. */
  bnStats: Float32Array;
  groupSizes: number[];
  timings: ShardTimings;
}

/**
 * One replica of the network being trained: loads parameters from a flat vector, runs forward and backward
 * over its images and writes the weight gradients into a flat vector. The loss is not computed here: the
 * forward's embeddings go out through `exchange`, which returns dLoss/dEmbeddings, so the loss can see
 * the whole batch while replicas see only their shard. The exchange happens inside the gradient tape, so
 * the forward pass is not recomputed for the backward pass.
 */
export class ShardTrainer {
  readonly net: TfjsNetwork;
  readonly layout: ParamLayout;
  readonly dim: number;
  /** Floats per input image (h·w·c). */
  readonly inputSize: number;
  readonly bn: { slots: BnSlot[]; size: number };
  private readonly spec: ShardSpec;
  private readonly trainable: Array<{ e: ParamEntry; v: tf.Variable }> = [];
  private readonly all: Array<{ e: ParamEntry; v: tf.Variable }> = [];
  private loaded = -1;

  constructor(spec: ShardSpec, params: Float32Array) {
    registerBatchNormGradient();
    this.spec = spec;
    this.layout = new ParamLayout(spec.entries);
    if (params.length !== this.layout.totalSize)
      throw new VisageError(
        'E_INTERNAL',
        `${params.length} parameters for a layout of ${this.layout.totalSize}`,
      );
    const weights: WeightMap = new Map();
    for (const e of this.layout.entries)
      weights.set(e.name, { shape: e.shape, data: params.slice(e.offset, e.offset + e.size) });
    this.net = new TfjsNetwork(spec.def, weights, { trainable: true });
    for (const e of this.layout.entries) {
      const v = this.net.variables.get(e.name)!;
      this.all.push({ e, v });
      if (e.trainable) this.trainable.push({ e, v });
    }
    this.dim = embeddingDim(spec);
    this.inputSize = spec.input[0] * spec.input[1] * spec.input[2];
    this.bn = bnSlots(spec);
  }

  /** Copy parameters into the engine unless `version` says they are already there. */
  load(params: Float32Array, version: number): number {
    if (version === this.loaded) return 0;
    const t0 = performance.now();
    // The cpu backend keeps a reference to the array it is given; wasm copies into its heap anyway.
    const copy = tf.getBackend() === 'cpu';
    for (const { e, v } of this.all) {
      const view = params.subarray(e.offset, e.offset + e.size);
      const t = tf.tensor(copy ? view.slice() : view, e.shape, 'float32');
      v.assign(t);
      t.dispose();
    }
    this.loaded = version;
    return performance.now() - t0;
  }

  private batch(images: Float32Array, from: number, count: number): tf.Tensor4D {
    const [h, w, c] = this.spec.input;
    const per = h * w * c;
    if (images.length < (from + count) * per)
      throw new VisageError('E_BAD_INPUT', `expected ${count} images of ${h}×${w}×${c} floats`);
    return tf.tensor4d(images.subarray(from * per, (from + count) * per), [count, h, w, c]);
  }

  /** Inference-mode embeddings (moving batch-norm statistics), n × dim. */
  embed(images: Float32Array, n: number): Float32Array {
    const x = this.batch(images, 0, n);
    const e = tf.tidy(() => this.net.forward(x)[this.spec.def.outputs[0]]);
    try {
      return e.dataSync() as Float32Array;
    } finally {
      tf.dispose([x, e]);
    }
  }

  /**
   * Forward in training mode over n images split into `groups` batch-norm groups (each normalised with
   * its own statistics, like one replica in data-parallel training), then backward with the upstream
   * gradient `exchange` returns, accumulating nothing: `grad` (trainableSize floats) is overwritten.
   */
  step(
    images: Float32Array,
    n: number,
    exchange: (emb: Float32Array) => Float32Array,
    grad: Float32Array,
    groups = 1,
  ): ShardStepResult {
    const sizes = splitSizes(n, groups);
    const out = this.spec.def.outputs[0];
    const slotOf = new Map(this.bn.slots.map((s) => [s.node, s]));
    const bnStats = new Float32Array(sizes.length * this.bn.size);
    const timings: ShardTimings = { loadMs: 0, forwardMs: 0, exchangeMs: 0, backwardMs: 0, readMs: 0 };
    const xs: tf.Tensor4D[] = [];
    let from = 0;
    for (const s of sizes) {
      xs.push(this.batch(images, from, s));
      from += s;
    }
    let t = performance.now();
    let tBack = 0;
    try {
      const { value, grads } = tf.variableGrads(
        () => {
          const embs = xs.map(
            (x, g) =>
              this.net.forward(x, {
                training: true,
                // tfjs' fused conv gradient computes every derivative eagerly, including the first
                // layer's input gradient that nothing needs; plain ops compute only what the tape asks.
                unfused: true,
                onBatchStats: (node, mean, variance) => {
                  const slot = slotOf.get(node);
                  if (!slot) return;
                  const base = g * this.bn.size + slot.offset;
                  bnStats.set(mean.dataSync(), base);
                  bnStats.set(variance.dataSync(), base + slot.channels);
                },
              })[out],
          );
          const emb = embs.length === 1 ? embs[0] : tf.concat(embs, 0);
          const values = emb.dataSync() as Float32Array;
          const t1 = performance.now();
          timings.forwardMs = t1 - t;
          const upstream = exchange(values);
          if (upstream.length !== values.length)
            throw new VisageError(
              'E_INTERNAL',
              `loss gradient has ${upstream.length} values, expected ${values.length}`,
            );
          tBack = performance.now();
          timings.exchangeMs = tBack - t1;
          return tf.sum(tf.mul(emb, tf.tensor(upstream, emb.shape, 'float32'))) as tf.Scalar;
        },
        this.trainable.map((p) => p.v),
      );
      t = performance.now();
      timings.backwardMs = t - tBack;
      value.dispose();
      for (const { e, v } of this.trainable) {
        const g = grads[v.name];
        if (g) {
          copyOut(g, grad, e.offset);
          g.dispose();
        } else grad.fill(0, e.offset, e.offset + e.size);
      }
      timings.readMs = performance.now() - t;
    } finally {
      tf.dispose(xs);
    }
    return { bnStats, groupSizes: sizes, timings };
  }

  dispose(): void {
    this.net.dispose();
  }
}
