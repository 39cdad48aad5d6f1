import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadMatConvNetVgg19, MATCONVNET_MEAN_RGB } from '../../src/style/weights/matconvnet.js';
import { colMajor, writeMat5, type MatIn, type Mat5WriteOptions } from '../helpers/mat5-writer.js';
import {
  assertConv1_1Forward,
  assertTestConvValues,
  PYTHON,
  pythonLacks,
  rejectsWithCode,
  TEST_CONVS,
  testBias as bv,
  testConvsFlat,
  testFilter as fv,
  weightsTestDir,
} from '../helpers/vgg19-weights.js';

const dir = weightsTestDir('visage-matconvnet-');

/** MatConvNet's SimpleNN layer list (a 1×N cell of 1×1 structs) up to conv2_1, VGG shapes. */
function vggLayers(opts: { coutOf?: Record<string, number>; oldFields?: boolean } = {}): MatIn {
  const cells: MatIn[] = [];
  TEST_CONVS.forEach(([name, cin, cout0], layer) => {
    const cout = opts.coutOf?.[name] ?? cout0;
    const filters: MatIn = {
      numeric: colMajor([3, 3, cin, cout], (h, w, i, o) => fv(h, w, i, o, layer)),
      dims: [3, 3, cin, cout],
    };
    const biases: MatIn = {
      numeric: Float32Array.from({ length: cout }, (_, o) => bv(o, layer)),
      dims: [1, cout],
    };
    const common = {
      name: { char: name },
      type: { char: 'conv' },
      // MATLAB stores small integral doubles narrower; the reader must widen them.
      stride: { numeric: [1, 1], dims: [1, 2], cls: 'double', stored: 'uint8' } as MatIn,
      pad: { numeric: [1, 1, 1, 1], dims: [1, 4], cls: 'double', stored: 'uint8' } as MatIn,
    };
    cells.push({
      struct: [
        opts.oldFields ? { ...common, filters, biases } : { ...common, weights: { cell: [filters, biases] } },
      ],
    });
    cells.push({ struct: [{ name: { char: name.replace('conv', 'relu') }, type: { char: 'relu' } }] });
    if (name === 'conv1_2')
      cells.push({ struct: [{ name: { char: 'pool1' }, type: { char: 'pool' }, method: { char: 'max' } }] });
  });
  return { cell: cells };
}

function averageImage(rgb: number[]): MatIn {
  return { numeric: colMajor([4, 5, 3], (_h, _w, c) => rgb[c]), dims: [4, 5, 3] };
}

function write(name: string, vars: Record<string, MatIn>, opts: Mat5WriteOptions = {}): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, writeMat5(vars, opts));
  return p;
}

test('MatConvNet (old layout, uncompressed): column-major H×W×I×O filters become our HWIO, RGB mean read', async () => {
  const file = write('vgg-old.mat', {
    layers: vggLayers(),
    normalization: { struct: [{ averageImage: averageImage(MATCONVNET_MEAN_RGB) }] },
    classes: { struct: [{ name: { cell: [{ char: 'n01440764' }] } }] },
  });
  const r = await loadMatConvNetVgg19(file, { until: 'conv1_2' });
  assert.equal(r.format, 'matconvnet');
  assert.equal(r.preprocessing, 'matconvnet');
  assertTestConvValues(r.weights, 1);
  // Layers after `until` are not converted.
  assert.equal(r.weights.has('conv2_1/kernel'), false);
  assert.equal(r.weights.size, 4);
  // `until` may name a pooling layer too (the dispatcher passes the layer the network stops at).
  assert.equal((await loadMatConvNetVgg19(file, { until: 'pool1' })).weights.size, 4);
  await rejectsWithCode(loadMatConvNetVgg19(file, { until: 'conv6_1' }), 'E_UNKNOWN_LAYER');
  r.meanRgb!.forEach((v, c) => assert.ok(Math.abs(v - MATCONVNET_MEAN_RGB[c]) < 1e-4));
  assert.deepEqual(r.warnings, []);
});

test('MatConvNet (beta-16+ layout, compressed, big-endian): same numbers; another mean pixel is reported', async () => {
  const vars = {
    layers: vggLayers(),
    meta: {
      struct: [
        {
          normalization: { struct: [{ averageImage: { numeric: [120, 110, 100], dims: [3, 1] } as MatIn }] },
        },
      ],
    },
  };
  for (const littleEndian of [true, false]) {
    const r = await loadMatConvNetVgg19(
      write(`vgg-new-${littleEndian}.mat`, vars, { compress: true, littleEndian }),
      {
        until: 'conv2_1',
      },
    );
    assertTestConvValues(r.weights, 2);
    assert.deepEqual(r.meanRgb, [120, 110, 100]);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0], /mean pixel RGB \[120\.000,110\.000,100\.000\]/);
  }
});

test('MatConvNet: very old files (filters/biases fields) and DagNN files (layers + params) load too', async () => {
  const old = await loadMatConvNetVgg19(
    write('vgg-filters.mat', { layers: vggLayers({ oldFields: true }) }),
    {
      until: 'conv1_2',
    },
  );
  assertTestConvValues(old.weights, 1);
  assert.equal(old.meanRgb, undefined);

  // DagNN: `layers` is a struct array whose conv entries name their parameters in `params`.
  const simple = vggLayers() as { cell: { struct: Record<string, MatIn>[] }[] };
  const dagLayers: Record<string, MatIn>[] = [];
  const params: Record<string, MatIn>[] = [];
  for (const c of simple.cell) {
    const rec = c.struct[0];
    const name = (rec.name as { char: string }).char;
    const isConv = (rec.type as { char: string }).char === 'conv';
    const names = isConv ? [`${name}_filter`, `${name}_bias`] : [];
    dagLayers.push({
      name: { char: name },
      type: { char: isConv ? 'dagnn.Conv' : 'dagnn.ReLU' },
      params: { cell: names.map((n) => ({ char: n })) },
    });
    if (isConv) {
      const [f, b] = (rec.weights as { cell: MatIn[] }).cell;
      params.push({ name: { char: names[0] }, value: f }, { name: { char: names[1] }, value: b });
    }
  }
  const dag = await loadMatConvNetVgg19(
    write('vgg-dag.mat', { layers: { struct: dagLayers }, params: { struct: params } }, { compress: true }),
    { until: 'conv2_1' },
  );
  assertTestConvValues(dag.weights, 2);
});

test('MatConvNet weights run in vgg19FeatureNet: conv1_1 at a pixel equals the hand-computed sum', async () => {
  const r = await loadMatConvNetVgg19(write('vgg-fwd.mat', { layers: vggLayers() }, { compress: true }), {
    until: 'conv1_2',
  });
  // MatConvNet feeds RGB 0..255 minus the mean.
  assertConv1_1Forward({
    weights: r.weights,
    preprocessing: r.preprocessing,
    input: (v, c) => v - MATCONVNET_MEAN_RGB[c],
    kernel: (h, w, i, o) => fv(h, w, i, o, 0),
    bias: (o) => bv(o, 0),
    pixels: [
      [2, 3],
      [1, 1],
    ],
    channels: [0, 5, 63],
    tol: 1e-3,
  });
});

test('MatConvNet failures have stable codes', async () => {
  await rejectsWithCode(loadMatConvNetVgg19(path.join(dir, 'missing.mat')), 'E_FILE_NOT_FOUND');
  fs.writeFileSync(path.join(dir, 'empty.mat'), '');
  await rejectsWithCode(loadMatConvNetVgg19(path.join(dir, 'empty.mat')), 'E_EMPTY_FILE');
  const noise = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24));
  fs.writeFileSync(path.join(dir, 'noise.mat'), noise);
  await rejectsWithCode(loadMatConvNetVgg19(path.join(dir, 'noise.mat')), 'E_UNSUPPORTED_FORMAT');

  // Cut in half: the big variable runs past the end (raw) or stops inflating (compressed).
  for (const compress of [false, true]) {
    const whole = writeMat5({ layers: vggLayers() }, { compress });
    const cut = path.join(dir, `cut-${compress}.mat`);
    fs.writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    await rejectsWithCode(loadMatConvNetVgg19(cut, { until: 'conv1_2' }), 'E_BAD_WEIGHTS');
  }
  // A valid MAT-file holding a conv1_2 with 32 filters is not VGG-19.
  await rejectsWithCode(
    loadMatConvNetVgg19(write('narrow.mat', { layers: vggLayers({ coutOf: { conv1_2: 32 } }) }), {
      until: 'conv1_2',
    }),
    'E_WRONG_NETWORK',
    /conv1_2/,
  );
  // conv2_1 asked for but absent; and a MAT-file that is no network at all.
  await rejectsWithCode(
    loadMatConvNetVgg19(write('short.mat', { layers: vggLayers() }), { until: 'conv3_1' }),
    'E_WRONG_NETWORK',
    /conv2_2/,
  );
  await rejectsWithCode(
    loadMatConvNetVgg19(write('data.mat', { x: { numeric: [1, 2, 3], dims: [1, 3], cls: 'double' } })),
    'E_WRONG_NETWORK',
  );
  // MATLAB v7.3 files are HDF5.
  const v73 = Buffer.alloc(600);
  v73.write(
    'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .',
    0,
    'latin1',
  );
  v73.writeUInt16LE(0x0200, 124);
  v73.write('IM', 126, 'latin1');
  fs.writeFileSync(path.join(dir, 'v73.mat'), v73);
  await rejectsWithCode(loadMatConvNetVgg19(path.join(dir, 'v73.mat')), 'E_UNSUPPORTED_FORMAT');
});

const scipyMissing = pythonLacks('scipy.io, numpy');

// scipy.io.savemat is what MatConvNet's own Caffe importer used to write imagenet-vgg-verydeep-19.mat.
const SCIPY_SCRIPT = `
import sys, numpy as np, scipy.io
out = sys.argv[1]
rng = np.random.RandomState(0)
def conv(name, cin, cout):
    w = np.empty([1, 2], dtype=object)
    w[0, 0] = rng.randn(3, 3, cin, cout).astype('float32')
    w[0, 1] = rng.randn(1, cout).astype('float32')
    return {'name': name, 'type': 'conv', 'weights': w, 'pad': np.array([[1., 1, 1, 1]]), 'stride': np.array([[1., 1]])}
layers = [conv('conv1_1', 3, 64), {'name': 'relu1_1', 'type': 'relu'}, conv('conv1_2', 64, 64),
          {'name': 'relu1_2', 'type': 'relu'}, {'name': 'pool1', 'type': 'pool', 'method': 'max', 'pool': np.array([[2., 2]])},
          conv('conv2_1', 64, 128)]
mean = np.array([123.68, 116.779, 103.939]).reshape(1, 1, 3) * np.ones((6, 5, 1))
net = {'layers': np.array(layers, dtype=object).reshape(1, -1),
       'normalization': {'averageImage': mean.astype('float32'), 'imageSize': np.array([[224., 224, 3]])},
       'classes': {'name': np.array(['n01440764', 'n01443537'], dtype=object).reshape(1, -1)}}
for c in (False, True):
    scipy.io.savemat(out + '/scipy-%s.mat' % ('z' if c else 'raw'), net, oned_as='row', do_compression=c)
exp = []
for l in layers:
    if l['type'] == 'conv':
        exp += [l['weights'][0, 0].ravel(), l['weights'][0, 1].ravel()]   # C order of [h, w, in, out] = our HWIO
np.concatenate(exp).astype('<f4').tofile(out + '/scipy-expected.f32')
# And the other way round: scipy reads a file of our test writer.
ours = scipy.io.loadmat(out + '/ours.mat')
f = ours['layers'][0, 0][0, 0]['weights'][0, 0]
f.astype('<f4').ravel().tofile(out + '/ours-conv1_1.f32')
print(f.shape, ours['layers'][0, 0][0, 0]['name'][0])
`;

test('cross-check with scipy.io.savemat/loadmat (compressed and not)', { skip: scipyMissing }, async () => {
  const sub = fs.mkdtempSync(path.join(dir, 'scipy-'));
  fs.writeFileSync(path.join(sub, 'ours.mat'), writeMat5({ layers: vggLayers() }, { compress: true }));
  const r = spawnSync(PYTHON, ['-c', SCIPY_SCRIPT, sub], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\(3, 3, 3, 64\) conv1_1/);
  const read = (f: string) => {
    const b = fs.readFileSync(path.join(sub, f));
    return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  };
  const expected = read('scipy-expected.f32');
  for (const kind of ['raw', 'z']) {
    const w = await loadMatConvNetVgg19(path.join(sub, `scipy-${kind}.mat`), { until: 'conv2_1' });
    const got = testConvsFlat(w.weights);
    assert.equal(got.length, expected.length);
    assert.deepEqual(got, expected, kind);
    w.meanRgb!.forEach((v, c) => assert.ok(Math.abs(v - MATCONVNET_MEAN_RGB[c]) < 1e-4));
  }
  // scipy sees our writer's conv1_1 as [h, w, in, out] with the values we meant.
  const ours = read('ours-conv1_1.f32');
  let bad = 0;
  for (let j = 0; j < ours.length; j++) {
    const o = j % 64;
    const i = Math.floor(j / 64) % 3;
    const w = Math.floor(j / 192) % 3;
    const h = Math.floor(j / 576);
    if (ours[j] !== fv(h, w, i, o, 0)) bad++;
  }
  assert.equal(bad, 0);
});
