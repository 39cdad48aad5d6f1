import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runVisage } from '../helpers/cli.js';

test('visage info --json reports the engine and finds the bundled model files', () => {
  const r = runVisage(['info', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.backend, 'wasm');
  assert.equal(info.simd, true);
  assert.ok(info.threads >= 1);
  assert.match(info.tfjs, /^4\.22\./);
  for (const m of info.models) assert.equal(m.found, true, `${m.model} missing at ${m.path}`);
});

test('VISAGE_BACKEND=cpu selects the pure-JS fallback, and a bad value is a usage error', () => {
  const cpu = runVisage(['info', '--json'], { env: { VISAGE_BACKEND: 'cpu' } });
  assert.equal(cpu.status, 0, cpu.stderr);
  assert.equal(JSON.parse(cpu.stdout).backend, 'cpu');
  const bad = runVisage(['info'], { env: { VISAGE_BACKEND: 'gpu' } });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /E_BAD_OPTION/);
});

test('exit codes: --help is 0, an unknown command is 1', () => {
  assert.equal(runVisage(['--help']).status, 0);
  assert.equal(runVisage(['info', '--help']).status, 0);
  const r = runVisage(['no-such-command']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown command/);
});
