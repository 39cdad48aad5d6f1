import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { VisageError } from '../../errors.js';
import type { NetworkDef, WeightMap } from './types.js';

/**
 * Visage model format (a folder): `model.json` = { format: "visage-model", version: 1, def, weights:
 * [{name, shape, offset}], meta } and `weights.bin` = every weight as little-endian float32, concatenated
 * in manifest order. Plain enough to read from any language.
 */
const manifestSchema = z.object({
  format: z.literal('visage-model'),
  version: z.literal(1),
  def: z.object({
    name: z.string(),
    nodes: z.array(z.record(z.string(), z.unknown())),
    outputs: z.array(z.string()),
  }),
  weights: z.array(
    z.object({
      name: z.string(),
      shape: z.array(z.number().int().nonnegative()),
      offset: z.number().int().nonnegative(),
    }),
  ),
  meta: z.record(z.string(), z.unknown()).default({}),
});

export interface SavedModel {
  def: NetworkDef;
  weights: WeightMap;
  meta: Record<string, unknown>;
}

export function saveModel(dir: string, model: SavedModel): void {
  fs.mkdirSync(dir, { recursive: true });
  const entries: Array<{ name: string; shape: number[]; offset: number }> = [];
  let offset = 0;
  for (const [name, w] of model.weights) {
    entries.push({ name, shape: w.shape, offset });
    offset += w.data.length * 4;
  }
  const bin = Buffer.alloc(offset);
  for (const e of entries) {
    const d = model.weights.get(e.name)!.data;
    Buffer.from(d.buffer, d.byteOffset, d.byteLength).copy(bin, e.offset);
  }
  const manifest = { format: 'visage-model', version: 1, def: model.def, weights: entries, meta: model.meta };
  // Write to temp names and rename so that an interrupted save never leaves a half-written model.
  const tmpBin = path.join(dir, `.weights.bin.${process.pid}.tmp`);
  const tmpJson = path.join(dir, `.model.json.${process.pid}.tmp`);
  fs.writeFileSync(tmpBin, bin);
  fs.writeFileSync(tmpJson, JSON.stringify(manifest));
  fs.renameSync(tmpBin, path.join(dir, 'weights.bin'));
  fs.renameSync(tmpJson, path.join(dir, 'model.json'));
}

export function loadModel(dir: string): SavedModel {
  const jsonPath = path.join(dir, 'model.json');
  const binPath = path.join(dir, 'weights.bin');
  if (!fs.existsSync(jsonPath) || !fs.existsSync(binPath)) {
    throw new VisageError(
      'E_FILE_NOT_FOUND',
      `no Visage model at ${dir} (expected model.json and weights.bin)`,
      { path: dir },
    );
  }
  let parsed: z.infer<typeof manifestSchema>;
  try {
    parsed = manifestSchema.parse(JSON.parse(fs.readFileSync(jsonPath, 'utf8')));
  } catch (e) {
    throw new VisageError(
      'E_BAD_MODEL',
      `${jsonPath} is not a Visage model manifest: ${(e as Error).message}`,
      { path: jsonPath },
    );
  }
  const bin = fs.readFileSync(binPath);
  const weights: WeightMap = new Map();
  for (const e of parsed.weights) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (e.offset + n * 4 > bin.length) {
      throw new VisageError(
        'E_BAD_MODEL',
        `${binPath} is truncated: weight ${e.name} needs bytes ${e.offset}..${e.offset + n * 4}, file has ${bin.length}`,
      );
    }
    const data = new Float32Array(n);
    Buffer.from(data.buffer).set(bin.subarray(e.offset, e.offset + n * 4));
    weights.set(e.name, { shape: e.shape, data });
  }
  return { def: parsed.def as unknown as NetworkDef, weights, meta: parsed.meta };
}
