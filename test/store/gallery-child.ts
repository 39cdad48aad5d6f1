/**
 * Child process for gallery.test.ts: another process holding a lock on, or dying while writing to, a gallery.
 * Speaks over stdout: prints READY once in the state the parent wants, then blocks until killed.
 * Run with no arguments it does nothing (test runners that treat every file under test/ as a test see a pass).
 *
 *   lock-write <file>       BEGIN IMMEDIATE + an insert, held: other writers get SQLITE_BUSY
 *   lock-exclusive <file>   locking_mode=EXCLUSIVE + a write: other connections cannot even read
 *   crash-enroll <file> <model> <dim> <n>   Gallery.enrollMany of n people; READY after n/2 rows are
 *                                           inserted (inside the open transaction), then blocks
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { Gallery } from '../../src/store/gallery.js';
import { gaussianPaired, mulberry32, randomUnitVector } from '../../src/util/random.js';

function ready(): void {
  fs.writeSync(1, 'READY\n');
}

/** Block this thread without spinning and without returning to the event loop (so no commit can run). */
function blockForever(): never {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0, 60_000);
}

const [mode, file, ...rest] = process.argv.slice(2);

if (mode === 'lock-write') {
  const db = new Database(file);
  db.exec('BEGIN IMMEDIATE');
  db.prepare("INSERT INTO people (name, created_at, updated_at) VALUES ('lock-holder', 'x', 'x')").run();
  ready();
  blockForever();
} else if (mode === 'lock-exclusive') {
  const db = new Database(file);
  db.pragma('locking_mode = EXCLUSIVE');
  db.exec('BEGIN EXCLUSIVE');
  db.prepare("INSERT INTO people (name, created_at, updated_at) VALUES ('lock-holder', 'x', 'x')").run();
  ready();
  blockForever();
} else if (mode === 'crash-enroll') {
  const [model, dimS, nS] = rest;
  const dim = Number(dimS);
  const n = Number(nS);
  const normal = gaussianPaired(mulberry32(99));
  const g = Gallery.open(file, { model, dim });
  g.enrollMany(
    (function* () {
      for (let i = 0; i < n; i++) {
        // Reached only after the first n/2 entries have been INSERTed inside the transaction.
        if (i === n / 2) {
          ready();
          blockForever();
        }
        yield { name: `crash-${i}`, embeddings: [randomUnitVector(normal, dim)] };
      }
    })(),
  );
  // Never reached when the parent kills us; if it is, say so and the parent's assertions fail.
  fs.writeSync(1, 'COMMITTED\n');
} else if (mode !== undefined) {
  fs.writeSync(2, `unknown mode ${mode}\n`);
  process.exit(2);
}
