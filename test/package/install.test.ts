/**
 * The package as a user gets it: `npm pack` (which builds what it packs) in a copy of the repository,
 * `npm install` of the tarball into an empty app, then the README's library example (the very file
 * examples/quick-start.mjs) and the CLI through `npx visage` there, on face-api's sample photos.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
const example = fs.readFileSync(path.join(repo, 'examples', 'quick-start.mjs'), 'utf8');
let tmp: string;
let app: string;
let tarball: string;

const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-pack-'));
  // A copy of what git would give (tracked and untracked-but-not-ignored files), so that packing
  // rebuilds dist/ there and not under the running suite's feet.
  const copy = path.join(tmp, 'visage');
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: repo,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f && fs.existsSync(path.join(repo, f)));
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(copy, f)), { recursive: true });
    fs.copyFileSync(path.join(repo, f), path.join(copy, f));
  }
  fs.symlinkSync(path.join(repo, 'node_modules'), path.join(copy, 'node_modules'), 'dir');
  const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', tmp], copy)) as Array<{
    filename: string;
  }>;
  tarball = path.join(tmp, packed[0].filename);

  app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'app', private: true, type: 'module' }),
  );
  // What the README tells a user behind a firewall: skip onnxruntime-node's optional GPU download.
  fs.writeFileSync(path.join(app, '.npmrc'), 'onnxruntime-node-install=skip\n');
  npm(['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], app);
  const samples = path.join(app, 'node_modules', '@vladmandic', 'face-api', 'demo');
  // sample1's largest face and sample3's largest face are the same woman (d ≈ 0.08).
  for (const [name, from] of [
    ['alice.jpg', 'sample1.jpg'],
    ['party.jpg', 'sample3.jpg'],
    ['a.jpg', 'sample3.jpg'],
    ['b.jpg', 'sample1.jpg'],
  ])
    fs.copyFileSync(path.join(samples, from), path.join(app, name));
  fs.writeFileSync(path.join(app, 'quick-start.mjs'), example);
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('the tarball holds the built package and nothing of the repository it does not need', () => {
  const list = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const f of [
    'package/dist/src/index.js',
    'package/dist/src/index.d.ts',
    'package/dist/src/engine/index.js',
    'package/dist/src/cli/main.js',
    'package/models/calibration.json',
    'package/LICENSE',
    'package/README.md',
    'package/src/web/index.html',
  ])
    assert.ok(list.includes(f), `${f} is packed`);
  // src/web is the service's page, served as written (plain JS, nothing to compile); the rest of src/ is not shipped.
  const stray = list.filter(
    (f) =>
      (/^package\/(test|src|dist\/test|scripts|\.ci)\//.test(f) && !f.startsWith('package/src/web/')) ||
      f.endsWith('.map'),
  );
  assert.deepEqual(stray, [], 'no tests, sources, source maps or CI files');
});

test("the README's library example is examples/quick-start.mjs, and it runs in the installed app", () => {
  const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
  assert.ok(readme.includes(example.trim()), 'README shows examples/quick-start.mjs verbatim');
  const r = spawnSync(process.execPath, ['quick-start.mjs'], {
    cwd: app,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  // party.jpg holds three faces: alice once, two strangers.
  assert.equal(lines.length, 4, r.stdout);
  assert.equal(lines.slice(0, 3).filter((l) => l.startsWith('alice d=')).length, 1, r.stdout);
  assert.equal(lines.slice(0, 3).filter((l) => l === 'unknown').length, 2, r.stdout);
  // Same person, well inside τ, so the calibrated confidence is high (not a fixed figure: it moves
  // with each re-calibration of models/calibration.json).
  const m = /^same person (0\.\d{3}) (0\.\d{2}|1\.00)$/.exec(lines[3] ?? '');
  assert.ok(m, lines[3]);
  assert.ok(Number(m[2]) >= 0.9, lines[3]);
});

test('the package exports its verbs; internals only through visage/engine; deep imports are closed', () => {
  const probe = `
    const v = await import('visage');
    const e = await import('visage/engine');
    let deep = 'open';
    try { await import('visage/dist/src/api.js'); } catch (err) { deep = err.code; }
    console.log(JSON.stringify({
      verbs: ['Visage', 'Gallery', 'stylize', 'train', 'evaluatePairList', 'evaluateIdentify', 'calibrateThreshold', 'VisageError'].filter((k) => typeof v[k] === 'function'),
      internals: ['TfjsNetwork', 'initEngine', 'mulberry32'].filter((k) => k in v),
      engine: typeof e.initEngine, deep }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], {
    cwd: app,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    verbs: [
      'Visage',
      'Gallery',
      'stylize',
      'train',
      'evaluatePairList',
      'evaluateIdentify',
      'calibrateThreshold',
      'VisageError',
    ],
    internals: [],
    engine: 'function',
    deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
  });
});

test('the CLI through npx visage: a verdict as JSON, and usage errors with a stable code', () => {
  const ok = spawnSync('npx', ['--no-install', 'visage', 'verify', 'a.jpg', 'b.jpg', '--json'], {
    cwd: app,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(ok.status, 0, ok.stderr);
  const v = JSON.parse(ok.stdout) as { same: boolean; faces: unknown[] };
  assert.equal(v.same, true);
  assert.equal(v.faces.length, 2);
  const bad = spawnSync('npx', ['--no-install', 'visage', 'frobnicate', '--json'], {
    cwd: app,
    encoding: 'utf8',
  });
  assert.equal(bad.status, 1);
  assert.equal((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, 'E_USAGE');
});
