import fs from 'node:fs';
import path from 'node:path';
import { initEngine } from '../../engine/backend.js';
import { VisageError } from '../../errors.js';
import type { GraphFeatureNet } from '../feature-net.js';
import { vgg19FeatureNet, type Vgg19Preprocessing } from '../nets/vgg19.js';
import { checkVgg19Weights } from './check.js';
import { hdf5SignatureOffset, loadKerasVgg19 } from './keras-h5.js';
import { readWeightHead, statWeightPath } from './read-weight-file.js';
import { loadTfjsVgg19 } from './tfjs-json.js';
import type { Vgg19WeightFormat, Vgg19Weights } from './types.js';
import { vgg19ConvsUntil } from './until.js';

export { checkVgg19Weights, VGG19_CONV_SHAPES } from './check.js';
export { loadKerasVgg19 } from './keras-h5.js';
export { loadTfjsVgg19, saveVgg19Weights } from './tfjs-json.js';
export type { Vgg19WeightFormat, Vgg19Weights } from './types.js';
export { vgg19ConvsUntil, vgg19UntilFor, VGG19_NODES } from './until.js';

const KNOWN =
  'Keras .h5 (vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5), MatConvNet .mat ' +
  '(imagenet-vgg-verydeep-19.mat), PyTorch .pth (vgg19-dcbb9e9d.pth), TensorFlow.js or Visage model.json';

/**
 * Which VGG-19 weight format `file` holds, from its first bytes (never its name): HDF5 signature (at 0 or
 * after a 512·2ⁿ-byte user block) → Keras; "MATLAB 5.0 MAT-file" → MatConvNet; a zip (`PK\3\4`) or a
 * pickle (`\x80` + protocol) → PyTorch; JSON → TensorFlow.js/Visage model.json; a folder → its model.json.
 * Errors: E_FILE_NOT_FOUND, E_EMPTY_FILE, E_UNSUPPORTED_FORMAT (naming the formats we read).
 */
export async function detectWeightFormat(file: string): Promise<Vgg19WeightFormat> {
  const st = statWeightPath(file);
  if (st.isDirectory()) {
    if (fs.existsSync(path.join(file, 'model.json'))) return 'tfjs';
    throw new VisageError(
      'E_UNSUPPORTED_FORMAT',
      `${file} is a folder without a model.json; Visage reads ${KNOWN}`,
      {
        path: file,
      },
    );
  }
  const head = readWeightHead(file, st.size);
  // MATLAB v7.3 files are HDF5 behind a 512-byte header: look at the MATLAB text first.
  if (head.subarray(0, 6).toString('latin1') === 'MATLAB') return 'matconvnet';
  if (hdf5SignatureOffset(head) >= 0) return 'keras-h5';
  if (head.length >= 4 && head.readUInt32BE(0) === 0x504b0304) return 'pytorch';
  if (head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'pytorch';
  const text = head
    .subarray(0, 64)
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart();
  if (text.startsWith('{')) return 'tfjs';
  const looks = sniff(head);
  throw new VisageError(
    'E_UNSUPPORTED_FORMAT',
    `${file}${looks ? ` looks like ${looks}, not` : ' is not'} a VGG-19 weights file Visage reads: ${KNOWN}`,
    { path: file },
  );
}

function sniff(head: Buffer): string | undefined {
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'a PNG image';
  if (head[0] === 0xff && head[1] === 0xd8) return 'a JPEG image';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'a gzip archive (unpack it first)';
  if (head.subarray(0, 4).toString('latin1') === '\x93NUM') return 'a NumPy .npy array';
  return undefined;
}

export interface LoadVgg19Options {
  /** Last VGG-19 layer needed (a conv or pool name, default conv5_1): later weights are not read. */
  until?: string;
}

/**
 * VGG-19 weights from a public file in any format detectWeightFormat knows, in our layout, checked to be
 * VGG-19's up to `until` (E_WRONG_NETWORK otherwise; E_BAD_WEIGHTS for a truncated or corrupt file).
 */
export async function loadVgg19Weights(file: string, opts: LoadVgg19Options = {}): Promise<Vgg19Weights> {
  const convs = vgg19ConvsUntil(opts.until);
  const format = await detectWeightFormat(file);
  const until = opts.until;
  let w: Vgg19Weights;
  if (format === 'keras-h5') w = await loadKerasVgg19(file, { until });
  else if (format === 'tfjs') w = await loadTfjsVgg19(file, { until });
  else if (format === 'matconvnet')
    w = await (await import('./matconvnet.js')).loadMatConvNetVgg19(file, { until });
  else w = await (await import('./pytorch.js')).loadTorchVgg19(file, { until });
  checkVgg19Weights(w.weights, file, convs[convs.length - 1]);
  return w;
}

export interface Vgg19FromFileOptions extends LoadVgg19Options {
  /** Gatys et al. use average pooling; default 'max' (the network as trained). */
  pooling?: 'max' | 'avg';
  /** Override the preprocessing implied by the file (e.g. a tfjs file converted from PyTorch). */
  preprocessing?: Vgg19Preprocessing;
}

/**
 * A VGG-19 FeatureNet with weights from `file`, built up to `until` (default conv5_1). It is named after
 * the file and format (e.g. "vgg19 (keras-h5: vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5)") so
 * results say which weights made them. Default layers are Gatys': content conv4_2, style conv1_1…conv5_1
 * (λ = 0.2), restricted to those up to `until`.
 */
export async function vgg19FromFile(file: string, opts: Vgg19FromFileOptions = {}): Promise<GraphFeatureNet> {
  const until = opts.until ?? 'conv5_1';
  const w = await loadVgg19Weights(file, { until });
  // Non-fatal findings (e.g. an unusual mean pixel in a .mat) go where Node sends warnings: stderr.
  for (const m of w.warnings ?? []) process.emitWarning(m, { code: 'VISAGE_WEIGHTS' });
  await initEngine();
  return vgg19FeatureNet(w.weights, {
    until,
    pooling: opts.pooling,
    preprocessing: opts.preprocessing ?? w.preprocessing,
    name: vgg19NetName(w.format, file),
  });
}

/** Every FeatureNet made from a weights file is called "vgg19 (…)": stylize() picks VGG-19 tuning by it. */
export function vgg19NetName(format: Vgg19WeightFormat, file: string): string {
  return `vgg19 (${format}: ${path.basename(path.resolve(file))})`;
}
