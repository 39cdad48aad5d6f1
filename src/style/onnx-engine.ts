/**
 * The onnx style engine as transfer.ts uses it: targets (content features, blended style Gram matrices,
 * temperatures, normalised λ) and the costs with dJ/dG of one image, each one session run
 * (onnx-objective.ts builds the graphs). It computes what prepareTargets/objective compute on tfjs, from
 * host arrays, so transfer.ts can swap one for the other per network.
 */
import type { EngineName } from '../config.js';
import { activeEngine, inferenceThreads } from '../engine/inference/index.js';
import type { RgbImage } from '../image/index.js';
import { GraphFeatureNet, type FeatureNet } from './feature-net.js';
import {
  layerShape,
  onnxStyleUnsupported,
  OnnxStyleSessions,
  type ObjectiveLayout,
} from './onnx-objective.js';
import type { TransferOptions } from './options.js';

export interface OnnxTargets {
  width: number;
  height: number;
  /** The content image's activation at the content layer, NCHW. */
  content: { data: Float32Array; dims: number[] };
  /** Blended style Gram matrices [C, C] (scaled to the generated image's positions). */
  grams: Record<string, { data: Float32Array; dims: number[] }>;
  /** Softmax temperatures [C, 1] from the first style image, with smoothing. */
  temps?: Record<string, { data: Float32Array; dims: number[] }>;
  lambdas: Record<string, number>;
}

export interface OnnxCosts {
  J: number;
  Jcontent: number;
  Jstyle: number;
  Jtv: number;
  Jlayers: Record<string, number>;
}

type TargetOpts = Pick<
  TransferOptions,
  'contentLayer' | 'styleLayers' | 'normalizeStyleLayers' | 'smoothing'
>;

const rgb = (img: RgbImage) => ({ data: Float32Array.from(img.data), dims: [1, img.height, img.width, 3] });

/** Sessions for `net` when style transfer runs it on onnxruntime, else undefined (tfjs). */
export async function onnxStyleSessions(net: FeatureNet): Promise<OnnxStyleSessions | undefined> {
  if (!(net instanceof GraphFeatureNet) || onnxStyleUnsupported(net) !== undefined) return undefined;
  if ((await activeEngine()) !== 'onnx') return undefined;
  return new OnnxStyleSessions(net, inferenceThreads());
}

/** The engine and thread count style transfer uses for `net` (what `visage bench style` reports). */
export async function styleEngineFor(net: FeatureNet): Promise<{ engine: EngineName; threads: number }> {
  const s = await onnxStyleSessions(net);
  return s ? { engine: 'onnx', threads: inferenceThreads() } : { engine: 'tfjs', threads: 1 };
}

/**
 * prepareTargets on onnxruntime: `content` and `styles` already at their working sizes (the styles
 * resized by styleAtScale). Same maths: Grams rescaled to the content's positions and blended by weight,
 * the first style's temperatures shared, λ[l] normalised.
 */
export async function prepareOnnxTargets(
  s: OnnxStyleSessions,
  content: RgbImage,
  styles: Array<{ image: RgbImage; weight: number }>,
  opts: TargetOpts,
): Promise<OnnxTargets> {
  const def = s.net.def;
  const node = (l: string) => s.net.resolveLayer(l);
  const names = Object.keys(opts.styleLayers);
  const total = styles.reduce((a, x) => a + x.weight, 0);
  const smoothing = opts.smoothing === 'softmax';
  const { width, height } = content;
  const at = (h: number, w: number, l: string) => layerShape(def, [h, w, 3], node(l));
  const grams: OnnxTargets['grams'] = {};
  let temps: OnnxTargets['temps'];
  const tempFeeds = () => (temps ? Object.fromEntries(names.map((l) => [`temp:${l}`, temps![l]])) : {});
  for (const [si, st] of styles.entries()) {
    const { width: sw, height: sh } = st.image;
    const temperature = !smoothing ? 'none' : si === 0 ? 'self' : 'input';
    const r = await s.run(
      'targets',
      { height: sh, width: sw, gramLayers: names, temperature },
      { image: rgb(st.image), ...tempFeeds() },
    );
    if (temperature === 'self') temps = Object.fromEntries(names.map((l) => [l, r[`std:${l}`]]));
    for (const l of names) {
      const a = at(sh, sw, l);
      const g = at(height, width, l);
      const k = ((g.h * g.w) / (a.h * a.w)) * (st.weight / total);
      const src = r[`gram:${l}`].data;
      const acc = grams[l]?.data ?? new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) acc[i] += src[i] * k;
      grams[l] = { data: acc, dims: [a.c, a.c] };
    }
  }
  const byContent = opts.normalizeStyleLayers === 'content';
  const c = await s.run(
    'targets',
    {
      height,
      width,
      contentLayer: opts.contentLayer,
      gramLayers: byContent ? names : [],
      temperature: byContent && smoothing ? 'input' : 'none',
    },
    { image: rgb(content), ...(byContent ? tempFeeds() : {}) },
  );
  const lambdas: Record<string, number> = {};
  for (const l of names) {
    let lambda = opts.styleLayers[l];
    if (lambda !== 0 && opts.normalizeStyleLayers !== 'none') {
      const { h, w, c: ch } = at(height, width, l);
      const gs = grams[l].data;
      const gc = byContent ? c[`gram:${l}`].data : undefined;
      let sum = 0;
      for (let i = 0; i < gs.length; i++) {
        const d = gc ? gs[i] - gc[i] : gs[i];
        sum += d * d;
      }
      const norm = sum / (4 * ch * ch * (h * w) ** 2);
      if (norm > 0) lambda /= norm;
    }
    lambdas[l] = lambda;
  }
  return { width, height, content: c.content, grams, temps, lambdas };
}

/**
 * J and its parts for `g` (NHWC 0..255 at the targets' size), and dJ/dg with `gradient`. The content target
 * is the prepared one, or the features of `contentImage` (the jittered content) computed in the same run.
 */
export async function evaluateOnnx(
  s: OnnxStyleSessions,
  t: OnnxTargets,
  g: Float32Array,
  opts: Pick<TransferOptions, 'contentLayer' | 'contentWeight' | 'styleWeight' | 'tvWeight' | 'smoothing'>,
  o: { contentImage?: Float32Array; gradient: boolean },
): Promise<{ costs: OnnxCosts; grad?: Float32Array }> {
  const styleLayers = Object.keys(t.lambdas).filter((l) => t.lambdas[l] !== 0);
  const smoothing = opts.smoothing === 'softmax';
  const layout: ObjectiveLayout = {
    height: t.height,
    width: t.width,
    contentLayer: opts.contentLayer,
    styleLayers,
    smoothing,
    tv: opts.tvWeight > 0,
    content: o.contentImage ? 'image' : 'target',
    gradient: o.gradient,
  };
  const img = [1, t.height, t.width, 3];
  const scalar = (v: number) => ({ data: new Float32Array([v]), dims: [] });
  const feeds: Record<string, { data: Float32Array; dims: number[] }> = {
    g: { data: g, dims: img },
    alpha: scalar(opts.contentWeight),
    beta: scalar(opts.styleWeight),
    gamma: scalar(opts.tvWeight),
  };
  if (o.contentImage) feeds.content_image = { data: o.contentImage, dims: img };
  else feeds.content_target = t.content;
  for (const l of styleLayers) {
    feeds[`gram:${l}`] = t.grams[l];
    feeds[`lambda:${l}`] = scalar(t.lambdas[l]);
    if (smoothing) feeds[`temp:${l}`] = t.temps![l];
  }
  const r = await s.run('objective', layout, feeds);
  const v = (k: string) => r[k].data[0];
  return {
    costs: {
      J: v('J'),
      Jcontent: v('Jcontent'),
      Jstyle: v('Jstyle'),
      Jtv: v('Jtv'),
      Jlayers: Object.fromEntries(styleLayers.map((l) => [l, v(`J:${l}`)])),
    },
    grad: o.gradient ? r.grad.data : undefined,
  };
}
