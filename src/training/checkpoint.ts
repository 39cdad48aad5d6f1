/**
 * Training checkpoints: a folder `<out>/checkpoint/` holding the network in the Visage model format
 * (model.json + weights.bin, the training network without input normalisation), `optimizer.bin` (the
 * optimiser's float32 buffers and, with --ema, the parameter average, concatenated) and `state.json`
 * (everything else: options, position, history).
 * A new checkpoint is written beside the old one and swapped in by renames, so an interruption at any
 * moment leaves one complete checkpoint (`checkpoint/` or, mid-swap, `checkpoint.old/`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { VisageError } from '../errors.js';
import { loadModel, saveModel, type NetworkDef, type WeightMap } from '../engine/graph/index.js';
import type { OptimizerState } from './optim/state.js';

export interface Checkpoint<S> {
  def: NetworkDef;
  weights: WeightMap;
  optimizer: OptimizerState;
  state: S;
}

interface OptimizerManifest {
  steps: number;
  buffers: { name: string; length: number }[];
}

export function writeCheckpoint<S>(dir: string, cp: Checkpoint<S>): void {
  const abs = path.resolve(dir);
  const tmp = `${abs}.tmp-${process.pid}`;
  const old = `${abs}.old`;
  fs.rmSync(tmp, { recursive: true, force: true });
  saveModel(tmp, { def: cp.def, weights: cp.weights, meta: { checkpoint: true } });
  const bufs = Object.entries(cp.optimizer.buffers);
  const bin = Buffer.alloc(bufs.reduce((s, [, b]) => s + b.byteLength, 0));
  let off = 0;
  for (const [, b] of bufs) {
    Buffer.from(b.buffer, b.byteOffset, b.byteLength).copy(bin, off);
    off += b.byteLength;
  }
  fs.writeFileSync(path.join(tmp, 'optimizer.bin'), bin);
  const optimizer: OptimizerManifest = {
    steps: cp.optimizer.steps,
    buffers: bufs.map(([name, b]) => ({ name, length: b.length })),
  };
  fs.writeFileSync(path.join(tmp, 'state.json'), JSON.stringify({ optimizer, state: cp.state }));
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(abs)) fs.renameSync(abs, old);
  fs.renameSync(tmp, abs);
  fs.rmSync(old, { recursive: true, force: true });
}

/** The complete checkpoint in `dir` (or its `.old` twin after an interrupted swap); undefined when none. */
export function findCheckpoint(dir: string): string | undefined {
  const abs = path.resolve(dir);
  for (const d of [abs, `${abs}.old`]) if (fs.existsSync(path.join(d, 'state.json'))) return d;
  return undefined;
}

export function readCheckpoint<S>(dir: string): Checkpoint<S> {
  const found = findCheckpoint(dir);
  if (!found)
    throw new VisageError('E_FILE_NOT_FOUND', `no training checkpoint in ${path.resolve(dir)}`, {
      path: dir,
    });
  const { def, weights } = loadModel(found);
  let parsed: { optimizer: OptimizerManifest; state: S };
  try {
    parsed = JSON.parse(fs.readFileSync(path.join(found, 'state.json'), 'utf8')) as typeof parsed;
  } catch (e) {
    throw new VisageError('E_BAD_MODEL', `unreadable checkpoint state in ${found}: ${(e as Error).message}`);
  }
  const bin = fs.readFileSync(path.join(found, 'optimizer.bin'));
  const buffers: Record<string, Float32Array> = {};
  let off = 0;
  for (const b of parsed.optimizer.buffers) {
    if (off + b.length * 4 > bin.length)
      throw new VisageError('E_BAD_MODEL', `checkpoint optimizer state in ${found} is truncated`);
    const a = new Float32Array(b.length);
    Buffer.from(a.buffer).set(bin.subarray(off, off + b.length * 4));
    buffers[b.name] = a;
    off += b.length * 4;
  }
  return { def, weights, optimizer: { steps: parsed.optimizer.steps, buffers }, state: parsed.state };
}
