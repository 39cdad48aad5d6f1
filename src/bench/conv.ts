/**
 * How fast convolution gradients run on the wasm backend: forward conv2d, its input and filter gradients
 * with our kernels (src/engine/kernels/), the stock wasm Conv2DBackpropInput for comparison, and the same
 * for depthwise convolution. `visage bench engine` prints it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import '../engine/kernels/index.js';
import { stockWasmKernel } from '../engine/kernels/index.js';
import { median } from '../util/stats.js';

export interface ConvBenchOptions {
  batch?: number;
  /** Input height = width. */
  size?: number;
  inChannels?: number;
  outChannels?: number;
  /** Filter height = width. */
  kernel?: number;
  strides?: number[];
  /** Timed runs per measurement (after one warm-up); the median is reported. */
  repeats?: number;
  /** Also time the stock wasm Conv2DBackpropInput (a plain loop: ~8 s per run at the default size). */
  stock?: boolean;
  /** Also time depthwise convolution (channel multiplier 1) and its gradients. */
  depthwise?: boolean;
  log?: (line: string) => void;
}

export interface KernelTiming {
  /** Median wall time of one call, milliseconds. */
  ms: number;
  /**
   * Median CPU time of this process for one call, milliseconds: the kernels are single-threaded, so on a
   * machine shared with other work this is the steadier measure.
   */
  cpuMs: number;
  /** Useful FLOPs (those of the forward convolution) per second of wall time, in billions. */
  gflops: number;
  /** ms / the forward convolution's ms. */
  ratio: number;
  /** cpuMs / the forward convolution's cpuMs. */
  cpuRatio: number;
}

export interface ConvBenchCase {
  kind: 'conv2d' | 'depthwise';
  stride: number;
  forward: KernelTiming;
  inputGrad: KernelTiming;
  filterGrad: KernelTiming;
  /** The stock wasm kernel (conv2d only; wasm has no other stock conv gradient). */
  stockInputGrad?: KernelTiming;
}

export interface ConvBenchResult {
  backend: 'wasm';
  simd: boolean;
  threads: number;
  /** e.g. "8×112×112×64 → 64, 3×3 'same'" */
  shape: string;
  cases: ConvBenchCase[];
  /** The same numbers as a printable table. */
  table: string;
}

interface Sample {
  ms: number;
  cpuMs: number;
}

/** Wall and CPU time of one call (wasm runs synchronously, so the call's time is the work). */
function timeOnce(call: () => tf.Tensor | TensorInfo, dispose: (r: tf.Tensor | TensorInfo) => void): Sample {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = call();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  dispose(out);
  return { ms, cpuMs: (c.user + c.system) / 1000 };
}

/** Medians over `repeats` interleaved runs (so load from other processes hits every kernel alike). */
function timeKernels(
  calls: Array<() => tf.Tensor | TensorInfo>,
  repeats: number,
  dispose: (r: tf.Tensor | TensorInfo) => void,
): Sample[] {
  const samples: Sample[][] = calls.map(() => []);
  for (const call of calls) dispose(call()); // warm-up: heap growth, operator set-up
  for (let r = 0; r < repeats; r++) calls.forEach((call, i) => samples[i].push(timeOnce(call, dispose)));
  return samples.map((s) => ({ ms: median(s.map((x) => x.ms)), cpuMs: median(s.map((x) => x.cpuMs)) }));
}

export async function benchConvGradients(opts: ConvBenchOptions = {}): Promise<ConvBenchResult> {
  const batch = opts.batch ?? 8;
  const size = opts.size ?? 112;
  const inC = opts.inChannels ?? 64;
  const outC = opts.outChannels ?? 64;
  const k = opts.kernel ?? 3;
  const strides = opts.strides ?? [1, 2];
  const repeats = opts.repeats ?? 3;
  const log = opts.log ?? ((): void => {});

  const previous = tf.getBackend();
  await tf.setBackend('wasm');
  await tf.ready();
  const backend = tf.backend() as BackendWasm;
  const cases: ConvBenchCase[] = [];
  const x = tf.randomNormal([batch, size, size, inC]) as tf.Tensor4D;
  const w = tf.randomNormal([k, k, inC, outC]) as tf.Tensor4D;
  const wd = tf.randomNormal([k, k, inC, 1]) as tf.Tensor4D;
  const disposeOut = (r: tf.Tensor | TensorInfo): void => {
    if (r instanceof tf.Tensor) r.dispose();
    else backend.disposeData(r.dataId);
  };
  try {
    for (const kind of opts.depthwise === false
      ? (['conv2d'] as const)
      : (['conv2d', 'depthwise'] as const)) {
      for (const stride of strides) {
        const attrs = { strides: stride, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
        const depthwise = kind === 'depthwise';
        const filter = depthwise ? wd : w;
        const y = depthwise ? tf.depthwiseConv2d(x, wd, stride, 'same') : tf.conv2d(x, w, stride, 'same');
        const dy = tf.randomNormal(y.shape);
        const flops = 2 * y.size * k * k * (depthwise ? 1 : inC);
        const names = depthwise
          ? ([
              'DepthwiseConv2dNative',
              'DepthwiseConv2dNativeBackpropInput',
              'DepthwiseConv2dNativeBackpropFilter',
            ] as const)
          : (['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'] as const);
        log(`  ${kind} stride ${stride}: forward, input and filter gradients (${repeats} runs each)`);
        const [fwd, bpi, bpf] = timeKernels(
          [
            () => tf.engine().runKernel(names[0], { x, filter }, attrs) as tf.Tensor,
            () =>
              tf.engine().runKernel(names[1], { dy, filter }, { ...attrs, inputShape: x.shape }) as tf.Tensor,
            () =>
              tf
                .engine()
                .runKernel(names[2], { x, dy }, { ...attrs, filterShape: filter.shape }) as tf.Tensor,
          ],
          repeats,
          disposeOut,
        );
        const timing = ({ ms, cpuMs }: Sample): KernelTiming => ({
          ms,
          cpuMs,
          gflops: flops / ms / 1e6,
          ratio: ms / fwd.ms,
          cpuRatio: cpuMs / fwd.cpuMs,
        });
        const result: ConvBenchCase = {
          kind,
          stride,
          forward: timing(fwd),
          inputGrad: timing(bpi),
          filterGrad: timing(bpf),
        };
        const stock = stockWasmKernel('Conv2DBackpropInput');
        if (!depthwise && opts.stock !== false && stock !== undefined) {
          log(`  conv2d stride ${stride}: stock wasm input gradient (1 run)`);
          const call = (): TensorInfo =>
            stock({
              inputs: { dy, filter },
              backend,
              attrs: { ...attrs, inputShape: x.shape },
            }) as TensorInfo;
          result.stockInputGrad = timing(timeOnce(call, disposeOut));
        }
        cases.push(result);
        tf.dispose([y, dy]);
      }
    }
  } finally {
    tf.dispose([x, w, wd]);
    if (previous !== 'wasm') await tf.setBackend(previous);
  }
  const shape = `${batch}×${size}×${size}×${inC} → ${outC}, ${k}×${k} 'same'`;
  return {
    backend: 'wasm',
    simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
    threads: tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? 0 : 1,
    shape,
    cases,
    table: formatTable(shape, cases),
  };
}

function formatTable(shape: string, cases: ConvBenchCase[]): string {
  const cols = (...v: string[]): string => v.map((x) => x.padStart(10)).join('');
  const row = (c: ConvBenchCase, what: string, t: KernelTiming): string =>
    `${c.kind.padEnd(10)}${String(c.stride).padStart(6)}  ${what.padEnd(24)}` +
    cols(t.ms.toFixed(1), t.cpuMs.toFixed(1), t.gflops.toFixed(1), t.ratio.toFixed(2), t.cpuRatio.toFixed(2));
  const lines = [
    `${shape} (depthwise: channel multiplier 1); ratios are to the forward pass of the same convolution`,
    `${'op'.padEnd(10)}${'stride'.padStart(6)}  ${'kernel'.padEnd(24)}` +
      cols('wall ms', 'cpu ms', 'GFLOP/s', '× fwd', '× fwd cpu'),
  ];
  for (const c of cases) {
    lines.push(row(c, 'forward', c.forward));
    lines.push(row(c, 'input gradient', c.inputGrad));
    if (c.stockInputGrad) lines.push(row(c, 'input gradient (stock)', c.stockInputGrad));
    lines.push(row(c, 'filter gradient', c.filterGrad));
  }
  return lines.join('\n');
}
