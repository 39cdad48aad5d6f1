import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Gallery, type SearchMatch } from '../../src/store/gallery.js';
import { gaussianPaired, mulberry32, randomUnitVector } from '../../src/util/random.js';
import { squaredL2 } from '../../src/faces/compare.js';
import { exitCodeFor, VisageError, type ErrorCode } from '../../src/errors.js';

const MODEL = 'test-model@1';
const DIM = 16;

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-gallery-test-'));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

let fileCounter = 0;
function newFile(): string {
  return path.join(tmp, `g${fileCounter++}.gallery`);
}

function throwsCode(fn: () => unknown, code: ErrorCode): VisageError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof VisageError, `expected VisageError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

const normal = gaussianPaired(mulberry32(12345));
const unit = (dim = DIM): Float32Array => randomUnitVector(normal, dim);
/** A unit vector close to v (like another photo of the same face). */
function near(v: Float32Array, sigma = 0.05): Float32Array {
  const out = new Float32Array(v.length);
  let ss = 0;
  for (let i = 0; i < v.length; i++) {
    out[i] = v[i] + sigma * normal();
    ss += out[i] * out[i];
  }
  for (let i = 0; i < v.length; i++) out[i] /= Math.sqrt(ss);
  return out;
}

/** Every row of every table, read through a separate plain connection: "the file's content". */
function dump(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .pluck()
      .all() as string[];
    const out: Record<string, unknown[]> = {};
    for (const t of tables) {
      out[t] = (db.prepare(`SELECT * FROM "${t}" ORDER BY 1`).raw().all() as unknown[][]).map((row) =>
        row.map((c) => (Buffer.isBuffer(c) ? c.toString('hex') : c)),
      );
    }
    return JSON.stringify(out);
  } finally {
    db.close();
  }
}

// ---- child processes ------------------------------------------------------------------------------

const here = fileURLToPath(import.meta.url);
const childScript = path.join(path.dirname(here), `gallery-child${path.extname(here)}`);

interface Child {
  proc: ChildProcess;
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout: () => string;
}

function spawnChild(args: string[]): Child {
  // execArgv carries `--import tsx` when the tests run from source.
  const proc = spawn(process.execPath, [...process.execArgv, childScript, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child not ready after 20 s: ${err}`)), 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code ?? signal}) before READY: ${err}`));
    });
  });
  return { proc, ready, exited, stdout: () => out };
}

async function kill(c: Child): Promise<void> {
  c.proc.kill('SIGKILL');
  const { signal } = await c.exited;
  assert.equal(signal, 'SIGKILL');
}

// ---- tests ----------------------------------------------------------------------------------------

describe('Gallery basics', () => {
  test('enroll, list, search, rename, remove, persist across reopen', () => {
    const file = newFile();
    const alice = unit();
    const bob = unit();
    const g = Gallery.open(file, { model: MODEL, dim: DIM });
    assert.equal(g.model, MODEL);
    assert.equal(g.dim, DIM);

    const r1 = g.enroll('Alice', [alice, near(alice)], { source: ['a1.jpg', 'a2.jpg'] });
    assert.deepEqual(
      { ...r1, personId: 0 },
      { name: 'Alice', personId: 0, added: 2, total: 2, created: true },
    );
    const r2 = g.enroll('Bob', [{ model: MODEL, vector: bob }], { source: 'b.jpg' });
    assert.equal(r2.created, true);
    const r3 = g.enroll('Alice', [near(alice)]);
    assert.deepEqual([r3.added, r3.total, r3.created], [1, 3, false]);

    const people = g.listPeople();
    assert.deepEqual(
      people.map((p) => [p.name, p.embeddings]),
      [
        ['Alice', 3],
        ['Bob', 1],
      ],
    );
    assert.ok(people[0].updatedAt >= people[0].createdAt);
    assert.deepEqual(
      g.embeddingsOf('Alice').map((e) => e.source),
      ['a1.jpg', 'a2.jpg', null],
    );

    const s = g.search(near(bob), { threshold: 0.5 });
    assert.equal(s.matches.length, 2);
    assert.equal((s.best as SearchMatch).name, 'Bob');
    assert.ok(s.matches[0].distance < s.matches[1].distance);

    g.renamePerson('Bob', 'Robert');
    assert.equal((g.search(bob, { threshold: 0.5 }).best as SearchMatch).name, 'Robert');
    throwsCode(() => g.renamePerson('Bob', 'X'), 'E_UNKNOWN_PERSON');
    throwsCode(() => g.renamePerson('Robert', 'Alice'), 'E_BAD_INPUT');

    assert.deepEqual(g.removePerson('Alice'), { name: 'Alice', embeddings: 3 });
    throwsCode(() => g.removePerson('Alice'), 'E_UNKNOWN_PERSON');
    assert.deepEqual(
      g.search(alice, { threshold: 4 }).matches.map((m) => m.name),
      ['Robert'],
    );
    g.close();

    const again = Gallery.open(file, { model: MODEL, dim: DIM, readonly: true });
    assert.deepEqual(
      again.listPeople().map((p) => [p.name, p.embeddings]),
      [['Robert', 1]],
    );
    const d = again.search(bob, { threshold: 0.1 }).matches[0].distance;
    assert.ok(d < 1e-5, `stored vector round-trips (d=${d}; float32 scan)`);
    throwsCode(() => again.enroll('Carol', [unit()]), 'E_READ_ONLY');
    again.close();
  });

  test('empty gallery → E_EMPTY_GALLERY, also after the last person is removed', () => {
    const g = Gallery.open(newFile(), { model: MODEL, dim: DIM });
    throwsCode(() => g.search(unit(), { threshold: 1 }), 'E_EMPTY_GALLERY');
    g.enroll('Only', [unit()]);
    g.removePerson('Only');
    throwsCode(() => g.search(unit(), { threshold: 1 }), 'E_EMPTY_GALLERY');
    g.close();
  });

  test('bad inputs are refused with stable codes', () => {
    const g = Gallery.open(newFile(), { model: MODEL, dim: DIM });
    throwsCode(() => g.enroll('  ', [unit()]), 'E_BAD_INPUT');
    throwsCode(() => g.enroll('Zed', []), 'E_BAD_INPUT');
    throwsCode(() => g.enroll('Zed', [new Float32Array(DIM)]), 'E_BAD_INPUT');
    throwsCode(() => g.enroll('Zed', [unit(DIM + 1)]), 'E_MODEL_MISMATCH');
    throwsCode(() => g.enroll('Zed', [{ model: 'other@2', vector: unit() }]), 'E_MODEL_MISMATCH');
    throwsCode(
      () => g.enroll('Zed', [unit()], { photos: [{ data: new Uint8Array(3), mime: 'image/png' }] }),
      'E_BAD_OPTION',
    );
    g.enroll('Zed', [unit()]);
    throwsCode(() => g.search(unit(), { threshold: Number.NaN }), 'E_BAD_OPTION');
    throwsCode(() => g.search(unit(), { threshold: 1, top: 0 }), 'E_BAD_OPTION');
    throwsCode(() => g.search(unit(DIM + 1), { threshold: 1 }), 'E_MODEL_MISMATCH');
    g.close();
    throwsCode(() => Gallery.open(newFile()), 'E_BAD_OPTION'); // creating needs model + dim
    throwsCode(
      () => Gallery.open(path.join(tmp, 'missing', 'x.gallery'), { model: MODEL, dim: DIM }),
      'E_FILE_NOT_FOUND',
    );
    throwsCode(() => Gallery.open(newFile(), { readonly: true }), 'E_FILE_NOT_FOUND');
  });

  test('a gallery opened read-only refuses every write with E_READ_ONLY, an input error (exit 2)', () => {
    const file = newFile();
    const w = Gallery.open(file, { model: MODEL, dim: DIM });
    w.enroll('Ann', [unit()]);
    w.close();
    const g = Gallery.open(file, { readonly: true });
    const writes: Array<() => unknown> = [
      () => g.enroll('Ben', [unit()]),
      () => g.enrollMany([{ name: 'Ben', embeddings: [unit()] }]),
      () => g.removePerson('Ann'),
      () => g.renamePerson('Ann', 'Anna'),
    ];
    for (const write of writes) {
      const e = throwsCode(write, 'E_READ_ONLY');
      assert.equal(exitCodeFor(e), 2);
    }
    assert.deepEqual(
      g.listPeople().map((p) => p.name),
      ['Ann'],
    );
    g.close();
  });

  test('a failed enroll leaves file and index exactly as they were', () => {
    const file = newFile();
    const g = Gallery.open(file, { model: MODEL, dim: DIM });
    const a = unit();
    g.enroll('A', [a, near(a)]);
    const before = dump(file);
    const searchBefore = g.search(a, { threshold: 1 });

    // The second person's third vector is bad: the first person and the good rows must vanish too.
    const bad = new Float32Array(DIM).fill(Number.NaN);
    throwsCode(
      () =>
        g.enrollMany([
          { name: 'B', embeddings: [unit(), unit()] },
          { name: 'A', embeddings: [unit()] },
          { name: 'C', embeddings: [unit(), unit(), bad] },
        ]),
      'E_BAD_INPUT',
    );
    assert.equal(dump(file), before);
    assert.deepEqual(g.search(a, { threshold: 1 }), searchBefore);
    assert.deepEqual(
      g.listPeople().map((p) => [p.name, p.embeddings]),
      [['A', 2]],
    );
    g.close();
    assert.equal(dump(file), before);
  });

  test('photos are stored only when asked, and go with the person', () => {
    const plain = newFile();
    Gallery.open(plain, { model: MODEL, dim: DIM }).close();
    assert.ok(!dump(plain).includes('"photos"'), 'no photos table unless storePhotos');

    const g = Gallery.open(newFile(), { model: MODEL, dim: DIM, storePhotos: true });
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3]);
    g.enroll('P', [unit(), unit()], { photos: [{ data: jpeg, mime: 'image/jpeg' }, null] });
    const photos = g.photosOf('P');
    assert.equal(photos.length, 1);
    assert.deepEqual([...photos[0].data], [...jpeg]);
    g.removePerson('P');
    g.enroll('Q', [unit()]);
    assert.deepEqual(g.photosOf('Q'), []);
    g.close();
  });

  test('two connections stay in sync (the index reloads after another writer commits)', () => {
    const file = newFile();
    const w = Gallery.open(file, { model: MODEL, dim: DIM });
    const r = Gallery.open(file, { model: MODEL, dim: DIM });
    const v = unit();
    w.enroll('First', [v]);
    assert.equal((r.search(v, { threshold: 0.1 }).best as SearchMatch).name, 'First');
    r.enroll('Second', [unit()]); // r's write must not hide w's rows, nor w's index miss r's
    w.renamePerson('First', 'Renamed');
    assert.equal((r.search(v, { threshold: 0.1 }).best as SearchMatch).name, 'Renamed');
    assert.equal(w.stats().people, 2);
    w.close();
    r.close();
  });
});

describe('Gallery files it must refuse', () => {
  test('another model → E_MODEL_MISMATCH', () => {
    const file = newFile();
    Gallery.open(file, { model: MODEL, dim: DIM }).close();
    const e = throwsCode(() => Gallery.open(file, { model: 'other@2', dim: DIM }), 'E_MODEL_MISMATCH');
    assert.equal(e.details?.galleryModel, MODEL);
    throwsCode(() => Gallery.open(file, { model: MODEL, dim: DIM * 2 }), 'E_MODEL_MISMATCH');
    const g = Gallery.open(file); // no model given: adopt the file's
    assert.equal(g.model, MODEL);
    g.close();
  });

  test('not a gallery → E_BAD_GALLERY, and the file is left alone', () => {
    const text = path.join(tmp, 'notes.txt');
    fs.writeFileSync(text, 'these are not the faces you are looking for\n'.repeat(10));
    const before = fs.readFileSync(text);
    throwsCode(() => Gallery.open(text, { model: MODEL, dim: DIM }), 'E_BAD_GALLERY');
    assert.deepEqual(fs.readFileSync(text), before);

    const other = path.join(tmp, 'other.sqlite');
    const db = new Database(other);
    db.exec('CREATE TABLE songs (id INTEGER PRIMARY KEY, title TEXT)');
    db.close();
    const otherBefore = fs.readFileSync(other);
    throwsCode(() => Gallery.open(other, { model: MODEL, dim: DIM }), 'E_BAD_GALLERY');
    assert.ok(fs.readFileSync(other).equals(otherBefore), "someone else's SQLite file is not modified");
    assert.ok(!fs.existsSync(`${other}-wal`));

    const fake = path.join(tmp, 'fake-meta.sqlite');
    const db2 = new Database(fake);
    db2.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); CREATE TABLE people (id INTEGER);
              CREATE TABLE embeddings (id INTEGER); INSERT INTO meta VALUES ('app', 'something-else')`);
    db2.close();
    throwsCode(() => Gallery.open(fake, { model: MODEL, dim: DIM }), 'E_BAD_GALLERY');

    const oddMeta = path.join(tmp, 'odd-meta.sqlite');
    const db3 = new Database(oddMeta);
    db3.exec(
      'CREATE TABLE meta (id INTEGER); CREATE TABLE people (id INTEGER); CREATE TABLE embeddings (id INTEGER)',
    );
    db3.close();
    throwsCode(() => Gallery.open(oddMeta, { model: MODEL, dim: DIM }), 'E_BAD_GALLERY');

    throwsCode(() => Gallery.open(tmp, { model: MODEL, dim: DIM }), 'E_BAD_GALLERY'); // a folder
  });
});

describe('search is exact', () => {
  test('matches brute force on random vectors (best-per-person, top-k order, distances)', () => {
    const dim = 64;
    const g = Gallery.open(newFile(), { model: MODEL, dim });
    const rand = mulberry32(7);
    const all: { name: string; v: Float32Array }[] = [];
    const entries = [];
    for (let p = 0; p < 300; p++) {
      const name = `p${p}`;
      const k = 1 + Math.floor(rand() * 6);
      const centre = unit(dim);
      const vs = Array.from({ length: k }, () => near(centre, 0.3));
      for (const v of vs) all.push({ name, v });
      entries.push({ name, embeddings: vs });
    }
    g.enrollMany(entries);
    for (let t = 0; t < 40; t++) {
      const q = t % 2 ? unit(dim) : near(all[Math.floor(rand() * all.length)].v, 0.2);
      const best = new Map<string, number>();
      for (const { name, v } of all) {
        const d = squaredL2(q, v);
        if (!(d >= (best.get(name) ?? Infinity))) best.set(name, d);
      }
      const expected = [...best.entries()].sort((a, b) => a[1] - b[1]).slice(0, 7);
      const got = g.search(q, { top: 7, threshold: 0.6 });
      assert.deepEqual(
        got.matches.map((m) => m.name),
        expected.map((e) => e[0]),
      );
      for (let i = 0; i < expected.length; i++) {
        assert.ok(Math.abs(got.matches[i].distance - expected[i][1]) < 1e-5, `distance ${i}`);
      }
      const expectBest = expected[0][1] <= 0.6 ? expected[0][0] : null;
      assert.equal(got.best === null ? null : got.best.name, expectBest);
    }
    g.close();
  });

  test('open set: a stranger is unknown, an enrolled face is found, τ is inclusive', () => {
    const g = Gallery.open(newFile(), { model: MODEL, dim: 128 });
    const people = Array.from({ length: 50 }, () => unit(128));
    g.enrollMany(people.map((v, i) => ({ name: `n${i}`, embeddings: [v] })));
    const stranger = g.search(unit(128), { threshold: 0.5 });
    assert.equal(stranger.best, null);
    assert.ok(stranger.matches[0].distance > 0.5, 'random 128-D directions are far apart');
    const known = g.search(near(people[17], 0.03), { threshold: 0.5 });
    assert.equal((known.best as SearchMatch).name, 'n17');
    const d = known.matches[0].distance;
    assert.equal(g.search(near(people[17], 0.03), { threshold: d }).best !== null, true);
    assert.equal(stranger.matches.length, 5);
    g.close();
  });
});

describe('other processes', () => {
  test('a writer in another process → E_GALLERY_LOCKED after busy timeout; fine once it is gone', async () => {
    const file = newFile();
    const g0 = Gallery.open(file, { model: MODEL, dim: DIM });
    const v = unit();
    g0.enroll('Before', [v]);
    g0.close();

    const child = spawnChild(['lock-write', file]);
    try {
      await child.ready;
      // Readers are not blocked in WAL mode: open and search work while the other process writes.
      const g = Gallery.open(file, { model: MODEL, dim: DIM, busyTimeoutMs: 300 });
      assert.equal((g.search(v, { threshold: 0.1 }).best as SearchMatch).name, 'Before');
      const t0 = performance.now();
      throwsCode(() => g.enroll('Blocked', [unit()]), 'E_GALLERY_LOCKED');
      assert.ok(performance.now() - t0 >= 250, 'waited for the busy timeout before giving up');
      await kill(child);
      g.enroll('After', [unit()]);
      assert.deepEqual(
        g.listPeople().map((p) => p.name),
        ['After', 'Before'],
      );
      g.close();
    } finally {
      child.proc.kill('SIGKILL');
    }
  });

  test('an exclusive lock in another process → E_GALLERY_LOCKED at open', async () => {
    const file = newFile();
    Gallery.open(file, { model: MODEL, dim: DIM }).close();
    const child = spawnChild(['lock-exclusive', file]);
    try {
      await child.ready;
      throwsCode(
        () => Gallery.open(file, { model: MODEL, dim: DIM, busyTimeoutMs: 200 }),
        'E_GALLERY_LOCKED',
      );
      throwsCode(
        () => Gallery.open(file, { model: MODEL, dim: DIM, busyTimeoutMs: 200, readonly: true }),
        'E_GALLERY_LOCKED',
      );
      await kill(child);
      const g = Gallery.open(file, { model: MODEL, dim: DIM });
      assert.deepEqual(g.listPeople(), []);
      g.close();
    } finally {
      child.proc.kill('SIGKILL');
    }
  });

  test('a process killed mid-enroll leaves exactly the previous content', async () => {
    const file = newFile();
    const dim = 128;
    const g0 = Gallery.open(file, { model: MODEL, dim });
    const keep = unit(dim);
    g0.enroll('Keeper', [keep, near(keep)], { source: 'k.jpg' });
    g0.close();
    const before = dump(file);

    // 40 000 × 512-byte vectors overflow SQLite's 16 MB page cache, so uncommitted pages do reach the WAL.
    const child = spawnChild(['crash-enroll', file, MODEL, String(dim), '80000']);
    try {
      await child.ready;
      const wal = fs.statSync(`${file}-wal`).size;
      assert.ok(wal > 2_000_000, `uncommitted rows were spilled to the WAL (${wal} bytes)`);
      await kill(child);
    } finally {
      child.proc.kill('SIGKILL');
    }
    assert.ok(!child.stdout().includes('COMMITTED'));

    const g = Gallery.open(file, { model: MODEL, dim });
    assert.equal(dump(file), before);
    assert.deepEqual(
      g.listPeople().map((p) => [p.name, p.embeddings]),
      [['Keeper', 2]],
    );
    assert.equal(g.stats().embeddings, 2);
    assert.equal((g.search(keep, { threshold: 0.1 }).best as SearchMatch).name, 'Keeper');
    // And the file is healthy and writable afterwards.
    const check = new Database(file, { readonly: true });
    assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
    check.close();
    g.enroll('Next', [unit(dim)]);
    assert.equal(g.listPeople().length, 2);
    g.close();
  });
});
