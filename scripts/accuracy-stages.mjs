#!/usr/bin/env node
/**
 * The per-stage accuracy table of docs/results/accuracy.md: Visage's pipeline and face-api's own, on the
 * same photos, in colour and in grey, one row per (set, variant). Embeddings come from the cache that
 * `visage eval` fills (~/.cache/visage), so a rerun only re-scores; a new variant costs one pass.
 *
 *   node scripts/accuracy-stages.mjs --sets celeba:1,colour --variants visage,visage+grey,face-api,face-api+grey
 *   node scripts/accuracy-stages.mjs --cost 20 --sets celeba:2 --variants visage,visage+flip
 *   node scripts/accuracy-stages.mjs --detections photo.jpg …
 *   node scripts/accuracy-stages.mjs --grey-stages
 *
 * Sets: `celeba:1` / `celeba:2`, the two identity halves of celeba_299 (half 1 to tune, half 2 to report;
 * split by a hash of the folder name, as `visage eval pairs --half`); `colour`, the three small colour sets
 * pooled (five_celebrity_faces, face_recognition_examples, faceapi_bbt; people kept apart per set).
 * Variants: `visage` or `face-api`, then any of `+grey` (photo converted to grey first), `+flip` (test-time
 * flip of the chip, Visage only), `+jitterN` (jitter averaging over N perturbed chips, dlib's num_jitters, Visage only), `+lm-mirror` (landmarks averaged with the mirrored crop's, Visage only), `+lm-refine` (a second landmark pass on an upright crop around the first pass's points, Visage only), `+crop-fallback` (no second
 * chance at detector score 0.3: a photo without a face at 0.5 goes straight to the centred crop), `+largest` / `+prominent` (face rule; default Visage's default, face-api: largest).
 *
 * Columns, all pairs of the set (every same-person and every different-person pair): ROC AUC, EER, TAR at
 * FAR 0.1 % and 1 %, FAR / FRR at the shipped τ (face-api: its 0.6); for celeba also the LFW-style
 * accuracy (whole set only, not with --per-identity N, which keeps the first N photos of each person: 10 identity-disjoint folds of 50 + 50 pairs, τ chosen on the other 9 folds, mean ± std).
 */
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', 'src', p));
const { embedFiles } = await dist('faces/batch.js');
const { faceApiEmbedFiles } = await dist('faces/faceapi-peer.js');
const { makePairs, identityHalf } = await dist('eval/pairs.js');
const { allPairs } = await dist('eval/evaluate.js');
const { scanIdentityFolders } = await dist('eval/scan.js');
const { summarizeVerification, kFoldAccuracy } = await dist('eval/metrics.js');
const { errorRatesAt } = await dist('eval/error-rates.js');
const { squaredL2 } = await dist('faces/compare.js');
const { defaultCalibration } = await dist('faces/calibration.js');
const { DEFAULT_FACE_RULE } = await dist('faces/choose.js');
const { DLIB_ENCODER_ID } = await dist('faces/encoder.js');

const { values, positionals } = parseArgs({
  options: {
    sets: { type: 'string', default: 'celeba:1,colour' },
    variants: { type: 'string', default: 'visage,face-api' },
    data: { type: 'string', default: process.env.VISAGE_DATA ?? path.join(root, '..', 'shared', 'data') },
    json: { type: 'string' },
    'per-identity': { type: 'string' },
    cost: { type: 'string' },
    detections: { type: 'boolean' },
    'grey-stages': { type: 'boolean' },
  },
  allowPositionals: true,
});
const faces = path.join(values.data, 'faces');
/** Exploring: only the first N photos (natural order) of each celeba person. */
const cap = values['per-identity'] ? Number(values['per-identity']) : Infinity;
const pct = (v, digits = 2) => `${(100 * v).toFixed(digits)} %`;
const COLOUR = ['five_celebrity_faces', 'face_recognition_examples', 'faceapi_bbt'];

/** Every pair of a set, identities named per set, plus the LFW-style folds where the set has enough people. */
function pairsOf(set) {
  if (set === 'colour') {
    const pairs = COLOUR.flatMap((r) =>
      allPairs(path.join(faces, r)).map((p) => ({ ...p, idA: `${r}:${p.idA}`, idB: `${r}:${p.idB}` })),
    );
    return { pairs, lfw: null };
  }
  const m = /^celeba:([12])$/.exec(set);
  if (!m) throw new Error(`unknown set ${set}`);
  const half = Number(m[1]);
  const dir = path.join(faces, 'celeba_299');
  const files = scanIdentityFolders(dir)
    .identities.filter((id) => identityHalf(id.name) === half)
    .flatMap((id) => id.files.slice(0, cap).map((f) => ({ id: id.name, f })));
  const pairs = [];
  for (let i = 0; i < files.length; i++)
    for (let j = i + 1; j < files.length; j++)
      pairs.push({ a: files[i].f, b: files[j].f, same: files[i].id === files[j].id, fold: 0 });
  const kept = new Set(files.map((x) => x.f));
  const lfw = cap === Infinity ? makePairs(dir, { folds: 10, perFold: 50, seed: 1, half }) : null;
  return { pairs, lfw: lfw && lfw.pairs.every((p) => kept.has(p.a) && kept.has(p.b)) ? lfw : null };
}

function parseVariant(v) {
  const [engine, ...mods] = v.split('+');
  if (engine !== 'visage' && engine !== 'face-api') throw new Error(`unknown variant ${v}`);
  const o = {
    engine,
    grey: false,
    flip: false,
    jitter: 0,
    faceRule: engine === 'face-api' ? 'largest' : DEFAULT_FACE_RULE,
  };
  for (const m of mods) {
    if (m === 'grey') o.grey = true;
    else if (m === 'flip') o.flip = true;
    else if (m === 'lm-mirror') o.mirrorLandmarks = true;
    else if (m === 'lm-refine') o.refineLandmarks = true;
    else if (/^jitter\d+$/.test(m)) o.jitter = Number(m.slice(6));
    else if (m === 'crop-fallback') o.secondChance = false;
    else if (m === 'largest' || m === 'prominent') o.faceRule = m;
    else throw new Error(`unknown modifier ${m} in ${v}`);
  }
  return o;
}

const threads = Number(process.env.VISAGE_THREADS) || undefined;
async function embed(files, o) {
  const progress = (done, total) => {
    if (done === total || done % 100 === 0) process.stderr.write(`  ${done}/${total}\r`);
  };
  return o.engine === 'face-api'
    ? faceApiEmbedFiles(files, { grey: o.grey, faceRule: o.faceRule, onProgress: progress })
    : embedFiles(files, {
        grey: o.grey,
        flip: o.flip,
        jitter: o.jitter,
        mirrorLandmarks: o.mirrorLandmarks,
        refineLandmarks: o.refineLandmarks,
        secondChance: o.secondChance,
        faceRule: o.faceRule,
        threads,
        onProgress: progress,
      });
}

function score(pairs, emb) {
  const d = [];
  const y = [];
  const folds = [];
  for (const p of pairs) {
    const a = emb.get(p.a)?.vector;
    const b = emb.get(p.b)?.vector;
    if (!a || !b) continue;
    d.push(squaredL2(a, b));
    y.push(p.same);
    folds.push(p.fold);
  }
  return { d, y, folds };
}

/**
 * --detections PHOTO…: for each photo, the faces at the detector's usual score (0.5) and at the second
 * look's (SECOND_CHANCE_SCORE), and which face each face rule picks.
 */
if (values.detections) {
  const { FacePipeline } = await dist('faces/pipeline.js');
  const { decodeImage } = await dist('image/decode.js');
  const { chooseFace, SECOND_CHANCE_SCORE } = await dist('faces/choose.js');
  const pipe = new FacePipeline();
  console.log(
    `| photo | faces at 0.5 | at ${SECOND_CHANCE_SCORE}: scores | largest | prominent |\n|---|---|---|---|---|`,
  );
  for (const f of positionals) {
    const img = await decodeImage(f);
    const usual = await pipe.detect(img);
    const low = await pipe.detect(img, { minScore: SECOND_CHANCE_SCORE });
    const pick = (rule) => (usual.length ? `#${chooseFace(usual, img, rule)}` : '—');
    console.log(
      `| ${path.basename(f)} | ${usual.length} | ${low.map((x) => x.score.toFixed(2)).join(', ') || '—'} | ${pick('largest')} | ${pick('prominent')} |`,
    );
  }
  process.exit(0);
}

/**
 * --grey-stages: where grey photos lose, on the colour sets' photos whose face is found both in colour and
 * in grey (largest face, flip on): the same chip made grey (colour landmarks, so only the encoder's view
 * changes) against everything in grey (grey detection and landmarks too); a colour photo against a grey
 * one; and two chip-level remedies, a 1–99 % contrast stretch and a skin tint (each channel scaled by the
 * colour chips' mean channel / luma ratio).
 */
if (values['grey-stages']) {
  const { FacePipeline } = await dist('faces/pipeline.js');
  const { decodeImage } = await dist('image/decode.js');
  const { fromGrey, toGrey } = await dist('image/rgb.js');
  const { pairs } = pairsOf('colour');
  const files = [...new Set(pairs.flatMap((p) => [p.a, p.b]))];
  const pipe = new FacePipeline();
  const encoder = await pipe.encoder();
  const grey = (im) => fromGrey(toGrey(im));
  const { chooseFace } = await dist('faces/choose.js');
  const largest = (faces, img) => faces[chooseFace(faces, img, 'largest')];
  const chips = new Map();
  for (const f of files) {
    const colour = await decodeImage(f);
    const g = grey(colour);
    const [fc, fg] = [await pipe.detect(colour), await pipe.detect(g)];
    if (fc.length && fg.length)
      chips.set(f, {
        colour: (await pipe.align(colour, largest(fc, colour))).chip,
        grey: (await pipe.align(g, largest(fg, g))).chip,
      });
  }
  // Mean channel / luma of the colour chips' central 70 × 70 (the face, not the background).
  const sum = [0, 0, 0];
  for (const { colour } of chips.values())
    for (let y = 40; y < 110; y++)
      for (let x = 40; x < 110; x++)
        for (let k = 0; k < 3; k++) sum[k] += colour.data[(y * colour.width + x) * 3 + k];
  const gain = sum.map((v) => v / (0.299 * sum[0] + 0.587 * sum[1] + 0.114 * sum[2]));
  const map = (im, fn) => ({ ...im, data: Uint8Array.from(im.data, fn) });
  const tint = (im) => map(grey(im), (v, i) => Math.min(255, Math.round(v * gain[i % 3])));
  const stretch = (im) => {
    const g = grey(im);
    const v = g.data.filter((_, i) => i % 3 === 0).sort((a, b) => a - b);
    const [lo, hi] = [v[Math.floor(0.01 * v.length)], v[Math.floor(0.99 * v.length)]];
    return map(g, (x) => Math.max(0, Math.min(255, Math.round(((x - lo) * 255) / Math.max(1, hi - lo)))));
  };
  const kinds = ['colour', 'grey chip', 'grey', 'grey chip, stretched', 'grey chip, tinted'];
  const emb = new Map(kinds.map((k) => [k, new Map()]));
  for (const [f, c] of chips) {
    const v = await encoder.encode([c.colour, grey(c.colour), c.grey, stretch(c.colour), tint(c.colour)], {
      flip: true,
    });
    kinds.forEach((k, i) => emb.get(k).set(f, v[i]));
  }
  const row = (name, ea, eb) => {
    const d = [];
    const y = [];
    for (const p of pairs) {
      const [a, b] = [ea.get(p.a), eb.get(p.b)];
      if (!a || !b) continue;
      d.push(squaredL2(a, b));
      y.push(p.same);
    }
    const s = summarizeVerification(d, y, { fars: [1e-3, 1e-2] });
    console.log(
      `| ${name} | ${d.length} | ${s.auc.toFixed(4)} | ${pct(s.tarAtFar[0].result.tar, 1)} | ${pct(s.tarAtFar[1].result.tar, 1)} |`,
    );
  };
  console.log(
    `${chips.size} of ${files.length} photos with a face in colour and in grey; channel gains ${gain.map((g) => g.toFixed(3)).join(' / ')}`,
  );
  console.log('| pair of | pairs | AUC | TAR @ FAR 0.1 % | TAR @ FAR 1 % |\n|---|---|---|---|---|');
  row('both colour', emb.get('colour'), emb.get('colour'));
  row('colour, grey chip', emb.get('colour'), emb.get('grey chip'));
  for (const k of kinds.slice(1)) row(`both ${k}`, emb.get(k), emb.get(k));
  process.exit(0);
}

/**
 * --cost N: milliseconds per face of each Visage variant on the first N photos of the first set: one warm
 * pipeline per variant in this process (models loaded, one warm-up photo), photos decoded beforehand, the
 * variants interleaved photo by photo so that load changes hit them alike; the median over photos.
 */
if (values.cost) {
  const { FacePipeline } = await dist('faces/pipeline.js');
  const { decodeImage } = await dist('image/decode.js');
  const { fromGrey, toGrey } = await dist('image/rgb.js');
  const n = Number(values.cost);
  const set = values.sets.split(',')[0];
  const files = [...new Set(pairsOf(set).pairs.flatMap((p) => [p.a, p.b]))].slice(0, n + 1);
  const images = await Promise.all(files.map((f) => decodeImage(f)));
  const variants = values.variants
    .split(',')
    .filter((v) => v.startsWith('visage'))
    .map((name) => {
      const o = parseVariant(name);
      return {
        name,
        o,
        pipe: new FacePipeline({ landmarks: { mirror: !!o.mirrorLandmarks, refine: !!o.refineLandmarks } }),
        ms: [],
      };
    });
  let faceCount = 0;
  for (let i = 0; i < images.length; i++) {
    for (const v of variants) {
      const img = v.o.grey ? fromGrey(toGrey(images[i])) : images[i];
      const t0 = process.hrtime.bigint();
      const got = await v.pipe.embedAll(img, { flip: v.o.flip, jitter: v.o.jitter });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (i > 0 && got.length > 0) v.ms.push(ms / got.length); // photo 0 warms up
      if (v === variants[0] && i > 0) faceCount += got.length;
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    `${n} photos (${faceCount} faces) of ${set}; load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  );
  console.log('| variant | ms per face (median over photos; detection + landmarks + encoder) |\n|---|---|');
  for (const v of variants) console.log(`| ${v.name} | ${median(v.ms).toFixed(0)} |`);
  process.exit(0);
}

const rows = [];
for (const set of values.sets.split(',')) {
  const { pairs, lfw } = pairsOf(set);
  const files = [...new Set(pairs.flatMap((p) => [p.a, p.b]))];
  for (const name of values.variants.split(',')) {
    const o = parseVariant(name);
    const t0 = Date.now();
    const emb = await embed(files, o);
    const all = score(pairs, emb);
    const s = summarizeVerification(all.d, all.y, { fars: [1e-3, 1e-2] });
    const tau =
      o.engine === 'face-api' ? 0.36 : (defaultCalibration()?.policies[DLIB_ENCODER_ID]?.threshold ?? 0.17);
    const at = errorRatesAt(all.d, all.y, tau);
    let lfwAcc = null;
    if (lfw) {
      const l = score(lfw.pairs, emb);
      lfwAcc = kFoldAccuracy(l.d, l.y, l.folds);
    }
    const e = [...emb.values()];
    const row = {
      set,
      variant: name,
      faceRule: o.faceRule,
      images: files.length,
      pairs: all.d.length,
      same: s.same,
      auc: s.auc,
      eer: s.eer.eer,
      tar1e3: s.tarAtFar[0].result.tar,
      tar1e2: s.tarAtFar[1].result.tar,
      tau,
      far: at.far,
      frr: at.frr,
      lfw: lfwAcc ? { mean: lfwAcc.mean, std: lfwAcc.std } : null,
      fallbacks: e.filter((x) => x.fallback).length,
      secondChance: e.filter((x) => x.secondChance).length,
      multiFace: e.filter((x) => x.faces > 1).length,
      notLargest: e.filter((x) => x.faces > 1 && x.chosen > 0).length,
      seconds: (Date.now() - t0) / 1000,
    };
    rows.push(row);
    process.stderr.write(`${set} ${name}: AUC ${s.auc.toFixed(4)} (${row.seconds.toFixed(0)} s)\n`);
  }
}
console.log(
  '| set | variant | images (centred crop / second chance / several faces) | AUC | EER | TAR @ FAR 0.1 % | TAR @ FAR 1 % | at τ: FAR / FRR | LFW-style accuracy |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.set} | ${r.variant}${r.variant.includes(r.faceRule) ? '' : ` (${r.faceRule})`} | ${r.images} (${r.fallbacks} / ${r.secondChance} / ${r.multiFace}) | ${r.auc.toFixed(4)} | ${pct(r.eer)} | ${pct(r.tar1e3, 1)} | ${pct(r.tar1e2, 1)} | τ ${r.tau.toFixed(3)}: ${pct(r.far)} / ${pct(r.frr, 1)} | ${r.lfw ? `${pct(r.lfw.mean)} ± ${pct(r.lfw.std)}` : '—'} |`,
  );
}
if (values.json) fs.writeFileSync(values.json, JSON.stringify(rows, null, 2));
