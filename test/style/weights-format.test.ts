import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImage } from '../../src/image/decode.js';
import { releaseDefaultStyleNetwork, stylize } from '../../src/style/index.js';
import { detectWeightFormat, loadVgg19Weights, vgg19UntilFor } from '../../src/style/weights/index.js';
import { runVisage } from '../helpers/cli.js';
import { dataDir } from '../helpers/data.js';
import { tinyNet } from './tiny-net.js';
import {
  rejectsWithCode,
  smallVgg19Weights,
  weightsTestDir,
  writeKerasH5,
} from '../helpers/vgg19-weights.js';

const dir = weightsTestDir();

const put = (name: string, bytes: Buffer | string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
};

test('detectWeightFormat reads the magic bytes, not the file name', async () => {
  const h5 = path.join(dir, 'weights.bin');
  await writeKerasH5(h5, smallVgg19Weights('conv1_1'));
  assert.equal(await detectWeightFormat(h5), 'keras-h5');
  // HDF5 behind a 512-byte user block.
  assert.equal(
    await detectWeightFormat(put('ub.h5', Buffer.concat([Buffer.alloc(512), fs.readFileSync(h5)]))),
    'keras-h5',
  );
  const mat = Buffer.alloc(256, 0x20);
  mat.write('MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2015');
  assert.equal(await detectWeightFormat(put('vgg.dat', mat)), 'matconvnet');
  assert.equal(
    await detectWeightFormat(put('a.pth', Buffer.from('PK\x03\x04rest of a zip', 'latin1'))),
    'pytorch',
  );
  assert.equal(
    await detectWeightFormat(put('b.t7', Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc]))),
    'pytorch',
  );
  assert.equal(await detectWeightFormat(put('m.txt', '\uFEFF  \n{"weightsManifest": []}')), 'tfjs');
  const folder = path.join(dir, 'tfjs-folder');
  fs.mkdirSync(folder);
  fs.writeFileSync(path.join(folder, 'model.json'), '{}');
  assert.equal(await detectWeightFormat(folder), 'tfjs');
});

test('unknown formats → E_UNSUPPORTED_FORMAT naming the known ones; missing → E_FILE_NOT_FOUND; empty → E_EMPTY_FILE', async () => {
  const png = path.join(dir, 'image.h5');
  await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } })
    .png()
    .toFile(png);
  await rejectsWithCode(
    loadVgg19Weights(png),
    'E_UNSUPPORTED_FORMAT',
    /looks like a PNG image.*Keras \.h5.*MatConvNet.*PyTorch/,
  );
  await rejectsWithCode(detectWeightFormat(dataDir('images', 'dog.jpg')), 'E_UNSUPPORTED_FORMAT', /JPEG/);
  let seed = 12345;
  const random = Buffer.from(
    Array.from({ length: 4096 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24),
  );
  await rejectsWithCode(
    loadVgg19Weights(put('random.pth', random)),
    'E_UNSUPPORTED_FORMAT',
    /is not a VGG-19 weights file/,
  );
  const empty = path.join(dir, 'empty-folder');
  fs.mkdirSync(empty);
  await rejectsWithCode(detectWeightFormat(empty), 'E_UNSUPPORTED_FORMAT', /without a model\.json/);
  await rejectsWithCode(loadVgg19Weights(path.join(dir, 'nope.h5')), 'E_FILE_NOT_FOUND');
  await rejectsWithCode(loadVgg19Weights(put('zero.pth', '')), 'E_EMPTY_FILE');
});

test('the layers a run taps decide how much of the file is needed', () => {
  assert.equal(vgg19UntilFor(['conv4_2', 'conv1_1', 'conv5_1']), 'conv5_1');
  assert.equal(vgg19UntilFor(['conv1_2', 'conv1_1']), 'conv1_2');
  assert.equal(vgg19UntilFor(['pool2', 'conv2_1']), 'pool2');
  assert.equal(vgg19UntilFor(['mixed3']), 'conv5_1'); // not VGG-19: left to the network to refuse
});

test('stylize() refuses a network and a weights file together, and pooling without VGG-19 weights', async () => {
  const img = { width: 32, height: 32, data: new Uint8Array(32 * 32 * 3).fill(128) };
  const net = tinyNet();
  await rejectsWithCode(stylize(img, [img], { network: net, weights: 'x.h5' }), 'E_BAD_OPTION', /not both/);
  await rejectsWithCode(stylize(img, [img], { pooling: 'avg' }), 'E_BAD_OPTION', /pooling/);
  net.dispose();
});

test('CLI: visage style --weights (early layers of a small .h5), convert-weights, then --weights on the result', async () => {
  const h5 = path.join(dir, 'vgg19-small.h5');
  const content = dataDir('images', 'dog.jpg');
  const style = dataDir('images', 'scream.jpg');
  await writeKerasH5(h5, smallVgg19Weights('conv2_1', 9));
  {
    const out = path.join(dir, 'out.png');
    const common = [
      '--style-layers',
      'conv1_1:1',
      '--content-layer',
      'conv1_2',
      '--size',
      '32',
      '--iterations',
      '2',
    ];
    const r = runVisage(['style', content, style, '--weights', h5, ...common, '-o', out, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.equal(res.options.network, 'vgg19 (keras-h5: vgg19-small.h5)');
    // VGG-19 defaults (VGG19_STYLE_DEFAULTS), the layers from the command line.
    assert.equal(res.options.contentWeight, 10);
    assert.equal(res.options.parametrization, 'pixels');
    assert.deepEqual(res.options.styleLayers, { conv1_1: 1 });
    assert.equal(res.stats.iterations, 2);
    assert.ok(fs.statSync(out).size > 0);

    const conv = path.join(dir, 'converted');
    const c = runVisage(['style', 'convert-weights', h5, conv, '--until', 'conv2_1', '--json']);
    assert.equal(c.status, 0, c.stderr);
    assert.deepEqual(JSON.parse(c.stdout).layers, ['conv1_1', 'conv1_2', 'conv2_1']);

    // In-process (a third CLI start would cost seconds): the converted folder, with average pooling.
    const [ci, si] = await Promise.all([decodeImage(content), decodeImage(style)]);
    const opts = { styleLayers: { conv1_1: 1 }, contentLayer: 'conv1_2', size: 32, iterations: 1 };
    const r2 = await stylize(ci, [si], { ...opts, weights: conv, pooling: 'avg' });
    assert.equal(r2.options.network, 'vgg19 (visage: converted)');
    // The default layers reach conv5_1, which this file lacks: a clear error before any work.
    await rejectsWithCode(
      stylize(ci, [si], { size: 32, iterations: 1, weights: h5 }),
      'E_WRONG_NETWORK',
      /conv2_2/,
    );
    releaseDefaultStyleNetwork();
  }
});
