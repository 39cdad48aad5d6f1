/**
 * Recognition quality on small unaligned face crops (five_celebrity_faces, 150×150 JPEGs): the pipeline
 * must find, align and separate them, with and without flip test-time augmentation.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { FacePipeline } from '../../src/faces/pipeline.js';
import { decodeImage } from '../../src/image/index.js';
import { dataDir } from '../helpers/data.js';

const pipeline = new FacePipeline();
const dist = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));
const items: Array<{ who: string; plain: Float32Array; flip: Float32Array }> = [];
let files = 0;

before(async () => {
  await initEngine();
  const root = dataDir('faces', 'five_celebrity_faces');
  for (const who of fs.readdirSync(root).sort()) {
    for (const f of fs.readdirSync(path.join(root, who)).sort().slice(0, 3)) {
      files++;
      const img = await decodeImage(path.join(root, who, f));
      const faces = await pipeline.detect(img);
      if (faces.length === 0) continue;
      const [plain] = await pipeline.embedFaces(img, [faces[0]], false);
      const [flip] = await pipeline.embedFaces(img, [faces[0]], true);
      items.push({ who, plain: plain.embedding.vector, flip: flip.embedding.vector });
    }
  }
});
after(() => pipeline.dispose());

/** Probability that a random same-person pair is closer than a random different-person pair. */
function auc(key: 'plain' | 'flip'): { auc: number; same: number; diff: number } {
  const same: number[] = [];
  const diff: number[] = [];
  for (let i = 0; i < items.length; i++)
    for (let j = i + 1; j < items.length; j++)
      (items[i].who === items[j].who ? same : diff).push(dist(items[i][key], items[j][key]));
  let wins = 0;
  for (const s of same) for (const d of diff) wins += s < d ? 1 : s === d ? 0.5 : 0;
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  return { auc: wins / (same.length * diff.length), same: mean(same), diff: mean(diff) };
}

describe('verification on five_celebrity_faces crops', () => {
  it('finds the face in nearly every tight crop', () => {
    assert.ok(items.length >= files - 1, `faces found in ${items.length} of ${files} crops`);
  });

  it('separates same-person from different-person pairs', (t) => {
    const r = auc('plain');
    t.diagnostic(
      `AUC ${r.auc.toFixed(4)}, mean distance same ${r.same.toFixed(3)} / different ${r.diff.toFixed(3)}`,
    );
    // Measured on 4 crops per person: AUC 0.9997, means 0.30 / 0.58.
    assert.ok(r.auc > 0.98, `AUC ${r.auc}`);
    assert.ok(r.diff - r.same > 0.2);
  });

  it('flip augmentation gives unit vectors close to the plain ones, and separates as well', (t) => {
    for (const it of items) {
      assert.ok(Math.abs(Math.hypot(...it.flip) - 1) < 1e-5);
      const d = dist(it.flip, it.plain);
      // A mirrored face is a slightly different input: close, not equal.
      assert.ok(d > 1e-4 && d < 0.25, `flip moved the descriptor by ${d}`);
    }
    const r = auc('flip');
    t.diagnostic(`AUC with flip ${r.auc.toFixed(4)}`);
    assert.ok(r.auc > 0.98, `AUC ${r.auc}`);
  });
});
