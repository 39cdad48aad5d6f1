import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { dot } from '../../src/faces/compare.js';
import { jitterTransforms } from '../../src/faces/jitter.js';
import { FacePipeline } from '../../src/faces/pipeline.js';
import { applyAffine, decodeImage, IDENTITY, type RgbImage } from '../../src/image/index.js';
import { dataDir } from '../helpers/data.js';

const pipeline = new FacePipeline();
let photo: RgbImage;

before(async () => {
  await initEngine();
  photo = await decodeImage(dataDir('faces', 'five_celebrity_faces', 'madonna', 'test_mad.jpg'));
});
after(() => pipeline.dispose());

describe('jitter averaging', () => {
  it('perturbs the chip by small, seeded similarities (dlib: ±3°, 0.97–1 scale, ±2 % shift, mirror)', () => {
    const maps = jitterTransforms(IDENTITY, 150, 32);
    assert.deepEqual(jitterTransforms(IDENTITY, 150, 32), maps);
    assert.notDeepEqual(jitterTransforms(IDENTITY, 150, 32, 7), maps);
    let mirrored = 0;
    for (const [[a, b], [d, e]] of maps) {
      const det = a * e - b * d;
      if (det < 0) mirrored++;
      const k = Math.sqrt(Math.abs(det));
      assert.ok(k > 143 / 149 - 1e-9 && k < 144 / 0.97 / 149, `scale ${k}`);
      assert.ok(Math.abs(Math.atan2(d, e)) <= (3 * Math.PI) / 180 + 1e-9, 'rotation within 3°');
    }
    assert.ok(mirrored > 4 && mirrored < 28, `${mirrored} of 32 mirrored`);
    for (const m of maps) {
      const [x, y] = applyAffine(m, [74.5, 74.5]);
      assert.ok(Math.abs(x - 74.5) <= 0.02 * 144 + 1e-9 && Math.abs(y - 74.5) <= 0.02 * 144 + 1e-9);
    }
  });

  it('is deterministic, changes the descriptor, and stays close to it', async () => {
    const [plain] = await pipeline.embedAll(photo, { flip: true, jitter: 0 });
    const [once] = await pipeline.embedAll(photo, { flip: true, jitter: 4 });
    const [twice] = await pipeline.embedAll(photo, { flip: true, jitter: 4 });
    assert.deepEqual(twice.embedding.vector, once.embedding.vector);
    assert.ok(Math.abs(Math.hypot(...once.embedding.vector) - 1) < 1e-5);
    const cos = dot(once.embedding.vector, plain.embedding.vector);
    assert.ok(cos < 0.9999, `jitter changed nothing (cos ${cos})`);
    assert.ok(cos > 0.95, `jittered descriptor strays (cos ${cos})`);
    // The dlib pipeline's default is jitter 4.
    const [dflt] = await pipeline.embedAll(photo, { flip: true });
    assert.deepEqual(dflt.embedding.vector, once.embedding.vector);
    await assert.rejects(pipeline.embedAll(photo, { jitter: -1 }), { code: 'E_BAD_OPTION' });
  });
});
