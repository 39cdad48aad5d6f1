import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { loadModel, saveModel, type WeightMap } from '../../engine/graph/index.js';
import { VisageError } from '../../errors.js';
import { vgg19Def, type Vgg19Preprocessing } from '../nets/vgg19.js';
import type { Vgg19Weights } from './types.js';
import { vgg19ConvsUntil } from './until.js';

const PREPROCESSING = ['caffe', 'matconvnet', 'torch'] as const;

const quantizationSchema = z.object({
  dtype: z.enum(['uint8', 'uint16', 'float16']),
  scale: z.number().optional(),
  min: z.number().optional(),
});
const specSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.string(),
  quantization: quantizationSchema.optional(),
});
const tfjsSchema = z.object({
  weightsManifest: z.array(z.object({ paths: z.array(z.string()), weights: z.array(specSchema) })),
  userDefinedMetadata: z.record(z.string(), z.unknown()).optional(),
});
type Spec = z.infer<typeof specSchema>;

/**
 * VGG-19 from a model.json (the file, or the folder holding it) in one of two layouts:
 * - TensorFlow.js: `weightsManifest: [{ paths: [shards…], weights: [{ name, shape, dtype, quantization? }] }]`,
 *   each group's weights concatenated in order across its shards (e.g. `tensorflowjs_converter` output of
 *   Keras' VGG19: `block1_conv1/kernel` HWIO). Quantised weights (uint8/uint16: q·scale + min; float16)
 *   are decoded. Preprocessing: `userDefinedMetadata.preprocessing` when present, else Keras' 'caffe'.
 * - Visage's own model folder (engine/graph/serialize.ts) written by `saveVgg19Weights`: its meta says
 *   `network: 'vgg19'` and the preprocessing of the file it was converted from.
 */
export async function loadTfjsVgg19(file: string, opts: { until?: string } = {}): Promise<Vgg19Weights> {
  const convs = vgg19ConvsUntil(opts.until);
  const jsonPath = fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()
    ? path.join(file, 'model.json')
    : file;
  let text: string;
  try {
    text = await fs.promises.readFile(jsonPath, 'utf8');
  } catch {
    throw new VisageError('E_FILE_NOT_FOUND', `no such file: ${jsonPath}`, { path: jsonPath });
  }
  if (text.trim() === '') throw new VisageError('E_EMPTY_FILE', `${jsonPath} is empty`, { path: jsonPath });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new VisageError(
      'E_BAD_WEIGHTS',
      `${jsonPath} is not valid JSON (truncated?): ${(e as Error).message}`,
      { path: jsonPath },
    );
  }
  if ((json as { format?: unknown })?.format === 'visage-model') return loadVisageVgg19(jsonPath, convs);
  const parsed = tfjsSchema.safeParse(json);
  if (!parsed.success)
    throw new VisageError(
      'E_UNSUPPORTED_FORMAT',
      `${jsonPath} is JSON but neither a TensorFlow.js model (no valid weightsManifest) nor a Visage model`,
      { path: jsonPath },
    );
  const weights = readTfjsWeights(jsonPath, parsed.data.weightsManifest, new Set(convs));
  const pre = parsed.data.userDefinedMetadata?.preprocessing;
  return {
    weights,
    preprocessing: PREPROCESSING.includes(pre as Vgg19Preprocessing) ? (pre as Vgg19Preprocessing) : 'caffe',
    format: 'tfjs',
  };
}

/** Weight names of Keras (`block1_conv1/kernel`, possibly under a model prefix) or ours (`conv1_1/kernel`). */
function ourName(name: string): string | undefined {
  const m =
    /(?:^|\/)block(\d)_conv(\d)\/(kernel|bias)(?::0)?$/.exec(name) ??
    /(?:^|\/)conv(\d)_(\d)\/(kernel|bias)$/.exec(name);
  return m ? `conv${m[1]}_${m[2]}/${m[3]}` : undefined;
}

const BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

function readTfjsWeights(
  jsonPath: string,
  manifest: Array<{ paths: string[]; weights: Spec[] }>,
  convs: Set<string>,
): WeightMap {
  const dir = path.dirname(jsonPath);
  const weights: WeightMap = new Map();
  for (const group of manifest) {
    // Byte range of every weight within the group's concatenated shards.
    let offset = 0;
    const wanted: Array<{ spec: Spec; name: string; start: number; n: number }> = [];
    for (const spec of group.weights) {
      const per = BYTES[spec.quantization?.dtype ?? spec.dtype];
      if (!per)
        throw new VisageError('E_BAD_WEIGHTS', `${jsonPath}: weight ${spec.name} has dtype ${spec.dtype}`, {
          path: jsonPath,
        });
      const n = spec.shape.reduce((a, b) => a * b, 1);
      const name = ourName(spec.name);
      if (
        name &&
        convs.has(name.slice(0, name.indexOf('/'))) &&
        !weights.has(name) &&
        !wanted.some((w) => w.name === name)
      )
        wanted.push({ spec, name, start: offset, n });
      offset += n * per;
    }
    if (wanted.length === 0) continue;
    const shards = new ShardReader(dir, group.paths, jsonPath);
    try {
      if (shards.size !== offset)
        throw new VisageError(
          'E_BAD_WEIGHTS',
          `${jsonPath}: the weight files ${group.paths.join(', ')} hold ${shards.size} bytes, the manifest describes ${offset}` +
            (shards.size < offset ? ' (truncated: download them again)' : ''),
          { path: jsonPath, size: shards.size, expected: offset },
        );
      for (const w of wanted)
        weights.set(w.name, { shape: w.spec.shape, data: decode(w.spec, w.n, w.start, shards, jsonPath) });
    } finally {
      shards.close();
    }
  }
  return weights;
}

function decode(spec: Spec, n: number, start: number, shards: ShardReader, jsonPath: string): Float32Array {
  if (spec.dtype !== 'float32')
    throw new VisageError('E_BAD_WEIGHTS', `${jsonPath}: weight ${spec.name} is ${spec.dtype}, not float32`);
  const q = spec.quantization;
  if (!q) {
    const out = new Float32Array(n);
    shards.read(start, new Uint8Array(out.buffer));
    return out;
  }
  const raw = q.dtype === 'uint8' ? new Uint8Array(n) : new Uint16Array(n);
  shards.read(start, new Uint8Array(raw.buffer));
  if (q.dtype === 'float16') return decodeFloat16(raw as Uint16Array);
  if (q.scale === undefined || q.min === undefined)
    throw new VisageError(
      'E_BAD_WEIGHTS',
      `${jsonPath}: ${q.dtype}-quantised weight ${spec.name} lacks scale/min`,
    );
  const { scale, min } = q;
  return Float32Array.from(raw, (v) => v * scale + min);
}

/** Reads byte ranges of a weight group whose bytes are split over several shard files (no concatenation). */
class ShardReader {
  readonly size: number;
  private readonly files: Array<{ file: string; start: number; size: number; fd?: number }> = [];

  constructor(dir: string, paths: string[], jsonPath: string) {
    let start = 0;
    for (const p of paths) {
      const file = path.join(dir, p);
      const st = fs.statSync(file, { throwIfNoEntry: false });
      if (!st?.isFile())
        throw new VisageError(
          'E_FILE_NOT_FOUND',
          `${jsonPath} lists the weight file ${p}, which is missing`,
          {
            path: file,
          },
        );
      this.files.push({ file, start, size: st.size });
      start += st.size;
    }
    this.size = start;
  }

  read(at: number, into: Uint8Array): void {
    let done = 0;
    for (const f of this.files) {
      if (done === into.length) break;
      const pos = at + done;
      if (pos >= f.start + f.size) continue;
      const len = Math.min(into.length - done, f.start + f.size - pos);
      f.fd ??= fs.openSync(f.file, 'r');
      let got = 0;
      while (got < len) {
        const k = fs.readSync(f.fd, into, done + got, len - got, pos - f.start + got);
        if (k === 0)
          throw new VisageError('E_BAD_WEIGHTS', `${f.file} ended early (it changed while reading?)`);
        got += k;
      }
      done += len;
    }
  }

  close(): void {
    for (const f of this.files) if (f.fd !== undefined) fs.closeSync(f.fd);
  }
}

let halfTable: Float32Array | undefined;

/** IEEE 754 half-precision bit patterns → float32 (through a 64 Ki-entry table: 10 M values in ~50 ms). */
export function decodeFloat16(bits: Uint16Array): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      halfTable[h] =
        e === 0
          ? sign * m * 2 ** -24
          : e === 31
            ? m
              ? NaN
              : sign * Infinity
            : sign * (1 + m / 1024) * 2 ** (e - 15);
    }
  }
  const t = halfTable;
  return Float32Array.from(bits, (h) => t[h]);
}

interface Vgg19Meta {
  network: 'vgg19';
  preprocessing: Vgg19Preprocessing;
  /** The format the weights were converted from. */
  source?: string;
}

function loadVisageVgg19(jsonPath: string, convs: string[]): Vgg19Weights {
  let model;
  try {
    model = loadModel(path.dirname(jsonPath));
  } catch (e) {
    if (e instanceof VisageError && e.code === 'E_BAD_MODEL')
      throw new VisageError('E_BAD_WEIGHTS', e.message, e.details, { cause: e });
    throw e;
  }
  const meta = model.meta as Partial<Vgg19Meta>;
  if (meta.network !== 'vgg19')
    throw new VisageError(
      'E_WRONG_NETWORK',
      `${jsonPath} is a Visage model of ${String(meta.network ?? model.def.name)}, not VGG-19 weights`,
      { path: jsonPath },
    );
  const keep = new Set(convs);
  const weights: WeightMap = new Map(
    [...model.weights].filter(([k]) => keep.has(k.slice(0, k.lastIndexOf('/')))),
  );
  const pre = PREPROCESSING.includes(meta.preprocessing as Vgg19Preprocessing)
    ? meta.preprocessing!
    : 'caffe';
  return { weights, preprocessing: pre, format: 'visage' };
}

/**
 * Writes VGG-19 weights as a Visage model folder (model.json + weights.bin, float32), recording the
 * preprocessing and the source format: a .pth or .mat that is slow to parse is converted once and then
 * loads as fast as the disk reads (`visage style convert-weights`).
 */
export function saveVgg19Weights(dir: string, w: Vgg19Weights): void {
  // Keep the contiguous run conv1_1 … convN: a gap would make a file no VGG-19 can be built from.
  const kept: string[] = [];
  for (const c of vgg19ConvsUntil('conv5_4')) {
    if (!w.weights.has(`${c}/kernel`) || !w.weights.has(`${c}/bias`)) break;
    kept.push(c);
  }
  if (kept.length === 0) throw new VisageError('E_WRONG_NETWORK', 'the weights to save have no conv1_1');
  const weights: WeightMap = new Map();
  for (const c of kept)
    for (const role of ['kernel', 'bias']) weights.set(`${c}/${role}`, w.weights.get(`${c}/${role}`)!);
  const meta: Vgg19Meta = { network: 'vgg19', preprocessing: w.preprocessing, source: w.format };
  saveModel(dir, { def: vgg19Def({ until: kept[kept.length - 1] }), weights, meta: { ...meta } });
}
