#!/usr/bin/env node
/**
 * Where face-api's landmark net usually sees a face in its 112×112 input: the similarity that maps
 * dlib's mean face (the alignment template, unit square) onto the net's own outputs ([0, 1] of its input),
 * median over the faces of the given photos (detector boxes, score ≥ 0.5). The refined landmark pass
 * (`LandmarkOptions.refine`) cuts its upright crop so the face sits there: LANDMARK_FRAME in
 * src/faces/landmark-frame.ts holds what this prints.
 *
 *   node scripts/landmark-frame.mjs ../shared/data/faces/five_celebrity_faces ../shared/data/faces/faceapi_bbt …
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', 'src', p));
const { FacePipeline } = await dist('faces/pipeline.js');
const { LandmarkDetector, landmarkCrop } = await dist('faces/landmarks.js');
const { dlibTemplate, DLIB_ALIGNMENT_POINTS } = await dist('faces/align.js');
const { similarityTransform } = await dist('image/affine.js');
const { resize } = await dist('image/geometry.js');
const { decodeImage } = await dist('image/decode.js');
const { scanIdentityFolders } = await dist('eval/scan.js');

const perIdentity = Number(process.env.PER_IDENTITY ?? 4);
const files = process.argv
  .slice(2)
  .flatMap((dir) => scanIdentityFolders(dir).identities.flatMap((i) => i.files.slice(0, perIdentity)));
const pipe = new FacePipeline();
const lm = LandmarkDetector.load();
const template = dlibTemplate(1, 0);
const scales = [];
const xs = [];
const ys = [];
const angles = [];
for (const f of files) {
  const img = await decodeImage(f);
  for (const face of await pipe.detect(img)) {
    const { square } = landmarkCrop(img, face.box);
    const [raw] = await lm.predictRaw([resize(square, 112, 112)]);
    const out = DLIB_ALIGNMENT_POINTS.map((i) => [raw[2 * i], raw[2 * i + 1]]);
    const t = similarityTransform(template, out);
    scales.push(Math.hypot(t[0][0], t[1][0]));
    angles.push(Math.atan2(t[1][0], t[0][0]));
    xs.push(t[0][2]);
    ys.push(t[1][2]);
  }
}
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
// With rotation taken out: the template's unit square lands at (x, y) + scale·[0, 1]².
console.log(
  JSON.stringify({
    faces: scales.length,
    scale: median(scales),
    x: median(xs),
    y: median(ys),
    angleDeg: (median(angles) * 180) / Math.PI,
  }),
);
