import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadTorchVgg19 } from '../../src/style/weights/pytorch.js';
import {
  contiguous,
  pickle,
  stateDictPy,
  torchSaveLegacy,
  torchSaveStateDict,
  torchSaveZip,
  type Py,
  type StorageSpec,
  type TensorSpec,
} from '../helpers/torch-writer.js';
import {
  assertConv1_1Forward,
  assertTestConvValues,
  PYTHON,
  pythonLacks,
  rejectsWithCode,
  testBias as bv,
  testConvsFlat,
  testFilter,
  weightsTestDir,
} from '../helpers/vgg19-weights.js';

const dir = weightsTestDir('visage-pytorch-');

const FORMATS = ['zip', 'legacy'] as const;
const TORCH_MEAN = [0.485, 0.456, 0.406];
const TORCH_STD = [0.229, 0.224, 0.225];
/** testFilter in torch's OIHW argument order. */
const fv = (o: number, i: number, h: number, w: number, layer: number) => testFilter(h, w, i, o, layer);

/**
 * torchvision-style state_dict up to conv2_1 (features.0, .2, .5) plus a classifier tensor. conv1_1's
 * weight is a non-contiguous view (its storage holds HWIO order; strides make it OIHW) and conv1_1's bias
 * sits at an offset in a storage shared with conv1_2's bias — the reader must follow sizes, strides, offsets.
 */
function vggStateDict(opts: { cout12?: number } = {}): {
  tensors: [string, TensorSpec][];
  storages: Record<string, StorageSpec>;
} {
  const cout12 = opts.cout12 ?? 64;
  const hwio = new Float32Array(3 * 3 * 3 * 64);
  for (let h = 0; h < 3; h++)
    for (let w = 0; w < 3; w++)
      for (let i = 0; i < 3; i++)
        for (let o = 0; o < 64; o++) hwio[((h * 3 + w) * 3 + i) * 64 + o] = fv(o, i, h, w, 0);
  const oihw = (O: number, I: number, layer: number) =>
    Float32Array.from({ length: O * I * 9 }, (_, j) =>
      fv(Math.floor(j / (I * 9)), Math.floor(j / 9) % I, Math.floor(j / 3) % 3, j % 3, layer),
    );
  const biases = new Float32Array(10 + 64 + cout12);
  for (let o = 0; o < 64; o++) biases[10 + o] = bv(o, 0);
  for (let o = 0; o < cout12; o++) biases[74 + o] = bv(o, 1);
  return {
    storages: {
      '0': { data: hwio },
      '1': { data: biases },
      '2': { data: oihw(cout12, 64, 1) },
      '3': { data: oihw(128, cout12, 2) },
      '4': { data: Float64Array.from({ length: 128 }, (_, o) => bv(o, 2)) },
      '5': { data: new Float32Array(7).fill(0.5) },
    },
    tensors: [
      ['features.0.weight', { storage: '0', size: [64, 3, 3, 3], stride: [1, 64, 3 * 3 * 64, 3 * 64] }],
      ['features.0.bias', { storage: '1', offset: 10, size: [64] }],
      ['features.2.weight', { storage: '2', size: [cout12, 64, 3, 3] }],
      ['features.2.bias', { storage: '1', offset: 74, size: [cout12] }],
      ['features.5.weight', { storage: '3', size: [128, cout12, 3, 3] }],
      ['features.5.bias', { storage: '4', size: [128] }],
      ['classifier.6.bias', { storage: '5', size: [7] }],
    ],
  };
}

function writeFile(name: string, data: Buffer): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
}

test('torch.save zip and legacy state_dicts: OIHW views (strides, offsets, float64) become HWIO', async () => {
  const { tensors, storages } = vggStateDict();
  for (const format of FORMATS) {
    const file = writeFile(`vgg-${format}.pth`, torchSaveStateDict(tensors, storages, format));
    const r = await loadTorchVgg19(file, { until: 'conv2_1' });
    assert.equal(r.format, 'pytorch');
    assert.equal(r.preprocessing, 'torch');
    assertTestConvValues(r.weights, 2);
    const short = await loadTorchVgg19(file, { until: 'conv1_2' });
    assert.deepEqual([...short.weights.keys()].sort(), [
      'conv1_1/bias',
      'conv1_1/kernel',
      'conv1_2/bias',
      'conv1_2/kernel',
    ]);
    assert.equal((await loadTorchVgg19(file, { until: 'pool1' })).weights.size, 4);
    await rejectsWithCode(loadTorchVgg19(file, { until: 'conv6_1' }), 'E_UNKNOWN_LAYER');
  }
});

test('wrapped checkpoints ({state_dict: …}, DataParallel "module." keys) load too', async () => {
  const { tensors, storages } = vggStateDict();
  const inner = tensors.map(([k, t]): [string, TensorSpec] => [`module.${k}`, t]);
  const checkpoint = {
    dict: [
      ['epoch', 90],
      ['state_dict', stateDictPy(inner, storages, false)],
    ],
  } satisfies Py;
  const sd = torchSaveZip(checkpoint, storages);
  const r = await loadTorchVgg19(writeFile('dp.pth', sd), { until: 'conv1_2' });
  assertTestConvValues(r.weights, 1);
});

/** The same state_dict as Python 2 era torch wrote it (legacy format, py2 str, _rebuild_tensor, GPU storages). */
function py2StateDictFile(): Buffer {
  const { tensors, storages } = vggStateDict();
  const str = (x: string): Py => ({ py2str: x });
  const tensorV1 = (t: TensorSpec): Py => {
    const type = storages[t.storage].data instanceof Float64Array ? 'DoubleStorage' : 'FloatStorage';
    const pid: Py = [
      str('storage'),
      { global: ['torch.cuda', type] },
      str(t.storage),
      str('cuda:0'),
      storages[t.storage].data.length,
      null,
    ];
    return {
      reduce: [
        { global: ['torch._utils', '_rebuild_tensor'] },
        [{ persid: pid }, t.offset ?? 0, t.size, t.stride ?? contiguous(t.size)],
      ],
    };
  };
  const obj: Py = {
    reduce: [
      { global: ['collections', 'OrderedDict'] },
      [{ list: tensors.map(([k, t]) => ({ list: [str(k), tensorV1(t)] })) }],
    ],
  };
  return torchSaveLegacy(obj, storages);
}

test('Python 2 era legacy files (torchvision 2017): OrderedDict([[k, v], …]), py2 str, _rebuild_tensor, GPU storages', async () => {
  const r = await loadTorchVgg19(writeFile('py2.pth', py2StateDictFile()), { until: 'conv2_1' });
  assertTestConvValues(r.weights, 2);
});

test('PyTorch weights run in vgg19FeatureNet: conv1_1 at a pixel equals the hand-computed sum', async () => {
  const { tensors, storages } = vggStateDict();
  const r = await loadTorchVgg19(writeFile('fwd.pth', torchSaveStateDict(tensors, storages, 'legacy')), {
    until: 'conv1_2',
  });
  // torchvision feeds RGB scaled to 0..1, standardised per channel.
  assertConv1_1Forward({
    weights: r.weights,
    preprocessing: r.preprocessing,
    input: (v, c) => (v / 255 - TORCH_MEAN[c]) / TORCH_STD[c],
    kernel: (h, w, i, o) => fv(o, i, h, w, 0),
    bias: (o) => bv(o, 0),
    pixels: [
      [2, 3],
      [1, 4],
    ],
    channels: [0, 7, 63],
    tol: 1e-4,
  });
});

test('PyTorch failures have stable codes', async () => {
  await rejectsWithCode(loadTorchVgg19(path.join(dir, 'missing.pth')), 'E_FILE_NOT_FOUND');
  await rejectsWithCode(loadTorchVgg19(writeFile('empty.pth', Buffer.alloc(0))), 'E_EMPTY_FILE');
  const noise = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24));
  await rejectsWithCode(loadTorchVgg19(writeFile('noise.pth', noise)), 'E_UNSUPPORTED_FORMAT');
  // A pickle, but of something else than torch.save wrote.
  await rejectsWithCode(
    loadTorchVgg19(writeFile('plain.pkl', pickle({ dict: [['a', 1]] }))),
    'E_UNSUPPORTED_FORMAT',
  );
  const tar = Buffer.alloc(1024);
  tar.write('ustar', 257, 'latin1');
  await rejectsWithCode(loadTorchVgg19(writeFile('old.tar.pth', tar)), 'E_UNSUPPORTED_FORMAT');

  const { tensors, storages } = vggStateDict();
  for (const format of FORMATS) {
    const whole = torchSaveStateDict(tensors, storages, format);
    await rejectsWithCode(
      loadTorchVgg19(writeFile(`cut-${format}.pth`, whole.subarray(0, whole.length >> 1)), {
        until: 'conv1_2',
      }),
      'E_BAD_WEIGHTS',
    );
    // conv1_2 with 32 filters is not VGG-19.
    const narrow = vggStateDict({ cout12: 32 });
    await rejectsWithCode(
      loadTorchVgg19(
        writeFile(`narrow-${format}.pth`, torchSaveStateDict(narrow.tensors, narrow.storages, format)),
        {
          until: 'conv2_1',
        },
      ),
      'E_WRONG_NETWORK',
      /conv1_2/,
    );
    // Asking for conv2_2, which this file lacks.
    await rejectsWithCode(
      loadTorchVgg19(writeFile(`short-${format}.pth`, whole), { until: 'conv2_2' }),
      'E_WRONG_NETWORK',
      /conv2_2/,
    );
  }
  // A ResNet-like state_dict (with an int64 num_batches_tracked) is another network.
  const resnet = torchSaveStateDict(
    [
      ['conv1.weight', { storage: 'a', size: [64, 3, 7, 7] }],
      ['bn1.running_mean', { storage: 'b', size: [64] }],
      ['bn1.num_batches_tracked', { storage: 'c', size: [] }],
    ],
    {
      a: { data: new Float32Array(64 * 3 * 49) },
      b: { data: new Float32Array(64) },
      c: { data: new BigInt64Array([5n]) },
    },
    'zip',
  );
  await rejectsWithCode(loadTorchVgg19(writeFile('resnet.pth', resnet)), 'E_WRONG_NETWORK', /conv1_1/);

  // A whole pickled model (torch.save(model)) would need its Python classes: refused with the fix.
  for (const [name, data] of [
    ['model-zip.pth', torchSaveZip({ reduce: [{ global: ['torchvision.models.vgg', 'VGG'] }, []] }, {})],
    [
      'model-legacy.pth',
      torchSaveLegacy(
        { build: [{ reduce: [{ global: ['torchvision.models.vgg', 'VGG'] }, []] }, { dict: [] }] },
        {},
      ),
    ],
  ] as const) {
    await rejectsWithCode(loadTorchVgg19(writeFile(name, data)), 'E_UNSUPPORTED_FORMAT', [
      /state_dict\(\)/,
      /torchvision\.models\.vgg\.VGG/,
    ]);
  }
  // Globals are never run: a pickle calling os.system just yields an inert value (and no state_dict).
  const evil = torchSaveZip(
    { reduce: [{ global: ['os', 'system'] }, ['touch ' + path.join(dir, 'pwned')]] },
    {},
  );
  await rejectsWithCode(loadTorchVgg19(writeFile('evil.pth', evil)), 'E_UNSUPPORTED_FORMAT');
  assert.equal(fs.existsSync(path.join(dir, 'pwned')), false);
  // vgg19_bn is recognised and named.
  const bn = torchSaveStateDict(
    [
      ['features.0.weight', { storage: 'a', size: [64, 3, 3, 3] }],
      ['features.1.running_var', { storage: 'b', size: [64] }],
    ],
    { a: { data: new Float32Array(64 * 27) }, b: { data: new Float32Array(64) } },
    'legacy',
  );
  await rejectsWithCode(loadTorchVgg19(writeFile('bn.pth', bn)), 'E_WRONG_NETWORK', /vgg19_bn/);
});

const torchMissing = pythonLacks('torch');

const TORCH_SCRIPT = `
import sys, collections, numpy as np, torch
out = sys.argv[1]
g = torch.Generator().manual_seed(0)
sd = collections.OrderedDict()
sd['features.0.weight'] = torch.randn(3, 3, 3, 64, generator=g).permute(3, 2, 0, 1)   # non-contiguous
big = torch.randn(200, generator=g)
sd['features.0.bias'] = big[10:74]                                                   # offset into a shared storage
sd['features.2.weight'] = torch.randn(64, 64, 3, 3, generator=g)
sd['features.2.bias'] = torch.randn(64, generator=g, dtype=torch.float64)
sd['features.5.weight'] = torch.randn(128, 64, 3, 3, generator=g).half()
sd['features.5.bias'] = torch.nn.Parameter(torch.randn(128, generator=g))
sd['classifier.0.bias'] = torch.randn(5, generator=g)
torch.save(sd, out + '/torch-zip.pth', _use_new_zipfile_serialization=True)
torch.save(sd, out + '/torch-legacy.pth', _use_new_zipfile_serialization=False)
exp = []
for k in ['features.0', 'features.2', 'features.5']:
    exp.append(sd[k + '.weight'].float().permute(2, 3, 1, 0).contiguous().numpy().ravel())   # OIHW -> HWIO
    exp.append(sd[k + '.bias'].detach().float().numpy().ravel())
np.concatenate(exp).astype('<f4').tofile(out + '/torch-expected.f32')
# And the other way round: torch reads files of our test writer.
for f in ('ours-zip.pth', 'ours-legacy.pth', 'ours-py2.pth'):
    o = torch.load(out + '/' + f, map_location='cpu')
    w = o['features.0.weight']
    print(f, tuple(w.shape), w.is_contiguous(), float(w[5, 1, 2, 1]), float(o['features.0.bias'][3]), o['features.5.bias'].dtype)
`;

test('cross-check with torch.save/torch.load (zip and legacy)', { skip: torchMissing }, async () => {
  const sub = fs.mkdtempSync(path.join(dir, 'torch-'));
  const { tensors, storages } = vggStateDict();
  for (const format of FORMATS)
    fs.writeFileSync(path.join(sub, `ours-${format}.pth`), torchSaveStateDict(tensors, storages, format));
  fs.writeFileSync(path.join(sub, 'ours-py2.pth'), py2StateDictFile());
  const r = spawnSync(PYTHON, ['-c', TORCH_SCRIPT, sub], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  // torch sees our writer's files as we meant them (the OIHW view, the offset bias, the float64 bias).
  for (const format of [...FORMATS, 'py2']) {
    assert.ok(
      r.stdout.includes(
        `ours-${format}.pth (64, 3, 3, 3) False ${fv(5, 1, 2, 1, 0)} ${bv(3, 0)} torch.float64`,
      ),
      r.stdout,
    );
  }
  const b = fs.readFileSync(path.join(sub, 'torch-expected.f32'));
  const expected = new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  for (const format of FORMATS) {
    const w = await loadTorchVgg19(path.join(sub, `torch-${format}.pth`), { until: 'conv2_1' });
    const got = testConvsFlat(w.weights);
    assert.equal(got.length, expected.length);
    assert.deepEqual(got, expected, format);
  }
});
