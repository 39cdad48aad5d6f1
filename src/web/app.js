// The Visage page: plain ES module, no build step. Talks to the /v1 API with the key kept in sessionStorage.
const $ = (id) => document.getElementById(id);

// What to tell a person for each stable error code (the server's message is shown after it).
const HINTS = {
  E_UNAUTHORIZED: 'Paste a valid API key above.',
  E_FORBIDDEN: 'This key may not do that (role or gallery).',
  E_NO_FACE: 'No face found: try a sharper, frontal photo.',
  E_MANY_FACES: 'Several faces: choose "use the largest" or "use all".',
  E_FACE_INDEX: 'That face number does not exist in the photo.',
  E_NOT_AN_IMAGE: 'That file is not an image.',
  E_UNSUPPORTED_FORMAT: 'Use JPEG, PNG or WebP.',
  E_UNSUPPORTED_MEDIA: 'Use JPEG, PNG or WebP.',
  E_TRUNCATED_IMAGE: 'The image is damaged or incomplete.',
  E_EMPTY_FILE: 'The file is empty.',
  E_PAYLOAD_TOO_LARGE: 'The file is too large for this server.',
  E_IMAGE_TOO_LARGE: 'The image has too many pixels.',
  E_UNKNOWN_GALLERY: 'No such gallery yet: enroll someone first.',
  E_UNKNOWN_PERSON: 'No one by that name.',
  E_NAME_TAKEN: 'Someone already has that name.',
  E_RATE_LIMITED: 'Too many requests: wait a moment.',
  E_BUSY: 'The server is busy: try again in a second.',
  E_TIMEOUT: 'The server took too long: try again.',
  E_BAD_INPUT: 'Check the form.',
  E_BAD_JSON: 'The request was malformed.',
};

function say(text, isError = false) {
  $('message').textContent = text;
  $('message').className = isError ? 'error' : '';
}

const keyInput = $('key');
keyInput.value = sessionStorage.getItem('visageKey') ?? '';
keyInput.addEventListener('input', () => sessionStorage.setItem('visageKey', keyInput.value.trim()));
const gallery = () => encodeURIComponent($('gallery').value.trim() || 'default');

async function api(path, init = {}) {
  const headers = {
    'x-api-key': sessionStorage.getItem('visageKey') ?? keyInput.value.trim(),
    ...init.headers,
  };
  const res = await fetch(path, { ...init, headers });
  const type = res.headers.get('content-type') ?? '';
  const body = type.includes('json') ? await res.json() : res;
  if (!res.ok) {
    const e = body.error ?? { code: `HTTP ${res.status}`, message: res.statusText };
    const retry = res.headers.get('retry-after');
    say(`${e.code}: ${HINTS[e.code] ?? ''} ${e.message}${retry ? ` (retry after ${retry} s)` : ''}`, true);
    throw Object.assign(new Error(e.message), { code: e.code });
  }
  return body;
}

const form = (fields) => {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== null) f.append(k, v);
  return f;
};
const file = (id) => $(id).files?.[0];
const fmt = (d) => (d === null || d === undefined ? '–' : d.toFixed(3));
const pct = (c) => (c === null || c === undefined ? 'n/a' : `${(100 * c).toFixed(1)} %`);

for (const b of document.querySelectorAll('#tabs button'))
  b.addEventListener('click', () => {
    for (const x of document.querySelectorAll('#tabs button, .tab')) x.classList.remove('active');
    b.classList.add('active');
    $(b.dataset.tab).classList.add('active');
    if (b.dataset.tab === 'people') void loadPeople();
  });

// Identify: the photo on a canvas, a box and a name (or "unknown") on every face, distances on hover.
let shown = [];
async function identify(blob) {
  say('identifying…');
  const r = await api(`/v1/identify?gallery=${gallery()}&top=3`, {
    method: 'POST',
    body: form({ image: blob }),
  });
  const bmp = await createImageBitmap(blob);
  const c = $('identify-canvas');
  const scale = Math.min(1, 900 / bmp.width);
  c.width = Math.round(bmp.width * scale);
  c.height = Math.round(bmp.height * scale);
  const g = c.getContext('2d');
  g.drawImage(bmp, 0, 0, c.width, c.height);
  g.lineWidth = 3;
  g.font = '600 16px system-ui';
  shown = r.faces.map((f) => ({ ...f, s: scale }));
  for (const f of shown) {
    const label = f.match ? f.match.name : 'unknown';
    g.strokeStyle = f.match ? '#2a6' : '#c33';
    g.strokeRect(f.box.x * scale, f.box.y * scale, f.box.width * scale, f.box.height * scale);
    g.fillStyle = g.strokeStyle;
    g.fillText(label, f.box.x * scale, Math.max(16, f.box.y * scale - 6));
  }
  c.dataset.labels = JSON.stringify(shown.map((f) => (f.match ? f.match.name : 'unknown')));
  $('identify-result').replaceChildren(
    ...shown.map((f) => {
      const li = document.createElement('li');
      li.textContent = f.match
        ? `${f.match.name} — d = ${fmt(f.match.distance)}, confidence ${pct(f.match.confidence)}`
        : `unknown — nearest ${f.matches[0] ? `${f.matches[0].name} at d = ${fmt(f.matches[0].distance)}` : 'none'} (τ = ${fmt(r.threshold)})`;
      return li;
    }),
  );
  say(`${r.faces.length} face(s); τ = ${fmt(r.threshold)}`);
}
$('identify-file').addEventListener(
  'change',
  () => file('identify-file') && identify(file('identify-file')).catch(() => {}),
);
const drop = $('identify-drop');
drop.addEventListener('dragover', (e) => (e.preventDefault(), drop.classList.add('over')));
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer?.files?.[0];
  if (f) identify(f).catch(() => {});
});
$('identify-canvas').addEventListener('mousemove', (e) => {
  const c = e.currentTarget;
  const rect = c.getBoundingClientRect();
  const x = ((e.clientX - rect.left) * c.width) / rect.width;
  const y = ((e.clientY - rect.top) * c.height) / rect.height;
  const f = shown.find(
    (f) =>
      x >= f.box.x * f.s &&
      x <= (f.box.x + f.box.width) * f.s &&
      y >= f.box.y * f.s &&
      y <= (f.box.y + f.box.height) * f.s,
  );
  $('identify-hover').textContent = f
    ? f.matches.map((m) => `${m.name}: d = ${fmt(m.distance)}`).join(' · ') || 'gallery empty'
    : '';
});

// Enroll: a name and one photo, or a webcam snapshot.
let snapshot = null;
$('enroll-webcam').addEventListener('click', async () => {
  const v = $('enroll-video');
  if (v.hidden) {
    try {
      v.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
      v.hidden = false;
      say('click "Webcam snapshot" again to take the photo');
    } catch (e) {
      say(`no webcam: ${e.message}`, true);
    }
    return;
  }
  const c = document.createElement('canvas');
  c.width = v.videoWidth;
  c.height = v.videoHeight;
  c.getContext('2d').drawImage(v, 0, 0);
  snapshot = await new Promise((r) => c.toBlob(r, 'image/jpeg', 0.92));
  for (const t of v.srcObject.getTracks()) t.stop();
  v.hidden = true;
  say('snapshot taken; press Enroll');
});
$('enroll-go').addEventListener('click', async () => {
  const name = $('enroll-name').value.trim();
  const image = file('enroll-file') ?? snapshot;
  if (!name || !image) return say('a name and a photo are needed', true);
  try {
    const r = await api(
      `/v1/galleries/${gallery()}/people/${encodeURIComponent(name)}/faces?faces=${$('enroll-faces').value}`,
      {
        method: 'POST',
        body: form({ image }),
        headers: { 'idempotency-key': crypto.randomUUID() },
      },
    );
    $('enroll-result').textContent = `enrolled ${r.name}: ${r.faces.length} face(s) added, ${r.total} in all`;
    say('enrolled');
    snapshot = null;
  } catch {
    /* said */
  }
});

// Verify: two photos → verdict, distance, τ, confidence.
$('verify-go').addEventListener('click', async () => {
  if (!file('verify-a') || !file('verify-b')) return say('two photos are needed', true);
  try {
    const r = await api('/v1/verify', {
      method: 'POST',
      body: form({ a: file('verify-a'), b: file('verify-b') }),
    });
    $('verify-result').textContent =
      `${r.same ? 'same person' : 'different people'} — distance ${fmt(r.distance)}, τ ${fmt(r.threshold)}, confidence ${pct(r.confidence)}`;
    say('verified');
  } catch {
    /* said */
  }
});

// People: names with face counts, rename and remove.
async function loadPeople() {
  let r;
  try {
    r = await api(`/v1/galleries/${gallery()}/people?limit=1000`);
  } catch {
    return;
  }
  $('people-list').replaceChildren(
    ...r.people.map((p) => {
      const tr = document.createElement('tr');
      const name = document.createElement('td');
      name.textContent = p.name;
      const n = document.createElement('td');
      n.textContent = String(p.faces);
      const actions = document.createElement('td');
      const rename = Object.assign(document.createElement('button'), { textContent: 'Rename' });
      rename.addEventListener('click', async () => {
        const to = prompt(`New name for ${p.name}`, p.name);
        if (!to || to === p.name) return;
        await api(`/v1/galleries/${gallery()}/people/${encodeURIComponent(p.name)}`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: to }),
        }).then(loadPeople, () => {});
      });
      const remove = Object.assign(document.createElement('button'), { textContent: 'Remove' });
      remove.addEventListener('click', async () => {
        if (!confirm(`Remove ${p.name} and all their faces?`)) return;
        await api(`/v1/galleries/${gallery()}/people/${encodeURIComponent(p.name)}`, {
          method: 'DELETE',
        }).then(loadPeople, () => {});
      });
      actions.append(rename, remove);
      tr.append(name, n, actions);
      return tr;
    }),
  );
  say(`${r.total} people in ${decodeURIComponent(gallery())}`);
}
$('people-refresh').addEventListener('click', loadPeople);

// Style: a job, its progress from the server-sent events (read with fetch: EventSource cannot send a key).
$('style-go').addEventListener('click', async () => {
  if (!file('style-content') || !file('style-style'))
    return say('a content and a style image are needed', true);
  let job;
  try {
    job = await api(`/v1/style?size=${$('style-size').value}&iterations=${$('style-steps').value}`, {
      method: 'POST',
      body: form({ content: file('style-content'), style: file('style-style') }),
    });
  } catch {
    return;
  }
  $('style-progress').value = 0;
  const res = await api(`/v1/jobs/${job.id}/events`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let last = {};
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    const chunks = buf.split('\n\n');
    buf = chunks.pop();
    for (const c of chunks) {
      if (!c.startsWith('data: ')) continue;
      last = JSON.parse(c.slice(6));
      if (typeof last.percent === 'number') $('style-progress').value = last.percent;
      $('style-status').textContent =
        last.state === 'running' && last.step
          ? `step ${last.step}/${last.totalSteps}, J = ${last.J.toFixed(3)}, ETA ${Math.round(last.etaSeconds)} s`
          : `${last.state}${last.percent !== undefined ? ` ${last.percent} %` : ''}${last.error ? `: ${last.error}` : ''}`;
    }
  }
  if (last.state !== 'done') return say(`style job ${last.state}: ${last.error ?? ''}`, true);
  const png = await (await api(`/v1/jobs/${job.id}/result`)).blob();
  const url = URL.createObjectURL(png);
  Object.assign($('style-download'), { href: url, hidden: false });
  Object.assign($('style-image'), { src: url, hidden: false });
  say('style transfer done');
});
