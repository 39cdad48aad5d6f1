import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { embedFiles } from '../../src/faces/batch.js';
import { squaredL2 } from '../../src/faces/compare.js';
import { dataDir } from '../helpers/data.js';

describe('embedFiles: second look, grey, cache keys', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-batch-test-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  // A celeba photo whose face scores between 0.3 and 0.5: no face at the usual score.
  const shy = () => dataDir('faces', 'celeba_299', '07244', '006805.jpg');
  const portrait = () => dataDir('faces', 'face_recognition_examples', 'kit_harington', 'john2.jpeg');

  it('a photo without a face at score 0.5 gets its face from the second look, not a centred crop', async () => {
    const cache = path.join(tmp, 'a.sqlite');
    const plain = (await embedFiles([shy()], { cache, threads: 1, secondChance: false })).get(shy())!;
    assert.equal(plain.faces, 0);
    assert.equal(plain.fallback, true);
    const second = (await embedFiles([shy()], { cache, threads: 1 })).get(shy())!;
    assert.equal(second.fallback, false);
    assert.equal(second.secondChance, true);
    assert.ok(second.faces >= 1);
    assert.ok(squaredL2(plain.vector!, second.vector!) > 1e-3, 'a different descriptor from the crop');
    // Cached under its own key: a rerun reads the same answer.
    const again = (await embedFiles([shy()], { cache, threads: 1 })).get(shy())!;
    assert.deepEqual(again.vector, second.vector);
  });

  it('--grey and flip are part of the cache key; the default flips', async () => {
    const cache = path.join(tmp, 'b.sqlite');
    const get = async (o: { grey?: boolean; flip?: boolean }) =>
      (await embedFiles([portrait()], { cache, threads: 1, ...o })).get(portrait())!.vector!;
    const colour = await get({ flip: false });
    const grey = await get({ grey: true, flip: false });
    const flipped = await get({});
    assert.ok(squaredL2(colour, grey) > 1e-4, 'grey is another input');
    assert.ok(squaredL2(colour, grey) < 0.1, 'but the same person');
    assert.ok(squaredL2(colour, flipped) > 1e-5, 'the default is the flip average');
    assert.deepEqual(await get({ flip: true }), flipped);
  });
});
