import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { repoRoot } from '../helpers/data.js';
import { ADMIN, call, photo } from './helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-crash-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The real CLI: `visage serve --port 0`, resolved once it prints its address. */
function serve(): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(
    process.execPath,
    [path.join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'serve', '--port', '0', '--data', dir],
    {
      env: { ...process.env, VISAGE_API_KEY: ADMIN },
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ proc, url: m[1] });
    });
    proc.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
}

test('kill -9 during a stream of enrolls: after a restart every 2xx enroll is there and the store opens', async () => {
  const a = await serve();
  const images = [photo('obama', 'obama.jpg'), photo('biden', 'biden.jpg'), photo('obama', 'obama2.jpg')];
  const ok: string[] = [];
  let killed = false;
  const stream = (async () => {
    for (let i = 0; !killed; i++) {
      try {
        const r = await call(a.url, 'POST', `/v1/galleries/g/people/p${i}/faces`, {
          files: { image: images[i % 3] },
        });
        if (r.status === 201) ok.push(`p${i}`);
      } catch {
        break; // the connection died with the server
      }
    }
  })();
  while (ok.length < 3) await new Promise((r) => setTimeout(r, 50));
  a.proc.kill('SIGKILL');
  killed = true;
  await stream;

  const b = await serve();
  try {
    const people = await call(b.url, 'GET', '/v1/galleries/g/people?limit=1000');
    assert.equal(people.status, 200);
    const names = new Set(people.data.people.map((p: { name: string }) => p.name));
    for (const n of ok) assert.ok(names.has(n), `${n} got a 201 but is missing`);
    assert.ok(
      people.data.people.every((p: { faces: number }) => p.faces === 1),
      'nothing half-written',
    );
    const who = await call(b.url, 'POST', '/v1/identify?gallery=g', {
      files: { image: photo('biden', 'biden2.jpg') },
    });
    assert.equal(who.status, 200);
  } finally {
    // SIGTERM drains and closes the store: a clean exit 0.
    b.proc.kill('SIGTERM');
    const code = await new Promise((r) => b.proc.once('exit', r));
    assert.equal(code, 0);
  }
});
