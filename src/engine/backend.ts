import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradients; the @tensorflow/tfjs bundle registers them all (and the cpu backend).
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { envBackend, type BackendName } from '../config.js';
import { VisageError } from '../errors.js';

let ready: Promise<BackendName> | undefined;

/**
 * Bring up the tensor engine once per thread. wasm (SIMD, XNNPACK) is the default; `cpu` (pure JS) is
 * the explicit fallback for platforms where WebAssembly SIMD is unavailable.
 */
export function initEngine(backend: BackendName = envBackend()): Promise<BackendName> {
  ready ??= (async () => {
    // PROD silences tfjs' "install tfjs-node" banner (which cannot be installed here) in every thread.
    tf.env().set('PROD', true);
    try {
      const ok = await tf.setBackend(backend);
      if (!ok) throw new Error(`tf.setBackend('${backend}') returned false`);
      await tf.ready();
    } catch (e) {
      throw new VisageError(
        'E_BACKEND',
        `could not start the ${backend} backend: ${(e as Error).message}`,
        { backend },
        { cause: e },
      );
    }
    return backend;
  })();
  return ready;
}

export interface EngineInfo {
  backend: string;
  tfjsVersion: string;
  simd: boolean;
  wasmMultithread: boolean;
}

export async function engineInfo(): Promise<EngineInfo> {
  await initEngine();
  return {
    backend: tf.getBackend(),
    tfjsVersion: tf.version_core,
    simd: tf.getBackend() === 'wasm' ? tf.env().getBool('WASM_HAS_SIMD_SUPPORT') : false,
    wasmMultithread: tf.getBackend() === 'wasm' ? tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') : false,
  };
}

// Fast gradient kernels for the wasm backend (registered at import; see kernels/index.ts).
import './kernels/index.js';
