import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import h5wasm from 'h5wasm/node';
import { initEngine } from '../../src/engine/backend.js';
import { initWeights, type WeightMap } from '../../src/engine/graph/index.js';
import { gaussian, mulberry32 } from '../../src/util/random.js';
import { isVisageError, type ErrorCode } from '../../src/errors.js';
import { vgg19Def, vgg19FeatureNet, type Vgg19Preprocessing } from '../../src/style/nets/vgg19.js';
import { VGG19_CONV_SHAPES } from '../../src/style/weights/check.js';
import { vgg19ConvsUntil } from '../../src/style/weights/until.js';

/**
 * Deterministic VGG-19 weights with the real shapes up to `until` (our layout: HWIO kernels), He-scaled
 * so activations stay O(1) through a few layers. Small files of each format are written from these.
 */
export function smallVgg19Weights(until = 'conv1_2', seed = 7): WeightMap {
  const normal = gaussian(mulberry32(seed));
  const w: WeightMap = new Map();
  for (const name of vgg19ConvsUntil(until)) {
    const { cin, cout } = VGG19_CONV_SHAPES.find((c) => c.name === name)!;
    const std = Math.sqrt(2 / (9 * cin));
    w.set(`${name}/kernel`, {
      shape: [3, 3, cin, cout],
      data: Float32Array.from({ length: 9 * cin * cout }, () => normal() * std),
    });
    w.set(`${name}/bias`, { shape: [cout], data: Float32Array.from({ length: cout }, () => normal() * 0.1) });
  }
  return w;
}

export function tempDir(prefix = 'visage-vgg19-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Per-test-file setup: the engine starts before the tests; the returned temp dir is removed after them. */
export function weightsTestDir(prefix?: string): string {
  const dir = tempDir(prefix);
  before(async () => {
    await initEngine();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `p` rejects with a VisageError of this code, whose message matches every pattern given. */
export const rejectsWithCode = (p: Promise<unknown>, code: ErrorCode, msg?: RegExp | RegExp[]) =>
  assert.rejects(p, (e) => {
    assert.ok(isVisageError(e), String(e));
    assert.equal(e.code, code, e.message);
    for (const m of [msg ?? []].flat()) assert.match(e.message, m);
    return true;
  });

/** Same names, shapes and (exactly) the same values. */
export function assertSameWeights(got: WeightMap, want: WeightMap): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [k, w] of want) {
    const g = got.get(k)!;
    assert.deepEqual(g.shape, w.shape, k);
    assert.ok(
      g.data.every((v, i) => v === w.data[i]),
      `${k}: values differ`,
    );
  }
}

/** The convolutions (name, in, out channels) the MatConvNet and PyTorch test files write. */
export const TEST_CONVS: [string, number, number][] = [
  ['conv1_1', 3, 64],
  ['conv1_2', 64, 64],
  ['conv2_1', 64, 128],
];
/** Deterministic filter value (exact in float32), different along h and w so a transposition shows. */
export const testFilter = (h: number, w: number, i: number, o: number, layer: number) =>
  (((h * 7 + w * 13 + i * 3 + o * 5 + layer * 11) % 17) - 8) / 64;
export const testBias = (o: number, layer: number) => (((o + layer) % 5) - 2) / 8;

/** TEST_CONVS[0..until] hold testFilter/testBias, value by value, in our HWIO layout. */
export function assertTestConvValues(weights: WeightMap, until: number): void {
  for (let layer = 0; layer <= until; layer++) {
    const [name, cin, cout] = TEST_CONVS[layer];
    const k = weights.get(`${name}/kernel`)!;
    assert.deepEqual(k.shape, [3, 3, cin, cout]);
    let bad = 0;
    for (let h = 0; h < 3; h++)
      for (let w = 0; w < 3; w++)
        for (let i = 0; i < cin; i++)
          for (let o = 0; o < cout; o++)
            if (k.data[((h * 3 + w) * cin + i) * cout + o] !== testFilter(h, w, i, o, layer)) bad++;
    assert.equal(bad, 0, `${name}: ${bad} kernel values differ`);
    const b = weights.get(`${name}/bias`)!;
    assert.deepEqual(b.shape, [cout]);
    assert.deepEqual(
      Array.from(b.data),
      Array.from({ length: cout }, (_, o) => testBias(o, layer)),
    );
  }
}

/** Kernel then bias of each of TEST_CONVS, concatenated (the order the Python cross-checks write). */
export const testConvsFlat = (weights: WeightMap) =>
  Float32Array.from(
    TEST_CONVS.flatMap(([n]) => [...weights.get(`${n}/kernel`)!.data, ...weights.get(`${n}/bias`)!.data]),
  );

export const PYTHON = process.env.VISAGE_PYTHON ?? '/usr/bin/python3';

/** false when PYTHON can run `import <modules>`, else why not (a test's `skip` reason). */
export function pythonLacks(modules: string): false | string {
  const r = spawnSync(PYTHON, ['-c', `import ${modules}`], { encoding: 'utf8' });
  return r.status === 0
    ? false
    : `needs ${PYTHON} with ${modules} (set VISAGE_PYTHON): ${r.error?.message ?? r.stderr.trim().split('\n').pop()}`;
}

export interface Conv1_1Check {
  /** Loaded weights, conv1_1 and conv1_2 at least; the layers they lack get seeded random weights. */
  weights: WeightMap;
  preprocessing: Vgg19Preprocessing;
  /** What conv1_1 should see for pixel value `v` (0..255) of RGB channel `c`. */
  input: (v: number, c: number) => number;
  /** The expected conv1_1 kernel at [h][w][in][out] and bias. */
  kernel: (h: number, w: number, i: number, o: number) => number;
  bias: (o: number) => number;
  /** The [y, x] pixels (of a 5×6 image) and output channels compared. */
  pixels: [number, number][];
  channels: number[];
  /** Relative tolerance. */
  tol: number;
}

/**
 * Runs the weights in vgg19FeatureNet on a deterministic 5×6 image and checks conv1_1 against the
 * hand-computed relu(b + Σ K·x): kernel [h][w] meets input row y+h-1, column x+w-1.
 */
export function assertConv1_1Forward(c: Conv1_1Check): void {
  // vgg19FeatureNet always builds up to conv5_1 (its default taps live there).
  const weights = initWeights(vgg19Def({ until: 'conv5_1' }), [32, 32, 3], 1);
  for (const [k, v] of c.weights) weights.set(k, v);
  const net = vgg19FeatureNet(weights, { preprocessing: c.preprocessing });
  const H = 5;
  const W = 6;
  const px = (y: number, x: number, ch: number) => (y * 31 + x * 17 + ch * 59) % 256;
  const img = tf.tensor4d(
    Float32Array.from({ length: H * W * 3 }, (_, j) =>
      px(Math.floor(j / (W * 3)), Math.floor(j / 3) % W, j % 3),
    ),
    [1, H, W, 3],
  );
  const out = net.forward(net.preprocess(img), ['conv1_1', 'conv1_2']);
  assert.deepEqual(out.conv1_1.shape, [1, H, W, 64]);
  assert.deepEqual(out.conv1_2.shape, [1, H, W, 64]);
  const got = out.conv1_1.arraySync()[0];
  for (const [y, x] of c.pixels) {
    for (const o of c.channels) {
      let s = c.bias(o);
      for (let h = 0; h < 3; h++)
        for (let w = 0; w < 3; w++)
          for (let i = 0; i < 3; i++) s += c.input(px(y + h - 1, x + w - 1, i), i) * c.kernel(h, w, i, o);
      assert.ok(
        Math.abs(got[y][x][o] - Math.max(0, s)) < c.tol * Math.max(1, Math.abs(s)),
        `(${y},${x},${o})`,
      );
    }
  }
  tf.dispose([img, ...Object.values(out)]);
  net.dispose();
}

/** "conv2_1" → "block2_conv1" (Keras' layer names). */
export const kerasName = (conv: string) => conv.replace(/^conv(\d)_(\d)$/, 'block$1_conv$2');

export interface KerasH5Options {
  /** 'keras2': `block1_conv1/kernel:0` (nested group); 'keras1': `block1_conv1_W_1:0`. Default keras2. */
  naming?: 'keras1' | 'keras2';
  /** Whole-model save: layers under `model_weights`, plus an `optimizer_weights` decoy. */
  wholeModel?: boolean;
  /** Theano-era file: OIHW kernels, spatially flipped, root attribute backend = 'theano'. */
  theano?: boolean;
}

/** Writes `weights` the way Keras' save_weights lays out an HDF5 file (see src/style/weights/keras-h5.ts). */
export async function writeKerasH5(
  file: string,
  weights: WeightMap,
  opts: KerasH5Options = {},
): Promise<void> {
  await h5wasm.ready;
  const f = new h5wasm.File(file, 'w');
  try {
    f.create_attribute('backend', opts.theano ? 'theano' : 'tensorflow');
    f.create_attribute('keras_version', opts.naming === 'keras1' ? '1.2.2' : '2.2.4');
    const root = opts.wholeModel ? f.create_group('model_weights') : f;
    const convs = [...weights.keys()].filter((k) => k.endsWith('/kernel')).map((k) => k.slice(0, -7));
    const layers = ['input_1'];
    for (const c of convs) {
      layers.push(kerasName(c));
      if (c.endsWith('_2') && Number(c[4]) <= 2) layers.push(`block${c[4]}_pool`);
    }
    root.create_attribute('layer_names', layers);
    for (const layer of layers) {
      const g = root.create_group(layer);
      const conv = convs.find((c) => kerasName(c) === layer);
      if (!conv) {
        g.create_attribute('weight_names', [] as string[], [0], 'S1');
        continue;
      }
      const k = weights.get(`${conv}/kernel`)!;
      const b = weights.get(`${conv}/bias`)!;
      const kernel = opts.theano ? theanoKernel(k.data, k.shape) : k;
      const names =
        opts.naming === 'keras1'
          ? [`${layer}_W_1:0`, `${layer}_b_1:0`]
          : [`${layer}/kernel:0`, `${layer}/bias:0`];
      g.create_attribute('weight_names', names);
      const parent = opts.naming === 'keras1' ? g : g.create_group(layer);
      const leaf = (n: string) => n.slice(n.lastIndexOf('/') + 1);
      parent.create_dataset({ name: leaf(names[0]), data: kernel.data, shape: kernel.shape, dtype: '<f' });
      parent.create_dataset({ name: leaf(names[1]), data: b.data, shape: b.shape, dtype: '<f' });
    }
    if (opts.wholeModel) {
      // Adam's moments carry the layer names too; a loader must not take them for weights.
      const k = weights.get('conv1_1/kernel')!;
      f.create_group('optimizer_weights')
        .create_group('block1_conv1')
        .create_dataset({
          name: 'kernel:0',
          data: new Float32Array(k.data.length),
          shape: k.shape,
          dtype: '<f',
        });
    }
  } finally {
    f.close();
  }
}

/** HWIO → Theano's OIHW with the kernel flipped (Theano convolves, TensorFlow correlates). */
function theanoKernel(data: Float32Array, [H, W, I, O]: number[]): { shape: number[]; data: Float32Array } {
  const out = new Float32Array(data.length);
  for (let h = 0; h < H; h++)
    for (let w = 0; w < W; w++)
      for (let i = 0; i < I; i++)
        for (let o = 0; o < O; o++)
          out[((o * I + i) * H + (H - 1 - h)) * W + (W - 1 - w)] = data[((h * W + w) * I + i) * O + o];
  return { shape: [O, I, H, W], data: out };
}

export interface TfjsWriteOptions {
  /** Split the weight bytes over this many shard files, at arbitrary byte boundaries. Default 1. */
  shards?: number;
  quantization?: 'uint8' | 'uint16' | 'float16';
  /** Weight-name prefix, e.g. 'vgg19/'. */
  prefix?: string;
  userDefinedMetadata?: Record<string, unknown>;
}

/**
 * Writes `weights` as a TensorFlow.js layers model (model.json + group1-shardNofM.bin) the way
 * tensorflowjs_converter does for Keras' VGG19 (names `block1_conv1/kernel`). Returns, for quantised
 * output, the values a reader must decode (q·scale + min, or the float16 rounding).
 */
export function writeTfjs(dir: string, weights: WeightMap, opts: TfjsWriteOptions = {}): WeightMap {
  const specs: Array<Record<string, unknown>> = [];
  const parts: Buffer[] = [];
  const decoded: WeightMap = new Map();
  for (const [name, w] of weights) {
    const [conv, role] = name.split('/');
    const spec: Record<string, unknown> = {
      name: `${opts.prefix ?? ''}${kerasName(conv)}/${role}`,
      shape: w.shape,
      dtype: 'float32',
    };
    const q = opts.quantization;
    if (!q) {
      parts.push(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength));
      decoded.set(name, w);
    } else if (q === 'float16') {
      const bits = Uint16Array.from(w.data, toHalf);
      parts.push(Buffer.from(bits.buffer));
      spec.quantization = { dtype: q };
      decoded.set(name, { shape: w.shape, data: Float32Array.from(bits, fromHalf) });
    } else {
      const levels = q === 'uint8' ? 255 : 65535;
      let min = Infinity;
      let max = -Infinity;
      for (const v of w.data) [min, max] = [Math.min(min, v), Math.max(max, v)];
      const scale = (max - min) / levels || 1;
      const qv = q === 'uint8' ? new Uint8Array(w.data.length) : new Uint16Array(w.data.length);
      w.data.forEach((v, i) => (qv[i] = Math.round((v - min) / scale)));
      parts.push(Buffer.from(qv.buffer));
      spec.quantization = { dtype: q, scale, min };
      decoded.set(name, { shape: w.shape, data: Float32Array.from(qv, (v) => v * scale + min) });
    }
    specs.push(spec);
  }
  const all = Buffer.concat(parts);
  const n = opts.shards ?? 1;
  const paths: string[] = [];
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const p = `group1-shard${i + 1}of${n}.bin`;
    fs.writeFileSync(
      path.join(dir, p),
      all.subarray(Math.floor((i * all.length) / n), Math.floor(((i + 1) * all.length) / n)),
    );
    paths.push(p);
  }
  const model = {
    format: 'layers-model',
    generatedBy: 'keras v2.2.4',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: { class_name: 'Model', config: { name: 'vgg19', layers: [] } },
    weightsManifest: [{ paths, weights: specs }],
    ...(opts.userDefinedMetadata ? { userDefinedMetadata: opts.userDefinedMetadata } : {}),
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(model));
  return decoded;
}

/** float32 → IEEE half bits (round to nearest; the test values are normal numbers well inside range). */
function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const e = ((x >>> 23) & 0xff) - 127 + 15;
  if (e <= 0) return sign; // flush tiny values to zero
  const m = x & 0x7fffff;
  const r = (e << 10) + (m >> 13) + ((m >> 12) & 1); // the carry may round up into the exponent: correct
  return sign | r;
}

function fromHalf(h: number): number {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  const v = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
}

/** Keep the first half of a file (a download cut short). */
export function truncateHalf(file: string): void {
  const b = fs.readFileSync(file);
  fs.writeFileSync(file, b.subarray(0, Math.floor(b.length / 2)));
}
