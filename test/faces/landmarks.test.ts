import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { LandmarkDetector, MIRROR_68 } from '../../src/faces/landmarks.js';
import { decodeImage, flipHorizontal, type RgbImage } from '../../src/image/index.js';
import { dataDir } from '../helpers/data.js';

describe('landmark mirror averaging', () => {
  let det: LandmarkDetector;
  let img: RgbImage;
  before(async () => {
    await initEngine();
    det = LandmarkDetector.load();
    img = await decodeImage(dataDir('faces', 'face_recognition_examples', 'kit_harington', 'john2.jpeg'));
  });
  after(() => det.dispose());

  it('MIRROR_68 pairs left with right and is its own inverse', () => {
    assert.deepEqual(
      MIRROR_68.map((j) => MIRROR_68[j]),
      MIRROR_68.map((_, i) => i),
    );
    assert.equal(MIRROR_68[0], 16); // jaw ends
    assert.equal(MIRROR_68[36], 45); // outer eye corners
    assert.equal(MIRROR_68[48], 54); // mouth corners
    assert.equal(MIRROR_68[30], 30); // nose tip
  });

  it('is mirror-equivariant: the mirrored photo gets the mirrored points, and they stay near the plain ones', async () => {
    // A square, whole-pixel box (no padding), so the mirrored photo's crop is exactly the mirrored crop.
    const box = { x: 280, y: 90, width: 170, height: 170 };
    const flipped = { ...box, x: img.width - box.x - box.width };
    const [plain] = await det.detect(img, [box]);
    const [a] = await det.detect(img, [box], { mirror: true });
    const [b] = await det.detect(flipHorizontal(img), [flipped], { mirror: true });
    let shift = 0;
    for (let k = 0; k < 68; k++) {
      const m = b[MIRROR_68[k]];
      assert.ok(
        Math.abs(img.width - m[0] - a[k][0]) < 0.05,
        `point ${k}: x ${a[k][0]} vs ${img.width - m[0]}`,
      );
      assert.ok(Math.abs(m[1] - a[k][1]) < 0.05, `point ${k}: y ${a[k][1]} vs ${m[1]}`);
      shift += Math.hypot(a[k][0] - plain[k][0], a[k][1] - plain[k][1]) / 68;
    }
    // A refinement, not a different answer: a few pixels on a 170-pixel face at most.
    assert.ok(shift < 0.03 * box.width, `mean shift ${shift.toFixed(2)} px`);
  });
});
