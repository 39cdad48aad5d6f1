import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { chooseFace, faceWeight } from '../../src/faces/choose.js';
import { FacePipeline } from '../../src/faces/pipeline.js';
import type { FaceBox } from '../../src/faces/types.js';
import { crop, decodeImage, type RgbImage } from '../../src/image/index.js';
import { dataDir } from '../helpers/data.js';

const box = (x: number, y: number, s: number): { box: FaceBox } => ({ box: { x, y, width: s, height: s } });
const area = (b: FaceBox) => b.width * b.height;

describe('chooseFace', () => {
  it('one face is that face under every rule; none is -1', () => {
    for (const rule of ['largest', 'prominent'] as const) {
      assert.equal(chooseFace([box(0, 0, 10)], { width: 100, height: 100 }, rule), 0);
      assert.equal(chooseFace([], { width: 100, height: 100 }, rule), -1);
    }
  });

  it('largest ignores where a face is; prominent trades size against distance from the centre', () => {
    const img = { width: 400, height: 300 };
    const edge = box(330, 10, 60); // large, in a corner
    const centre = box(175, 125, 50); // a little smaller, at the centre
    assert.equal(chooseFace([edge, centre], img, 'largest'), 0);
    assert.equal(chooseFace([edge, centre], img, 'prominent'), 1);
    // A face at the very centre keeps its area; one in a corner weighs nothing.
    assert.equal(faceWeight(box(190, 140, 20).box, img, 'prominent'), 400);
    assert.equal(faceWeight(box(-10, -10, 20).box, img, 'prominent'), 0);
    // Much larger still wins off-centre: the rule is not "the most central face".
    assert.equal(chooseFace([box(250, 100, 140), centre], img, 'prominent'), 0);
  });

  it('rejects an unknown rule', () => {
    assert.throws(() => chooseFace([box(0, 0, 1)], { width: 1, height: 1 }, 'middle' as 'largest'));
  });
});

describe('chooseFace on a real group photo', () => {
  const pipeline = new FacePipeline();
  let photo: RgbImage;
  before(async () => {
    await initEngine();
    photo = await decodeImage(
      dataDir('faces', 'face_recognition_examples', '_multi_face', 'kit_with_rose.jpg'),
    );
  });
  after(() => pipeline.dispose());

  it('framed on a smaller face, "prominent" takes that face, not the larger one at the edge', async () => {
    const faces = await pipeline.detect(photo);
    assert.ok(faces.length >= 2, `${faces.length} faces`);
    // The largest face B, and the face A nearest to it that is clearly smaller.
    const b = faces.reduce((x, y) => (area(y.box) > area(x.box) ? y : x));
    const cx = (f: { box: FaceBox }) => f.box.x + f.box.width / 2;
    const cy = (f: { box: FaceBox }) => f.box.y + f.box.height / 2;
    const smaller = faces.filter((f) => f !== b && area(f.box) < 0.8 * area(b.box));
    assert.ok(smaller.length > 0, 'a face clearly smaller than the largest');
    const a = smaller.reduce((x, y) =>
      Math.hypot(cx(y) - cx(b), cy(y) - cy(b)) < Math.hypot(cx(x) - cx(b), cy(x) - cy(b)) ? y : x,
    );
    // A window centred on A that just holds B: the photographer framed A, B stands at the edge.
    const side = Math.max(b.box.width, b.box.height);
    const half = Math.max(Math.abs(cx(b) - cx(a)), Math.abs(cy(b) - cy(a))) + side;
    const framed = crop(photo, {
      x: Math.round(cx(a) - half),
      y: Math.round(cy(a) - half),
      width: Math.round(2 * half),
      height: Math.round(2 * half),
    });
    const inFrame = await pipeline.detect(framed);
    assert.ok(inFrame.length >= 2, `${inFrame.length} faces in the framed photo`);
    const near = (f: { box: FaceBox }, x: number, y: number) =>
      Math.hypot(cx(f) - x, cy(f) - y) < 0.25 * Math.sqrt(area(f.box));
    const prominent = inFrame[chooseFace(inFrame, framed, 'prominent')];
    assert.ok(near(prominent, half, half), 'prominent: the framed face');
    // The framed face is not the one "largest" takes from the photo.
    assert.equal(faces[chooseFace(faces, photo, 'largest')], b);
    assert.notEqual(a, b);
  });
});
