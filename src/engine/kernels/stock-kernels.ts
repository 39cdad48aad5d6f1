/**
 * The wasm backend's own kernels that we replace, kept callable: for benchmarks, and as the fallback of
 * kernels that only speed up some cases. A stock kernel's setupFunc (which binds its wasm function) runs
 * when the backend starts, but only for kernels registered at that time, so we run it ourselves.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

const stock = new Map<string, KernelConfig>();
const setUp = new Map<string, WeakSet<object>>();

export function keepStockKernel(kernelName: string): void {
  const config = tf.getKernel(kernelName, 'wasm');
  if (config !== undefined && !stock.has(kernelName)) stock.set(kernelName, config);
}

/** The stock wasm kernel `kernelName` (undefined where wasm had none), ready to call. */
export function stockWasmKernel(kernelName: string): KernelFunc | undefined {
  const config = stock.get(kernelName);
  if (config === undefined) return undefined;
  return (args) => {
    let done = setUp.get(kernelName);
    if (done === undefined) setUp.set(kernelName, (done = new WeakSet()));
    if (!done.has(args.backend)) {
      config.setupFunc?.(args.backend as tf.KernelBackend);
      done.add(args.backend);
    }
    return config.kernelFunc(args);
  };
}

/** Run the stock kernel; for replacements that handle only some cases themselves. */
export function runStock(kernelName: string, args: Parameters<KernelFunc>[0]): TensorInfo | TensorInfo[] {
  const kernel = stockWasmKernel(kernelName);
  if (kernel === undefined) throw new Error(`no stock wasm kernel ${kernelName}`);
  return kernel(args);
}
