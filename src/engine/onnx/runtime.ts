/**
 * onnxruntime-node, loaded on first use: its native CPU kernels (MLAS: AVX2/AVX-512 GEMM, several threads)
 * are what lets training keep up with native frameworks, which WebAssembly's 128-bit SIMD on one thread
 * cannot. Loaded lazily so that everything else works where its binary does not.
 */
import type * as Ort from 'onnxruntime-node';
import { VisageError } from '../../errors.js';
import { encodeModel, type OnnxModel } from './proto.js';

let ort: Promise<typeof Ort> | undefined;

export function loadOrt(): Promise<typeof Ort> {
  ort ??= import('onnxruntime-node').catch((e: unknown) => {
    ort = undefined;
    throw new VisageError(
      'E_BACKEND',
      `onnxruntime-node could not be loaded (${(e as Error).message}); use VISAGE_ENGINE=tfjs (inference) or --engine tfjs (training) instead`,
      {},
      { cause: e },
    );
  });
  return ort;
}

export type OrtSession = Ort.InferenceSession;
export type OrtTensor = Ort.Tensor;

let created = 0;
/** Sessions created so far in this thread: tests use it to prove sessions are built once and reused. */
export const sessionsCreated = (): number => created;

/**
 * A session over one of our generated models, on `threads` intra-op threads. `spinning: false` lets the
 * intra-op threads sleep between runs instead of busy-waiting for the next one: inference sessions use
 * it, because the face pipeline does JS work between its short network runs (resizing, box decoding,
 * alignment) that a spinning thread would take a core from, on a machine with as few cores as threads.
 */
export async function createSession(
  model: OnnxModel,
  threads: number,
  opts: { spinning?: boolean } = {},
): Promise<OrtSession> {
  const o = await loadOrt();
  created++;
  try {
    return await o.InferenceSession.create(encodeModel(model), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      logSeverityLevel: 3,
      ...(opts.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
    });
  } catch (e) {
    throw new VisageError(
      'E_INTERNAL',
      `onnxruntime rejected a generated model: ${(e as Error).message}`,
      {},
      { cause: e },
    );
  }
}
