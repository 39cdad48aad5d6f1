import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN, call, photo, startServer } from './helpers.js';

test('one log line per request, no keys or image bytes; the pixel limit is 413 E_IMAGE_TOO_LARGE', async () => {
  const lines: string[] = [];
  const s = await startServer({ maxPixels: 10_000 }, { write: (l) => void lines.push(l) });
  try {
    const jpeg = photo('obama', 'obama.jpg');
    const big = await call(s.url, 'POST', '/v1/detect', { files: { image: jpeg } });
    assert.equal(big.status, 413);
    assert.equal(big.data.error.code, 'E_IMAGE_TOO_LARGE');
    assert.equal((await call(s.url, 'GET', '/v1/galleries', { key: 'secret-wrong-key' })).status, 401);
    assert.equal((await call(s.url, 'GET', '/v1/galleries')).status, 200);
    const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    assert.deepEqual(
      requests.map((r) => [r.route, r.status]),
      [
        ['/v1/detect', 413],
        ['/v1/galleries', 401],
        ['/v1/galleries', 200],
      ],
    );
    const all = lines.join('');
    assert.ok(!all.includes(ADMIN) && !all.includes('secret-wrong-key'), 'no key in the logs');
    assert.ok(!all.includes(jpeg.subarray(0, 64).toString('base64').slice(0, 40)), 'no image bytes');
  } finally {
    await s.close();
  }
});
