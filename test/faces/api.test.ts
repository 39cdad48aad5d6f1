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

test('identify: a missing gallery is E_GALLERY_NOT_FOUND (no file left behind), an empty one E_EMPTY_GALLERY', async () => {
  await assert.rejects(v.identify(img('obama', 'obama3.jpg')), { code: 'E_GALLERY_NOT_FOUND' });
  assert.equal(fs.existsSync(path.join(dir, 'g.sqlite')), false);
  await assert.rejects(v.listPeople(), { code: 'E_GALLERY_NOT_FOUND' });
  const empty = path.join(dir, 'empty.sqlite');
  Gallery.open(empty, { model: (await v.pipeline.encoder()).id, dim: 128 }).close();
  const w = new Visage({ gallery: empty });
  await assert.rejects(w.identify(img('obama', 'obama3.jpg')), { code: 'E_EMPTY_GALLERY' });
  await w.close();
});

test('options are checked by one schema: a bad threshold, top or name is E_BAD_OPTION', async () => {
  assert.throws(() => new Visage({ threshold: -5 }), { code: 'E_BAD_OPTION' });
  assert.throws(() => new Visage({ threshold: Number.NaN }), { code: 'E_BAD_OPTION' });
  assert.throws(() => new Visage({ gallery: '' }), { code: 'E_BAD_OPTION' });
  assert.throws(() => new Visage({ calibration: path.join(dir, 'nope.json') }), {
    code: 'E_FILE_NOT_FOUND',
  });
  assert.throws(() => new Visage({ bogus: 1 } as never), { code: 'E_BAD_OPTION' });
  await assert.rejects(v.identify(img('obama', 'obama3.jpg'), { top: 0 }), { code: 'E_BAD_OPTION' });
  await assert.rejects(v.verify(img('obama', 'obama.jpg'), img('obama', 'obama2.jpg'), { faceA: -1 }), {
    code: 'E_BAD_OPTION',
  });
  await assert.rejects(v.enroll('  ', [img('obama', 'obama.jpg')]), { code: 'E_BAD_OPTION' });
});

test('one-shot enroll then identify every face of a group photo; a stranger is unknown', async () => {
  await v.enroll('obama', [img('obama', 'obama.jpg')]);
  await v.enroll('biden', [img('biden', 'biden.jpg')]);
  const group = await v.identify(img('_multi_face', 'obama_and_biden.jpg'));
  // The photo also shows a child, lower right, who is not enrolled: open-set says unknown.
  const names = group.faces.map((f) => f.match?.name ?? '(unknown)');
  assert.deepEqual(names.sort(), ['(unknown)', 'biden', 'obama']);
  const stranger = await v.identify(img('kit_harington', 'john1.jpeg'));
  assert.equal(stranger.faces.length, 1);
  assert.equal(stranger.faces[0].match, null);
  assert.ok(stranger.faces[0].matches.length > 0, 'the nearest people are still listed');
});

test('a single path enrolls one photo (not its characters); a person named "unknown" is a person', async () => {
  await v.enroll('unknown', img('kit_harington', 'john1.jpeg'));
  const r = await v.identify(img('kit_harington', 'john2.jpeg'));
  assert.equal(r.faces[0].match?.name, 'unknown');
  await v.removePerson('unknown');
});

test('one person per face in one photo: the closer face keeps the name', async () => {
  // obama enrolled alone: in the group photo only one face may be called obama.
  const solo = path.join(dir, 'solo.sqlite');
  const w = new Visage({ gallery: solo, threshold: 4 });
  await w.enroll('obama', img('obama', 'obama.jpg'));
  const r = await w.identify(img('_multi_face', 'obama_and_biden.jpg'));
  await w.close();
  const named = r.faces.filter((f) => f.match !== null);
  assert.equal(named.length, 1, 'τ = 4 accepts every face, yet only one may be obama');
  const closest = Math.min(...r.faces.map((f) => f.matches[0].distance));
  assert.equal(named[0].match!.distance, closest);
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
