/**
 * The error contract at the CLI's edges, as a hostile user meets it: every mistake is refused with a
 * stable code and exit status, quickly (before the work), and leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runVisage } from '../helpers/cli.js';
import { dataDir, repoRoot } from '../helpers/data.js';

let tmp: string;
const sample = (n: number) =>
  path.join(repoRoot, 'node_modules', '@vladmandic', 'face-api', 'demo', `sample${n}.jpg`);

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-edges-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs `visage --json …` and returns the exit status and the error code printed on stdout. */
function fails(
  args: string[],
  opts: { timeout?: number; env?: Record<string, string> } = {},
): { status: number | null; code: string } {
  const t0 = Date.now();
  const r = runVisage(['--json', ...args], { env: opts.env });
  if (opts.timeout) assert.ok(Date.now() - t0 < opts.timeout, `${args.join(' ')} took ${Date.now() - t0} ms`);
  let code = '(no JSON on stdout)';
  try {
    code = (JSON.parse(r.stdout) as { error: { code: string } }).error.code;
  } catch {
    /* reported below */
  }
  assert.notEqual(r.status, 0, `${args.join(' ')} should fail: ${r.stdout}`);
  assert.notEqual(r.status, 3, `${args.join(' ')} is not an internal error: ${r.stderr}`);
  return { status: r.status, code };
}

test("commander's own errors carry E_USAGE, as JSON on stdout under --json", () => {
  assert.deepEqual(fails(['frobnicate']), { status: 1, code: 'E_USAGE' });
  assert.deepEqual(fails(['verify', '--bogus', 'a', 'b']), { status: 1, code: 'E_USAGE' });
  assert.deepEqual(fails(['verify', 'only-one.jpg']), { status: 1, code: 'E_USAGE' });
});

test('loose numbers are refused: an empty threshold, hex, words', () => {
  const a = sample(1);
  assert.deepEqual(fails(['verify', a, a, '--threshold', '']), { status: 1, code: 'E_BAD_OPTION' });
  assert.deepEqual(fails(['verify', a, a, '--threshold', '-5']), { status: 1, code: 'E_BAD_OPTION' });
  assert.deepEqual(fails(['identify', a, '--top', '0x2']), { status: 1, code: 'E_BAD_OPTION' });
  assert.deepEqual(fails(['identify', a, '--top', 'three']), { status: 1, code: 'E_BAD_OPTION' });
  assert.deepEqual(fails(['verify', a, a, '--jitter', '2.5']), { status: 1, code: 'E_BAD_OPTION' });
  assert.deepEqual(fails(['embed', a, '--jitter', '-1']), { status: 1, code: 'E_BAD_OPTION' });
});

test('only regular files are read: /dev/zero, a FIFO and a directory are refused at once', () => {
  const fifo = path.join(tmp, 'fifo');
  execFileSync('mkfifo', [fifo]);
  assert.deepEqual(fails(['verify', '/dev/zero', sample(1)], { timeout: 30_000 }), {
    status: 2,
    code: 'E_NOT_A_FILE',
  });
  assert.deepEqual(fails(['verify', fifo, sample(1)], { timeout: 30_000 }), {
    status: 2,
    code: 'E_NOT_A_FILE',
  });
  assert.deepEqual(fails(['verify', tmp, sample(1)]), { status: 2, code: 'E_NOT_AN_IMAGE' });
});

test('read-only verbs never create a gallery', () => {
  const typo = path.join(tmp, 'typo.sqlite');
  assert.deepEqual(fails(['people', 'list', '-g', typo]), { status: 2, code: 'E_GALLERY_NOT_FOUND' });
  assert.deepEqual(fails(['people', 'remove', 'x', '-g', typo]), { status: 2, code: 'E_GALLERY_NOT_FOUND' });
  assert.deepEqual(fails(['identify', sample(1), '-g', typo]), { status: 2, code: 'E_GALLERY_NOT_FOUND' });
  assert.equal(fs.existsSync(typo), false);
});

test('outputs and inputs are checked before the work, with input codes', () => {
  const file = path.join(tmp, 'a-file.txt');
  fs.writeFileSync(file, 'x');
  const orl = dataDir('faces', 'att_orl');
  const quick = { timeout: 30_000 };
  assert.deepEqual(fails(['eval', 'pairs', '--pairs', tmp], quick), { status: 2, code: 'E_NOT_A_FILE' });
  assert.deepEqual(fails(['eval', 'pairs', '--root', file], quick), { status: 2, code: 'E_BAD_DATASET' });
  assert.deepEqual(fails(['eval', 'pairs', '--root', orl, '--plots', file], quick), {
    status: 2,
    code: 'E_OUTPUT_PATH',
  });
  assert.deepEqual(fails(['calibrate', '--root', orl, '-o', tmp], quick), {
    status: 2,
    code: 'E_OUTPUT_PATH',
  });
  assert.deepEqual(fails(['eval', 'identify', '--root', orl, '--model', tmp], quick), {
    status: 2,
    code: 'E_FILE_NOT_FOUND',
  });
  assert.deepEqual(fails(['style', sample(1), sample(2), '-o', tmp], quick), {
    status: 2,
    code: 'E_OUTPUT_PATH',
  });
  assert.deepEqual(fails(['train', '--data', orl, '--out', file], quick), {
    status: 2,
    code: 'E_OUTPUT_PATH',
  });
});

test('style: sizes the network cannot take are refused up front; a J that overflows is E_DIVERGED', () => {
  const out = path.join(tmp, 'out.png');
  for (const size of ['32', '48'])
    assert.deepEqual(fails(['style', sample(1), sample(2), '-o', out, '--size', size], { timeout: 30_000 }), {
      status: 1,
      code: 'E_BAD_OPTION',
    });
  // tfjs' wasm heap (4 GiB) cannot hold a 2048-px InceptionV3 run; onnxruntime has no such cap.
  assert.deepEqual(
    fails(['style', sample(1), sample(2), '-o', out, '--size', '2048'], {
      timeout: 30_000,
      env: { VISAGE_ENGINE: 'tfjs' },
    }),
    { status: 2, code: 'E_IMAGE_TOO_LARGE' },
  );
  const wide = path.join(tmp, 'wide.png');
  execFileSync(
    process.execPath,
    [
      '-e',
      `require('sharp')({ create: { width: 4000, height: 2, channels: 3, background: '#888' } }).png().toFile(${JSON.stringify(wide)})`,
    ],
    { cwd: repoRoot },
  );
  assert.deepEqual(fails(['style', wide, sample(2), '-o', out], { timeout: 30_000 }), {
    status: 1,
    code: 'E_BAD_OPTION',
  });
  assert.deepEqual(
    fails([
      'style',
      sample(1),
      sample(2),
      '-o',
      out,
      '--size',
      '64',
      '--iterations',
      '3',
      '--style-weight',
      '1e300',
    ]),
    { status: 2, code: 'E_DIVERGED' },
  );
  assert.equal(fs.existsSync(out), false, 'nothing written for a diverged run');
});
