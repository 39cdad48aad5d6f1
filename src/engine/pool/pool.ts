import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type TransferListItem } from 'node:worker_threads';
import { envThreads, type BackendName } from '../../config.js';
import { VisageError } from '../../errors.js';
import { initEngine } from '../backend.js';
import {
  deserializeError,
  loadTask,
  serializeError,
  Transfer,
  type RunMessage,
  type SerializedError,
  type WorkerMessage,
} from './protocol.js';

/** A task: the named export `fn` of the ES module at `module` (a file URL or an absolute path). */
export interface TaskRef {
  module: string | URL;
  fn: string;
}

/**
 * URL of a module next to `base` (pass `import.meta.url`), with base's own extension: `.ts` under tsx,
 * `.js` once compiled. `sibling(import.meta.url, './shard-tasks')`.
 */
export function sibling(base: string, relative: string): string {
  const ext = path.extname(fileURLToPath(base));
  return new URL(relative + ext, base).href;
}

export interface PoolOptions {
  /** Number of workers; default VISAGE_THREADS or every core. */
  threads?: number;
  /** Backend each worker starts; default VISAGE_BACKEND (workers inherit the environment). */
  backend?: BackendName;
  /**
   * Run tasks in this thread instead of a worker. Default: true when threads is 1, so that small jobs pay
   * no worker start-up (~0.3 s: module loading + wasm compilation).
   */
  inProcess?: boolean;
}

interface Job {
  id: number;
  module: string;
  fn: string;
  payload: unknown;
  transfer: TransferListItem[];
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  index: number;
  worker: Worker;
  ready: boolean;
  /** The job running now. */
  busy: Job | undefined;
  /** Jobs pinned to this worker (runEach / runOn). */
  pinned: Job[];
  lastError: SerializedError | undefined;
  failed: VisageError | undefined;
}

const workerEntry = sibling(import.meta.url, './worker');

/**
 * Compiled, the worker entry is plain JS. Under tsx (sources run as .ts) workers do not inherit tsx's
 * loader (its --import hook registers on the main thread only), so a tiny bootstrap registers it first.
 */
const workerBootstrap: { source: string | URL; eval: boolean } = workerEntry.endsWith('.ts')
  ? {
      source:
        `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})` +
        `.then((m) => { m.register(); return import(${JSON.stringify(workerEntry)}); });`,
      eval: true,
    }
  : { source: new URL(workerEntry), eval: false };

function moduleHref(m: string | URL): string {
  if (m instanceof URL) return m.href;
  return m.startsWith('file:') ? m : pathToFileURL(m).href;
}

/**
 * A pool of worker_threads, each with its own tensor engine. tfjs-wasm runs single-threaded in Node
 * (WASM_HAS_MULTITHREAD_SUPPORT is forced off), so separate engines in separate threads are how Visage
 * uses more than one core. Tasks are plain functions exported by ES modules; payloads and results are
 * structured-cloned (ArrayBuffers may be transferred, SharedArrayBuffers are shared).
 */
export class WorkerPool {
  readonly size: number;
  readonly inProcess: boolean;
  private readonly backend: BackendName | undefined;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private pending = 0;
  private closed = false;
  private readyWaiters: Array<() => void> = [];

  constructor(opts: PoolOptions = {}) {
    const n = opts.threads ?? envThreads();
    if (!Number.isInteger(n) || n < 1)
      throw new VisageError('E_BAD_OPTION', `threads must be a positive integer, got ${n}`);
    this.size = n;
    this.inProcess = opts.inProcess ?? n === 1;
    if (this.inProcess && n !== 1)
      throw new VisageError('E_BAD_OPTION', 'an in-process pool has exactly one thread');
    this.backend = opts.backend;
    if (!this.inProcess) for (let i = 0; i < n; i++) this.slots.push(this.spawn(i));
  }

  /** Resolves once every worker has started its engine (tasks may be submitted before that). */
  async ready(): Promise<void> {
    if (this.inProcess) {
      await initEngine(this.backend);
      return;
    }
    this.hold(+1); // an awaited start-up must keep the process alive
    try {
      while (!this.closed && this.slots.some((s) => !s.ready && !s.failed)) {
        await new Promise<void>((r) => this.readyWaiters.push(r));
      }
    } finally {
      this.hold(-1);
    }
    const failed = this.slots.find((s) => s.failed);
    if (failed) throw failed.failed;
  }

  /** Run one task on whichever worker is free first. */
  run<R>(task: TaskRef, payload?: unknown, transfer: TransferListItem[] = []): Promise<R> {
    return this.submit<R>(task, payload, transfer, undefined);
  }

  /** Run one task on worker `index` (for tasks that keep per-worker state). */
  runOn<R>(index: number, task: TaskRef, payload?: unknown, transfer: TransferListItem[] = []): Promise<R> {
    if (!(Number.isInteger(index) && index >= 0 && index < this.size))
      return Promise.reject(
        new VisageError('E_BAD_OPTION', `worker index ${index} out of range 0..${this.size - 1}`),
      );
    return this.submit<R>(task, payload, transfer, index);
  }

  /** Payload i runs on worker i, all at the same time (at most `size` payloads). */
  runEach<R>(task: TaskRef, payloads: unknown[], transfer?: (i: number) => TransferListItem[]): Promise<R[]> {
    if (payloads.length > this.size)
      return Promise.reject(
        new VisageError('E_BAD_OPTION', `runEach got ${payloads.length} payloads for ${this.size} workers`),
      );
    return Promise.all(payloads.map((p, i) => this.runOn<R>(i, task, p, transfer?.(i) ?? [])));
  }

  /** Every item through the task, `size` at a time; results in item order. */
  map<I, R>(
    task: TaskRef,
    items: readonly I[],
    transfer?: (item: I, i: number) => TransferListItem[],
  ): Promise<R[]> {
    return Promise.all(items.map((it, i) => this.run<R>(task, it, transfer?.(it, i) ?? [])));
  }

  /** Stop every worker; tasks not yet finished are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = () => new VisageError('E_WORKER', 'worker pool closed before the task finished');
    for (const j of this.queue.splice(0)) j.reject(err());
    for (const s of this.slots) {
      for (const j of s.pinned.splice(0)) j.reject(err());
      if (s.busy) s.busy.reject(err());
      s.busy = undefined;
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    for (const w of this.readyWaiters.splice(0)) w();
  }

  private submit<R>(
    task: TaskRef,
    payload: unknown,
    transfer: TransferListItem[],
    target: number | undefined,
  ) {
    if (this.closed) return Promise.reject(new VisageError('E_WORKER', 'worker pool is closed'));
    const module = moduleHref(task.module);
    if (this.inProcess) return runInProcess<R>(module, task.fn, payload, this.backend);
    return new Promise<R>((resolve, reject) => {
      const job: Job = { id: this.nextId++, module, fn: task.fn, payload, transfer, resolve, reject };
      this.track(job);
      if (target === undefined) this.queue.push(job);
      else {
        const slot = this.slots[target];
        if (slot.failed) return job.reject(slot.failed);
        slot.pinned.push(job);
      }
      this.pump();
    });
  }

  /** Keep the process alive while work is pending, and only then (an idle pool must not block exit). */
  private track(job: Job): void {
    this.hold(+1);
    const { resolve, reject } = job;
    job.resolve = (v) => (this.hold(-1), resolve(v));
    job.reject = (e) => (this.hold(-1), reject(e));
  }

  private hold(delta: 1 | -1): void {
    const was = this.pending;
    this.pending += delta;
    if (was === 0 && this.pending > 0) for (const s of this.slots) s.worker.ref();
    if (was > 0 && this.pending === 0) for (const s of this.slots) s.worker.unref();
  }

  private pump(): void {
    for (const s of this.slots) {
      if (!s.ready || s.busy || s.failed) continue;
      const job = s.pinned.shift() ?? this.queue.shift();
      if (!job) continue;
      s.busy = job;
      const msg: RunMessage = {
        type: 'run',
        id: job.id,
        module: job.module,
        fn: job.fn,
        payload: job.payload,
      };
      try {
        s.worker.postMessage(msg, job.transfer);
      } catch (e) {
        // e.g. an uncloneable payload: the worker never saw it, so it is still free.
        s.busy = undefined;
        job.reject(new VisageError('E_WORKER', `cannot send task to worker: ${(e as Error).message}`));
      }
    }
    // With no live worker left, queued jobs would wait forever.
    if (this.slots.every((s) => s.failed)) {
      for (const j of this.queue.splice(0)) j.reject(this.slots[0].failed);
    }
  }

  private spawn(index: number): Slot {
    const worker = new Worker(workerBootstrap.source, {
      eval: workerBootstrap.eval,
      workerData: { backend: this.backend },
      execArgv: process.execArgv,
    });
    worker.unref();
    const slot: Slot = {
      index,
      worker,
      ready: false,
      busy: undefined,
      pinned: [],
      lastError: undefined,
      failed: undefined,
    };
    const where = `worker ${index}`;
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') {
        slot.ready = true;
        this.wakeReadyWaiters();
        this.pump();
      } else if (m.type === 'fatal') {
        this.fail(slot, deserializeError(m.error, where));
      } else {
        const job = slot.busy;
        if (!job || job.id !== m.id) return;
        slot.busy = undefined;
        if (m.type === 'result') job.resolve(m.value);
        else job.reject(deserializeError(m.error, where));
        this.pump();
      }
    });
    worker.on('error', (e) => {
      slot.lastError = serializeError(e);
    });
    worker.on('exit', (code) => {
      if (this.closed || slot.failed || this.slots[index] !== slot) return;
      const why = slot.lastError ? `${slot.lastError.name}: ${slot.lastError.message}` : `exit code ${code}`;
      const err = new VisageError('E_WORKER', `${where} died (${why})`, {
        worker: where,
        exitCode: code,
        workerStack: slot.lastError?.stack,
      });
      if (!slot.ready) {
        // Died while starting: respawning would most likely loop.
        this.fail(slot, err);
        return;
      }
      if (slot.busy) slot.busy.reject(err);
      slot.busy = undefined;
      const fresh = this.spawn(index);
      fresh.pinned = slot.pinned;
      if (this.pending > 0) fresh.worker.ref();
      this.slots[index] = fresh;
    });
    return slot;
  }

  private fail(slot: Slot, err: VisageError): void {
    slot.failed = err;
    for (const j of slot.pinned.splice(0)) j.reject(err);
    if (slot.busy) slot.busy.reject(err);
    slot.busy = undefined;
    void slot.worker.terminate();
    this.wakeReadyWaiters();
    this.pump();
  }

  private wakeReadyWaiters(): void {
    for (const w of this.readyWaiters.splice(0)) w();
  }
}

async function runInProcess<R>(
  module: string,
  fn: string,
  payload: unknown,
  backend: BackendName | undefined,
): Promise<R> {
  try {
    await initEngine(backend);
    const f = await loadTask(module, fn);
    const out = await f(payload);
    return (out instanceof Transfer ? out.value : out) as R;
  } catch (e) {
    if (e instanceof VisageError) throw e;
    const err = deserializeError(serializeError(e), 'in-process');
    (err as { cause?: unknown }).cause = e;
    throw err;
  }
}
