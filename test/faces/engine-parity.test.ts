/**
 * The onnx engine (the default) and the tfjs fallback give the same faces: the same detections on the
 * shared group photos, the same landmarks, and descriptors within 1e-4 per value on the same chips.
 * And the pipeline builds each network's session once, not per photo.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { sessionsCreated } from '../../src/engine/onnx/runtime.js';
import { SsdFaceDetector } from '../../src/faces/detector/ssd-detector.js';
import { loadDlibEncoder } from '../../src/faces/encoder.js';
import { LandmarkDetector } from '../../src/faces/landmarks.js';
import { alignFace } from '../../src/faces/align.js';
import { FacePipeline } from '../../src/faces/pipeline.js';
import type { DetectedFace } from '../../src/faces/types.js';
import { decodeImage, type RgbImage } from '../../src/image/index.js';
import { dataDir } from '../helpers/data.js';

const photos = (): string[] =>
  [dataDir('faces', 'faceapi_bbt_group_photos'), dataDir('faces', 'face_recognition_examples', '_multi_face')]
    .flatMap((d) => fs.readdirSync(d).map((f) => path.join(d, f)))
    .filter((f) => /\.(jpe?g|png)$/i.test(f))
    .sort();

const engines = ['onnx', 'tfjs'] as const;
const detectors = Object.fromEntries(engines.map((e) => [e, SsdFaceDetector.load(undefined, e)]));
const landmarkers = Object.fromEntries(engines.map((e) => [e, LandmarkDetector.load(undefined, e)]));
const encoders = Object.fromEntries(engines.map((e) => [e, loadDlibEncoder({ engine: e })]));
const images = new Map<string, RgbImage>();
const found = new Map<string, Record<string, DetectedFace[]>>();

before(async () => {
  await initEngine();
  for (const f of photos()) {
    const img = await decodeImage(f);
    images.set(f, img);
    const r: Record<string, DetectedFace[]> = {};
    for (const e of engines) r[e] = await detectors[e].detect(img);
    found.set(f, r);
  }
});

describe('onnx engine = tfjs engine on the shared group photos', () => {
  it('same detections: same count, every box edge within 1 px, scores within 1e-4', (t) => {
    let worstEdge = 0;
    assert.ok(images.size >= 8, `expected the 8 shared group photos, found ${images.size}`);
    let faces = 0;
    for (const [f, r] of found) {
      const name = path.basename(f);
      assert.equal(r.onnx.length, r.tfjs.length, `${name}: face count`);
      r.onnx.forEach((a, i) => {
        const b = r.tfjs[i];
        for (const k of ['x', 'y', 'width', 'height'] as const) {
          worstEdge = Math.max(worstEdge, Math.abs(a.box[k] - b.box[k]));
          assert.ok(Math.abs(a.box[k] - b.box[k]) < 1, `${name} face ${i} ${k}: ${a.box[k]} vs ${b.box[k]}`);
        }
        assert.ok(Math.abs(a.score - b.score) < 1e-4, `${name} face ${i} score`);
      });
      faces += r.onnx.length;
    }
    t.diagnostic(`${faces} faces in ${found.size} photos; largest box difference ${worstEdge} px`);
    assert.ok(faces >= 30, `only ${faces} faces in the group photos`);
  });

  it('same landmarks (within 0.05 px) and descriptors within 1e-4 per value on the same chips', async (t) => {
    let worstPoint = 0;
    let worstValue = 0;
    for (const [f, r] of found) {
      const img = images.get(f)!;
      const boxes = r.tfjs.map((d) => d.box);
      const [pa, pb] = await Promise.all(engines.map((e) => landmarkers[e].detect(img, boxes)));
      pa.forEach((pts, i) =>
        pts.forEach((p, k) => {
          worstPoint = Math.max(worstPoint, Math.hypot(p[0] - pb[i][k][0], p[1] - pb[i][k][1]));
        }),
      );
      // The same chips (aligned with tfjs' landmarks) through both encoders, batched over the photo's faces.
      const chips = r.tfjs.map((d, i) => alignFace(img, { ...d, landmarks: pb[i] }, { size: 150 }).chip);
      const [va, vb] = await Promise.all(engines.map((e) => encoders[e].encode(chips)));
      va.forEach((v, i) => v.forEach((x, j) => (worstValue = Math.max(worstValue, Math.abs(x - vb[i][j])))));
    }
    t.diagnostic(`largest landmark difference ${worstPoint} px, descriptor difference ${worstValue}`);
    assert.ok(worstPoint < 0.05, `landmarks differ by up to ${worstPoint} px`);
    assert.ok(worstValue < 1e-4, `descriptors differ by up to ${worstValue} per value`);
  });
});

describe('sessions are built once per network', () => {
  it('a pipeline run over several photos creates each of its three sessions once', async () => {
    const pipeline = new FacePipeline();
    const files = [...images.keys()].slice(0, 3);
    const start = sessionsCreated();
    await pipeline.embedAll(images.get(files[0])!);
    const first = sessionsCreated() - start;
    assert.equal(first, 3, 'detector, landmarks and encoder: one session each');
    for (const f of files) await pipeline.embedAll(images.get(f)!);
    assert.equal(sessionsCreated() - start, first, 'no session rebuilt for later photos');
    await pipeline.dispose();
  });
});
