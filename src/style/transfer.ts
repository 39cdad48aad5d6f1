import * as tf from '@tensorflow/tfjs-core';
import { VisageError } from '../errors.js';
import { gaussian, mulberry32 } from '../util/random.js';
import { imageToTensor, resize, tensorToImage, type RgbImage } from '../image/index.js';
import { contentCost, gramMatrix, styleLayerCost, totalVariation } from './costs.js';
import type { FeatureNet } from './feature-net.js';
import type { TransferOptions, TransferProgress } from './options.js';
import { PixelParam, PyramidParam, type ImageParam } from './image-param.js';
import { lbfgsApply, lbfgsStep, LbfgsState } from './lbfgs.js';
import type { OnnxStyleSessions } from './onnx-objective.js';
import { evaluateOnnx, onnxStyleSessions, prepareOnnxTargets, type OnnxTargets } from './onnx-engine.js';

export type { TransferOptions, TransferProgress } from './options.js';

export interface StyleInput {
  image: RgbImage;
  /** Blend weight; weights are normalised to sum to 1. */
  weight: number;
}

export interface HistoryEntry {
  step: number;
  scale: number;
  J: number;
  Jcontent: number;
  Jstyle: number;
  Jtv: number;
  /** Unweighted J_style[l] per layer. */
  Jlayers: Record<string, number>;
}

export interface CostBreakdown {
  J: number;
  Jcontent: number;
  Jstyle: number;
  Jtv: number;
  Jlayers: Record<string, number>;
}

export interface TransferStats {
  /** Costs of the initial image and of the result, both at the output size and without jitter. */
  initial: CostBreakdown;
  final: CostBreakdown;
  /** initial.Jstyle / final.Jstyle. */
  styleReduction: number;
  /** The λ[l] actually used at the output scale (after normalisation). */
  effectiveStyleLayers: Record<string, number>;
  iterations: number;
  seconds: number;
  secondsPerIteration: number;
  /** Largest tfjs tensor memory seen (bytes), sampled after each forward pass and after each step. */
  peakTensorBytes: number;
  /** wasm backend: size of the engine's heap at the end (it only grows, so this is its peak); else 0. */
  wasmHeapBytes: number;
  aborted: boolean;
  /** The step (global) whose image was returned. */
  bestStep: number;
  /** Where the network, costs and gradient ran: onnxruntime on `threads` threads, or tfjs (one thread). */
  engine: 'onnx' | 'tfjs';
  threads: number;
}

export interface TransferResult {
  image: RgbImage;
  history: HistoryEntry[];
  stats: TransferStats;
}

/** Integer size with long side `long`, keeping the aspect ratio of w×h. */
export function fitLongSide(w: number, h: number, long: number): { width: number; height: number } {
  const s = long / Math.max(w, h);
  return { width: Math.max(1, Math.round(w * s)), height: Math.max(1, Math.round(h * s)) };
}

function toTensor(img: RgbImage): tf.Tensor4D {
  return tf.tidy(() => tf.expandDims(imageToTensor(img, { scale: 1 }), 0) as tf.Tensor4D);
}

/** Style image resized so that its area is styleScale²·(width·height), aspect kept. */
function styleAtScale(img: RgbImage, width: number, height: number, styleScale: number): RgbImage {
  const k = styleScale * Math.sqrt((width * height) / (img.width * img.height));
  return resize(img, Math.max(1, Math.round(img.width * k)), Math.max(1, Math.round(img.height * k)));
}

interface LayerTarget {
  gram: tf.Tensor2D;
  /** Per-channel temperature for softmax smoothing ([C]), or undefined. */
  temperature?: tf.Tensor1D;
  /** λ[l] after normalisation. */
  lambda: number;
}

/** Targets of the objective at one working size. */
export interface Targets {
  width: number;
  height: number;
  /** a[content layer](C), un-jittered. */
  content: tf.Tensor;
  layers: Record<string, LayerTarget>;
  dispose(): void;
}

/** The smoothing transform of `smoothing`; identity without a temperature. */
function smooth(a: tf.Tensor4D, temperature: tf.Tensor1D | undefined): tf.Tensor4D {
  if (!temperature) return a;
  return tf.tidy(() => {
    const [, h, w, c] = a.shape;
    const z = tf.reshape(tf.div(a, temperature), [h * w, c]);
    // softmax over positions (axis 0) = softmax of the transpose over its last axis.
    const s = tf.transpose(tf.softmax(tf.transpose(z)));
    return tf.reshape(tf.mul(s, h * w), [1, h, w, c]) as tf.Tensor4D;
  });
}

function channelStd(a: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => {
    const { variance } = tf.moments(a, [0, 1, 2]);
    return tf.add(tf.sqrt(variance), 1e-3) as tf.Tensor1D;
  });
}

/**
 * Content features and style Gram matrices for a generated image of the content's size. With several
 * styles the target Gram is their blend Σ w_s·G(S_s) (w normalised to sum 1), which has the same
 * gradient as Σ w_s·J_style(S_s, G). Style Grams are rescaled to G's number of positions.
 */
export function prepareTargets(
  net: FeatureNet,
  content: tf.Tensor4D,
  styles: StyleInput[],
  opts: Pick<
    TransferOptions,
    'contentLayer' | 'styleLayers' | 'normalizeStyleLayers' | 'smoothing' | 'styleScale'
  >,
): Targets {
  const [, height, width] = content.shape;
  const names = Object.keys(opts.styleLayers);
  const total = styles.reduce((s, x) => s + x.weight, 0);
  const layers: Record<string, LayerTarget> = {};
  const contentFeats = tf.tidy(() => {
    const f = net.forward(net.preprocess(content), [opts.contentLayer, ...names]);
    return Object.fromEntries(Object.entries(f).map(([k, v]) => [k, tf.keep(v)]));
  });
  const dispose = () => {
    tf.dispose(Object.values(contentFeats));
    for (const v of Object.values(layers)) tf.dispose([v.gram, ...(v.temperature ? [v.temperature] : [])]);
  };
  try {
    for (const [si, st] of styles.entries()) {
      const img = styleAtScale(st.image, width, height, opts.styleScale);
      tf.tidy(() => {
        const feats = net.forward(net.preprocess(toTensor(img)), names);
        for (const l of names) {
          const a = feats[l];
          const [, h, w] = a.shape;
          const [, gh, gw] = contentFeats[l].shape;
          // The first style image sets the temperature; blended styles share it so their Grams add up.
          const temperature =
            opts.smoothing === 'softmax' ? (layers[l]?.temperature ?? tf.keep(channelStd(a))) : undefined;
          const gram = tf.mul(
            gramMatrix(smooth(a, temperature)),
            ((gh * gw) / (h * w)) * (st.weight / total),
          );
          if (si === 0) layers[l] = { gram: tf.keep(gram) as tf.Tensor2D, temperature, lambda: 0 };
          else {
            const prev = layers[l].gram;
            layers[l].gram = tf.keep(tf.add(prev, gram)) as tf.Tensor2D;
            prev.dispose();
          }
        }
      });
    }
    for (const l of names) {
      let lambda = opts.styleLayers[l];
      if (lambda !== 0 && opts.normalizeStyleLayers !== 'none') {
        const a = contentFeats[l];
        const [, gh, gw, gc] = a.shape;
        const norm = tf.tidy(() =>
          opts.normalizeStyleLayers === 'gram'
            ? tf.sum(tf.square(layers[l].gram)).dataSync()[0] / (4 * gc * gc * (gh * gw) ** 2)
            : styleLayerCost(layers[l].gram, smooth(a as tf.Tensor4D, layers[l].temperature)).dataSync()[0],
        );
        if (norm > 0) lambda /= norm;
      }
      layers[l].lambda = lambda;
    }
  } catch (e) {
    dispose();
    throw e;
  }
  for (const l of names) if (l !== opts.contentLayer) contentFeats[l].dispose();
  return {
    width,
    height,
    content: contentFeats[opts.contentLayer],
    layers,
    dispose: () => {
      contentFeats[opts.contentLayer].dispose();
      for (const v of Object.values(layers)) tf.dispose([v.gram, ...(v.temperature ? [v.temperature] : [])]);
    },
  };
}

export interface CostTensors {
  J: tf.Scalar;
  Jcontent: tf.Scalar;
  Jstyle: tf.Scalar;
  Jtv: tf.Scalar;
  layers: Record<string, tf.Scalar>;
}

/**
 * J = α·J_content + β·Σ λ[l]·J_style[l] + γ·TV for the image `g` (0..255). `contentTarget` defaults to
 * the prepared (un-jittered) content features. Differentiable; call inside tidy or a gradient function.
 */
export function objective(
  net: FeatureNet,
  g: tf.Tensor4D,
  targets: Targets,
  opts: Pick<TransferOptions, 'contentLayer' | 'contentWeight' | 'styleWeight' | 'tvWeight'>,
  contentTarget: tf.Tensor = targets.content,
): CostTensors {
  const styleLayers = Object.keys(targets.layers).filter((l) => targets.layers[l].lambda !== 0);
  const taps = [...new Set([opts.contentLayer, ...styleLayers])];
  const feats = net.forward(net.preprocess(g), taps);
  const Jcontent = contentCost(contentTarget, feats[opts.contentLayer]);
  const layers: Record<string, tf.Scalar> = {};
  let Jstyle: tf.Scalar = tf.scalar(0);
  for (const l of styleLayers) {
    const t = targets.layers[l];
    layers[l] = styleLayerCost(t.gram, smooth(feats[l], t.temperature));
    Jstyle = tf.add(Jstyle, tf.mul(layers[l], t.lambda));
  }
  const Jtv = opts.tvWeight > 0 ? totalVariation(tf.div(g, 255) as tf.Tensor4D) : tf.scalar(0);
  const J = tf.addN([
    tf.mul(Jcontent, opts.contentWeight),
    tf.mul(Jstyle, opts.styleWeight),
    tf.mul(Jtv, opts.tvWeight),
  ]) as tf.Scalar;
  return { J, Jcontent, Jstyle, Jtv, layers };
}

function readCosts(c: CostTensors): CostBreakdown {
  const Jlayers: Record<string, number> = {};
  for (const [l, t] of Object.entries(c.layers)) Jlayers[l] = t.dataSync()[0];
  return {
    J: c.J.dataSync()[0],
    Jcontent: c.Jcontent.dataSync()[0],
    Jstyle: c.Jstyle.dataSync()[0],
    Jtv: c.Jtv.dataSync()[0],
    Jlayers,
  };
}

/** Reflect-pad by `pad` and crop h×w at (oy, ox): a translation without wrap-around or zero borders. */
function shift(x: tf.Tensor4D, pad: number, oy: number, ox: number): tf.Tensor4D {
  const [, h, w, c] = x.shape;
  const p = tf.mirrorPad(
    x,
    [
      [0, 0],
      [pad, pad],
      [pad, pad],
      [0, 0],
    ],
    'reflect',
  );
  return tf.slice(p, [0, oy, ox, 0], [1, h, w, c]);
}

/** Current size of the wasm backend's heap (0 on other backends). */
function wasmHeapBytes(): number {
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return tf.getBackend() === 'wasm' ? (b.wasm?.HEAPU8?.buffer.byteLength ?? 0) : 0;
}

const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

const PYRAMID_LEVELS = 5;

/** The optimisation. Images in, image out; every tensor it creates is disposed before it returns. */
export async function runTransfer(
  net: FeatureNet,
  content: RgbImage,
  styles: StyleInput[],
  opts: TransferOptions,
): Promise<TransferResult> {
  validateTransferOptions(opts);
  net.checkLayers([opts.contentLayer, ...Object.keys(opts.styleLayers)]);
  const scales = opts.scales;
  const iters = scales.map((_, i) => (Array.isArray(opts.iterations) ? opts.iterations[i] : opts.iterations));
  const sizes = scales.map((s) => fitLongSide(content.width, content.height, s));
  const totalSteps = iters.reduce((a, b) => a + b, 0);
  // Per-iteration cost grows with the area; the ETA weighs remaining iterations by it.
  const work = sizes.map((s, i) => s.width * s.height * iters[i]);
  const rand = mulberry32(opts.seed);
  const normal = gaussian(mulberry32(opts.seed ^ 0x5eed));
  const history: HistoryEntry[] = [];
  const t0 = performance.now();
  let peak = tf.memory().numBytes;
  let step = 0;
  let aborted = false;
  let best: { J: number; image: tf.Tensor4D; step: number } | undefined;
  let param: ImageParam | undefined;
  // onnxruntime (every core) where the network allows it and the engine is onnx; else tfjs.
  const onnx = await onnxStyleSessions(net);

  try {
    for (let si = 0; si < scales.length && !aborted; si++) {
      const { width, height } = sizes[si];
      const C = toTensor(resize(content, width, height));
      // Initial G: the previous scale's result upsampled, else per opts.init.
      const init = tf.tidy(() => {
        if (param) return tf.image.resizeBilinear(param.image(), [height, width], false, true);
        if (opts.init === 'style') return toTensor(resize(styles[0].image, width, height));
        const noise = tf.tensor4d(
          Float32Array.from({ length: width * height * 3 }, () => normal() * opts.initNoise),
          [1, height, width, 3],
        );
        const base = opts.init === 'noise' ? tf.fill([1, height, width, 3], 127.5) : C;
        return tf.clipByValue(tf.add(base, noise), 0, 255);
      }) as tf.Tensor4D;
      param?.dispose();
      param =
        opts.parametrization !== 'pixels' && opts.optimizer === 'adam'
          ? new PyramidParam(init, PYRAMID_LEVELS, opts.parametrization === 'pyramid-decorrelated')
          : new PixelParam(init);
      init.dispose();
      const p = param;

      // The previous scale's sessions are done with; the targets' ones are used once.
      onnx?.release();
      const targets = onnx
        ? await prepareOnnxTargets(
            onnx,
            resize(content, width, height),
            stylesAt(styles, width, height, opts),
            opts,
          )
        : prepareTargets(net, C, styles, opts);
      onnx?.release((k) => k.startsWith('objective'));
      const jitter =
        opts.optimizer === 'lbfgs' ? 0 : Math.floor(Math.min(opts.jitter, (Math.min(width, height) - 1) / 2));
      const adam = opts.optimizer === 'adam' ? tf.train.adam(opts.learningRate, 0.9, 0.999, 1e-8) : undefined;
      const lbfgs = opts.optimizer === 'lbfgs' ? new LbfgsState(20) : undefined;
      const isLast = si === scales.length - 1;
      const scaleStart = performance.now();
      try {
        for (let it = 1; it <= iters[si]; it++) {
          if (opts.signal?.aborted) {
            aborted = true;
            break;
          }
          const oy = jitter ? Math.floor(rand() * (2 * jitter + 1)) : 0;
          const ox = jitter ? Math.floor(rand() * (2 * jitter + 1)) : 0;
          let read: CostBreakdown;
          const before = isLast ? tf.tidy(() => tf.clone(p.image())) : undefined;
          if (onnx) {
            read = await onnxStep(
              onnx,
              targets as OnnxTargets,
              p,
              C,
              jitter,
              oy,
              ox,
              opts,
              adam,
              lbfgs,
              before,
            );
            peak = Math.max(peak, tf.memory().numBytes);
          } else {
            // A translated G is compared with the equally translated content (features are not shift-invariant).
            const t = targets as Targets;
            const contentTarget = jitter
              ? tf.tidy(
                  () =>
                    net.forward(net.preprocess(shift(C, jitter, oy, ox)), [opts.contentLayer])[
                      opts.contentLayer
                    ],
                )
              : t.content;
            let parts: CostTensors | undefined;
            const f = (): tf.Scalar => {
              const g = p.image();
              const c = objective(net, jitter ? shift(g, jitter, oy, ox) : g, t, opts, contentTarget);
              parts = c;
              peak = Math.max(peak, tf.memory().numBytes);
              for (const t of [c.Jcontent, c.Jstyle, c.Jtv, ...Object.values(c.layers)]) tf.keep(t);
              return c.J;
            };
            let value: tf.Scalar;
            if (adam) {
              const { value: v, grads } = tf.variableGrads(f, p.variables);
              adam.applyGradients(grads as tf.NamedTensorMap as Record<string, tf.Variable>);
              tf.dispose(grads);
              value = v;
            } else {
              value = lbfgsStep(lbfgs!, p.variables[0], f, opts.learningRate);
            }
            p.project();
            if (contentTarget !== t.content) contentTarget.dispose();
            const c = parts!;
            read = readCosts({ ...c, J: value });
            tf.dispose([value, c.Jcontent, c.Jstyle, c.Jtv, ...Object.values(c.layers)]);
            peak = Math.max(peak, tf.memory().numBytes);
          }
          step++;
          history.push({ step, scale: si, ...read });
          if (before) {
            // J was measured on the image before this step.
            if (!best || read.J < best.J) {
              best?.image.dispose();
              best = { J: read.J, image: before, step: step - 1 };
            } else before.dispose();
          }
          const scaleWorkDone = (it / iters[si]) * work[si];
          const rate = (performance.now() - scaleStart) / 1000 / scaleWorkDone;
          const remaining = work.slice(si).reduce((a, b) => a + b, 0) - scaleWorkDone;
          const progress: TransferProgress = {
            scale: si,
            scales: scales.length,
            width,
            height,
            iteration: it,
            iterations: iters[si],
            step,
            totalSteps,
            J: read.J,
            Jcontent: read.Jcontent,
            Jstyle: read.Jstyle,
            Jtv: read.Jtv,
            elapsedSeconds: (performance.now() - t0) / 1000,
            etaSeconds: rate * remaining,
          };
          opts.onProgress?.(progress);
          if (opts.onPreview && opts.previewEvery && (it % opts.previewEvery === 0 || it === iters[si])) {
            const img = tf.tidy(() => p.image());
            const preview = tensorToImage(img, { scale: 1 });
            img.dispose();
            await opts.onPreview(preview, progress);
          }
          await yieldToEventLoop();
        }
      } finally {
        adam?.dispose();
        lbfgs?.dispose();
        if (!onnx) (targets as Targets).dispose();
        C.dispose();
      }
    }

    // Result: the best step of the last scale, else the current image (abort before the last scale).
    const out = sizes[sizes.length - 1];
    let bestStep = step;
    const finalT = best
      ? best.image
      : tf.tidy(() => tf.image.resizeBilinear(param!.image(), [out.height, out.width], false, true));
    if (best) bestStep = best.step;
    best = undefined;
    const image = tensorToImage(finalT, { scale: 1 });
    finalT.dispose();
    const contentOut = resize(content, out.width, out.height);
    onnx?.release();
    const initial = onnx
      ? await evaluateCostsOnnx(onnx, contentOut, contentOut, styles, opts)
      : evaluateCosts(net, contentOut, contentOut, styles, opts);
    const final = onnx
      ? await evaluateCostsOnnx(onnx, image, contentOut, styles, opts)
      : evaluateCosts(net, image, contentOut, styles, opts);
    const seconds = (performance.now() - t0) / 1000;
    return {
      image,
      history,
      stats: {
        initial: initial.costs,
        final: final.costs,
        styleReduction: initial.costs.Jstyle / final.costs.Jstyle,
        effectiveStyleLayers: final.lambdas,
        iterations: step,
        seconds,
        secondsPerIteration: step ? seconds / step : 0,
        peakTensorBytes: peak,
        wasmHeapBytes: wasmHeapBytes(),
        aborted,
        bestStep,
        engine: onnx ? 'onnx' : 'tfjs',
        threads: onnx ? onnx.threads : 1,
      },
    };
  } finally {
    param?.dispose();
    best?.image.dispose();
    onnx?.release();
  }
}

/** The styles resized for a generated image of width×height (styleAtScale each). */
function stylesAt(
  styles: StyleInput[],
  width: number,
  height: number,
  opts: Pick<TransferOptions, 'styleScale'>,
) {
  return styles.map((s) => ({
    image: styleAtScale(s.image, width, height, opts.styleScale),
    weight: s.weight,
  }));
}

/**
 * One optimiser step with J and dJ/dG from onnxruntime. The image G (and its jitter) comes from the
 * parametrisation on tfjs; onnxruntime returns dJ/d(G shifted); the chain rule back to the
 * parametrisation's variables is tfjs' gradient of Σ shift(G(θ)) ⊙ dJ/dG, a few image-sized ops.
 */
async function onnxStep(
  s: OnnxStyleSessions,
  targets: OnnxTargets,
  p: ImageParam,
  C: tf.Tensor4D,
  jitter: number,
  oy: number,
  ox: number,
  opts: TransferOptions,
  adam: tf.Optimizer | undefined,
  lbfgs: LbfgsState | undefined,
  /** p.image() as it is now, when the caller has it already. */
  current?: tf.Tensor4D,
): Promise<CostBreakdown> {
  const view = (img = p.image()) => (jitter ? shift(img, jitter, oy, ox) : img);
  const g = tf.tidy(() => tf.clone(view(current)));
  const contentImage = jitter ? tf.tidy(() => shift(C, jitter, oy, ox)) : undefined;
  let r: Awaited<ReturnType<typeof evaluateOnnx>>;
  try {
    r = await evaluateOnnx(s, targets, (await g.data()) as Float32Array, opts, {
      contentImage: contentImage ? ((await contentImage.data()) as Float32Array) : undefined,
      gradient: true,
    });
  } finally {
    tf.dispose([g, ...(contentImage ? [contentImage] : [])]);
  }
  const grad = tf.tensor4d(r.grad!, [1, targets.height, targets.width, 3]);
  try {
    if (adam) {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(view(), grad)), p.variables);
      adam.applyGradients(grads as tf.NamedTensorMap as Record<string, tf.Variable>);
      tf.dispose([value, ...Object.values(grads)]);
    } else lbfgsApply(lbfgs!, p.variables[0], grad, opts.learningRate);
  } finally {
    grad.dispose();
  }
  p.project();
  return r.costs;
}

/** evaluateCosts on onnxruntime. */
async function evaluateCostsOnnx(
  s: OnnxStyleSessions,
  g: RgbImage,
  content: RgbImage,
  styles: StyleInput[],
  opts: TransferOptions,
): Promise<{ costs: CostBreakdown; lambdas: Record<string, number> }> {
  const sameSize = content.width === g.width && content.height === g.height;
  const c = sameSize ? content : resize(content, g.width, g.height);
  const t = await prepareOnnxTargets(s, c, stylesAt(styles, g.width, g.height, opts), opts);
  const { costs } = await evaluateOnnx(s, t, Float32Array.from(g.data), opts, { gradient: false });
  return { costs, lambdas: { ...t.lambdas } };
}

/**
 * J and its parts for the image `g` on the engine style transfer uses for `net` (onnxruntime where it
 * can, else tfjs: then the same as evaluateCosts).
 */
export async function evaluateCostsOnEngine(
  net: FeatureNet,
  g: RgbImage,
  content: RgbImage,
  styles: StyleInput[],
  opts: TransferOptions,
): Promise<{ costs: CostBreakdown; lambdas: Record<string, number>; engine: 'onnx' | 'tfjs' }> {
  const s = await onnxStyleSessions(net);
  if (!s) return { ...evaluateCosts(net, g, content, styles, opts), engine: 'tfjs' };
  try {
    return { ...(await evaluateCostsOnnx(s, g, content, styles, opts)), engine: 'onnx' };
  } finally {
    s.release();
  }
}

/**
 * J and its parts for the image `g` against the content and styles, at g's size and without jitter (the
 * before/after numbers of a run; also handy in tests).
 */
export function evaluateCosts(
  net: FeatureNet,
  g: RgbImage,
  content: RgbImage,
  styles: StyleInput[],
  opts: TransferOptions,
): { costs: CostBreakdown; lambdas: Record<string, number> } {
  const sameSize = content.width === g.width && content.height === g.height;
  const C = toTensor(sameSize ? content : resize(content, g.width, g.height));
  const G = toTensor(g);
  const targets = prepareTargets(net, C, styles, opts);
  try {
    const c = tf.tidy(() => {
      const o = objective(net, G, targets, opts);
      return [o.J, o.Jcontent, o.Jstyle, o.Jtv, ...Object.values(o.layers)];
    });
    const names = Object.keys(targets.layers).filter((l) => targets.layers[l].lambda !== 0);
    const costs = readCosts({
      J: c[0] as tf.Scalar,
      Jcontent: c[1] as tf.Scalar,
      Jstyle: c[2] as tf.Scalar,
      Jtv: c[3] as tf.Scalar,
      layers: Object.fromEntries(names.map((l, i) => [l, c[4 + i] as tf.Scalar])),
    });
    tf.dispose(c);
    const lambdas: Record<string, number> = {};
    for (const [l, t] of Object.entries(targets.layers)) lambdas[l] = t.lambda;
    return { costs, lambdas };
  } finally {
    tf.dispose([C, G]);
    targets.dispose();
  }
}

/** Throws E_BAD_OPTION unless the options make sense. */
export function validateTransferOptions(opts: TransferOptions): void {
  const bad = (msg: string, details?: Record<string, unknown>): never => {
    throw new VisageError('E_BAD_OPTION', msg, details);
  };
  const nonNeg = (name: string, v: number) => {
    if (!Number.isFinite(v) || v < 0) bad(`${name} must be a finite number ≥ 0, got ${v}`, { [name]: v });
  };
  nonNeg('contentWeight', opts.contentWeight);
  nonNeg('styleWeight', opts.styleWeight);
  nonNeg('tvWeight', opts.tvWeight);
  nonNeg('initNoise', opts.initNoise);
  nonNeg('jitter', opts.jitter);
  for (const [l, w] of Object.entries(opts.styleLayers)) nonNeg(`style layer weight ${l}`, w);
  if (Object.keys(opts.styleLayers).length === 0) bad('at least one style layer is needed');
  if (!(opts.learningRate > 0) || !Number.isFinite(opts.learningRate))
    bad(`learningRate must be > 0, got ${opts.learningRate}`);
  if (!(opts.styleScale > 0) || !Number.isFinite(opts.styleScale))
    bad(`styleScale must be > 0, got ${opts.styleScale}`);
  if (opts.scales.length === 0) bad('at least one scale is needed');
  for (const [i, s] of opts.scales.entries()) {
    if (!Number.isInteger(s) || s < 32)
      bad(`scale sizes must be integers ≥ 32, got ${s}`, { scales: opts.scales });
    if (i > 0 && s < opts.scales[i - 1]) bad(`scales must be ascending, got ${opts.scales.join(',')}`);
  }
  const iters = Array.isArray(opts.iterations) ? opts.iterations : [opts.iterations];
  if (Array.isArray(opts.iterations) && iters.length !== opts.scales.length)
    bad(`${iters.length} iteration counts for ${opts.scales.length} scales`);
  for (const n of iters) if (!Number.isInteger(n) || n < 0) bad(`iterations must be integers ≥ 0, got ${n}`);
  if (!['adam', 'lbfgs'].includes(opts.optimizer))
    bad(`optimizer must be adam or lbfgs, got ${opts.optimizer}`);
  if (!['content', 'noise', 'style'].includes(opts.init))
    bad(`init must be content, noise or style, got ${opts.init}`);
  if (!['none', 'softmax'].includes(opts.smoothing))
    bad(`smoothing must be none or softmax, got ${opts.smoothing}`);
  if (!['none', 'content', 'gram'].includes(opts.normalizeStyleLayers))
    bad(`normalizeStyleLayers must be none, content or gram, got ${opts.normalizeStyleLayers}`);
  if (!['pixels', 'pyramid', 'pyramid-decorrelated'].includes(opts.parametrization))
    bad(`parametrization must be pixels, pyramid or pyramid-decorrelated, got ${opts.parametrization}`);
  if (!Number.isInteger(opts.seed)) bad(`seed must be an integer, got ${opts.seed}`);
  if (opts.previewEvery !== undefined && (!Number.isInteger(opts.previewEvery) || opts.previewEvery < 1))
    bad(`previewEvery must be a positive integer, got ${opts.previewEvery}`);
}
