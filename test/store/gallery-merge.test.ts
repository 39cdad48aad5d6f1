import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { VisageError } from '../../src/errors.js';
import { gaussianPaired as gaussian, mulberry32, randomUnitVector } from '../../src/util/random.js';
import { Gallery } from '../../src/store/gallery.js';

const normal = gaussian(mulberry32(7));
const unit = () => randomUnitVector(normal, 8);

function open(): Gallery {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-merge-'));
  return Gallery.open(path.join(dir, 'g.sqlite'), { model: 'm', dim: 8 });
}

test('mergePeople moves every embedding in one transaction; search finds the merged name', () => {
  const g = open();
  const v = unit();
  g.enroll('a', [unit(), unit()]);
  g.enroll('b', [v]);
  assert.deepEqual(g.mergePeople('b', 'a'), { name: 'a', moved: 1, total: 3 });
  assert.deepEqual(
    g.listPeople().map((p) => [p.name, p.embeddings]),
    [['a', 3]],
  );
  assert.equal(g.search(v, { threshold: 0.1 }).best?.name, 'a');
  assert.throws(
    () => g.mergePeople('nobody', 'a'),
    (e: VisageError) => e.code === 'E_UNKNOWN_PERSON',
  );
  assert.throws(
    () => g.mergePeople('a', 'a'),
    (e: VisageError) => e.code === 'E_BAD_INPUT',
  );
  assert.equal(g.stats().embeddings, 3, 'a refused merge changes nothing');
  g.close();
});

test('removeEmbedding removes one face of that person only; findBySource finds a tagged one', () => {
  const g = open();
  const v = unit();
  g.enroll('a', [v, unit()], { source: ['idempotency:k1', null] });
  g.enroll('b', [unit()]);
  const found = g.findBySource('idempotency:k1');
  assert.equal(found?.name, 'a');
  const bFace = g.embeddingsOf('b')[0].embeddingId;
  assert.throws(
    () => g.removeEmbedding('a', bFace),
    (e: VisageError) => e.code === 'E_UNKNOWN_FACE',
  );
  g.removeEmbedding('a', found!.embeddingId);
  assert.equal(g.embeddingsOf('a').length, 1);
  assert.equal(g.findBySource('idempotency:k1'), undefined);
  assert.notEqual(g.search(v, { threshold: 0.01 }).best?.name, 'a');
  g.close();
});
