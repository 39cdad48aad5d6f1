/**
 * onnxruntime intra-op threads per session: every core (VISAGE_THREADS) unless the caller splits the
 * cores between worker threads, each of which then runs its own sessions on its share.
 */
import { envThreads } from '../../config.js';

let override: number | undefined;

export function inferenceThreads(): number {
  return override ?? envThreads();
}

/** Set by a pool worker (before its first session) to its share of the cores. */
export function setInferenceThreads(n: number | undefined): void {
  override = n === undefined ? undefined : Math.max(1, Math.floor(n));
}
