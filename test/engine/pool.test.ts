import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { envBackend } from '../../src/config.js';
import { builtinTasks, WorkerPool } from '../../src/engine/pool/index.js';

// Task fixtures as a plain .mjs module in a temp folder: loadable by workers both under tsx and compiled.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-pool-'));
const fixture = pathToFileURL(path.join(dir, 'tasks.mjs')).href;
fs.writeFileSync(
  path.join(dir, 'tasks.mjs'),
  `import { threadId } from 'node:worker_threads';
export function whoami() { return threadId; }
export async function slowSquare(x) { await new Promise((r) => setTimeout(r, 50)); return { x: x * x, threadId }; }
export function visageFail() {
  const e = new Error('no face in photo.jpg'); e.name = 'VisageError'; e.code = 'E_NO_FACE'; e.details = { file: 'photo.jpg' };
  throw e;
}
export function bug() { null.x; }
export function crash() { setTimeout(() => { throw new Error('worker blew up'); }); return new Promise(() => {}); }
export function exit() { process.exit(7); }
export function double(buf) {
  const a = new Float32Array(buf);
  for (let i = 0; i < a.length; i++) a[i] *= 2;
  return a; // structured-cloned back
}
export function total(a) { let s = 0; for (const v of a) s += v; return s; }
`,
);

const info = { module: builtinTasks, fn: 'engineInfo' };
const t = (fn: string) => ({ module: fixture, fn });
let pool: WorkerPool;

before(async () => {
  pool = new WorkerPool({ threads: 2 });
  await pool.ready();
});
after(async () => {
  await pool.close();
  fs.rmSync(dir, { recursive: true });
});

test('tasks run on N workers, each with its own engine', async () => {
  const infos = await pool.runEach<{ threadId: number; isMainThread: boolean; backend: string }>(info, [
    {},
    {},
  ]);
  assert.equal(new Set(infos.map((i) => i.threadId)).size, 2);
  for (const i of infos) {
    assert.equal(i.isMainThread, false);
    assert.equal(i.backend, envBackend());
  }
  const squares = await pool.map<number, { x: number; threadId: number }>(
    t('slowSquare'),
    [1, 2, 3, 4, 5, 6],
  );
  assert.deepEqual(
    squares.map((s) => s.x),
    [1, 4, 9, 16, 25, 36],
  );
  // Six 50 ms tasks on two free workers: both take a share.
  assert.equal(new Set(squares.map((s) => s.threadId)).size, 2);
});

test('payloads can be transferred and shared', async () => {
  const a = new Float32Array([1, 2, 3]);
  const back = await pool.run<Float32Array>(t('double'), a.buffer, [a.buffer]);
  assert.equal(a.byteLength, 0, 'transferred buffer is detached here');
  assert.deepEqual([...back], [2, 4, 6]);
  const shared = new Float32Array(new SharedArrayBuffer(12));
  shared.set([1, 2, 3]);
  await pool.run(t('double'), shared.buffer);
  assert.deepEqual([...shared], [2, 4, 6], 'the worker wrote into shared memory');
});

test("errors propagate: a worker's VisageError keeps its code, anything else is E_WORKER", async () => {
  await assert.rejects(pool.run(t('visageFail')), (e: any) => {
    assert.equal(e.code, 'E_NO_FACE');
    assert.equal(e.message, 'no face in photo.jpg');
    assert.equal(e.details.file, 'photo.jpg');
    return true;
  });
  await assert.rejects(pool.run(t('bug')), (e: any) => {
    assert.equal(e.code, 'E_WORKER');
    assert.match(e.message, /TypeError/);
    assert.match(e.details.workerStack, /tasks\.mjs/);
    return true;
  });
  await assert.rejects(
    pool.run(t('missing')),
    (e: any) => e.code === 'E_WORKER' && /no exported/.test(e.message),
  );
});

test('a crashed worker rejects its task and is replaced', async () => {
  const before = await pool.runOn<number>(0, t('whoami'));
  await assert.rejects(
    pool.runOn(0, t('crash')),
    (e: any) => e.code === 'E_WORKER' && /blew up/.test(e.message),
  );
  const after = await pool.runOn<number>(0, t('whoami'));
  assert.notEqual(after, before);
  await assert.rejects(
    pool.runOn(1, t('exit')),
    (e: any) => e.code === 'E_WORKER' && /exit code 7/.test(e.message),
  );
  const infos = await pool.runEach<{ backend: string }>(info, [{}, {}]);
  assert.equal(infos.length, 2);
});

test('one thread runs tasks in-process, with the same error semantics', async () => {
  const one = new WorkerPool({ threads: 1 });
  assert.equal(one.inProcess, true);
  const i = await one.run<{ isMainThread: boolean; backend: string }>(info);
  assert.equal(i.isMainThread, true);
  assert.equal(i.backend, envBackend());
  assert.equal(await one.run(t('total'), [1, 2, 3]), 6);
  await assert.rejects(one.run(t('visageFail')), (e: any) => e.code === 'E_NO_FACE');
  await assert.rejects(one.run(t('bug')), (e: any) => e.code === 'E_WORKER');
  await one.close();
});
