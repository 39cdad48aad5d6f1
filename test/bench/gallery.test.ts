import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchGallerySearch } from '../../src/bench/gallery.js';

test('gallery benchmark runs end to end, finds every query, cleans up', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-bench-test-'));
  try {
    const r = benchGallerySearch({ n: 3000, dim: 128, queries: 30, dir });
    assert.equal(r.n, 3000);
    assert.equal(r.rank1, 1, 'exact search ranks the source person first for every noisy query');
    assert.equal(r.kernel, 'wasm-simd');
    assert.equal(r.peer.name, 'js-scalar');
    for (const t of [r.searchMs, r.peer.searchMs]) {
      assert.ok(t.min > 0 && t.min <= t.median && t.median <= t.p95 && t.p95 <= t.max);
    }
    assert.ok(r.buildMs > 0 && r.openMs > 0 && r.fileBytes > 3000 * 512);
    assert.deepEqual(fs.readdirSync(dir), [], 'temporary gallery removed');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
