/**
 * Fast gradient kernels for the wasm backend. tfjs looks kernels up by (name, backend) on every call, so
 * registering these makes all of its gradient machinery — tf.grad, variableGrads, fused conv2d gradients,
 * optimizers — use them. Only the 'wasm' backend is touched: the cpu backend keeps its stock kernels.
 *
 * Registration happens when this module is first imported (backend.ts imports it): kernel registration
 * needs no running backend, and importing backend.ts from here would be an import cycle.
 */
// tfjs-core's Node build ships no gradient functions; @tensorflow/tfjs registers them (in the shared global
// registry) — without this import tf.grad fails for every op.
import '@tensorflow/tfjs';
// The stock wasm kernels must be registered before we replace some of them.
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise-conv2d-backprop-filter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwise-conv2d-backprop-input.js';
import { avgPoolGradConfig } from './avg-pool-grad.js';
import { maxPoolGradConfig } from './max-pool-grad.js';
import { meanConfig, sumConfig } from './reduce-leading-axes.js';
import { keepStockKernel } from './stock-kernels.js';
import { tileConfig } from './tile.js';

export { stockWasmKernel } from './stock-kernels.js';

/** Our kernels for the wasm backend. */
export const fastGradientKernels: readonly KernelConfig[] = [
  conv2DBackpropInputConfig,
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  maxPoolGradConfig,
  avgPoolGradConfig,
  // Not gradients, but the batchNorm gradient spends ~90% of its time in them on stock wasm.
  tileConfig,
  sumConfig,
  meanConfig,
];

/**
 * Register our gradient kernels on the 'wasm' backend, replacing stock ones where they exist. Idempotent;
 * never touches other backends.
 */
export function registerFastGradients(): void {
  for (const config of fastGradientKernels) {
    const current = tf.getKernel(config.kernelName, 'wasm');
    if (current?.kernelFunc === config.kernelFunc) continue;
    if (current !== undefined) {
      keepStockKernel(config.kernelName);
      tf.unregisterKernel(config.kernelName, 'wasm');
    }
    tf.registerKernel(config);
  }
}

registerFastGradients();
