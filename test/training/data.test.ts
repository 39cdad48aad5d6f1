import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import { VisageError } from '../../src/errors.js';
import {
  crop,
  decodeImage,
  applyAffine,
  flipHorizontal,
  imagesToBatch,
  resize,
  toGrey,
  warpAffine,
  type AffineMatrix,
  type RgbImage,
} from '../../src/image/index.js';
import {
  augmentInto,
  augmentMatrix,
  augmentSeed,
  batchIndices,
  batchTensor,
  buildBatch,
  mirrorImages,
  centreCropResize,
  padResize,
  countImages,
  FaceImageSource,
  gatherInput,
  naturalCompare,
  PKSampler,
  resolveAugment,
  Rng,
  sampleAugmentParams,
  scanIdentityFolders,
  splitByIdentity,
  TRAINING_NORMALIZATION,
  warpReplicate,
  type AugmentParams,
  type IdentityDataset,
  type PKBatch,
} from '../../src/training/data/index.js';
import { dataDir } from '../helpers/data.js';

const code = (c: string) => (e: unknown) => e instanceof VisageError && e.code === c;
const orlRoot = dataDir('faces', 'att_orl');
let orl: IdentityDataset;
let tmp: string;

before(async () => {
  await initEngine();
  orl = scanIdentityFolders(orlRoot);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-data-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('naturalCompare', () => {
  it('orders digit runs by value and is a total order', () => {
    const names = ['s10', 's2', 'S1', 's1', 'img10.pgm', 'img9.pgm', 'img09.pgm', 'a', 'a0', 'b'];
    assert.deepEqual([...names].sort(naturalCompare), [
      'a',
      'a0',
      'b',
      'img09.pgm',
      'img9.pgm',
      'img10.pgm',
      'S1',
      's1',
      's2',
      's10',
    ]);
    // Huge digit runs compare without precision loss.
    assert.ok(naturalCompare('x99999999999999999999', 'x100000000000000000000') < 0);
  });
});

describe('scanIdentityFolders', () => {
  it('finds ORL: 40 identities × 10 images, in natural order, README ignored', () => {
    assert.equal(orl.identities.length, 40);
    assert.deepEqual(
      orl.identities.slice(0, 12).map((id) => id.name),
      ['s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 's12'],
    );
    for (const id of orl.identities) assert.equal(id.files.length, 10);
    assert.deepEqual(
      orl.identities[0].files.map((f) => path.basename(f)),
      ['1.pgm', '2.pgm', '3.pgm', '4.pgm', '5.pgm', '6.pgm', '7.pgm', '8.pgm', '9.pgm', '10.pgm'],
    );
    assert.ok(orl.identities[0].files.every((f) => path.isAbsolute(f) && f.startsWith(orlRoot)));
    assert.equal(countImages(orl), 400);
    assert.deepEqual(orl.skipped, []);
  });

  it('finds Extended Yale B: 38 identities, 59–64 images each, 2414 in all', () => {
    const yale = scanIdentityFolders(dataDir('faces', 'extended_yaleB_cropped'));
    assert.equal(yale.identities.length, 38);
    assert.equal(countImages(yale), 2414);
    for (const id of yale.identities) {
      assert.ok(id.files.length >= 59 && id.files.length <= 64, `${id.name}: ${id.files.length}`);
      assert.ok(id.files.every((f) => f.endsWith('.pgm')));
    }
    const sorted = [...yale.identities.map((i) => i.name)].sort(naturalCompare);
    assert.deepEqual(
      yale.identities.map((i) => i.name),
      sorted,
    );
  });

  it('skips _unlabelled folders (face_recognition_examples/_multi_face)', () => {
    const ds = scanIdentityFolders(dataDir('faces', 'face_recognition_examples'));
    assert.equal(ds.identities.length, 6);
    assert.ok(!ds.identities.some((i) => i.name.startsWith('_')));
    assert.deepEqual(
      ds.skipped.map((s) => s.name),
      ['_multi_face'],
    );
    assert.equal(ds.identities.find((i) => i.name === 'lin_manuel_miranda')?.files.length, 1);
  });

  it('skips non-image files, hidden and empty folders; minImages drops small identities', () => {
    const root = path.join(tmp, 'scan');
    for (const [dir, files] of [
      ['bob', ['2.png', '10.png', '1.PNG', 'notes.txt', '.DS_Store', 'Thumbs.db']],
      ['alice', ['a.jpg']],
      ['_group', ['x.jpg']],
      ['.cache', ['y.jpg']],
      ['empty', ['readme.md']],
    ] as const) {
      fs.mkdirSync(path.join(root, dir), { recursive: true });
      for (const f of files) fs.writeFileSync(path.join(root, dir, f), 'x');
    }
    fs.writeFileSync(path.join(root, 'top.jpg'), 'x');
    const ds = scanIdentityFolders(root);
    assert.deepEqual(
      ds.identities.map((i) => [i.name, i.files.map((f) => path.basename(f))]),
      [
        ['alice', ['a.jpg']],
        ['bob', ['1.PNG', '2.png', '10.png']],
      ],
    );
    assert.deepEqual(
      ds.skipped.map((s) => s.name),
      ['.cache', '_group', 'empty'],
    );
    // minImages 2 leaves only bob: fewer than 2 identities is an error.
    assert.throws(() => scanIdentityFolders(root, { minImages: 2 }), code('E_BAD_DATASET'));
  });

  it('E_BAD_DATASET for a missing root, a file, an empty folder, a single identity', () => {
    assert.throws(() => scanIdentityFolders(path.join(tmp, 'nope')), code('E_BAD_DATASET'));
    assert.throws(() => scanIdentityFolders(path.join(orlRoot, 'README.orl.txt')), code('E_BAD_DATASET'));
    const empty = path.join(tmp, 'empty-root');
    fs.mkdirSync(empty);
    assert.throws(() => scanIdentityFolders(empty), /no identity folders/);
    const one = path.join(tmp, 'one');
    fs.mkdirSync(path.join(one, 'solo'), { recursive: true });
    fs.writeFileSync(path.join(one, 'solo', '1.jpg'), 'x');
    assert.throws(() => scanIdentityFolders(one), /only one identity \(solo\)/);
  });
});

describe('splitByIdentity', () => {
  const names = (d: IdentityDataset) => d.identities.map((i) => i.name);

  it('a count gives disjoint sides covering everything, reproducible per seed, nested across counts', () => {
    const a = splitByIdentity(orl, { valIdentities: 10, seed: 7 });
    assert.equal(a.val.identities.length, 10);
    assert.equal(a.train.identities.length, 30);
    const val = new Set(names(a.val));
    assert.ok(
      names(a.train).every((n) => !val.has(n)),
      'disjoint',
    );
    assert.deepEqual([...names(a.train), ...names(a.val)].sort(naturalCompare), names(orl));
    assert.equal(countImages(a.train) + countImages(a.val), 400);
    // Both halves keep the dataset order.
    assert.deepEqual(names(a.val), [...names(a.val)].sort(naturalCompare));
    assert.deepEqual(splitByIdentity(orl, { valIdentities: 10, seed: 7 }), a);
    assert.notDeepEqual(names(splitByIdentity(orl, { valIdentities: 10, seed: 8 }).val), names(a.val));
    const twelve = new Set(names(splitByIdentity(orl, { valIdentities: 12, seed: 7 }).val));
    assert.ok(
      names(a.val).every((n) => twelve.has(n)),
      'the 10 are among the 12',
    );
  });

  it('a list picks exactly those names; 0 means no validation', () => {
    const s = splitByIdentity(orl, { valIdentities: ['s40', 's3', 's10'] });
    assert.deepEqual(names(s.val), ['s3', 's10', 's40']);
    assert.equal(s.train.identities.length, 37);
    assert.ok(!names(s.train).includes('s10'));
    const none = splitByIdentity(orl, { valIdentities: 0 });
    assert.equal(none.val.identities.length, 0);
    assert.equal(none.train.identities.length, 40);
  });

  it('refuses impossible or malformed splits', () => {
    assert.throws(() => splitByIdentity(orl, { valIdentities: 39 }), code('E_BAD_OPTION'));
    assert.throws(() => splitByIdentity(orl, { valIdentities: 1 }), code('E_BAD_OPTION'));
    assert.throws(() => splitByIdentity(orl, { valIdentities: -2 }), code('E_BAD_OPTION'));
    assert.throws(() => splitByIdentity(orl, { valIdentities: 2.5 }), code('E_BAD_OPTION'));
    assert.throws(
      () => splitByIdentity(orl, { valIdentities: ['s1', 'bob'] }),
      /unknown validation identity: bob/,
    );
    assert.throws(() => splitByIdentity(orl, { valIdentities: ['s1', 's2', 's1'] }), /listed twice: s1/);
    assert.throws(() => splitByIdentity(orl, { valIdentities: 10, seed: 0.5 }), code('E_BAD_OPTION'));
  });
});

describe('PKSampler', () => {
  const train = () => splitByIdentity(orl, { valIdentities: 10, seed: 1 }).train.identities;

  function checkShape(b: PKBatch, P: number, K: number, counts: readonly number[]): void {
    assert.equal(b.labels.length, P * K);
    const ids: number[] = [];
    for (let p = 0; p < P; p++) {
      const id = b.labels[p * K];
      ids.push(id);
      const imgs = new Set<number>();
      for (let k = 0; k < K; k++) {
        assert.equal(b.labels[p * K + k], id, 'K consecutive slots per identity');
        const im = b.images[p * K + k];
        assert.ok(im >= 0 && im < counts[id]);
        if (!b.repeated[p * K + k]) imgs.add(im);
      }
      assert.equal(
        imgs.size,
        Math.min(K, counts[id]),
        'distinct images unless the identity has fewer than K',
      );
    }
    assert.equal(new Set(ids).size, P, 'P distinct identities');
  }

  it('each batch is P distinct identities × K distinct images; an epoch covers every identity', () => {
    const ids = train();
    const counts = ids.map((i) => i.files.length);
    const s = new PKSampler(ids, { P: 8, K: 4, seed: 3 });
    assert.equal(s.batchesPerEpoch, 4); // ceil(30 / 8)
    for (let epoch = 0; epoch < 3; epoch++) {
      const seen = new Set<number>();
      for (let b = 0; b < s.batchesPerEpoch; b++) {
        const batch = s.next();
        assert.equal(batch.epoch, epoch);
        assert.equal(batch.batch, b);
        assert.equal(batch.index, epoch * 4 + b);
        checkShape(batch, 8, 4, counts);
        assert.ok(batch.repeated.every((r) => r === 0));
        batch.labels.forEach((l) => seen.add(l));
      }
      assert.equal(seen.size, 30, `epoch ${epoch} covers every identity`);
    }
  });

  it("epochLength 'images' and numbers; images spread evenly over an epoch", () => {
    const ids = train();
    const s = new PKSampler(ids, { P: 6, K: 5, seed: 0, epochLength: 'images' });
    assert.equal(s.batchesPerEpoch, 10); // 300 images / 30 per batch
    const uses = new Map<string, number>();
    for (let b = 0; b < 10; b++) {
      const batch = s.next();
      batch.labels.forEach((l, i) =>
        uses.set(`${l}/${batch.images[i]}`, (uses.get(`${l}/${batch.images[i]}`) ?? 0) + 1),
      );
    }
    // 60 identity slots over 30 identities: each appears exactly twice, taking 2 × 5 = 10 images from its
    // own shuffle stream, so every one of the 300 images is used exactly once.
    assert.equal(uses.size, 300);
    assert.ok([...uses.values()].every((u) => u === 1));
    assert.equal(new PKSampler(ids, { P: 6, K: 5, epochLength: 17 }).batchesPerEpoch, 17);
  });

  it('is reproducible: same seed → same batches, other seed → different', () => {
    const ids = train();
    const a = new PKSampler(ids, { P: 8, K: 4, seed: 42 });
    const b = new PKSampler(ids, { P: 8, K: 4, seed: 42 });
    const c = new PKSampler(ids, { P: 8, K: 4, seed: 43 });
    let differs = false;
    for (let i = 0; i < 10; i++) {
      const x = a.next();
      assert.deepEqual(b.next(), x);
      const y = c.next();
      if (!x.labels.every((v, j) => v === y.labels[j]) || !x.images.every((v, j) => v === y.images[j]))
        differs = true;
    }
    assert.ok(differs);
    assert.deepEqual(a.batchAt(3), new PKSampler(ids, { P: 8, K: 4, seed: 42 }).batchAt(3));
  });

  it('state()/restore() continues exactly the same sequence (also through JSON) and refuses a changed setup', () => {
    const ids = train();
    const full = new PKSampler(ids, { P: 8, K: 4, seed: 9 });
    const reference = Array.from({ length: 11 }, () => full.next());
    const first = new PKSampler(ids, { P: 8, K: 4, seed: 9 });
    for (let i = 0; i < 6; i++) first.next();
    const saved = JSON.parse(JSON.stringify(first.state()));
    assert.deepEqual([saved.epoch, saved.batch], [1, 2]);
    const resumed = new PKSampler(ids, { P: 8, K: 4, seed: 9 });
    resumed.restore(saved);
    for (let i = 6; i < 11; i++) assert.deepEqual(resumed.next(), reference[i]);
    assert.throws(
      () => new PKSampler(ids, { P: 8, K: 4, seed: 10 }).restore(saved),
      /seed \(saved 9, now 10\)/,
    );
    assert.throws(() => new PKSampler(ids, { P: 6, K: 4, seed: 9 }).restore(saved), code('E_BAD_OPTION'));
    assert.throws(() => new PKSampler(ids.slice(1), { P: 8, K: 4, seed: 9 }).restore(saved), /dataset/);
  });

  it('identities with fewer than K images: all of them once, then repeats (flagged); minImages excludes', () => {
    // The real face_recognition_examples set: 1, 2, 2, 3, 3 and 5 images per person.
    const ds = scanIdentityFolders(dataDir('faces', 'face_recognition_examples'));
    const counts = ds.identities.map((i) => i.files.length);
    const lin = ds.identities.findIndex((i) => i.name === 'lin_manuel_miranda');
    const s = new PKSampler(ds.identities, { P: 4, K: 4, seed: 1, epochLength: 30 });
    let linSeen = 0;
    for (let i = 0; i < 30; i++) {
      const b = s.next();
      checkShape(b, 4, 4, counts);
      for (let p = 0; p < 4; p++) {
        const id = b.labels[p * 4];
        const rep = b.repeated.subarray(p * 4, p * 4 + 4).reduce((x, y) => x + y, 0);
        assert.equal(rep, Math.max(0, 4 - counts[id]));
        if (id === lin) {
          linSeen++;
          assert.deepEqual([...b.images.subarray(p * 4, p * 4 + 4)], [0, 0, 0, 0]);
        }
      }
    }
    assert.ok(linSeen > 0, 'the single-image identity is still sampled (as a negative for the others)');
    const strict = new PKSampler(ds.identities, { P: 4, K: 4, seed: 1, minImages: 2 });
    assert.ok(!strict.eligible.includes(lin));
    for (let i = 0; i < 20; i++) assert.ok(!strict.next().labels.includes(lin));
    assert.throws(() => new PKSampler(ds.identities, { P: 6, K: 2, minImages: 2 }), /only 5 identities/);
  });

  it('validates P and K', () => {
    assert.throws(() => new PKSampler([3, 3, 3], { P: 1, K: 2 }), code('E_BAD_OPTION'));
    assert.throws(() => new PKSampler([3, 3, 3], { P: 2, K: 1 }), code('E_BAD_OPTION'));
    assert.throws(() => new PKSampler([3, 3, 3], { P: 4, K: 2 }), code('E_BAD_OPTION'));
    assert.throws(() => new PKSampler([3, 3, 3], { P: 2, K: 2, epochLength: 0 }), code('E_BAD_OPTION'));
  });
});

describe('FaceImageSource', () => {
  const five = () => orl.identities.slice(0, 5);

  it('--no-detect: centre crop + resize once, grey 64×64, right shape and values', async () => {
    const src = await FaceImageSource.load(five(), { size: 64, channels: 1 });
    assert.equal(src.count, 50);
    assert.equal(src.pixelCount, 64 * 64);
    assert.deepEqual(src.counts(), [10, 10, 10, 10, 10]);
    assert.equal(src.indexOf(2, 3), 23);
    assert.equal(src.labelOf(23), 2);
    assert.equal(src.labelOf(49), 4);
    assert.equal(src.stats.fallbacks, 0);
    // Same as doing it by hand: ORL 92×112 → central 92×92 window → 64×64 → luma.
    const img = await decodeImage(orl.identities[2].files[3]);
    const manual = toGrey(resize(crop(img, { x: 0, y: 10, width: 92, height: 92 }), 64, 64)).data;
    assert.deepEqual(src.image(23), manual);
    // A real face photo, not a constant image.
    const px = src.image(0);
    assert.ok(Math.max(...px) - Math.min(...px) > 100);
    assert.throws(() => src.image(50), code('E_BAD_INPUT'));
    assert.throws(() => src.indexOf(0, 10), code('E_BAD_INPUT'));
  });

  it('colour, non-square size; centreCropResize keeps the aspect ratio', async () => {
    const bbt = scanIdentityFolders(dataDir('faces', 'faceapi_bbt')).identities.slice(0, 2);
    const src = await FaceImageSource.load(bbt, { size: { width: 48, height: 64 }, channels: 3 });
    assert.equal(src.image(0).length, 48 * 64 * 3);
    const wide: RgbImage = { width: 8, height: 4, data: new Uint8Array(8 * 4 * 3) };
    for (let x = 0; x < 8; x++)
      for (let y = 0; y < 4; y++) wide.data.fill(x * 30, (y * 8 + x) * 3, (y * 8 + x) * 3 + 3);
    // Square from 8×4: the middle 4 columns (x = 2…5), unchanged at the same size.
    assert.deepEqual(
      [...centreCropResize(wide, 4, 4).data.subarray(0, 12)],
      [60, 60, 60, 90, 90, 90, 120, 120, 120, 150, 150, 150],
    );
  });

  it("fit 'pad' keeps the whole photo: the short side widened with its edge pixels, then resized", async () => {
    // 2×4 columns 10 and 20, padded to 4×4: one edge column each side, so 10 10 20 20 on every row.
    const tall: RgbImage = { width: 2, height: 4, data: new Uint8Array(2 * 4 * 3) };
    for (let y = 0; y < 4; y++) {
      tall.data.fill(10, y * 6, y * 6 + 3);
      tall.data.fill(20, y * 6 + 3, y * 6 + 6);
    }
    const padded = padResize(tall, 4, 4);
    for (let y = 0; y < 4; y++)
      assert.deepEqual(
        [...padded.data.subarray(y * 12, y * 12 + 12)].filter((_, i) => i % 3 === 0),
        [10, 10, 20, 20],
      );
    // An ORL photo (92×112): with 'pad' the rows 'crop' drops (forehead, chin) are there; same for fallbacks.
    const one = [{ ...orl.identities[0], files: orl.identities[0].files.slice(0, 1) }];
    const img = await decodeImage(one[0].files[0]);
    const src = await FaceImageSource.load(one, { size: 56, channels: 1, fit: 'pad' });
    assert.deepEqual(src.image(0), toGrey(padResize(img, 56, 56)).data);
    assert.notDeepEqual(src.image(0), toGrey(centreCropResize(img, 56, 56)).data);
    const fallback = await FaceImageSource.load(one, {
      size: 56,
      channels: 1,
      fit: 'pad',
      align: () => null,
    });
    assert.deepEqual(fallback.image(0), src.image(0));
    await assert.rejects(
      FaceImageSource.load(one, { size: 56, channels: 1, fit: 'stretch' as 'pad' }),
      code('E_BAD_OPTION'),
    );
  });

  it('detect mode uses the aligned face, falls back to the centre crop on null and counts it', async () => {
    const ids = five().map((i) => ({ ...i, files: i.files.slice(0, 2) }));
    // A stand-in "aligner": the top-left 40×40 corner, and no face for the first image of each person.
    const align = (img: RgbImage, file: string) =>
      path.basename(file) === '1.pgm' ? null : crop(img, { x: 0, y: 0, width: 40, height: 40 });
    const src = await FaceImageSource.load(ids, { size: 32, channels: 1, align });
    assert.equal(src.stats.aligned, 5);
    assert.equal(src.stats.fallbacks, 5);
    assert.deepEqual(
      src.stats.fallbackFiles,
      ids.map((i) => i.files[0]),
    );
    const img = await decodeImage(ids[0].files[1]);
    assert.deepEqual(
      src.image(1),
      toGrey(resize(crop(img, { x: 0, y: 0, width: 40, height: 40 }), 32, 32)).data,
    );
    const first = await decodeImage(ids[0].files[0]);
    assert.deepEqual(src.image(0), toGrey(centreCropResize(first, 32, 32)).data);
  });

  it('fails loudly on an unreadable file, and on bad sizes', async () => {
    const dir = path.join(tmp, 'broken', 'p');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'x.jpg'), 'not an image');
    await assert.rejects(
      FaceImageSource.load([{ name: 'p', files: [orl.identities[0].files[0], path.join(dir, 'x.jpg')] }], {
        size: 32,
        channels: 1,
      }),
      (e: unknown) => e instanceof VisageError && /x\.jpg/.test(e.message + JSON.stringify(e.details)),
    );
    await assert.rejects(FaceImageSource.load(five(), { size: 4, channels: 1 }), code('E_BAD_OPTION'));
  });
});

describe('augmentation', () => {
  let src: FaceImageSource;
  before(async () => {
    src = await FaceImageSource.load(orl.identities.slice(0, 2), { size: 64, channels: 1 });
  });
  const none: AugmentParams = {
    flip: false,
    angle: 0,
    dx: 0,
    dy: 0,
    scale: 1,
    brightness: 0,
    contrast: 1,
    erase: null,
  };

  it('identity parameters reproduce the plain normalisation; flip alone is an exact mirror', () => {
    const px = src.image(0);
    const plain = gatherInput(src, [0]).images;
    const out = new Float32Array(px.length);
    augmentInto(px, 64, 64, 1, none, out, 0);
    for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i] - plain[i]) < 1e-6);
    augmentInto(px, 64, 64, 1, { ...none, flip: true }, out, 0);
    for (let y = 0; y < 64; y++)
      for (let x = 0; x < 64; x++) assert.ok(Math.abs(out[y * 64 + x] - plain[y * 64 + 63 - x]) < 1e-6);
  });

  it('the fused warp equals src/image warpAffine with replicated borders (to rounding)', () => {
    const rgb = resize(
      { width: 92, height: 112, data: new Uint8Array(92 * 112 * 3).map((_, i) => (i * 37) % 251) },
      40,
      48,
    );
    const identity = new Float32Array(40 * 48 * 3);
    warpReplicate(rgb.data, 40, 48, 3, augmentMatrix(none, 40, 48), identity);
    assert.ok(
      identity.every((v, i) => v === rgb.data[i]),
      'no-op parameters copy the image',
    );
    const p = { ...none, flip: true, angle: 0.15, dx: 2.5, dy: -1.75, scale: 1.08 };
    const sheared: AffineMatrix = [
      [0.9, 0.2, 3],
      [-0.25, 1.1, -6],
    ];
    for (const m of [augmentMatrix(p, 40, 48), sheared]) {
      const mine = new Float32Array(40 * 48 * 3);
      warpReplicate(rgb.data, 40, 48, 3, m, mine);
      const ref = warpAffine(rgb, m, 40, 48, { border: 'replicate' }).data;
      let worst = 0;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(mine[i] - ref[i]));
      assert.ok(worst <= 0.5 + 1e-3, `max difference ${worst}`);
    }
    // Geometry: a shift moves content by (dx, dy); rotation and zoom keep the centre fixed; flip mirrors.
    assert.deepEqual(applyAffine(augmentMatrix({ ...none, dx: 3, dy: -2 }, 40, 48), [10, 10]), [7, 12]);
    const centre = applyAffine(augmentMatrix({ ...none, angle: 0.1, scale: 1.05 }, 40, 48), [19.5, 23.5]);
    assert.ok(Math.abs(centre[0] - 19.5) < 1e-9 && Math.abs(centre[1] - 23.5) < 1e-9);
    assert.deepEqual(applyAffine(augmentMatrix({ ...none, flip: true }, 40, 48), [0, 5]), [39, 5]);
  });

  it('is deterministic per (seed, batch, slot), changes pixels, and stays within [−1, 1]', () => {
    const opts = resolveAugment({});
    const draw = (seed: number, batch: number, slot: number) =>
      sampleAugmentParams(new Rng(augmentSeed(seed, batch, slot)), opts, 64, 64);
    assert.deepEqual(draw(5, 3, 2), draw(5, 3, 2));
    assert.notDeepEqual(draw(5, 3, 2), draw(5, 4, 2));
    assert.notDeepEqual(draw(5, 3, 2), draw(5, 3, 1));
    assert.notDeepEqual(draw(5, 3, 2), draw(6, 3, 2));
    // Parameters stay within the documented ranges.
    for (let i = 0; i < 200; i++) {
      const p = draw(1, i, 0);
      assert.ok(Math.abs(p.angle) <= (10 * Math.PI) / 180 + 1e-12);
      assert.ok(Math.abs(p.dx) <= 0.06 * 64 && Math.abs(p.dy) <= 0.06 * 64);
      assert.ok(
        Math.abs(p.scale - 1) <= 0.06 && Math.abs(p.brightness) <= 0.1 && Math.abs(p.contrast - 1) <= 0.15,
      );
    }
    const idx = Array.from({ length: 20 }, (_, i) => i);
    const plain = gatherInput(src, idx);
    const a = gatherInput(src, idx, { augment: {}, seed: 11, batchIndex: 4 });
    const b = gatherInput(src, idx, { augment: {}, seed: 11, batchIndex: 4 });
    const c = gatherInput(src, idx, { augment: {}, seed: 11, batchIndex: 5 });
    assert.deepEqual(a.images, b.images);
    assert.notDeepEqual(a.images, c.images);
    assert.deepEqual(a.labels, plain.labels);
    let min = Infinity;
    let max = -Infinity;
    let diff = 0;
    for (let i = 0; i < a.images.length; i++) {
      min = Math.min(min, a.images[i]);
      max = Math.max(max, a.images[i]);
      diff += Math.abs(a.images[i] - plain.images[i]);
    }
    assert.ok(min >= -1 && max <= 1, `range ${min}…${max}`);
    const meanDiff = diff / a.images.length;
    // Changed, but still the same face: a mean change of a few percent of the range, not noise.
    assert.ok(meanDiff > 0.03 && meanDiff < 0.5, `mean |Δ| ${meanDiff}`);
    assert.throws(() => resolveAugment({ rotationDeg: 90 }), code('E_BAD_OPTION'));
  });

  it('random erasing paints one mid-grey rectangle of 2–25 % of the image and leaves the other draws alone', () => {
    const on = resolveAugment({ erase: 1 });
    const off = resolveAugment({});
    let areaMin = Infinity;
    let areaMax = 0;
    for (let i = 0; i < 200; i++) {
      const a = sampleAugmentParams(new Rng(augmentSeed(2, i, 0)), on, 64, 48);
      const b = sampleAugmentParams(new Rng(augmentSeed(2, i, 0)), off, 64, 48);
      // Erasing is drawn last: switching it on changes nothing else (so runs without it are unchanged).
      assert.deepEqual({ ...a, erase: null }, b);
      assert.equal(b.erase, null);
      const e = a.erase!;
      assert.ok(e.x0 >= 0 && e.y0 >= 0 && e.x1 <= 64 && e.y1 <= 48 && e.x1 > e.x0 && e.y1 > e.y0);
      const area = ((e.x1 - e.x0) * (e.y1 - e.y0)) / (64 * 48);
      areaMin = Math.min(areaMin, area);
      areaMax = Math.max(areaMax, area);
    }
    assert.ok(areaMin >= 0.015 && areaMax <= 0.26 && areaMax > 0.15, `areas ${areaMin}…${areaMax}`);
    const px = src.image(0);
    const plain = new Float32Array(px.length);
    augmentInto(px, 64, 64, 1, none, plain, 0);
    const erased = new Float32Array(px.length);
    const rect = { x0: 10, y0: 20, x1: 30, y1: 25 };
    augmentInto(px, 64, 64, 1, { ...none, erase: rect }, erased, 0);
    for (let y = 0; y < 64; y++)
      for (let x = 0; x < 64; x++) {
        const inside = x >= 10 && x < 30 && y >= 20 && y < 25;
        assert.equal(erased[y * 64 + x], inside ? 0 : plain[y * 64 + x]);
      }
    assert.throws(() => resolveAugment({ erase: 1.5 }), code('E_BAD_OPTION'));
  });
});

describe('batches', () => {
  it('buildBatch: [P·K, h, w, c] in [−1, 1] matching imagesToBatch(TRAINING_NORMALIZATION); labels from the sampler', async () => {
    const ids = orl.identities.slice(0, 6);
    const src = await FaceImageSource.load(ids, { size: 48, channels: 1 });
    const sampler = new PKSampler(ids, { P: 3, K: 4, seed: 2 });
    const batch = sampler.next();
    const b = buildBatch(src, batch);
    assert.deepEqual(b.shape, [12, 48, 48, 1]);
    assert.equal(b.images.length, 12 * 48 * 48);
    assert.deepEqual(b.labels, batch.labels);
    // The exact values inference would get from the image layer with the exported normalisation.
    const idx = batchIndices(src, batch);
    const imgs = await Promise.all(
      [...idx].map(async (i) => centreCropResize(await decodeImage(src.files[i]), 48, 48)),
    );
    const ref = imagesToBatch(imgs, { ...TRAINING_NORMALIZATION, channels: 1 });
    assert.deepEqual(b.images, ref.dataSync());
    ref.dispose();
    assert.ok(b.images.every((v) => v >= -1 && v <= 1));
    // Augmented batches are reproducible from (seed, batch index): what --resume relies on.
    const aug1 = buildBatch(src, batch, { augment: {}, seed: 3 });
    const resumed = new PKSampler(ids, { P: 3, K: 4, seed: 2 });
    resumed.restore({ ...sampler.state(), epoch: 0, batch: 0 });
    assert.deepEqual(buildBatch(src, resumed.next(), { augment: {}, seed: 3 }).images, aug1.images);

    const before = tf.memory().numTensors;
    const t = batchTensor(src, batch, { augment: {}, seed: 3 });
    assert.deepEqual(t.images.shape, [12, 48, 48, 1]);
    assert.equal(t.images.dtype, 'float32');
    assert.deepEqual(t.images.dataSync(), aug1.images);
    t.images.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('mirrorImages equals the image layer’s flipHorizontal, image by image, in grey and colour', () => {
    // Two 5×3 images (odd width: the middle column stays), random bytes.
    const rng = new Rng(11);
    const imgs: RgbImage[] = [0, 1].map(() => ({
      width: 5,
      height: 3,
      data: Uint8Array.from({ length: 5 * 3 * 3 }, () => Math.floor(rng.next() * 256)),
    }));
    for (const channels of [1, 3] as const) {
      const x = imagesToBatch(imgs, { ...TRAINING_NORMALIZATION, channels });
      const ref = imagesToBatch(imgs.map(flipHorizontal), { ...TRAINING_NORMALIZATION, channels });
      const m = mirrorImages(x.dataSync() as Float32Array, 2, 3, 5, channels);
      assert.deepEqual(m, ref.dataSync());
      assert.deepEqual(mirrorImages(m, 2, 3, 5, channels), x.dataSync(), 'twice is the identity');
      x.dispose();
      ref.dispose();
    }
    assert.throws(() => mirrorImages(new Float32Array(10), 1, 3, 5, 1), /10 values for 1×3×5×1/);
  });
});
