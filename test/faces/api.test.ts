import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { Visage } from '../../src/api.js';
import { Gallery } from '../../src/store/gallery.js';
import { runVisage } from '../helpers/cli.js';
import { dataDir } from '../helpers/data.js';

const examples = () => dataDir('faces', 'face_recognition_examples');
const img = (...p: string[]) => path.join(examples(), ...p);
let dir: string;
let v: Visage;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-api-'));
  v = new Visage({ gallery: path.join(dir, 'g.sqlite') });
});

after(async () => {
  await v.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('verify: same person is same, different people are not, with a calibrated confidence', async () => {
  const same = await v.verify(img('obama', 'obama.jpg'), img('obama', 'obama2.jpg'));
  const diff = await v.verify(img('obama', 'obama.jpg'), img('biden', 'biden.jpg'));
  assert.equal(same.same, true, `obama/obama d=${same.distance}`);
  assert.equal(diff.same, false, `obama/biden d=${diff.distance}`);
  assert.ok(same.distance < diff.distance);
  assert.ok(
    same.confidence !== null && diff.confidence !== null,
    'shipped calibration has a confidence model',
  );
  assert.ok(same.confidence > 0.5 && diff.confidence < 0.5);
});

test('identify on an empty gallery is E_EMPTY_GALLERY', async () => {
  await assert.rejects(v.identify(img('obama', 'obama3.jpg')), { code: 'E_EMPTY_GALLERY' });
});

test('one-shot enroll then identify every face of a group photo; a stranger is unknown', async () => {
  await v.enroll('obama', [img('obama', 'obama.jpg')]);
  await v.enroll('biden', [img('biden', 'biden.jpg')]);
  const group = await v.identify(img('_multi_face', 'obama_and_biden.jpg'));
  // The photo also shows a child, lower right, who is not enrolled: open-set says unknown.
  assert.deepEqual(group.faces.map((f) => f.identity).sort(), ['biden', 'obama', 'unknown']);
  const stranger = await v.identify(img('kit_harington', 'john1.jpeg'));
  assert.equal(stranger.faces.length, 1);
  assert.equal(stranger.faces[0].identity, 'unknown');
});

test('a failed enroll (no face in one image) leaves the gallery exactly as it was', async () => {
  const blank = path.join(dir, 'blank.png');
  await sharp({ create: { width: 200, height: 160, channels: 3, background: { r: 90, g: 120, b: 150 } } })
    .png()
    .toFile(blank);
  const before = await v.listPeople();
  await assert.rejects(v.enroll('nobody', [img('rose_leslie', 'img1.jpg'), blank]), { code: 'E_NO_FACE' });
  assert.deepEqual(await v.listPeople(), before);
  const none = await v.identify(blank);
  assert.deepEqual(none.faces, []);
});

test('people: rename, remove, unknown person', async () => {
  await v.renamePerson('biden', 'joe');
  assert.ok((await v.listPeople()).some((p) => p.name === 'joe'));
  await v.removePerson('joe');
  await assert.rejects(v.removePerson('joe'), { code: 'E_UNKNOWN_PERSON' });
});

test('a gallery made by another model is refused', async () => {
  const other = path.join(dir, 'other.sqlite');
  Gallery.open(other, { model: 'some-other-model', dim: 128 }).close();
  const w = new Visage({ gallery: other });
  await assert.rejects(w.identify(img('obama', 'obama.jpg')), { code: 'E_MODEL_MISMATCH' });
  await w.close();
});

test('CLI: verify --json, and bad input exits 2 with a stable code', () => {
  const ok = runVisage(['verify', img('obama', 'obama.jpg'), img('obama', 'obama2.jpg'), '--json']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).same, true);
  const text = path.join(dir, 'notes.txt');
  fs.writeFileSync(text, 'not an image at all');
  const bad = runVisage(['verify', text, img('obama', 'obama.jpg'), '--json']);
  assert.equal(bad.status, 2);
  assert.equal(JSON.parse(bad.stdout).error.code, 'E_NOT_AN_IMAGE');
});
