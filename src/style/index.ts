import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initEngine } from '../engine/backend.js';
import { VisageError } from '../errors.js';
import { assertRgbImage, type RgbImage } from '../image/index.js';
import { luminanceInputs, recombineChrominance } from './colors.js';
import type { FeatureNet } from './feature-net.js';
import { styleEngineFor } from './onnx-engine.js';
import { INCEPTION_V3_NAME, loadInceptionV3 } from './nets/inception-v3.js';
import { VGG19_DEFAULT_CONTENT, VGG19_DEFAULT_STYLE } from './nets/vgg19.js';
import { vgg19FromFile, vgg19UntilFor } from './weights/index.js';
import {
  fitLongSide,
  runTransfer,
  validateTransferOptions,
  type TransferOptions,
  type TransferProgress,
  type TransferResult,
} from './transfer.js';

export { contentCost, gramMatrix, styleLayerCost, styleCost, totalVariation } from './costs.js';
export { GraphFeatureNet, type FeatureNet, type TransferDefaults } from './feature-net.js';
export { loadInceptionV3, readInceptionV3, INCEPTION_V3_NAME } from './nets/inception-v3.js';
export {
  vgg19Def,
  vgg19FeatureNet,
  randomVgg19,
  VGG19_CONV_LAYERS,
  VGG19_STYLE_DEFAULTS,
} from './nets/vgg19.js';
export {
  detectWeightFormat,
  loadVgg19Weights,
  saveVgg19Weights,
  vgg19FromFile,
  type Vgg19FromFileOptions,
  type Vgg19WeightFormat,
  type Vgg19Weights,
} from './weights/index.js';
export { styleEngineFor } from './onnx-engine.js';
export {
  runTransfer,
  evaluateCosts,
  evaluateCostsOnEngine,
  prepareTargets,
  objective,
  type TransferOptions,
  type TransferProgress,
  type TransferResult,
  type TransferStats,
  type HistoryEntry,
  type CostBreakdown,
  type StyleInput,
} from './transfer.js';

/**
 * Defaults for the shipped InceptionV3, chosen by looking at results on the shared test images
 * (docs/images/style/ and the README show the runs that justify them).
 */
export const STYLE_DEFAULTS = {
  size: 256,
  contentWeight: 1.5,
  styleWeight: 1,
  tvWeight: 10,
  normalizeStyleLayers: 'content',
  smoothing: 'none',
  iterations: 150,
  optimizer: 'adam',
  parametrization: 'pyramid-decorrelated',
  learningRate: 2,
  init: 'content',
  initNoise: 10,
  seed: 1,
  jitter: 8,
  styleScale: 1,
  padding: 'zero',
} as const;

/** stylize()'s defaults for `net`: STYLE_DEFAULTS overlaid by what the network was tuned with. */
export function styleDefaultsFor(net: FeatureNet) {
  return { ...STYLE_DEFAULTS, ...net.transferDefaults };
}

/** Options of `stylize`; each defaults to STYLE_DEFAULTS (or the network's own defaults). */
export interface StylizeOptions extends Partial<Omit<TransferOptions, 'scales'>> {
  /**
   * Long side of the output in pixels (ignored when `scales` is given). Sizes above 384 run
   * coarse-to-fine from ≥ 256 px by halving (512 → 256, 512; 1024 → 256, 512, 1024).
   */
  size?: number;
  /** Coarse-to-fine long sides, ascending; the last is the output size. */
  scales?: number[];
  /**
   * Iterations per scale; one number applies to every scale. Default: 150 at the first scale, 100 at the
   * second, 50 at each further one (later scales refine an already stylised image).
   */
  iterations?: number | number[];
  /** Blend weights of the style images (default equal); normalised to sum 1. */
  styleBlend?: number[];
  /** Keep the content's colours: luminance-only transfer. */
  preserveColors?: boolean;
  /** Feature network (default: the shipped InceptionV3, loaded once per process). */
  network?: FeatureNet;
  /**
   * VGG-19 weights file (Keras .h5, MatConvNet .mat, PyTorch .pth, tfjs/Visage model.json): use VGG-19
   * with its defaults (VGG19_STYLE_DEFAULTS, carried by the network). Only the layers up to the deepest one used are read.
   */
  weights?: string;
  /** VGG-19's pooling (with `weights`): Gatys et al. prefer 'avg'. Default 'max'. */
  pooling?: 'max' | 'avg';
}

/** What `stylize` made: the image, its J history and statistics, the options used. */
export interface StylizeResult extends TransferResult {
  /** The options actually used (defaults filled in). */
  options: Omit<TransferOptions, 'signal' | 'onProgress' | 'onPreview'> & {
    preserveColors: boolean;
    network: string;
  };
}

let defaultNet: FeatureNet | undefined;
let fileNet: { key: string; net: Promise<FeatureNet> } | undefined;

/** The shipped InceptionV3 FeatureNet, loaded on first use and kept for the process. */
export async function defaultStyleNetwork(): Promise<FeatureNet> {
  await initEngine();
  defaultNet ??= loadInceptionV3({ padding: STYLE_DEFAULTS.padding });
  return defaultNet;
}

/** Free the cached default network and the last VGG-19 read from a file (their weights live in the engine). */
export function releaseDefaultStyleNetwork(): void {
  defaultNet?.dispose();
  defaultNet = undefined;
  releaseFileNetwork();
}

function releaseFileNetwork(): void {
  void fileNet?.net.then((n) => n.dispose()).catch(() => undefined);
  fileNet = undefined;
}

/** VGG-19 from `file` up to the deepest layer asked for; the last one is kept while the file is unchanged. */
async function weightsNetwork(file: string, opts: StylizeOptions): Promise<FeatureNet> {
  const until = vgg19UntilFor([
    opts.contentLayer ?? VGG19_DEFAULT_CONTENT,
    ...Object.keys(opts.styleLayers ?? VGG19_DEFAULT_STYLE),
  ]);
  const st = await fs.promises.stat(file).catch(() => undefined);
  const key = [path.resolve(file), st?.mtimeMs, st?.size, until, opts.pooling ?? 'max'].join('|');
  if (fileNet?.key !== key) {
    releaseFileNetwork();
    const net = vgg19FromFile(file, { until, pooling: opts.pooling });
    fileNet = { key, net };
    net.catch(() => {
      if (fileNet?.net === net) fileNet = undefined;
    });
  }
  return fileNet.net;
}

/** Coarse-to-fine ladder for an output long side: halve while the next step stays ≥ 256 px. */
export function autoScales(size: number): number[] {
  const scales = [size];
  while (scales[0] > 384 && Math.round(scales[0] / 2) >= 256) scales.unshift(Math.round(scales[0] / 2));
  return scales;
}

/** A style image needing more than this enlargement to match the output is refused (it would be mush). */
const MAX_STYLE_UPSCALE = 4;

/**
 * Neural style transfer (Gatys et al.): an image with the content of `content` painted in the style of
 * `styles` (blended). Errors: E_BAD_INPUT (no style, malformed or far too small images), E_BAD_OPTION
 * (negative weights/iterations, inconsistent options), E_UNKNOWN_LAYER (a layer the network lacks).
 */
export async function stylize(
  content: RgbImage,
  styles: RgbImage[],
  opts: StylizeOptions = {},
): Promise<StylizeResult> {
  assertRgbImage(content, 'content image');
  if (!Array.isArray(styles) || styles.length === 0)
    throw new VisageError('E_BAD_INPUT', 'at least one style image is needed');
  styles.forEach((s, i) => assertRgbImage(s, `style image ${i + 1}`));
  const blend = opts.styleBlend ?? styles.map(() => 1);
  if (blend.length !== styles.length)
    throw new VisageError('E_BAD_OPTION', `${blend.length} blend weights for ${styles.length} style images`, {
      styleBlend: blend,
    });
  if (blend.some((w) => !Number.isFinite(w) || w < 0) || !(blend.reduce((a, b) => a + b, 0) > 0))
    throw new VisageError(
      'E_BAD_OPTION',
      `style blend weights must be ≥ 0 and not all 0, got ${blend.join(',')}`,
      {
        styleBlend: blend,
      },
    );
  if (opts.weights !== undefined && opts.network)
    throw new VisageError('E_BAD_OPTION', 'give either a network or a weights file, not both');
  if (opts.pooling !== undefined && !['max', 'avg'].includes(opts.pooling))
    throw new VisageError('E_BAD_OPTION', `pooling must be max or avg, got "${String(opts.pooling)}"`);
  if (opts.pooling !== undefined && opts.weights === undefined)
    throw new VisageError(
      'E_BAD_OPTION',
      'pooling applies to VGG-19 read from a weights file (weights/--weights)',
    );

  const size = opts.size ?? STYLE_DEFAULTS.size; // a network's defaults never change the output size
  if (opts.scales === undefined && (!Number.isInteger(size) || size < 32))
    throw new VisageError('E_BAD_OPTION', `size must be an integer ≥ 32, got ${size}`, { size });

  const net =
    opts.network ??
    (opts.weights !== undefined ? await weightsNetwork(opts.weights, opts) : await defaultStyleNetwork());
  const d = styleDefaultsFor(net);
  const scales = opts.scales ?? autoScales(size);
  const t: TransferOptions = {
    contentWeight: opts.contentWeight ?? d.contentWeight,
    styleWeight: opts.styleWeight ?? d.styleWeight,
    tvWeight: opts.tvWeight ?? d.tvWeight,
    contentLayer: opts.contentLayer ?? net.defaultContentLayer,
    styleLayers: opts.styleLayers ?? { ...net.defaultStyleLayers },
    normalizeStyleLayers: opts.normalizeStyleLayers ?? d.normalizeStyleLayers,
    smoothing: opts.smoothing ?? d.smoothing,
    iterations: opts.iterations ?? scales.map((_, i) => (i === 0 ? d.iterations : i === 1 ? 100 : 50)),
    scales,
    optimizer: opts.optimizer ?? d.optimizer,
    parametrization: opts.parametrization ?? d.parametrization,
    learningRate: opts.learningRate ?? d.learningRate,
    init: opts.init ?? d.init,
    initNoise: opts.initNoise ?? d.initNoise,
    seed: opts.seed ?? d.seed,
    jitter: opts.jitter ?? d.jitter,
    styleScale: opts.styleScale ?? d.styleScale,
    signal: opts.signal,
    onProgress: opts.onProgress,
    onPreview: opts.onPreview,
    previewEvery: opts.previewEvery,
  };
  validateTransferOptions(t);
  net.checkLayers([t.contentLayer, ...Object.keys(t.styleLayers)]);

  const out = fitLongSide(content.width, content.height, t.scales[t.scales.length - 1]);
  styles.forEach((s, i) => {
    const k = t.styleScale * Math.sqrt((out.width * out.height) / (s.width * s.height));
    if (k > MAX_STYLE_UPSCALE)
      throw new VisageError(
        'E_BAD_INPUT',
        `style image ${i + 1} (${s.width}×${s.height}) is much smaller than the ${out.width}×${out.height} output ` +
          `(it would be enlarged ${k.toFixed(1)}×); use a larger style image or a smaller size`,
        { style: i + 1, width: s.width, height: s.height, upscale: k },
      );
  });

  checkScaleSizes(
    net.name,
    [t.contentLayer, ...Object.keys(t.styleLayers)],
    content,
    styles,
    t.styleScale,
    t.scales,
    (await styleEngineFor(net)).engine,
  );

  const preserveColors = opts.preserveColors ?? false;
  const inputs = preserveColors ? luminanceInputs(content, styles) : { content, styles };
  // A J that is no longer a finite number (weights so large that it overflows, a learning rate that
  // explodes) stops the run with E_DIVERGED instead of writing a meaningless image.
  const stop = new AbortController();
  const abortOuter = () => stop.abort();
  opts.signal?.addEventListener('abort', abortOuter, { once: true });
  if (opts.signal?.aborted) stop.abort();
  let diverged: TransferProgress | undefined;
  const result = await runTransfer(
    net,
    inputs.content,
    inputs.styles.map((image, i) => ({ image, weight: blend[i] })),
    {
      ...t,
      signal: stop.signal,
      onProgress: (p) => {
        if (!Number.isFinite(p.J)) {
          diverged ??= p;
          stop.abort();
          return;
        }
        t.onProgress?.(p);
      },
    },
  ).finally(() => opts.signal?.removeEventListener('abort', abortOuter));
  if (diverged)
    throw new VisageError(
      'E_DIVERGED',
      `style transfer diverged at step ${diverged.step}: J = ${diverged.J} (J_content ${diverged.Jcontent}, ` +
        `J_style ${diverged.Jstyle}); lower the weights or the learning rate`,
      { step: diverged.step, J: diverged.J },
    );
  if (preserveColors) result.image = recombineChrominance(result.image, content);
  const { signal: _s, onProgress: _p, onPreview: _v, ...rest } = t;
  return { ...result, options: { ...rest, preserveColors, network: net.name } };
}

/**
 * The smallest short side each known network takes at every scale (InceptionV3's unpadded stem and
 * reductions run out of pixels below it: 57×43 works, 56×42 fails inside the engine; VGG-19 needs
 * one pixel left at its deepest tap, 2^pools before it) and its wasm heap per output pixel, measured by
 * `visage bench style --check-1024` (peak heap ÷ pixels at the largest size run).
 */
function networkLimits(
  name: string,
  layers: string[],
): { minSide: number; heapBytesPerPixel: number; rssBytesPerPixel: number } | undefined {
  if (name === INCEPTION_V3_NAME)
    return {
      minSide: 43,
      heapBytesPerPixel: 3577e6 / (1024 * 1024),
      rssBytesPerPixel: (3014 * 2 ** 20) / (1024 * 1024),
    };
  if (name.startsWith('vgg19'))
    return {
      minSide: 2 ** vgg19PoolsBefore(layers),
      heapBytesPerPixel: 2392e6 / (512 * 512),
      rssBytesPerPixel: (7131 * 2 ** 20) / (1024 * 1024),
    };
  return undefined;
}

/** How many 2× poolings VGG-19 applies before the deepest of these layers (convB_i follows B−1, poolB is the B-th). */
function vgg19PoolsBefore(layers: string[]): number {
  let pools = 0;
  for (const l of layers) {
    const m = /^(conv|relu|pool)(\d)/.exec(l);
    if (m) pools = Math.max(pools, m[1] === 'pool' ? Number(m[2]) : Number(m[2]) - 1);
  }
  return pools;
}

/** The heap the tfjs wasm backend can grow to (its hard cap), less a margin for the inputs and the rest. */
const WASM_HEAP_BUDGET = 3.8e9;

/** Refuse up front what the network cannot take, instead of a crash or an abort minutes later. */
function checkScaleSizes(
  network: string,
  layers: string[],
  content: RgbImage,
  styles: RgbImage[],
  styleScale: number,
  scales: number[],
  engine: 'onnx' | 'tfjs',
): void {
  const limits = networkLimits(network, layers);
  if (!limits) return;
  for (const long of scales) {
    const { width, height } = fitLongSide(content.width, content.height, long);
    if (Math.min(width, height) < limits.minSide)
      throw new VisageError(
        'E_BAD_OPTION',
        `at size ${long} the ${content.width}×${content.height} content image becomes ${width}×${height}, ` +
          `below the ${limits.minSide}-px short side ${network} needs; use a larger size`,
        { size: long, width, height, minSide: limits.minSide },
      );
    styles.forEach((s, i) => {
      // Each style image is resized to styleScale² × the content's area, keeping its own aspect.
      const k = styleScale * Math.sqrt((width * height) / (s.width * s.height));
      if (Math.min(s.width, s.height) * k < limits.minSide)
        throw new VisageError(
          'E_BAD_INPUT',
          `at size ${long}, style image ${i + 1} (${s.width}×${s.height}) is resized to a short side of ` +
            `${Math.floor(Math.min(s.width, s.height) * k)} px, below the ${limits.minSide} px ${network} needs; ` +
            'use a larger size or a less elongated style image',
          { style: i + 1, size: long, minSide: limits.minSide },
        );
    });
  }
  const last = fitLongSide(content.width, content.height, scales[scales.length - 1]);
  if (engine !== 'tfjs') {
    // onnxruntime has no heap cap, but a run far beyond the machine's memory would only end in the OOM
    // killer: refuse what the measured peak RSS per pixel (bench style --check-1024) says cannot fit.
    const need = last.width * last.height * limits.rssBytesPerPixel;
    if (need > os.totalmem())
      throw new VisageError(
        'E_IMAGE_TOO_LARGE',
        `a ${last.width}×${last.height} result on ${network} needs about ${(need / 1e9).toFixed(1)} GB, more ` +
          `than this machine's ${(os.totalmem() / 1e9).toFixed(1)} GB of memory; use a smaller size`,
        { width: last.width, height: last.height, bytes: need },
      );
    return;
  }
  const bytes = last.width * last.height * limits.heapBytesPerPixel;
  if (bytes > WASM_HEAP_BUDGET)
    throw new VisageError(
      'E_IMAGE_TOO_LARGE',
      `a ${last.width}×${last.height} result on ${network} needs about ${(bytes / 1e9).toFixed(1)} GB, over ` +
        `the ${(WASM_HEAP_BUDGET / 1e9).toFixed(1)} GB the engine's heap can hold; use a smaller size`,
      { width: last.width, height: last.height, bytes },
    );
}

export type { TransferProgress as StyleProgress };
