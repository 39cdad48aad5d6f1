import { randomUUID } from 'node:crypto';
import type { BackendName } from '../config.js';
import { envThreads } from '../config.js';
import { VisageError } from '../errors.js';
import { initEngine } from '../engine/backend.js';
import type { NetworkDef, WeightMap } from '../engine/graph/index.js';
import { sibling, WorkerPool, type TaskRef } from '../engine/pool/index.js';
import { TripletMarginLoss, type EmbeddingLoss } from './losses/index.js';
import { inGraphTriplet } from './losses/triplet-graph.js';
import { Adam, type Optimizer } from './optim/index.js';
import { OnnxShardTrainer } from './onnx-shard.js';
import { ParamLayout } from './params.js';
import { MAILBOX, type StepShardPayload } from './shard-tasks.js';
import {
  bnSlots,
  embeddingDim,
  ShardTrainer,
  splitSizes,
  type ShardSpec,
  type ShardStepResult,
  type ShardTimings,
} from './shard.js';

export interface TrainingStepOptions {
  def: NetworkDef;
  weights: WeightMap;
  /** [h, w, c] of the training images; default: the input node's shape (when fixed). */
  input?: [number, number, number];
  /** Default: batch-hard triplet loss, margin 0.2, squared Euclidean distance. */
  loss?: EmbeddingLoss;
  /** An optimiser over layout.trainableSize parameters, or a factory; default Adam, lr 1e-3. */
  optimizer?: Optimizer | ((layout: ParamLayout) => Optimizer);
  /**
   * Worker threads; default VISAGE_THREADS or every core. 1 trains in this thread; more splits each batch
   * into that many shards, one per worker (data parallelism).
   */
  threads?: number;
  /** Reuse this pool (its size sets `threads`) instead of starting one; it is not closed by close(). */
  pool?: WorkerPool;
  backend?: BackendName;
  /**
   * Batch-norm groups the batch is split into, each normalised with its own batch statistics. Data-parallel
   * training normalises each shard on its own (like multi-GPU training without SyncBN), so the default is
   * one group per shard; in-process the default is 1, and setting it to the shard count reproduces the
   * data-parallel maths exactly. Moving statistics are always those of the whole batch.
   */
  bnGroups?: number;
  /** Nodes whose weights stay constant (frozen blocks): not differentiated, not seen by the optimiser. */
  frozen?: readonly string[];
  /**
   * 'tfjs' (default): the tfjs engine, data-parallel over worker threads. 'onnxruntime': onnxruntime's
   * native kernels in this thread, `threads` of its own (one batch-norm group; no pool).
   */
  engine?: TrainingEngine;
  /**
   * onnxruntime engine: run the loss inside the step's graph when it can be (the default triplet loss:
   * batch-hard mining, squared Euclidean distance, hinge), so that forward, loss and backward are one
   * session. Default true; false keeps the loss in JavaScript between two sessions (its reference).
   */
  lossInGraph?: boolean;
}

export type TrainingEngine = 'tfjs' | 'onnxruntime';

export interface StepTimings {
  totalMs: number;
  /**
   * CPU time of the whole process (every thread) during the step: the work done, which unlike wall time
   * does not grow when other processes compete for the cores.
   */
  cpuMs: number;
  /** Until every shard's embeddings are known. */
  forwardMs: number;
  lossMs: number;
  /** From sending the loss gradient until every shard's weight gradients are written. */
  backwardMs: number;
  /** Optimiser update (summing the shards' gradients on the way) and moving statistics. */
  optimizerMs: number;
  /** Each shard's own account (parameter upload, forward, wait, backward, gradient read-out). */
  shards: ShardTimings[];
}

export interface StepResult {
  loss: number;
  stats: Record<string, number>;
  timings: StepTimings;
}

const shardTask = (fn: string): TaskRef => ({ module: sibling(import.meta.url, './shard-tasks'), fn });

function inputOf(def: NetworkDef): [number, number, number] {
  const n = def.nodes.find((x) => x.op === 'input');
  if (n?.op === 'input' && n.shape[0] !== null && n.shape[1] !== null)
    return [n.shape[0], n.shape[1], n.shape[2]];
  throw new VisageError('E_BAD_OPTION', `${def.name} has no fixed input size: pass options.input`);
}

/**
 * Steps on one pool run one at a time: a shard blocks its worker until the loss gradient comes back, so
 * two interleaved steps could each hold a worker the other needs.
 */
const poolQueues = new WeakMap<WorkerPool, Promise<unknown>>();
function onPoolInTurn<T>(pool: WorkerPool, f: () => Promise<T>): Promise<T> {
  const prev = poolQueues.get(pool) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(f);
  poolQueues.set(pool, next);
  return next;
}

function waitAsync(ctrl: Int32Array, i: number, from: number): Promise<void> {
  type WaitAsync = (
    a: Int32Array,
    i: number,
    v: number,
  ) => { async: boolean; value: Promise<string> | string };
  const wait = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
  return (async () => {
    while (Atomics.load(ctrl, i) === from) {
      const r = wait(ctrl, i, from);
      if (r.async) await r.value;
    }
  })();
}

/**
 * One training step (forward, loss, backward to every weight, optimiser update) of an embedding network,
 * in this thread or data-parallel over a worker pool, with the same maths either way. The parameters
 * live in one flat Float32Array (`params`: trainable weights, then batch-norm moving statistics) that the
 * optimiser updates in place; in data-parallel mode it is shared memory that workers copy from.
 */
export class TrainingStep {
  readonly layout: ParamLayout;
  readonly params: Float32Array;
  readonly optimizer: Optimizer;
  readonly loss: EmbeddingLoss;
  readonly threads: number;
  readonly engine: TrainingEngine;
  readonly bnGroups: number;
  readonly lossInGraph: boolean;
  readonly spec: ShardSpec;
  /** Embedding size (the network's output). */
  readonly dim: number;
  private readonly bn: ReturnType<typeof bnSlots>;
  /** Bumped whenever `params` changes, so that replicas know to reload them. */
  private version = 0;
  private busy = false;
  // in-process
  private local: ShardTrainer | undefined;
  private onnx: OnnxShardTrainer | undefined;
  private grad: Float32Array;
  // data-parallel
  private pool: WorkerPool | undefined;
  private ownsPool = false;
  private session = randomUUID();
  private shared:
    | {
        images: SharedArrayBuffer;
        ctrl: SharedArrayBuffer;
        emb: SharedArrayBuffer;
        dEmb: SharedArrayBuffer;
        grads: SharedArrayBuffer[];
      }
    | undefined;

  private constructor(opts: TrainingStepOptions, threads: number) {
    const input = opts.input ?? inputOf(opts.def);
    const engine = opts.engine ?? 'tfjs';
    this.layout = ParamLayout.of(opts.def, input, opts.frozen, {
      convKernels: engine === 'onnxruntime' ? 'oihw' : 'hwio',
    });
    this.spec = { def: opts.def, input, entries: this.layout.entries };
    this.dim = embeddingDim(this.spec);
    this.bn = bnSlots(this.spec);
    this.threads = threads;
    this.engine = engine;
    // Workers (shared memory, one batch-norm group each) only for the tfjs engine on several threads.
    const pooled = this.engine === 'tfjs' && threads > 1;
    this.bnGroups = opts.bnGroups ?? (pooled ? threads : 1);
    if (this.engine === 'onnxruntime' && this.bnGroups !== 1)
      throw new VisageError(
        'E_BAD_OPTION',
        'the onnxruntime engine normalises the batch as one group (bnGroups 1)',
      );
    if (!Number.isInteger(this.bnGroups) || this.bnGroups < 1 || this.bnGroups % (pooled ? threads : 1) !== 0)
      throw new VisageError('E_BAD_OPTION', `bnGroups must be a positive multiple of threads (${threads})`);
    const total = this.layout.totalSize * 4;
    this.params = this.layout.pack(
      opts.weights,
      new Float32Array(pooled ? new SharedArrayBuffer(total) : new ArrayBuffer(total)),
    );
    this.grad = new Float32Array(pooled ? 0 : this.layout.trainableSize);
    this.loss = opts.loss ?? new TripletMarginLoss();
    this.lossInGraph = opts.lossInGraph ?? true;
    const o = opts.optimizer ?? ((l: ParamLayout) => new Adam(l.trainableSize));
    this.optimizer = typeof o === 'function' ? o(this.layout) : o;
  }

  static async create(opts: TrainingStepOptions): Promise<TrainingStep> {
    const threads = opts.pool?.size ?? opts.threads ?? envThreads();
    const step = new TrainingStep(opts, threads);
    if (step.engine === 'onnxruntime') {
      if (opts.pool)
        throw new VisageError('E_BAD_OPTION', 'the onnxruntime engine does not use a worker pool');
      // Validation and checkpoints still go through tfjs-free code; the loss runs in plain JS.
      step.onnx = await OnnxShardTrainer.create(step.spec, threads);
      return step;
    }
    if (threads === 1) {
      await initEngine(opts.backend);
      step.local = new ShardTrainer(step.spec, step.params);
      return step;
    }
    step.pool = opts.pool ?? new WorkerPool({ threads, backend: opts.backend, inProcess: false });
    step.ownsPool = !opts.pool;
    try {
      await step.pool.runEach(
        shardTask('openShard'),
        Array.from({ length: threads }, () => ({
          session: step.session,
          spec: step.spec,
          params: step.params.buffer,
        })),
      );
    } catch (e) {
      await step.close();
      throw e;
    }
    return step;
  }

  get mode(): 'in-process' | 'data-parallel' | 'onnxruntime' {
    if (this.onnx) return 'onnxruntime';
    return this.threads === 1 ? 'in-process' : 'data-parallel';
  }

  get steps(): number {
    return this.optimizer.steps;
  }

  /**
   * One step over a batch: `images` holds labels.length images (h·w·c floats each, NHWC); labels are
   * identities (e.g. P identities × K images for batch-hard mining).
   */
  async step(images: Float32Array, labels: ArrayLike<number>): Promise<StepResult> {
    this.checkBatch(images, labels.length);
    return this.exclusive(async () => {
      const cpu = process.cpuUsage();
      const replica = this.onnx ?? this.local;
      const r = replica
        ? await this.stepInThread(replica, images, labels)
        : await onPoolInTurn(this.pool!, () => this.stepParallel(images, labels));
      const used = process.cpuUsage(cpu);
      r.timings.cpuMs = (used.user + used.system) / 1000;
      return r;
    });
  }

  private checkBatch(images: Float32Array, n: number): void {
    const [h, w, c] = this.spec.input;
    if (images.length !== n * h * w * c)
      throw new VisageError(
        'E_BAD_INPUT',
        `${n} images need ${n}×${h}×${w}×${c} floats, got ${images.length}`,
      );
  }

  /** Steps, embeddings and weight changes share buffers: one at a time. */
  private async exclusive<T>(f: () => T | Promise<T>): Promise<T> {
    if (this.busy) throw new VisageError('E_INTERNAL', 'TrainingStep used concurrently (await each call)');
    this.busy = true;
    try {
      return await f();
    } finally {
      this.busy = false;
    }
  }

  /** Replace the parameters (e.g. to resume from a checkpoint); optimiser state is kept. */
  async setWeights(weights: WeightMap): Promise<void> {
    await this.exclusive(() => {
      this.layout.pack(weights, this.params);
      this.version++;
    });
  }

  /** Replace the packed parameters (`params`' layout), e.g. by their average to validate it; optimiser state is kept. */
  async loadParams(values: Float32Array): Promise<void> {
    if (values.length !== this.params.length)
      throw new VisageError(
        'E_INTERNAL',
        `${values.length} parameters for a layout of ${this.params.length}`,
      );
    await this.exclusive(() => {
      this.params.set(values);
      this.version++;
    });
  }

  /**
   * A step on a replica in this thread (tfjs' ShardTrainer or the onnxruntime one): the loss runs on the
   * replica's embeddings, then the optimiser on its gradient.
   */
  private async stepInThread(
    replica: ShardTrainer | OnnxShardTrainer,
    images: Float32Array,
    labels: ArrayLike<number>,
  ): Promise<StepResult> {
    const t0 = performance.now();
    const loadMs = replica.load(this.params, this.version);
    const inGraph =
      replica instanceof OnnxShardTrainer && this.lossInGraph ? inGraphTriplet(this.loss) : undefined;
    if (inGraph) {
      const r = await (replica as OnnxShardTrainer).stepWithLoss(images, labels, inGraph, this.grad);
      r.timings.loadMs = loadMs;
      const t1 = performance.now();
      this.apply(this.grad, [r]);
      const t2 = performance.now();
      const s = r.timings;
      return {
        loss: r.loss.loss,
        stats: r.loss.stats,
        timings: {
          totalMs: t2 - t0,
          cpuMs: 0,
          forwardMs: loadMs,
          lossMs: 0,
          backwardMs: s.backwardMs + s.readMs,
          optimizerMs: t2 - t1,
          shards: [s],
        },
      };
    }
    let lossOut: ReturnType<EmbeddingLoss['compute']> | undefined;
    let lossMs = 0;
    const res = await replica.step(
      images,
      labels.length,
      (emb) => {
        const t = performance.now();
        lossOut = this.loss.compute(emb, labels, replica.dim);
        lossMs = performance.now() - t;
        return lossOut.grad;
      },
      this.grad,
      this.bnGroups,
    );
    res.timings.loadMs = loadMs;
    const t1 = performance.now();
    this.apply(this.grad, [res]);
    const t2 = performance.now();
    const s = res.timings;
    return {
      loss: lossOut!.loss,
      stats: lossOut!.stats,
      timings: {
        totalMs: t2 - t0,
        cpuMs: 0,
        forwardMs: loadMs + s.forwardMs,
        lossMs,
        backwardMs: s.backwardMs + s.readMs,
        optimizerMs: t2 - t1,
        shards: [s],
      },
    };
  }

  private ensureShared(n: number): NonNullable<TrainingStep['shared']> {
    const [h, w, c] = this.spec.input;
    const embDim = this.dim;
    const s = this.shared;
    if (s && s.images.byteLength >= n * h * w * c * 4 && s.emb.byteLength >= n * embDim * 4) return s;
    const next = {
      images: new SharedArrayBuffer(n * h * w * c * 4),
      ctrl: new SharedArrayBuffer(4 * this.threads),
      emb: new SharedArrayBuffer(n * embDim * 4),
      dEmb: new SharedArrayBuffer(n * embDim * 4),
      grads:
        s?.grads ??
        Array.from({ length: this.threads }, () => new SharedArrayBuffer(this.layout.trainableSize * 4)),
    };
    this.shared = next;
    return next;
  }

  private async stepParallel(images: Float32Array, labels: ArrayLike<number>): Promise<StepResult> {
    const t0 = performance.now();
    const n = labels.length;
    const pool = this.pool!;
    const sh = this.ensureShared(n);
    new Float32Array(sh.images).set(images);
    const ctrl = new Int32Array(sh.ctrl);
    ctrl.fill(MAILBOX.idle);
    const sizes = splitSizes(n, this.threads);
    const groups = this.bnGroups / this.threads;
    let row = 0;
    const payloads: StepShardPayload[] = sizes.map((size, slot) => {
      const p: StepShardPayload = {
        session: this.session,
        version: this.version,
        slot,
        row,
        n: size,
        groups,
        images: sh.images,
        ctrl: sh.ctrl,
        emb: sh.emb,
        dEmb: sh.dEmb,
        grad: sh.grads[slot],
      };
      row += size;
      return p;
    });
    const tasks = pool.runEach<ShardStepResult>(shardTask('stepShard'), payloads);
    const abort = () => {
      for (let i = 0; i < sizes.length; i++) {
        Atomics.store(ctrl, i, MAILBOX.abort);
        Atomics.notify(ctrl, i);
      }
    };
    let results: ShardStepResult[];
    let lossOut: ReturnType<EmbeddingLoss['compute']>;
    let t1: number, t2: number;
    try {
      // Every shard's embeddings, unless a shard fails first (then tasks rejects and we abort the others).
      await Promise.race([
        Promise.all(sizes.map((_, i) => waitAsync(ctrl, i, MAILBOX.idle))),
        tasks.then(() => {
          throw new VisageError('E_INTERNAL', 'a shard finished without exchanging embeddings');
        }),
      ]);
      if (sizes.some((_, i) => Atomics.load(ctrl, i) !== MAILBOX.embeddings))
        throw new VisageError('E_INTERNAL', 'unexpected mailbox state');
      t1 = performance.now();
      const dim = this.dim;
      lossOut = this.loss.compute(new Float32Array(sh.emb, 0, n * dim), labels, dim);
      new Float32Array(sh.dEmb).set(lossOut.grad);
      t2 = performance.now();
      for (let i = 0; i < sizes.length; i++) {
        Atomics.store(ctrl, i, MAILBOX.gradient);
        Atomics.notify(ctrl, i);
      }
      results = await tasks;
    } catch (e) {
      abort();
      await tasks.catch(() => undefined);
      throw e;
    }
    const t3 = performance.now();
    // The shards' gradients are summed inside the optimiser's pass (they are scratch until the next step).
    this.apply(
      sh.grads.slice(0, sizes.length).map((b) => new Float32Array(b)),
      results,
    );
    const t4 = performance.now();
    return {
      loss: lossOut.loss,
      stats: lossOut.stats,
      timings: {
        totalMs: t4 - t0,
        cpuMs: 0,
        forwardMs: t1 - t0,
        lossMs: t2 - t1,
        backwardMs: t3 - t2,
        optimizerMs: t4 - t3,
        shards: results.map((r) => r.timings),
      },
    };
  }

  /** Optimiser update from the (parts of the) gradient, then moving batch-norm statistics of the whole batch. */
  private apply(grad: Float32Array | Float32Array[], shards: ShardStepResult[]): void {
    this.optimizer.step(this.params.subarray(0, this.layout.trainableSize), grad);
    const { slots, size } = this.bn;
    const groups: Array<{ n: number; stats: Float32Array }> = [];
    for (const r of shards)
      r.groupSizes.forEach((n, g) => groups.push({ n, stats: r.bnStats.subarray(g * size, (g + 1) * size) }));
    const total = groups.reduce((s, g) => s + g.n, 0);
    for (const slot of slots) {
      const me = this.layout.get(`${slot.node}/mean`)!;
      const ve = this.layout.get(`${slot.node}/variance`)!;
      const m = slot.momentum;
      for (let ch = 0; ch < slot.channels; ch++) {
        // Pooled mean and (biased) variance of the union of the groups.
        let mean = 0;
        for (const g of groups) mean += g.n * g.stats[slot.offset + ch];
        mean /= total;
        let variance = 0;
        for (const g of groups) {
          const d = g.stats[slot.offset + ch] - mean;
          variance += g.n * (g.stats[slot.offset + slot.channels + ch] + d * d);
        }
        variance /= total;
        this.params[me.offset + ch] = m * this.params[me.offset + ch] + (1 - m) * mean;
        this.params[ve.offset + ch] = m * this.params[ve.offset + ch] + (1 - m) * variance;
      }
    }
    this.version++;
  }

  /**
   * Inference-mode embeddings (n × dim) with the current parameters, e.g. to evaluate during training;
   * data-parallel, in chunks of 32 images per worker.
   */
  async embed(images: Float32Array, n: number): Promise<Float32Array> {
    const [h, w, c] = this.spec.input;
    const per = h * w * c;
    this.checkBatch(images.subarray(0, n * per), n);
    return this.exclusive(async () => {
      if (this.onnx) {
        this.onnx.load(this.params, this.version);
        return this.onnx.embed(images, n);
      }
      if (this.local) {
        this.local.load(this.params, this.version);
        return this.local.embed(images, n);
      }
      const out = new Float32Array(n * this.dim);
      const chunk = 32 * this.threads;
      for (let from = 0; from < n; from += chunk) {
        const m = Math.min(chunk, n - from);
        const sh = this.ensureShared(m);
        new Float32Array(sh.images).set(images.subarray(from * per, (from + m) * per));
        let row = 0;
        const parts = await this.pool!.runEach<Float32Array>(
          shardTask('embedShard'),
          splitSizes(m, this.threads).map((size) => {
            const p = { session: this.session, version: this.version, row, n: size, images: sh.images };
            row += size;
            return p;
          }),
        );
        let off = from * this.dim;
        for (const p of parts) {
          out.set(p, off);
          off += p.length;
        }
      }
      return out;
    });
  }

  /** The current weights (copies), e.g. to save a checkpoint. */
  weights(): WeightMap {
    return this.layout.unpack(this.params);
  }

  async close(): Promise<void> {
    this.local?.dispose();
    this.local = undefined;
    await this.onnx?.dispose();
    this.onnx = undefined;
    if (this.pool) {
      const pool = this.pool;
      this.pool = undefined;
      if (this.ownsPool) await pool.close();
      else
        await pool
          .runEach(
            shardTask('closeShard'),
            Array.from({ length: pool.size }, () => ({ session: this.session })),
          )
          .catch(() => undefined);
    }
  }
}
