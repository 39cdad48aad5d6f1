import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import { VisageError } from '../../src/errors.js';
import { DLIB_ALIGNMENT_POINTS, dlibTemplate, faceChipTransform } from '../../src/faces/align.js';
import { DLIB_ENCODER_ID, loadDlibEncoder } from '../../src/faces/encoder.js';
import { FacePipeline } from '../../src/faces/pipeline.js';
import type { Point2 } from '../../src/faces/types.js';
import {
  applyAffine,
  createImage,
  decodeImage,
  invertAffine,
  warpAffine,
  type RgbImage,
} from '../../src/image/index.js';
import { dataDir } from '../helpers/data.js';

const pipeline = new FacePipeline();
let portrait: RgbImage;
let group: RgbImage;
const isCode = (code: string) => (e: unknown) => e instanceof VisageError && e.code === code;
const dist = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));

before(async () => {
  await initEngine();
  portrait = await decodeImage(dataDir('faces', 'face_recognition_examples', 'kit_harington', 'john2.jpeg'));
  group = await decodeImage(dataDir('faces', 'faceapi_bbt_group_photos', 'bbt3.jpg'));
});
after(() => pipeline.dispose());

describe('FacePipeline', () => {
  it('embeds the largest face by default, or the one asked for by index', async () => {
    const all = await pipeline.embedAll(group);
    assert.equal(all.length, 5);
    const largest = await pipeline.embed(group);
    const area = (b: { width: number; height: number }) => b.width * b.height;
    assert.equal(area(largest.face.box), Math.max(...all.map((f) => area(f.face.box))));
    const third = await pipeline.embed(group, { face: 2 });
    assert.deepEqual(third.face.box, all[2].face.box);
    assert.ok(dist(third.embedding.vector, all[2].embedding.vector) < 1e-5);
    for (const f of all) {
      assert.equal(f.embedding.model, DLIB_ENCODER_ID);
      assert.equal(f.embedding.vector.length, 128);
      assert.ok(Math.abs(Math.hypot(...f.embedding.vector) - 1) < 1e-5);
      assert.equal(f.face.landmarks!.length, 68);
    }
    await assert.rejects(pipeline.embed(group, { face: 5 }), isCode('E_FACE_INDEX'));
  });

  it('no face: E_NO_FACE for a single-face call, [] for embedAll', async () => {
    const blank = createImage(320, 240, [200, 180, 160]);
    await assert.rejects(pipeline.embed(blank), isCode('E_NO_FACE'));
    assert.deepEqual(await pipeline.embedAll(blank), []);
  });

  it('repeated calls leave no tensors behind', async () => {
    await pipeline.embed(portrait, { flip: true });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await pipeline.embed(portrait, { flip: i === 1 });
      await pipeline.embedAll(group);
    }
    assert.equal(tf.memory().numTensors, before);
  });

  it('missing models are E_MODEL_NOT_FOUND', async () => {
    const broken = new FacePipeline({ modelDir: path.join(dataDir('faces'), 'no-models-here') });
    await assert.rejects(broken.detect(portrait), isCode('E_MODEL_NOT_FOUND'));
  });
});

describe('alignment', () => {
  it('uses dlib’s 33 stable points and mean-face template', () => {
    assert.equal(DLIB_ALIGNMENT_POINTS.length, 33);
    assert.ok(!DLIB_ALIGNMENT_POINTS.some((i) => i < 27 || (i >= 55 && i <= 59) || i >= 65));
    const tpl = dlibTemplate(150, 0.25);
    // Point 30 (nose tip): dlib's mean face (0.490127, 0.515625) with 25 % padding on a 150 px chip.
    const nose = tpl[DLIB_ALIGNMENT_POINTS.indexOf(30)];
    assert.ok(Math.abs(nose[0] - 74.0127) < 1e-3 && Math.abs(nose[1] - 76.5625) < 1e-3);
  });

  it('inverts a known similarity, with dlib’s corner-pixel convention', () => {
    const tpl = dlibTemplate(150, 0.25);
    const s = 2.2;
    const a = 0.35;
    const t = [310, 145];
    const move = ([x, y]: Point2): Point2 => [
      s * (Math.cos(a) * x - Math.sin(a) * y) + t[0],
      s * (Math.sin(a) * x + Math.cos(a) * y) + t[1],
    ];
    const landmarks: Point2[] = Array.from({ length: 68 }, () => [0, 0]);
    DLIB_ALIGNMENT_POINTS.forEach((i, k) => (landmarks[i] = move(tpl[k])));
    const m = faceChipTransform(landmarks);
    // dlib maps chip corner pixels 0 and 149 onto the ends of a (150·s − 1) px side, centred on T(75, 75).
    const k = (150 * s - 1) / 149;
    assert.ok(Math.abs(Math.hypot(m[0][0], m[1][0]) - k) < 1e-9);
    assert.ok(Math.abs(Math.atan2(m[1][0], m[0][0]) - a) < 1e-9);
    const c = applyAffine(m, [74.5, 74.5]);
    const expected = move([75, 75]);
    assert.ok(Math.hypot(c[0] - expected[0], c[1] - expected[1]) < 1e-9);
  });

  it('cancels in-plane rotation: the chip frame turns with the photo, the embedding barely moves', async (t) => {
    const [face] = await pipeline.detect(portrait);
    const base = await pipeline.align(portrait, face);
    // Rotate the photo by 25° about the face centre (inverse map for warpAffine: output → input).
    const cx = face.box.x + face.box.width / 2;
    const cy = face.box.y + face.box.height / 2;
    const r = (25 * Math.PI) / 180;
    const rotate: [[number, number, number], [number, number, number]] = [
      [Math.cos(r), -Math.sin(r), cx - Math.cos(r) * cx + Math.sin(r) * cy],
      [Math.sin(r), Math.cos(r), cy - Math.sin(r) * cx - Math.cos(r) * cy],
    ];
    const rotated = warpAffine(portrait, invertAffine(rotate), portrait.width, portrait.height, {
      border: 'reflect',
    });
    const faces = await pipeline.detect(rotated);
    const turned = faces.reduce((a, b) => (b.box.width > a.box.width ? b : a));
    const aligned = await pipeline.align(rotated, turned);
    const angle = (m: number[][]) => Math.atan2(m[1][0], m[0][0]);
    const scale = (m: number[][]) => Math.hypot(m[1][0], m[0][0]);
    const turn = ((angle(aligned.chipToImage) - angle(base.chipToImage)) * 180) / Math.PI;
    const [e0, e1] = await (await pipeline.encoder()).encode([base.chip, aligned.chip]);
    t.diagnostic(`chip turned by ${turn.toFixed(2)}°, embedding distance ${dist(e0, e1).toFixed(3)}`);
    assert.ok(Math.abs(turn - 25) < 2, `the chip frame turned by ${turn}°, the photo by 25°`);
    assert.ok(Math.abs(scale(aligned.chipToImage) / scale(base.chipToImage) - 1) < 0.04);
    // Same-person pairs of different photos are ~0.28 apart (see verify tests); this is one photo.
    assert.ok(dist(e0, e1) < 0.15, `embedding moved ${dist(e0, e1)}`);
  });
});

describe('dlib encoder', () => {
  it('batches give the same descriptors as single chips', async () => {
    const faces = await pipeline.detect(group);
    const chips = await Promise.all(faces.map(async (f) => (await pipeline.align(group, f)).chip));
    const many = [...chips, ...chips, ...chips, ...chips].slice(0, 18);
    const batched = loadDlibEncoder({ batchSize: 16 });
    const single = loadDlibEncoder({ batchSize: 1 });
    const a = await batched.encode(many);
    const b = await single.encode(many.slice(0, 5));
    assert.equal(a.length, 18);
    for (let i = 0; i < 5; i++) assert.ok(dist(a[i], b[i]) < 1e-5);
    assert.ok(dist(a[0], a[5]) < 1e-6);
    // Chips of another size are resized to the encoder's 150×150 first.
    const [big] = await batched.encode([
      warpAffine(
        chips[0],
        [
          [0.5, 0, 0],
          [0, 0.5, 0],
        ],
        300,
        300,
      ),
    ]);
    assert.ok(dist(big, a[0]) < 0.1);
    batched.dispose();
    single.dispose();
  });
});
