/**
 * Pool tasks of data-parallel training (they run in worker threads, see step.ts). A worker keeps one
 * ShardTrainer per training session; the batch, parameters, gradients and the embedding exchange all go
 * through SharedArrayBuffers, so a step posts only a few numbers each way.
 */
import { VisageError } from '../errors.js';
import { withTransfer } from '../engine/pool/index.js';
import { ShardTrainer, type ShardSpec, type ShardStepResult } from './shard.js';

const sessions = new Map<string, { trainer: ShardTrainer; params: Float32Array }>();

/** Mailbox states, one Int32 per worker slot. */
export const MAILBOX = { idle: 0, embeddings: 1, gradient: 2, abort: -1 } as const;

function session(id: string) {
  const s = sessions.get(id);
  if (!s) throw new VisageError('E_WORKER', `no training session "${id}" in this worker (was it restarted?)`);
  return s;
}

export function openShard(p: { session: string; spec: ShardSpec; params: SharedArrayBuffer }): number {
  sessions.get(p.session)?.trainer.dispose();
  const params = new Float32Array(p.params);
  sessions.set(p.session, { trainer: new ShardTrainer(p.spec, params), params });
  return sessions.size;
}

export function closeShard(p: { session: string }): void {
  sessions.get(p.session)?.trainer.dispose();
  sessions.delete(p.session);
}

export interface StepShardPayload {
  session: string;
  version: number;
  slot: number;
  /** This shard's rows of the batch. */
  row: number;
  n: number;
  groups: number;
  images: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
  emb: SharedArrayBuffer;
  dEmb: SharedArrayBuffer;
  grad: SharedArrayBuffer;
}

export function stepShard(p: StepShardPayload): ShardStepResult {
  const s = session(p.session);
  const loadMs = s.trainer.load(s.params, p.version);
  const per = s.trainer.inputSize;
  const images = new Float32Array(p.images, p.row * per * 4, p.n * per);
  const ctrl = new Int32Array(p.ctrl);
  const dim = s.trainer.dim;
  const exchange = (emb: Float32Array): Float32Array => {
    new Float32Array(p.emb).set(emb, p.row * dim);
    Atomics.store(ctrl, p.slot, MAILBOX.embeddings);
    Atomics.notify(ctrl, p.slot);
    // Blocking is right here: this thread has nothing else to do until the main thread has the loss.
    while (Atomics.load(ctrl, p.slot) === MAILBOX.embeddings) Atomics.wait(ctrl, p.slot, MAILBOX.embeddings);
    if (Atomics.load(ctrl, p.slot) !== MAILBOX.gradient)
      throw new VisageError('E_WORKER', 'training step aborted by the main thread');
    return new Float32Array(p.dEmb, p.row * dim * 4, p.n * dim).slice();
  };
  const res = s.trainer.step(images, p.n, exchange, new Float32Array(p.grad), p.groups);
  res.timings.loadMs = loadMs;
  return res;
}

/** Inference-mode embeddings of n images (rows `row`… of the shared batch). */
export function embedShard(p: {
  session: string;
  version: number;
  row: number;
  n: number;
  images: SharedArrayBuffer;
}): Float32Array {
  const s = session(p.session);
  s.trainer.load(s.params, p.version);
  const per = s.trainer.inputSize;
  const out = s.trainer.embed(new Float32Array(p.images, p.row * per * 4, p.n * per), p.n);
  return withTransfer(out, [out.buffer as ArrayBuffer]);
}
