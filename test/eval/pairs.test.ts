import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  formatPairsCsv,
  lfwImagePath,
  loadPairs,
  identityHalf,
  makePairs,
  missingImages,
  parseCsvPairs,
  parseLfwPairs,
  type DatasetIssue,
} from '../../src/eval/pairs.js';
import { VisageError } from '../../src/errors.js';
import { dataDir } from '../helpers/data.js';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-pairs-test-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function badDataset(fn: () => unknown): DatasetIssue[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof VisageError, String(e));
    assert.equal(e.code, 'E_BAD_DATASET', e.message);
    return e.details?.issues as DatasetIssue[];
  }
  assert.fail('expected E_BAD_DATASET');
}

// Two folds of 2 same + 2 different, in LFW's own layout (tabs, trailing newline).
const GOOD = [
  '2\t2',
  'Abel_Pacheco\t1\t4',
  'Akhmed_Zakayev\t1\t3',
  'Abdel_Madi_Shabneh\t1\tDean_Barker\t1',
  'Abdel_Madi_Shabneh\t1\tGiancarlo_Fisichella\t1',
  'Aaron_Peirsol\t1\t2',
  'Aaron_Sorkin\t1\t2',
  'AJ_Cook\t1\tMarsha_Thomason\t1',
  'Aaron_Sorkin\t2\tFrank_Solich\t5',
  '',
].join('\n');

describe('LFW pairs.txt', () => {
  test('parses folds, labels and image paths (via loadPairs, lfw/ beside pairs.txt)', () => {
    const file = path.join(tmp, 'pairs.txt');
    fs.writeFileSync(file, GOOD);
    fs.mkdirSync(path.join(tmp, 'lfw'), { recursive: true });
    const list = loadPairs(file);
    assert.equal(list.format, 'lfw');
    assert.equal(list.folds, 2);
    assert.equal(list.pairs.length, 8);
    assert.deepEqual(
      list.pairs.map((p) => [p.fold, p.same, p.line]),
      [
        [0, true, 2],
        [0, true, 3],
        [0, false, 4],
        [0, false, 5],
        [1, true, 6],
        [1, true, 7],
        [1, false, 8],
        [1, false, 9],
      ],
    );
    const root = path.join(tmp, 'lfw');
    assert.equal(list.pairs[0].a, path.join(root, 'Abel_Pacheco', 'Abel_Pacheco_0001.jpg'));
    assert.equal(list.pairs[0].b, path.join(root, 'Abel_Pacheco', 'Abel_Pacheco_0004.jpg'));
    assert.equal(list.pairs[7].b, lfwImagePath(root, 'Frank_Solich', 5));
    assert.deepEqual([list.pairs[7].idA, list.pairs[7].idB], ['Aaron_Sorkin', 'Frank_Solich']);
    // No images exist here: 14 distinct files are referenced (Abdel_Madi_Shabneh_0001 and Aaron_Sorkin_0002 twice).
    assert.equal(missingImages(list).length, 14);
    assert.equal(missingImages(list, 3).length, 3);
  });

  test('View 1 header "<n>" is one fold; spaces and CRLF are fine', () => {
    const text = '1\r\nA_B 1 2\r\nA_B 1 C_D 3\r\n';
    const list = parseLfwPairs(text, { root: '/data' });
    assert.equal(list.folds, 1);
    assert.deepEqual(
      list.pairs.map((p) => [p.same, p.a, p.b]),
      [
        [true, '/data/A_B/A_B_0001.jpg', '/data/A_B/A_B_0002.jpg'],
        [false, '/data/A_B/A_B_0001.jpg', '/data/C_D/C_D_0003.jpg'],
      ],
    );
  });

  test('malformed lines are reported with their line numbers', () => {
    const lines = GOOD.split('\n');
    lines[2] = 'Akhmed_Zakayev\t1'; // same-person line with 2 fields
    lines[4] = 'Abdel_Madi_Shabneh\tone\tGiancarlo_Fisichella\t1'; // not a number
    lines[6] = 'Aaron_Sorkin\t1\tAaron_Sorkin\t2'; // in the same block: wrong field count
    lines[7] = 'AJ_Cook\t1\tAJ_Cook\t2'; // different-person line naming one person
    const issues = badDataset(() => parseLfwPairs(lines.join('\n'), { root: tmp, file: 'pairs.txt' }));
    assert.deepEqual(
      issues.map((i) => i.line),
      [3, 5, 7, 8],
    );
    assert.match(issues[0].message, /same-person line/);
    assert.match(issues[1].message, /positive integers/);
    assert.match(issues[3].message, /same person twice/);
  });

  test('bad header, truncated file, extra lines, empty file', () => {
    assert.equal(badDataset(() => parseLfwPairs('ten 300\n', { root: tmp }))[0].line, 1);
    const truncated = GOOD.split('\n').slice(0, 7).join('\n');
    const t = badDataset(() => parseLfwPairs(truncated, { root: tmp }));
    assert.equal(t[0].line, 8);
    assert.match(t[0].message, /promises 8/);
    const extra = badDataset(() => parseLfwPairs(GOOD + 'Extra_Person\t1\t2\n', { root: tmp }));
    assert.deepEqual(
      extra.map((i) => i.line),
      [10],
    );
    assert.equal(badDataset(() => parseLfwPairs('\n\n', { root: tmp }))[0].line, 1);
    assert.throws(
      () => loadPairs(path.join(tmp, 'nope.txt')),
      (e: unknown) => e instanceof VisageError && e.code === 'E_FILE_NOT_FOUND',
    );
  });
});

describe('CSV pairs', () => {
  test('header in any order, quoted fields, label words, folds, paths from the CSV folder', () => {
    const file = path.join(tmp, 'sub', 'pairs.csv');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(
      file,
      'same,img1,img2,fold\n1,a/1.jpg,a/2.jpg,0\nno,"b/with, comma.jpg",/abs/c.png,1\n\n',
    );
    const list = loadPairs(file);
    assert.equal(list.format, 'csv');
    assert.equal(list.folds, 2);
    assert.deepEqual(
      list.pairs.map((p) => [p.a, p.b, p.same, p.fold, p.line]),
      [
        [path.join(tmp, 'sub', 'a', '1.jpg'), path.join(tmp, 'sub', 'a', '2.jpg'), true, 0, 2],
        [path.join(tmp, 'sub', 'b', 'with, comma.jpg'), '/abs/c.png', false, 1, 3],
      ],
    );
    const noHeader = parseCsvPairs('x.jpg,y.jpg,different\n', { root: '/r' });
    assert.deepEqual([noHeader.pairs[0].a, noHeader.pairs[0].same, noHeader.folds], ['/r/x.jpg', false, 1]);
  });

  test('malformed rows are reported with their line numbers', () => {
    const text =
      'img1,img2,same\na.jpg,b.jpg,1\na.jpg,b.jpg,maybe\n"unterminated,b.jpg,1\na.jpg,b.jpg\n,b.jpg,0\n';
    const issues = badDataset(() => parseCsvPairs(text, { root: tmp, file: 'p.csv' }));
    assert.deepEqual(
      issues.map((i) => i.line),
      [3, 4, 5, 6],
    );
    assert.match(issues[0].message, /"same" must be/);
    assert.match(issues[1].message, /quote/);
    assert.match(issues[2].message, /expected 3 fields/);
    assert.equal(badDataset(() => parseCsvPairs('img1,img2\n', { root: tmp }))[0].line, 1);
    assert.equal(badDataset(() => parseCsvPairs('img1,img2,same\n', { root: tmp }))[0].line, 2);
  });
});

describe('generated folds from a folder-per-identity dataset', () => {
  test('ORL: disjoint identities per fold, distinct pairs, CSV round trip', () => {
    const root = dataDir('faces', 'att_orl');
    const list = makePairs(root, { folds: 10, perFold: 20, seed: 3 });
    assert.equal(list.pairs.length, 10 * 40);
    const foldOf = new Map<string, number>();
    for (const p of list.pairs) {
      for (const id of [p.idA!, p.idB!]) {
        assert.equal(foldOf.get(id) ?? p.fold, p.fold, `${id} appears in two folds`);
        foldOf.set(id, p.fold);
      }
      assert.equal(p.same, p.idA === p.idB);
      assert.notEqual(p.a, p.b);
    }
    assert.equal(foldOf.size, 40);
    assert.deepEqual(missingImages(list), []);
    const csv = path.join(tmp, 'orl-pairs.csv');
    fs.writeFileSync(csv, formatPairsCsv(list, root));
    const back = loadPairs(csv, { root });
    assert.deepEqual(
      back.pairs.map((p) => [p.a, p.b, p.same, p.fold]),
      list.pairs.map((p) => [p.a, p.b, p.same, p.fold]),
    );
    // Same seed, same pairs.
    assert.deepEqual(makePairs(root, { folds: 10, perFold: 20, seed: 3 }).pairs, list.pairs);
  });

  test('celeba_299 halves: every person in exactly one half, about half each, pairs only within it', () => {
    const root = dataDir('faces', 'celeba_299');
    const ids = fs.readdirSync(root).filter((d) => fs.statSync(path.join(root, d)).isDirectory());
    const first = ids.filter((id) => identityHalf(id) === 1);
    assert.ok(
      first.length > 0.4 * ids.length && first.length < 0.6 * ids.length,
      `${first.length} of ${ids.length}`,
    );
    const [h1, h2] = ([1, 2] as const).map((half) =>
      makePairs(root, { folds: 10, perFold: 20, seed: 1, half }),
    );
    const people = (l: typeof h1) => new Set(l.pairs.flatMap((p) => [p.idA!, p.idB!]));
    for (const id of people(h1)) assert.equal(identityHalf(id), 1);
    for (const id of people(h2)) assert.equal(identityHalf(id), 2);
    assert.ok(people(h1).size > 100 && people(h2).size > 100);
  });
});
