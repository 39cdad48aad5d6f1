/**
 * How our kernels talk to tfjs-backend-wasm: they run its fast forward kernels directly (as tfjs backends
 * compose kernels: no engine, no tape, the caller disposes every intermediate) and move data inside the
 * wasm heap where no kernel does the rearrangement we need.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { VisageError } from '../../errors.js';

export type { BackendWasm };

/** Padding as tfjs kernels take it explicitly: [[0,0],[top,bottom],[left,right],[0,0]] (NHWC). */
export type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

export function explicitPad(top: number, bottom: number, left: number, right: number): ExplicitPad {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/** Run one kernel of the wasm backend on TensorInfos; its output belongs to the caller. */
export function runWasmKernel(
  name: string,
  backend: BackendWasm,
  inputs: NamedTensorInfoMap,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const config = tf.getKernel(name, 'wasm');
  if (config === undefined) throw new VisageError('E_BACKEND', `the wasm backend has no ${name} kernel`);
  return config.kernelFunc({ inputs, backend, attrs }) as TensorInfo;
}

export function disposeInfos(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/**
 * A float32 view of the whole wasm heap. Any allocation may grow the heap and detach earlier views, so take
 * a fresh one after every makeOutput / kernel call and never hold one across them.
 */
export function heapF32(backend: BackendWasm): Float32Array {
  // The module's typings come from @types/emscripten, which this project does not load.
  return new Float32Array((backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer);
}

/** Where a tensor's data starts in `heapF32` (malloc aligns to 8 bytes, so this is an integer). */
export function offsetF32(backend: BackendWasm, info: TensorInfo): number {
  const data = backend.dataIdMap.get(info.dataId);
  if (data === undefined) throw new VisageError('E_INTERNAL', 'tensor data is not on the wasm backend');
  return data.memoryOffset / 4;
}

/** A new float32 tensor on the heap, optionally zero-filled (malloc'd memory holds garbage, even NaNs). */
export function allocF32(backend: BackendWasm, shape: number[], zero = false): TensorInfo {
  const info = backend.makeOutput(shape, 'float32');
  if (zero) {
    const off = offsetF32(backend, info);
    heapF32(backend).fill(0, off, off + tf.util.sizeFromShape(shape));
  }
  return info;
}

/**
 * A tensor aliasing `shape`-many floats of `base` from element `offset` on: no copy. Release it with
 * `releaseView`, never disposeData (which would free() an interior pointer).
 */
export function viewInto(
  backend: BackendWasm,
  base: TensorInfo,
  offset: number,
  shape: number[],
): TensorInfo {
  return backend.makeOutput(shape, 'float32', (offsetF32(backend, base) + offset) * 4);
}

export function releaseView(backend: BackendWasm, view: TensorInfo): void {
  const data = backend.dataIdMap.get(view.dataId);
  if (data === undefined) return;
  // What disposeData does, minus free(): drop the C++ registration (and operators cached on it).
  (backend.wasm as unknown as { tfjs: { disposeData(id: number): void } }).tfjs.disposeData(data.id);
  backend.dataIdMap.delete(view.dataId);
}

/** Same data, another shape (what the Reshape kernel does, without touching the refcount). */
export function viewAs(info: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

export function assertNHWC(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new VisageError(
      'E_BACKEND',
      `${kernel} on wasm supports only NHWC data, got ${String(dataFormat)}`,
    );
  }
}

export function assertFloat32(kernel: string, ...infos: TensorInfo[]): void {
  for (const info of infos) {
    if (info.dtype !== 'float32') {
      throw new VisageError(
        'E_BACKEND',
        `${kernel} on wasm supports only float32 tensors, got ${info.dtype}`,
      );
    }
  }
}

export function assertShape(kernel: string, info: TensorInfo, expected: number[]): void {
  if (info.shape.length !== expected.length || info.shape.some((d, i) => d !== expected[i])) {
    throw new VisageError(
      'E_INTERNAL',
      `${kernel}: produced shape [${info.shape.join(',')}], expected [${expected.join(',')}]`,
    );
  }
}

/** tfjs attrs allow a number or a pair for strides and dilations. */
export function pair(v: number | [number, number] | number[] | undefined, fallback = 1): [number, number] {
  if (v === undefined || v === null) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  return [v[0], v[1]];
}
