import { initEngine } from '../engine/backend.js';
import { VisageError } from '../errors.js';
import { assertRgbImage, type RgbImage } from '../image/index.js';
import { luminanceInputs, recombineChrominance } from './colors.js';
import type { FeatureNet } from './feature-net.js';
import { loadInceptionV3 } from './nets/inception-v3.js';
import {
  fitLongSide,
  runTransfer,
  validateTransferOptions,
  type TransferOptions,
  type TransferProgress,
  type TransferResult,
} from './transfer.js';

export { contentCost, gramMatrix, styleLayerCost, styleCost, totalVariation } from './costs.js';
export { GraphFeatureNet, type FeatureNet } from './feature-net.js';
export { loadInceptionV3, readInceptionV3, INCEPTION_V3_NAME } from './nets/inception-v3.js';
export { vgg19Def, vgg19FeatureNet, randomVgg19, VGG19_CONV_LAYERS } from './nets/vgg19.js';
export {
  runTransfer,
  evaluateCosts,
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
}

export interface StylizeResult extends TransferResult {
  /** The options actually used (defaults filled in). */
  options: Omit<TransferOptions, 'signal' | 'onProgress' | 'onPreview'> & {
    preserveColors: boolean;
    network: string;
  };
}

let defaultNet: FeatureNet | undefined;

/** The shipped InceptionV3 FeatureNet, loaded on first use and kept for the process. */
export async function defaultStyleNetwork(): Promise<FeatureNet> {
  await initEngine();
  defaultNet ??= loadInceptionV3({ padding: STYLE_DEFAULTS.padding });
  return defaultNet;
}

/** Free the cached default network (its weights live in the engine). */
export function releaseDefaultStyleNetwork(): void {
  defaultNet?.dispose();
  defaultNet = undefined;
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
  const size = opts.size ?? STYLE_DEFAULTS.size;
  if (opts.scales === undefined && (!Number.isInteger(size) || size < 32))
    throw new VisageError('E_BAD_OPTION', `size must be an integer ≥ 32, got ${size}`, { size });

  const scales = opts.scales ?? autoScales(size);
  const net = opts.network ?? (await defaultStyleNetwork());
  const t: TransferOptions = {
    contentWeight: opts.contentWeight ?? STYLE_DEFAULTS.contentWeight,
    styleWeight: opts.styleWeight ?? STYLE_DEFAULTS.styleWeight,
    tvWeight: opts.tvWeight ?? STYLE_DEFAULTS.tvWeight,
    contentLayer: opts.contentLayer ?? net.defaultContentLayer,
    styleLayers: opts.styleLayers ?? { ...net.defaultStyleLayers },
    normalizeStyleLayers: opts.normalizeStyleLayers ?? STYLE_DEFAULTS.normalizeStyleLayers,
    smoothing: opts.smoothing ?? STYLE_DEFAULTS.smoothing,
    iterations:
      opts.iterations ?? scales.map((_, i) => (i === 0 ? STYLE_DEFAULTS.iterations : i === 1 ? 100 : 50)),
    scales,
    optimizer: opts.optimizer ?? STYLE_DEFAULTS.optimizer,
    parametrization: opts.parametrization ?? STYLE_DEFAULTS.parametrization,
    learningRate: opts.learningRate ?? STYLE_DEFAULTS.learningRate,
    init: opts.init ?? STYLE_DEFAULTS.init,
    initNoise: opts.initNoise ?? STYLE_DEFAULTS.initNoise,
    seed: opts.seed ?? STYLE_DEFAULTS.seed,
    jitter: opts.jitter ?? STYLE_DEFAULTS.jitter,
    styleScale: opts.styleScale ?? STYLE_DEFAULTS.styleScale,
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

  const preserveColors = opts.preserveColors ?? false;
  const inputs = preserveColors ? luminanceInputs(content, styles) : { content, styles };
  const result = await runTransfer(
    net,
    inputs.content,
    inputs.styles.map((image, i) => ({ image, weight: blend[i] })),
    t,
  );
  if (preserveColors) result.image = recombineChrominance(result.image, content);
  const { signal: _s, onProgress: _p, onPreview: _v, ...rest } = t;
  return { ...result, options: { ...rest, preserveColors, network: net.name } };
}

export type { TransferProgress as StyleProgress };
