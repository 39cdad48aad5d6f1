/**
 * The training replica on onnxruntime's native kernels: the same contract as ShardTrainer (parameters in a
 * flat vector; forward, the loss gradient from `exchange`, backward into a flat gradient vector, batch-norm
 * statistics out) with the graphs of engine/onnx/training-graph.ts. One replica uses several cores through
 * onnxruntime's own threads, so there is no data parallelism and a single batch-norm group.
 */
import { VisageError } from '../errors.js';
import { createSession, loadOrt, type OrtSession, type OrtTensor } from '../engine/onnx/runtime.js';
import {
  buildTrainingGraphs,
  D_EMBEDDING,
  fuseStep,
  gradName,
  IMAGE,
  statName,
  storedShape,
  type TrainingGraphs,
} from '../engine/onnx/training-graph.js';
import {
  lossResult,
  NEGATIVE_PAIRS,
  pairMasks,
  POSITIVE_PAIRS,
  tripletLossGraph,
  type InGraphTriplet,
} from './losses/triplet-graph.js';
import type { LossResult } from './losses/types.js';
import { ParamLayout } from './params.js';
import { bnSlots, embeddingDim, type ShardSpec, type ShardStepResult, type ShardTimings } from './shard.js';

interface Compiled {
  graphs: TrainingGraphs;
  forward: OrtSession;
  backward: OrtSession;
}

export class OnnxShardTrainer {
  readonly layout: ParamLayout;
  readonly dim: number;
  readonly bn: ReturnType<typeof bnSlots>;
  private readonly spec: ShardSpec;
  private readonly threads: number;
  private readonly built = new Map<number, TrainingGraphs>();
  private readonly training = new Map<number, Promise<Compiled>>();
  private readonly inference = new Map<number, Promise<OrtSession>>();
  private readonly fused = new Map<string, Promise<OrtSession>>();
  private weights = new Map<string, OrtTensor>();
  private loaded = -1;
  private ort!: Awaited<ReturnType<typeof loadOrt>>;

  private constructor(spec: ShardSpec, threads: number) {
    this.spec = spec;
    this.threads = threads;
    this.layout = new ParamLayout(spec.entries);
    this.dim = embeddingDim(spec);
    this.bn = bnSlots(spec);
  }

  /** Checks that every op of the network has an onnxruntime training rule (throws E_BAD_OPTION if not). */
  static async create(spec: ShardSpec, threads: number): Promise<OnnxShardTrainer> {
    const t = new OnnxShardTrainer(spec, threads);
    t.ort = await loadOrt();
    t.graphs(1);
    return t;
  }

  /** The three graphs for batch size n, built once (training and inference sessions both need them). */
  private graphs(n: number): TrainingGraphs {
    let g = this.built.get(n);
    if (!g) {
      g = buildTrainingGraphs(this.spec.def, this.spec.input, this.spec.entries, n);
      this.built.set(n, g);
    }
    return g;
  }

  private compiled(n: number): Promise<Compiled> {
    let c = this.training.get(n);
    if (!c) {
      const graphs = this.graphs(n);
      c = Promise.all([
        createSession(graphs.forward, this.threads),
        createSession(graphs.backward, this.threads),
      ]).then(([forward, backward]) => ({ graphs, forward, backward }));
      this.training.set(n, c);
    }
    return c;
  }

  private inferenceSession(n: number): Promise<OrtSession> {
    let s = this.inference.get(n);
    if (!s) {
      s = createSession(this.graphs(n).inference, this.threads);
      this.inference.set(n, s);
    }
    return s;
  }

  /**
   * Take the parameters unless `version` says they are already loaded. Copies, not views of `params`:
   * onnxruntime may compute in place into an input's buffer (training-mode BatchNormalization writes its
   * running statistics over the moving-statistics input in the fused step graph).
   */
  load(params: Float32Array, version: number): number {
    if (version === this.loaded) return 0;
    const t0 = performance.now();
    const w = new Map<string, OrtTensor>();
    for (const e of this.layout.entries)
      w.set(
        e.name,
        new this.ort.Tensor('float32', params.slice(e.offset, e.offset + e.size), storedShape(e)),
      );
    this.weights = w;
    this.loaded = version;
    return performance.now() - t0;
  }

  private feeds(session: OrtSession, extra: Record<string, OrtTensor>): Record<string, OrtTensor> {
    const f: Record<string, OrtTensor> = {};
    for (const name of session.inputNames) {
      const t = extra[name] ?? this.weights.get(name);
      if (!t) throw new VisageError('E_INTERNAL', `no value for onnx input ${name}`);
      f[name] = t;
    }
    return f;
  }

  private images(images: Float32Array, from: number, n: number): OrtTensor {
    const [h, w, c] = this.spec.input;
    const per = h * w * c;
    if (images.length < (from + n) * per)
      throw new VisageError('E_BAD_INPUT', `expected ${n} images of ${h}×${w}×${c} floats`);
    return new this.ort.Tensor('float32', images.slice(from * per, (from + n) * per), [n, h, w, c]);
  }

  /** Inference-mode embeddings (moving batch-norm statistics), n × dim, in chunks of 64 images. */
  async embed(images: Float32Array, n: number): Promise<Float32Array> {
    const out = new Float32Array(n * this.dim);
    for (let from = 0; from < n; from += 64) {
      const m = Math.min(64, n - from);
      const s = await this.inferenceSession(m);
      const r = await s.run(this.feeds(s, { [IMAGE]: this.images(images, from, m) }));
      out.set(r[s.outputNames[0]].data as Float32Array, from * this.dim);
    }
    return out;
  }

  /**
   * Forward (batch statistics), loss gradient from `exchange`, backward: `grad` is overwritten. `groups`
   * is ShardTrainer's batch-norm grouping; this replica normalises the batch as one group only.
   */
  async step(
    images: Float32Array,
    n: number,
    exchange: (emb: Float32Array) => Float32Array,
    grad: Float32Array,
    groups = 1,
  ): Promise<ShardStepResult> {
    if (groups !== 1)
      throw new VisageError('E_INTERNAL', `the onnxruntime replica normalises one group, not ${groups}`);
    const timings: ShardTimings = { loadMs: 0, forwardMs: 0, exchangeMs: 0, backwardMs: 0, readMs: 0 };
    const c = await this.compiled(n);
    let t = performance.now();
    const batch = this.images(images, 0, n);
    const fwd = await c.forward.run(this.feeds(c.forward, { [IMAGE]: batch }));
    const emb = fwd[c.graphs.embedding].data as Float32Array;
    timings.forwardMs = performance.now() - t;
    t = performance.now();
    const upstream = exchange(emb);
    if (upstream.length !== emb.length)
      throw new VisageError(
        'E_INTERNAL',
        `loss gradient has ${upstream.length} values, expected ${emb.length}`,
      );
    timings.exchangeMs = performance.now() - t;
    t = performance.now();
    const extra: Record<string, OrtTensor> = {
      [D_EMBEDDING]: new this.ort.Tensor('float32', upstream, [n, this.dim]),
    };
    for (const s of c.graphs.saved) extra[s] = fwd[s];
    if (c.backward.inputNames.includes(IMAGE)) extra[IMAGE] = batch;
    const bwd = await c.backward.run(this.feeds(c.backward, extra));
    timings.backwardMs = performance.now() - t;
    t = performance.now();
    this.readGradients(bwd, grad);
    const bnStats = this.readBatchStats(fwd);
    timings.readMs = performance.now() - t;
    return { bnStats, groupSizes: [n], timings };
  }

  /** Copies each trainable parameter's gradient output into its slot of the flat gradient vector. */
  private readGradients(out: Record<string, OrtTensor>, grad: Float32Array): void {
    for (const e of this.layout.entries) {
      if (!e.trainable) continue;
      grad.set(out[gradName(e.name)].data as Float32Array, e.offset);
    }
  }

  /** The batch-norm layers' batch means and variances, packed as the trainer's moving averages expect. */
  private readBatchStats(out: Record<string, OrtTensor>): Float32Array {
    const bnStats = new Float32Array(this.bn.size);
    for (const slot of this.bn.slots) {
      bnStats.set(out[statName(slot.node, 'mean')].data as Float32Array, slot.offset);
      bnStats.set(out[statName(slot.node, 'variance')].data as Float32Array, slot.offset + slot.channels);
    }
    return bnStats;
  }

  private fusedSession(n: number, spec: InGraphTriplet): Promise<OrtSession> {
    const key = `${n}:${spec.margin}:${spec.reduction}`;
    let s = this.fused.get(key);
    if (!s) {
      const g = this.graphs(n);
      s = createSession(fuseStep(g, tripletLossGraph(g.embedding, D_EMBEDDING, n, spec)), this.threads);
      this.fused.set(key, s);
    }
    return s;
  }

  /**
   * The whole step in one session with the triplet loss in-graph (losses/triplet-graph.ts): the same
   * contract as step() with TripletMarginLoss as the exchange, but no activation leaves onnxruntime.
   */
  async stepWithLoss(
    images: Float32Array,
    labels: ArrayLike<number>,
    spec: InGraphTriplet,
    grad: Float32Array,
  ): Promise<ShardStepResult & { loss: Omit<LossResult, 'grad'> }> {
    const n = labels.length;
    const timings: ShardTimings = { loadMs: 0, forwardMs: 0, exchangeMs: 0, backwardMs: 0, readMs: 0 };
    const s = await this.fusedSession(n, spec);
    let t = performance.now();
    const masks = pairMasks(labels);
    const r = await s.run(
      this.feeds(s, {
        [IMAGE]: this.images(images, 0, n),
        [POSITIVE_PAIRS]: new this.ort.Tensor('bool', masks.positives, [n, n]),
        [NEGATIVE_PAIRS]: new this.ort.Tensor('bool', masks.negatives, [n, n]),
      }),
    );
    // One run: forward, loss and backward are not told apart (all of it counts as backward).
    timings.backwardMs = performance.now() - t;
    t = performance.now();
    this.readGradients(r, grad);
    const bnStats = this.readBatchStats(r);
    const values: Record<string, number> = {};
    for (const name of s.outputNames)
      if (name.startsWith('loss:')) values[name] = (r[name].data as Float64Array)[0];
    timings.readMs = performance.now() - t;
    return { bnStats, groupSizes: [n], timings, loss: lossResult(values) };
  }

  async dispose(): Promise<void> {
    const all = [
      ...[...this.training.values()].flatMap(async (c) => {
        const x = await c;
        await Promise.all([x.forward.release(), x.backward.release()]);
      }),
      ...[...this.inference.values(), ...this.fused.values()].map(async (s) => (await s).release()),
    ];
    this.training.clear();
    this.inference.clear();
    this.fused.clear();
    await Promise.allSettled(all);
  }
}
