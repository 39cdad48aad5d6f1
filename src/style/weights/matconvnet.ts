import type { WeightMap } from '../../engine/graph/index.js';
import { VisageError } from '../../errors.js';
import { checkVgg19Weights } from './check.js';
import { field, readMat5, text, type MatFile, type MatNumeric, type MatValue } from './mat5.js';
import { readWeightFile, sourceName } from './read-weight-file.js';
import type { Vgg19Weights } from './types.js';
import { vgg19ConvsUntil } from './until.js';

/**
 * MatConvNet's VGG-19 (`imagenet-vgg-verydeep-19.mat`, the course's file): a MAT-file whose `layers` hold
 * one struct per layer; conv layers carry `weights` = {filters, biases} (older releases: `filters` and
 * `biases` fields). DagNN files (`layers` + `params` struct arrays) are read too.
 *
 * Filter layout, with the evidence: MatConvNet filters are [height, width, in, out] — our HWIO — and need no
 * transposition. MatConvNet's own Caffe importer (utils/import-caffe.py, which utils/import-ref-models.sh
 * runs to make imagenet-vgg-verydeep-19.mat with `--caffe-variant=caffe` and the default `--transpose`)
 * turns Caffe's blob (num, channels, height, width) into (width, height, channels, num) by reversing the
 * axes, then swaps the first two axes "to a sane MATLAB format" (height, width, channels, num), and reverses
 * the first conv's input channels (BGR → RGB); the average image gets the same (1,0,2) transposition. The
 * result is written with scipy.io.savemat, so MATLAB's F(h,w,c,k) is that array's [h,w,c,k]. vl_nnconv pairs
 * the filter's first dimension with the image's first (the height: X is H×W×C×N, "1 <= FH <= H + pad
 * top+bottom"); its help text calls F "FW x FH x FC x K" while naming (FH,FW) the height and width, which is
 * why some TensorFlow ports transpose (1,0,2,3) — that swaps every kernel left/right with up/down. The
 * course's notebook feeds the loaded filters to tf.nn.conv2d (HWIO) unchanged, which agrees.
 */
export interface MatConvNetVgg19Weights extends Vgg19Weights {
  format: 'matconvnet';
  /** The file's mean pixel (RGB), when it has one (normalization.averageImage). */
  meanRgb?: number[];
  /** Things the user should know (e.g. a mean pixel other than the one the preprocessing subtracts). */
  warnings: string[];
}

/** The mean pixel MatConvNet's VGG files were made with (RGB), subtracted by the 'matconvnet' preprocessing. */
export const MATCONVNET_MEAN_RGB = [123.68, 116.779, 103.939];

interface ConvEntry {
  filters: MatValue | undefined;
  biases: MatValue | undefined;
}

export async function loadMatConvNetVgg19(
  file: string,
  opts: { until?: string } = {},
): Promise<MatConvNetVgg19Weights> {
  const source = sourceName(file);
  // `until` may name a conv or a pool layer; only the convolutions up to it are read.
  const wanted = vgg19ConvsUntil(opts.until);

  const mat = readMat5(await readWeightFile(file), source);
  const convs = convLayers(mat, source);
  const weights: WeightMap = new Map();
  for (const name of wanted) {
    const c = convs.get(name);
    if (!c) continue; // checkVgg19Weights names the first missing layer
    const f = numericOf(c.filters, source, `${name} filters`);
    const b = numericOf(c.biases, source, `${name} biases`);
    const dims = [...f.dims, 1, 1, 1].slice(0, 4);
    if (f.dims.length > 4 || dims.reduce((x, y) => x * y, 1) !== f.numel)
      throw new VisageError(
        'E_WRONG_NETWORK',
        `${source}: ${name} filters are [${f.dims}], not a 2-D convolution`,
      );
    weights.set(`${name}/kernel`, { shape: dims, data: colMajorToHwio(f.float32(), dims) });
    weights.set(`${name}/bias`, { shape: [b.numel], data: Float32Array.from(b.float32()) });
  }
  checkVgg19Weights(weights, source, wanted[wanted.length - 1]);

  const warnings: string[] = [];
  const meanRgb = meanPixel(mat);
  if (meanRgb && meanRgb.some((v, i) => Math.abs(v - MATCONVNET_MEAN_RGB[i]) > 0.5)) {
    warnings.push(
      `${source} was trained with the mean pixel RGB [${meanRgb.map((v) => v.toFixed(3))}], but the ` +
        `'matconvnet' preprocessing subtracts [${MATCONVNET_MEAN_RGB}]: results may be slightly off`,
    );
  }
  return { weights, preprocessing: 'matconvnet', format: 'matconvnet', meanRgb, warnings };
}

/** MATLAB's column-major [H, W, I, O] array → our row-major HWIO. */
export function colMajorToHwio(src: Float32Array, [H, W, I, O]: number[]): Float32Array {
  const out = new Float32Array(H * W * I * O);
  let s = 0;
  for (let o = 0; o < O; o++)
    for (let i = 0; i < I; i++)
      for (let w = 0; w < W; w++) for (let h = 0; h < H; h++) out[((h * W + w) * I + i) * O + o] = src[s++];
  return out;
}

function numericOf(v: MatValue | undefined, source: string, what: string): MatNumeric {
  if (v?.kind !== 'numeric')
    throw new VisageError('E_BAD_WEIGHTS', `${source}: ${what} are ${v ? `a ${v.kind} array` : 'missing'}`);
  return v;
}

/** The elements of a layer list: a cell of structs (SimpleNN) or a struct array (DagNN, old SimpleNN). */
function elementsOf(v: MatValue): MatValue[] {
  if (v.kind === 'cell') return v.cells;
  if (v.kind === 'struct')
    return v.elements.map((rec) => ({
      kind: 'struct',
      dims: [1, 1],
      fieldNames: v.fieldNames,
      elements: [rec],
    }));
  return [];
}

/** Every conv layer of the file, by its name. */
function convLayers(mat: MatFile, source: string): Map<string, ConvEntry> {
  const net = mat.variables.get('net');
  const layers = mat.variables.get('layers') ?? field(net, 'layers');
  if (!layers || (layers.kind !== 'cell' && layers.kind !== 'struct')) {
    throw new VisageError(
      'E_WRONG_NETWORK',
      `${source} holds no MatConvNet network (no 'layers' variable; it has: ${[...mat.variables.keys()].join(', ') || 'nothing'})`,
    );
  }
  const out = new Map<string, ConvEntry>();
  const params = mat.variables.get('params') ?? field(net, 'params');
  if (layers.kind === 'struct' && layers.fieldNames.includes('params') && params?.kind === 'struct') {
    // DagNN: each layer lists its parameter names; the values live in the `params` struct array.
    const values = new Map<string, MatValue>();
    for (const rec of params.elements) {
      const n = text(rec.get('name'));
      const v = rec.get('value');
      if (n !== undefined && v) values.set(n, v);
    }
    for (const rec of layers.elements) {
      const name = text(rec.get('name'));
      const type = text(rec.get('type'));
      const p = rec.get('params');
      if (!name || type !== 'dagnn.Conv' || p?.kind !== 'cell') continue;
      const [f, b] = p.cells.map((c) => values.get(text(c) ?? ''));
      out.set(name, { filters: f, biases: b });
    }
    return out;
  }
  for (const l of elementsOf(layers)) {
    const name = text(field(l, 'name'));
    if (!name || text(field(l, 'type')) !== 'conv') continue;
    const w = field(l, 'weights');
    if (w?.kind === 'cell') out.set(name, { filters: w.cells[0], biases: w.cells[1] });
    else out.set(name, { filters: field(l, 'filters'), biases: field(l, 'biases') });
  }
  return out;
}

/** The mean pixel of normalization.averageImage (a 3-vector or an H×W×3 image), if the file has one. */
function meanPixel(mat: MatFile): number[] | undefined {
  const net = mat.variables.get('net');
  const norm =
    mat.variables.get('normalization') ??
    field(mat.variables.get('meta'), 'normalization') ??
    field(net, 'normalization') ??
    field(field(net, 'meta'), 'normalization');
  const avg = field(norm, 'averageImage');
  if (avg?.kind !== 'numeric' || avg.numel < 3) return undefined;
  const v = avg.float64();
  if (avg.numel === 3) return Array.from(v);
  const [h, w, c] = avg.dims;
  if (c !== 3 || avg.dims.length !== 3) return undefined;
  // Column-major: each channel is a contiguous H×W plane.
  return [0, 1, 2].map((k) => {
    let s = 0;
    for (let j = k * h * w; j < (k + 1) * h * w; j++) s += v[j];
    return s / (h * w);
  });
}
