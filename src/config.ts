import os from 'node:os';
import { VisageError } from './errors.js';

/** Settings read from the environment, in one place so that `visage info` can show them. */
export type BackendName = 'wasm' | 'cpu';

export function envBackend(): BackendName {
  const v = (process.env.VISAGE_BACKEND ?? 'wasm').toLowerCase();
  if (v !== 'wasm' && v !== 'cpu')
    throw new VisageError('E_BAD_OPTION', `VISAGE_BACKEND must be "wasm" or "cpu", got "${v}"`);
  return v;
}

/** Worker threads to use for batch-parallel work: VISAGE_THREADS, else every available core. */
export function envThreads(): number {
  const raw = process.env.VISAGE_THREADS;
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1)
      throw new VisageError('E_BAD_OPTION', `VISAGE_THREADS must be a positive integer, got "${raw}"`);
    return n;
  }
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** The inference engine the whole product runs on (see engine/engine.ts); onnx unless VISAGE_ENGINE says tfjs. */
export type EngineName = 'onnx' | 'tfjs';

export function envEngine(): EngineName {
  const v = (process.env.VISAGE_ENGINE ?? 'onnx').toLowerCase();
  if (v !== 'onnx' && v !== 'tfjs')
    throw new VisageError('E_BAD_OPTION', `VISAGE_ENGINE must be "onnx" or "tfjs", got "${v}"`);
  return v;
}
