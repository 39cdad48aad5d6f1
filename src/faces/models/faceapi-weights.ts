/**
 * Reads the TensorFlow.js weights that `@vladmandic/face-api` ships (a `*-weights_manifest.json` plus
 * its `.bin` shards) into a plain name → Float32Array map, dequantising as tfjs does. The package is
 * only a data source here: nothing of face-api's code runs in the product.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { VisageError } from '../../errors.js';
import type { WeightMap, WeightTensor } from '../../engine/graph/types.js';

export type FaceApiModelName =
  'ssd_mobilenetv1_model' | 'face_landmark_68_model' | 'face_recognition_model' | 'tiny_face_detector_model';

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; scale?: number; min?: number };
}
interface ManifestGroup {
  paths: string[];
  weights: ManifestEntry[];
}

/** Folder holding face-api's model files; E_MODEL_NOT_FOUND when the package is not installed. */
export function faceApiModelDir(): string {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json');
  } catch (e) {
    throw new VisageError(
      'E_MODEL_NOT_FOUND',
      'the face models come from the npm package @vladmandic/face-api, which is not installed (npm install @vladmandic/face-api)',
      { package: '@vladmandic/face-api' },
      { cause: e },
    );
  }
  return path.join(path.dirname(pkg), 'model');
}

const BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2, float32: 4, int32: 4, bool: 1 };

/** IEEE half → float (for float16-quantised manifests; face-api's current models use uint8). */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/**
 * Loads one face-api model's weights (float32 only; the int32 graph constants the converter left in
 * some manifests are skipped). Values are dequantised exactly like tfjs' `decodeWeights`
 * (`q·scale + min`, rounded to float32), so our weights are bit-identical to face-api's.
 */
export function loadFaceApiWeights(model: FaceApiModelName, dir = faceApiModelDir()): WeightMap {
  const manifestPath = path.join(dir, `${model}-weights_manifest.json`);
  if (!fs.existsSync(manifestPath)) {
    throw new VisageError('E_MODEL_NOT_FOUND', `face model "${model}" not found: expected ${manifestPath}`, {
      model,
      path: manifestPath,
    });
  }
  let groups: ManifestGroup[];
  try {
    groups = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as ManifestGroup[];
    if (!Array.isArray(groups)) throw new Error('manifest is not an array of weight groups');
  } catch (e) {
    throw new VisageError(
      'E_BAD_WEIGHTS',
      `${manifestPath} is not a tfjs weights manifest: ${(e as Error).message}`,
      {
        path: manifestPath,
      },
    );
  }
  const out: WeightMap = new Map();
  for (const g of groups) {
    const shards = g.paths.map((p) => {
      const file = path.join(dir, p);
      if (!fs.existsSync(file))
        throw new VisageError('E_MODEL_NOT_FOUND', `weights shard ${file} of "${model}" is missing`, {
          path: file,
        });
      return fs.readFileSync(file);
    });
    const buf = shards.length === 1 ? shards[0] : Buffer.concat(shards);
    let offset = 0;
    for (const w of g.weights) {
      const size = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      const bytes = size * BYTES[q ? q.dtype : w.dtype];
      if (offset + bytes > buf.length) {
        throw new VisageError(
          'E_BAD_WEIGHTS',
          `weights of "${model}" are truncated: ${w.name} needs bytes ${offset}..${offset + bytes}, have ${buf.length}`,
          { model, weight: w.name },
        );
      }
      if (w.dtype === 'float32') out.set(w.name, { shape: [...w.shape], data: decode(buf, offset, size, q) });
      offset += bytes;
    }
    if (offset !== buf.length) {
      throw new VisageError(
        'E_BAD_WEIGHTS',
        `weights of "${model}": manifest covers ${offset} bytes, shards hold ${buf.length}`,
        {
          model,
        },
      );
    }
  }
  return out;
}

function decode(buf: Buffer, offset: number, size: number, q: ManifestEntry['quantization']): Float32Array {
  const data = new Float32Array(size);
  const view = new DataView(buf.buffer, buf.byteOffset + offset);
  if (!q) {
    for (let i = 0; i < size; i++) data[i] = view.getFloat32(i * 4, true);
  } else if (q.dtype === 'float16') {
    for (let i = 0; i < size; i++) data[i] = halfToFloat(view.getUint16(i * 2, true));
  } else {
    const scale = q.scale ?? 1;
    const min = q.min ?? 0;
    if (q.dtype === 'uint8') for (let i = 0; i < size; i++) data[i] = view.getUint8(i) * scale + min;
    else for (let i = 0; i < size; i++) data[i] = view.getUint16(i * 2, true) * scale + min;
  }
  return data;
}

/** Looks a weight up, or fails with the model's name (a manifest from another face-api version). */
export function take(w: WeightMap, name: string, model: string): WeightTensor {
  const t = w.get(name);
  if (!t)
    throw new VisageError('E_BAD_WEIGHTS', `face model "${model}" lacks weight "${name}"`, {
      model,
      weight: name,
    });
  return t;
}
