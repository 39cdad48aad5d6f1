import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADMIN, call, photo, picture, sample, startServer } from './helpers.js';

let s: Awaited<ReturnType<typeof startServer>>;
const api = (method: string, url: string, c?: Parameters<typeof call>[3]) => call(s.url, method, url, c);

/** Row counts and a search: what "the gallery is unchanged" means. */
async function snapshot() {
  const people = await api('GET', '/v1/galleries/g/people');
  const who = await api('POST', '/v1/identify?gallery=g', { files: { image: photo('obama', 'obama2.jpg') } });
  return { people: people.data, who: who.data.faces?.map((f: any) => f.match?.name ?? null) };
}

function isError(r: { status: number; data: any }, status: number, code: string) {
  assert.equal(r.status, status, JSON.stringify(r.data));
  assert.equal(r.data.error.code, code);
  assert.equal(typeof r.data.error.requestId, 'string');
  assert.ok(!JSON.stringify(r.data).includes('    at '), 'no stack trace');
}

before(async () => {
  s = await startServer({ maxQueued: 1, uploadBytes: 2 * 1024 * 1024 });
});
after(async () => s.close());

test('health, readiness (self-test inference), info, metrics, OpenAPI', async () => {
  assert.equal((await api('GET', '/healthz', { key: null })).status, 200);
  const ready = await api('GET', '/readyz', { key: null });
  assert.equal(ready.status, 200, JSON.stringify(ready.data));
  const info = await api('GET', '/v1/info');
  assert.equal(info.data.dim, 128);
  assert.ok(info.data.threshold > 0 && info.data.threshold < 1);
  assert.equal(typeof info.data.calibration.dataset, 'string');
  const spec = await api('GET', '/openapi.json', { key: null });
  assert.ok(spec.data.openapi.startsWith('3'));
  assert.ok(spec.data.paths['/v1/galleries/{gallery}/people/{name}/faces']);
  const m = await api('GET', '/metrics', { key: null });
  assert.match(m.data, /visage_http_requests_total/);
  assert.match(m.data, /visage_inference_queue_depth/);
});

test('enroll (multipart, raw body, base64 JSON), identify with match or null, verify', async () => {
  const a = await api('POST', '/v1/galleries/g/people/obama/faces', {
    files: { image: photo('obama', 'obama.jpg') },
  });
  assert.equal(a.status, 201, JSON.stringify(a.data));
  assert.equal(a.data.faces.length, 1);
  const b = await api('POST', '/v1/galleries/g/people/biden/faces', {
    raw: { body: photo('biden', 'biden.jpg'), type: 'image/jpeg' },
  });
  assert.equal(b.status, 201, JSON.stringify(b.data));
  const c = await api('POST', '/v1/galleries/g/people/obama/faces', {
    json: { image: photo('obama', 'obama3.jpg').toString('base64') },
  });
  assert.equal(c.status, 201);
  assert.equal(c.data.total, 2);

  const who = await api('POST', '/v1/identify?gallery=g&top=2', {
    files: { image: photo('obama', 'obama2.jpg') },
  });
  assert.equal(who.status, 200);
  assert.equal(who.data.faces.length, 1);
  assert.equal(who.data.faces[0].match.name, 'obama');
  assert.ok(who.data.faces[0].match.confidence > 0.5);
  assert.equal(who.data.faces[0].matches.length, 2);
  const stranger = await api('POST', '/v1/identify?gallery=g', {
    files: { image: photo('rose_leslie', 'img1.jpg') },
  });
  assert.equal(stranger.data.faces[0].match, null, 'a stranger is unknown');

  const v = await api('POST', '/v1/verify', {
    files: { a: photo('obama', 'obama.jpg'), b: photo('obama', 'obama2.jpg') },
  });
  assert.equal(v.status, 200);
  assert.equal(v.data.same, true);
  for (const k of ['distance', 'threshold', 'confidence']) assert.equal(typeof v.data[k], 'number');
  assert.equal(v.data.faces.length, 2);
  const d = await api('POST', '/v1/verify', {
    files: { a: photo('obama', 'obama.jpg'), b: photo('biden', 'biden.jpg') },
    fields: { faceA: '0' }, // form numbers are parsed by the schema
  });
  assert.equal(d.data.same, false);
});

test('several faces: 422 E_MANY_FACES unless face=N or faces=largest|all; gallery unchanged on refusal', async () => {
  const before = await snapshot();
  const r = await api('POST', '/v1/galleries/g/people/group/faces', { files: { image: sample(2) } });
  isError(r, 422, 'E_MANY_FACES');
  assert.equal(r.data.error.details.found, 3);
  assert.deepEqual(await snapshot(), before);
  const one = await api('POST', '/v1/galleries/g/people/group/faces?face=1', { files: { image: sample(2) } });
  assert.equal(one.status, 201);
  assert.equal(one.data.faces[0].index, 1);
  const all = await api('POST', '/v1/galleries/g/people/group/faces', {
    files: { image: sample(2) },
    fields: { faces: 'all' },
  });
  assert.equal(all.data.faces.length, 3);
  assert.equal((await api('DELETE', '/v1/galleries/g/people/group')).data.removedFaces, 4);
});

test('Idempotency-Key: a retried enroll stores one face', async () => {
  const c = { files: { image: photo('biden', 'biden2.jpg') }, headers: { 'idempotency-key': 'retry-1' } };
  const first = await api('POST', '/v1/galleries/g/people/biden/faces', c);
  const again = await api('POST', '/v1/galleries/g/people/biden/faces', c);
  assert.equal(first.status, 201);
  assert.equal(again.status, 200);
  assert.equal(again.data.replayed, true);
  const p = await api('GET', '/v1/galleries/g/people/biden');
  assert.equal(p.data.faces.length, 2);
  // Two at once, into a gallery that does not exist yet: still one face.
  const both = await Promise.all([1, 2].map(() => api('POST', '/v1/galleries/idem/people/joe/faces', c)));
  assert.deepEqual(both.map((r) => r.status).sort(), [200, 201]);
  assert.equal((await api('GET', '/v1/galleries/idem/people/joe')).data.faces.length, 1);
});

test('detect and embed take several images', async () => {
  const d = await api('POST', '/v1/detect', { files: { images: [sample(2), photo('obama', 'obama.jpg')] } });
  assert.deepEqual(
    d.data.images.map((i: any) => i.faces.length),
    [3, 1],
  );
  const e = await api('POST', '/v1/embed', { files: { image: photo('obama', 'obama.jpg') } });
  assert.equal(e.data.images[0].faces[0].embedding.length, 128);
  const j = await api('POST', '/v1/embed', {
    json: {
      images: [photo('obama', 'obama.jpg'), photo('biden', 'biden.jpg')].map((b) => b.toString('base64')),
    },
  });
  assert.equal(j.data.images.length, 2);
  const m = (await api('GET', '/metrics', { key: null })).data as string;
  assert.match(m, /visage_http_request_duration_seconds_bucket\{[^}]*route="\/v1\/embed"/);
  assert.match(
    m,
    /visage_http_requests_total\{[^}]*route="\/v1\/galleries\/:gallery\/people\/:name\/faces",status="201"\}/,
  );
  assert.match(m, /visage_gallery_embeddings\{gallery="g"\} \d+/);
  assert.match(m, /visage_faces_encoded_total [1-9]/);
});

test('bad inputs: status + stable code, and the gallery unchanged', async () => {
  const before = await snapshot();
  const enroll = (c: Parameters<typeof call>[3]) => api('POST', '/v1/galleries/g/people/x/faces', c);
  const jpeg = photo('obama', 'obama.jpg');
  isError(await enroll({ files: { image: Buffer.from('hello, not an image') } }), 415, 'E_NOT_AN_IMAGE');
  isError(await enroll({ files: { image: jpeg.subarray(0, 2000) } }), 400, 'E_TRUNCATED_IMAGE');
  isError(await enroll({ files: { image: Buffer.alloc(0) } }), 400, 'E_EMPTY_FILE');
  isError(await enroll({ files: { image: Buffer.alloc(3 * 1024 * 1024, 1) } }), 413, 'E_PAYLOAD_TOO_LARGE');
  isError(
    await enroll({ raw: { body: Buffer.alloc(3 * 1024 * 1024, 1), type: 'image/jpeg' } }),
    413,
    'E_PAYLOAD_TOO_LARGE',
  );
  isError(await enroll({ files: { image: picture('horses.jpg') } }), 422, 'E_NO_FACE');
  isError(await enroll({}), 400, 'E_BAD_INPUT');
  isError(await enroll({ json: '{"image": ' }), 400, 'E_BAD_JSON');
  isError(await enroll({ json: { image: '***' } }), 400, 'E_BAD_INPUT');
  isError(await enroll({ files: { image: jpeg }, fields: { faces: 'some' } }), 400, 'E_BAD_INPUT');
  isError(await enroll({ raw: { body: 'x', type: 'text/plain' } }), 415, 'E_UNSUPPORTED_MEDIA');
  isError(
    await api('POST', '/v1/identify?gallery=nope', { files: { image: jpeg } }),
    404,
    'E_UNKNOWN_GALLERY',
  );
  isError(await api('GET', '/v1/galleries/g/people/nobody'), 404, 'E_UNKNOWN_PERSON');
  isError(
    await api('POST', '/v1/galleries/bad..name/people/x/faces', { files: { image: jpeg } }),
    400,
    'E_BAD_INPUT',
  );
  assert.deepEqual(await snapshot(), before);
});

test('keys: missing/unknown/revoked → 401, wrong role or gallery → 403', async () => {
  const read = s.ctx.db.createKey('read');
  const scoped = s.ctx.db.createKey('write', { gallery: 'other' });
  const jpeg = photo('obama', 'obama.jpg');
  isError(await api('GET', '/v1/galleries', { key: null }), 401, 'E_UNAUTHORIZED');
  isError(await api('GET', '/v1/galleries', { key: 'nope' }), 401, 'E_UNAUTHORIZED');
  const bearer = await fetch(`${s.url}/v1/galleries`, { headers: { authorization: `Bearer ${read.key}` } });
  assert.equal(bearer.status, 200);
  isError(
    await api('POST', '/v1/galleries/g/people/x/faces', { key: read.key, files: { image: jpeg } }),
    403,
    'E_FORBIDDEN',
  );
  isError(await api('GET', '/v1/galleries/g/people', { key: scoped.key }), 403, 'E_FORBIDDEN');
  isError(await api('DELETE', '/v1/galleries/g', { key: scoped.key }), 403, 'E_FORBIDDEN');
  s.ctx.db.revokeKey(read.id);
  isError(await api('GET', '/v1/galleries', { key: read.key }), 401, 'E_UNAUTHORIZED');
});

test('people: paginated list, rename (409 on a taken name), merge, remove one face, export → import', async () => {
  const page = await api('GET', '/v1/galleries/g/people?limit=1');
  assert.equal(page.data.people.length, 1);
  assert.equal(page.data.total, 2);
  assert.equal(page.data.next, 1);
  isError(
    await api('PATCH', '/v1/galleries/g/people/biden', { json: { name: 'obama' } }),
    409,
    'E_NAME_TAKEN',
  );
  assert.equal(
    (await api('PATCH', '/v1/galleries/g/people/biden', { json: { name: 'joe' } })).data.name,
    'joe',
  );
  await api('POST', '/v1/galleries/g/people/barack/faces', {
    files: { image: photo('obama', 'obama-1080p.jpg') },
  });
  const merged = await api('POST', '/v1/galleries/g/merge', { json: { from: 'barack', into: 'obama' } });
  assert.equal(merged.status, 200, JSON.stringify(merged.data));
  assert.equal(merged.data.total, 3);
  const faces = (await api('GET', '/v1/galleries/g/people/obama')).data.faces;
  assert.equal((await api('DELETE', `/v1/galleries/g/people/obama/faces/${faces[2].faceId}`)).status, 204);
  isError(await api('DELETE', `/v1/galleries/g/people/obama/faces/999999`), 404, 'E_UNKNOWN_FACE');

  const exp = await api('GET', '/v1/galleries/g/export');
  assert.equal(exp.data.model, 'dlib-resnet34@face-api-1.7');
  const imp = await api('POST', '/v1/galleries/import', { json: { ...exp.data, gallery: 'copy' } });
  assert.equal(imp.status, 201, JSON.stringify(imp.data));
  const a = await api('POST', '/v1/identify?gallery=copy', {
    files: { image: photo('obama', 'obama2.jpg') },
  });
  assert.equal(a.data.faces[0].match.name, 'obama');
  isError(
    await api('POST', '/v1/galleries/import', { json: { ...exp.data, gallery: 'x', model: 'other' } }),
    409,
    'E_MODEL_MISMATCH',
  );
});

test('full inference queue → 503 with Retry-After', async () => {
  const img = photo('obama', 'obama-1080p.jpg');
  const rs = await Promise.all(
    Array.from({ length: 5 }, () => api('POST', '/v1/detect', { files: { image: img } })),
  );
  const busy = rs.filter((r) => r.status === 503);
  assert.ok(busy.length >= 1, `statuses ${rs.map((r) => r.status)}`);
  assert.equal(busy[0].data.error.code, 'E_BUSY');
  assert.ok(busy[0].headers.get('retry-after'));
  assert.ok(rs.every((r) => r.status === 200 || r.status === 503));
});

test('style job: 202, SSE progress to 100 %, PNG result; unknown job 404', async () => {
  const r = await api('POST', '/v1/style', {
    files: { content: photo('obama', 'obama.jpg'), style: picture('scream.jpg') },
    fields: { size: '64', iterations: '3', preserveColors: 'false' },
  });
  assert.equal(r.status, 202, JSON.stringify(r.data));
  const res = await fetch(`${s.url}/v1/jobs/${r.data.id}/events`, { headers: { 'x-api-key': ADMIN } });
  const events = (await res.text())
    .split('\n\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => JSON.parse(l.slice(6)));
  assert.equal(events.at(-1).state, 'done', JSON.stringify(events));
  assert.ok(events.some((e) => typeof e.J === 'number' && typeof e.etaSeconds === 'number'));
  assert.equal(events.at(-1).percent, 100);
  const png = await fetch(`${s.url}/v1/jobs/${r.data.id}/result`, { headers: { 'x-api-key': ADMIN } });
  assert.equal(png.headers.get('content-type'), 'image/png');
  assert.equal(
    Buffer.from(await png.arrayBuffer())
      .subarray(1, 4)
      .toString(),
    'PNG',
  );
  isError(await api('GET', '/v1/jobs/00000000-0000-4000-8000-000000000000'), 404, 'E_UNKNOWN_JOB');

  const long = await api('POST', '/v1/style?size=64&iterations=1000', {
    files: { content: photo('obama', 'obama.jpg'), style: picture('scream.jpg') },
  });
  assert.equal((await api('DELETE', `/v1/jobs/${long.data.id}`)).status, 202);
  let state;
  for (let i = 0; i < 100 && !['cancelled', 'done', 'failed'].includes(state?.state); i++) {
    await new Promise((r) => setTimeout(r, 100));
    state = (await api('GET', `/v1/jobs/${long.data.id}`)).data;
  }
  assert.equal(state.state, 'cancelled');
  assert.match(state.error, /cancelled/);
  isError(await api('GET', `/v1/jobs/${long.data.id}/result`), 409, 'E_JOB_STATE');
});

test('per-key rate limit → 429 with Retry-After and RateLimit-* headers', async () => {
  const t = await startServer({ rateMax: 3, rateWindowMs: 60_000 });
  try {
    const rs = [];
    for (let i = 0; i < 4; i++) rs.push(await call(t.url, 'GET', '/v1/galleries'));
    assert.deepEqual(
      rs.map((r) => r.status),
      [200, 200, 200, 429],
    );
    isError(rs[3], 429, 'E_RATE_LIMITED');
    assert.ok(rs[3].headers.get('retry-after'));
    assert.ok(rs[0].headers.get('ratelimit-limit'));
    assert.ok(rs[0].headers.get('ratelimit-remaining'));
  } finally {
    await t.close();
  }
});
