import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { VisageError } from '../../errors.js';
import type { WeightMap } from '../../engine/graph/index.js';

/**
 * Reads the Keras model that the npm package `nsfwjs@4.4.0` ships as browserify modules: `model.min.js`
 * exports the tfjs `model.json` object (topology + weights manifest) as a JavaScript object literal, and
 * each `group1-shardNofM.min.js` exports one weight shard as a base64 string. We parse both as data and
 * never execute the package's code.
 */

export interface KerasLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  /** Keras 2.2 functional format: [[[layerName, nodeIndex, tensorIndex, kwargs], ...]]. */
  inbound_nodes: Array<Array<[string, number, number, unknown?]>>;
}

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { min?: number; scale?: number; dtype: string };
}

export interface KerasModelFiles {
  layers: KerasLayer[];
  /** Dequantised float32 weights under their Keras names (e.g. `conv2d_1/kernel`, `batch_normalization_1/moving_mean`). */
  weights: WeightMap;
}

/** Folder of the installed nsfwjs package (found through Node's resolver, so hoisting does not matter). */
export function nsfwjsModelDir(model = 'inception_v3'): string {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve('nsfwjs');
  } catch (e) {
    throw new VisageError(
      'E_MODEL_NOT_FOUND',
      'the npm package nsfwjs@4.4.0 (which ships the default InceptionV3 weights) is not installed',
      { package: 'nsfwjs' },
      { cause: e },
    );
  }
  let dir = path.dirname(entry);
  while (!fs.existsSync(path.join(dir, 'package.json')) || path.basename(dir) !== 'nsfwjs') {
    const up = path.dirname(dir);
    if (up === dir)
      throw new VisageError('E_MODEL_NOT_FOUND', `cannot locate the nsfwjs package root from ${entry}`);
    dir = up;
  }
  return path.join(dir, 'dist', 'models', model);
}

/**
 * Turn a minified JavaScript object literal (unquoted keys, `!0`/`!1`, `.5`) into a value via JSON.parse.
 * Only what uglify emits for plain data is accepted; anything else makes JSON.parse fail.
 */
export function parseJsLiteral(src: string): unknown {
  let out = '';
  let k = 0;
  while (k < src.length) {
    const c = src[k];
    if (c === '"') {
      let e = k + 1;
      while (e < src.length && src[e] !== '"') e += src[e] === '\\' ? 2 : 1;
      out += src.slice(k, e + 1);
      k = e + 1;
    } else if (c === '!' && (src[k + 1] === '0' || src[k + 1] === '1')) {
      out += src[k + 1] === '0' ? 'true' : 'false';
      k += 2;
    } else if (/[A-Za-z_$]/.test(c)) {
      let e = k;
      while (e < src.length && /[\w$]/.test(src[e])) e++;
      const word = src.slice(k, e);
      out += src[e] === ':' ? JSON.stringify(word) : word;
      k = e;
    } else if (c === '.' && /\d/.test(src[k + 1] ?? '') && !/\d/.test(src[k - 1] ?? '')) {
      // `.5` (a number without its leading zero), not the point inside `1.5`.
      out += '0.';
      k++;
    } else {
      out += c;
      k++;
    }
  }
  return JSON.parse(out);
}

function readModule(file: string): string {
  if (!fs.existsSync(file))
    throw new VisageError('E_MODEL_NOT_FOUND', `model file ${file} is missing (is nsfwjs@4.4.0 installed?)`, {
      file,
    });
  return fs.readFileSync(file, 'utf8');
}

function badModel(file: string, why: string): VisageError {
  return new VisageError('E_BAD_MODEL', `${file}: ${why}`, { file });
}

/** The exported object of a browserify bundle whose single module is `n.exports = <literal>`. */
function exportedLiteral(file: string): string {
  const src = readModule(file);
  const start = src.search(/\.exports=\{/);
  const end = src.lastIndexOf('},{}]},{},[1])(1)');
  if (start < 0 || end < start) throw badModel(file, 'not an nsfwjs model module');
  return src.slice(start + '.exports='.length, end);
}

function exportedBase64(file: string): Buffer {
  const m = /\.exports="([A-Za-z0-9+/=]*)"/.exec(readModule(file));
  if (!m) throw badModel(file, 'not an nsfwjs weight shard module');
  return Buffer.from(m[1], 'base64');
}

/**
 * Load topology and weights. `select(layers)` returns which weights to dequantise (the rest are skipped, so
 * a truncated trunk costs only its own memory).
 */
export function readNsfwjsModel(
  dir: string,
  select: (layers: KerasLayer[]) => (weight: string) => boolean = () => () => true,
): KerasModelFiles {
  const modelFile = path.join(dir, 'model.min.js');
  let json: any;
  try {
    json = parseJsLiteral(exportedLiteral(modelFile));
  } catch (e) {
    if (e instanceof VisageError) throw e;
    throw badModel(modelFile, `cannot parse the model description (${(e as Error).message})`);
  }
  const layers = json?.modelTopology?.model_config?.config?.layers as KerasLayer[] | undefined;
  const groups = json?.weightsManifest as Array<{ paths: string[]; weights: ManifestEntry[] }> | undefined;
  if (!Array.isArray(layers) || !Array.isArray(groups))
    throw badModel(modelFile, 'no topology or weights manifest');

  const want = select(layers);
  const weights: WeightMap = new Map();
  for (const g of groups) {
    const shards = g.paths.map((p) => exportedBase64(path.join(dir, `${p}.min.js`)));
    const buf = Buffer.concat(shards);
    let offset = 0;
    for (const w of g.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      if (q && q.dtype !== 'uint8' && q.dtype !== 'uint16')
        throw badModel(modelFile, `unsupported quantisation ${q.dtype} for ${w.name}`);
      const bytesPer = !q ? 4 : q.dtype === 'uint8' ? 1 : 2;
      if (w.dtype !== 'float32')
        throw badModel(modelFile, `unsupported weight dtype ${w.dtype} for ${w.name}`);
      const size = n * bytesPer;
      if (offset + size > buf.length) throw badModel(modelFile, `weight shards are truncated at ${w.name}`);
      if (want(w.name)) {
        const data = new Float32Array(n);
        if (!q) {
          data.set(
            new Float32Array(buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + size)),
          );
        } else {
          // tfjs affine quantisation: value = q·scale + min.
          const min = q.min ?? 0;
          const scale = q.scale ?? 1;
          for (let i = 0; i < n; i++) {
            const v = bytesPer === 1 ? buf[offset + i] : buf.readUInt16LE(offset + 2 * i);
            data[i] = v * scale + min;
          }
        }
        weights.set(w.name, { shape: [...w.shape], data });
      }
      offset += size;
    }
    if (offset !== buf.length)
      throw badModel(modelFile, `weight shards hold ${buf.length} bytes, manifest ${offset}`);
  }
  return { layers, weights };
}
