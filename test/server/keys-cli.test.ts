import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runVisage } from '../helpers/cli.js';
import { ServiceDb } from '../../src/server/service-db.js';

test('visage keys create | list | revoke: the secret is shown once and stored only hashed', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-keys-'));
  try {
    const made = runVisage([
      '--json',
      'keys',
      'create',
      '--role',
      'write',
      '--gallery',
      'team',
      '--data',
      dir,
    ]);
    assert.equal(made.status, 0, made.stderr);
    const k = JSON.parse(made.stdout);
    assert.match(k.key, /^vsk_/);
    assert.equal(k.role, 'write');
    const db = fs.readFileSync(path.join(dir, 'service.sqlite'));
    assert.ok(!db.includes(Buffer.from(k.key)), 'the secret is not in the file');
    const list = JSON.parse(runVisage(['--json', 'keys', 'list', '--data', dir]).stdout);
    assert.deepEqual(
      list.map((x: { id: string; gallery: string }) => [x.id, x.gallery]),
      [[k.id, 'team']],
    );
    assert.ok(!JSON.stringify(list).includes(k.key));
    assert.equal(runVisage(['keys', 'revoke', k.id, '--data', dir]).status, 0);
    const s = new ServiceDb(dir);
    assert.equal(s.findKey(k.key), undefined);
    s.close();
    assert.equal(
      runVisage(['keys', 'revoke', k.id, '--data', dir]).status,
      2,
      'revoking twice is E_NOT_FOUND',
    );
    assert.equal(runVisage(['keys', 'create', '--role', 'root', '--data', dir]).status, 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
