import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { initWeights, type NetworkDef } from '../../src/engine/graph/index.js';
import { createSession } from '../../src/engine/onnx/runtime.js';
import { buildTrainingGraphs, gradName } from '../../src/engine/onnx/training-graph.js';
import { ParamLayout } from '../../src/training/params.js';
import { OnnxShardTrainer } from '../../src/training/onnx-shard.js';
import { ShardTrainer, type ShardSpec } from '../../src/training/shard.js';
import { resnetEmbedding } from '../../src/training/nets/resnet.js';
import { smallCnn } from '../../src/training/nets/small-cnn.js';
import { mulberry32 } from '../../src/util/random.js';

// Every gradient rule of the onnxruntime trainer against tfjs' tape on the same network, weights, images
// and upstream gradient: small CNNs (both heads), a ResNet-18 shape (stride-2 convs, projection shortcuts,
// residual adds, 3×3/2 max-pool with padding) and a frozen prefix.

before(async () => {
  await initEngine('cpu'); // the pure-JS backend: float32 without XNNPACK's reassociation, a tighter reference
});

function random(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** A gradient vector (trainable prefix) padded with zeros to a whole parameter vector. */
function concatZeros(g: Float32Array, total: number): Float32Array {
  const out = new Float32Array(total);
  out.set(g);
  return out;
}

const rel = (a: Float32Array, b: Float32Array) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
};

async function compare(
  def: NetworkDef,
  input: [number, number, number],
  n: number,
  frozen: string[] = [],
  convKernels: 'hwio' | 'oihw' = 'hwio',
) {
  const layout = ParamLayout.of(def, input, frozen);
  // Every frozen node names real weights, and they are all constants (else the frozen case proves nothing).
  for (const node of frozen) {
    const own = layout.entries.filter((e) => e.name.startsWith(`${node}/`));
    assert.ok(own.length > 0, `frozen node ${node} has no weights in this network`);
    for (const e of own) assert.equal(e.trainable, false, `${e.name} of frozen node ${node} is trainable`);
  }
  const weights = initWeights(def, input, 3);
  const params = layout.pack(weights);
  // Moving statistics away from 0/1 so the inference graph's use of them is checked.
  for (const e of layout.entries)
    if (e.name.endsWith('/mean') || e.name.endsWith('/variance'))
      params.set(
        random(e.size, e.offset).map((v) => (e.name.endsWith('/mean') ? 0.1 * v : 1 + 0.5 * v)),
        e.offset,
      );
  const spec: ShardSpec = { def, input, entries: layout.entries };
  // The onnxruntime replica may keep conv kernels in OIHW order (ParamLayout convKernels): same weights.
  const ortLayout = ParamLayout.of(def, input, frozen, { convKernels });
  const ortParams = ortLayout.pack(layout.unpack(params));
  // The backward graph returns a gradient for exactly the trainable parameters: none for frozen weights
  // or moving statistics.
  const backward = await createSession(buildTrainingGraphs(def, input, ortLayout.entries, n).backward, 1);
  const outputs = new Set(backward.outputNames);
  await backward.release();
  for (const e of ortLayout.entries)
    assert.equal(
      outputs.has(gradName(e.name)),
      e.trainable,
      `${e.name} (${e.trainable ? 'trainable' : 'frozen or a moving statistic'}): gradient output ${outputs.has(gradName(e.name)) ? 'present' : 'missing'}`,
    );
  const images = random(n * input[0] * input[1] * input[2], 7);
  const tf = new ShardTrainer(spec, params);
  const ort = await OnnxShardTrainer.create({ def, input, entries: ortLayout.entries }, 2);
  tf.load(params, 0);
  ort.load(ortParams, 0);
  const dim = tf.dim;
  const upstream = random(n * dim, 11);
  let embTf = new Float32Array();
  let embOrt = new Float32Array();
  const gTf = new Float32Array(layout.trainableSize);
  const gStored = new Float32Array(layout.trainableSize);
  const rTf = tf.step(images, n, (e) => ((embTf = e.slice()), upstream), gTf);
  const rOrt = await ort.step(images, n, (e) => ((embOrt = e.slice()), upstream), gStored);
  // Gradients in the canonical layout: unpack() converts OIHW entries back (moving statistics left at 0).
  const gOrt = layout.pack(ortLayout.unpack(concatZeros(gStored, ortLayout.totalSize)));
  assert.ok(rel(embOrt, embTf) < 1e-5, `embeddings differ: ${rel(embOrt, embTf)}`);
  assert.ok(
    rel(rOrt.bnStats, rTf.bnStats) < 1e-5,
    `batch statistics differ: ${rel(rOrt.bnStats, rTf.bnStats)}`,
  );
  for (const e of layout.entries) {
    if (!e.trainable) continue;
    const a = gOrt.subarray(e.offset, e.offset + e.size);
    const b = gTf.subarray(e.offset, e.offset + e.size);
    assert.ok(rel(a, b) < 1e-4, `${e.name}: gradient differs by ${rel(a, b)} (relative)`);
  }
  assert.ok(gTf.some((v) => v !== 0));
  const infTf = tf.embed(images, n);
  const infOrt = await ort.embed(images, n);
  assert.ok(rel(infOrt, infTf) < 1e-5, `inference embeddings differ: ${rel(infOrt, infTf)}`);
  tf.dispose();
  await ort.dispose();
}

/** A ResNet-18 shape at 33 px: 7×7/2 stem, padded 3×3/2 max-pool, stride-2 stages, small maps. */
const resnet33 = () =>
  resnetEmbedding({ depth: 18, inputSize: 33, channels: 3, width: 4, embeddingDim: 8, stem: 'imagenet' });

test('small CNN, flatten head: onnxruntime gradients equal the tfjs tape', async () => {
  await compare(
    smallCnn({ inputSize: 24, channels: 1, width: 4, depth: 3, embeddingDim: 8, head: 'flatten' }),
    [24, 24, 1],
    6,
  );
});

test('small CNN, average head, colour, odd size (pool drops a row)', async () => {
  await compare(
    smallCnn({ inputSize: 19, channels: 3, width: 4, depth: 3, embeddingDim: 8, head: 'avg' }),
    [19, 19, 3],
    5,
  );
});

test('ResNet-18 (ImageNet stem: 7×7/2 conv, padded 3×3/2 max-pool, projection shortcuts)', async () => {
  await compare(resnet33(), [33, 33, 3], 4);
});

test('frozen first stage: no gradient output for it, the rest still exact', async () => {
  const def = smallCnn({ inputSize: 16, channels: 1, width: 4, depth: 2, embeddingDim: 8, head: 'flatten' });
  await compare(def, [16, 16, 1], 4, ['stage1.1.conv', 'stage1.1.bn']);
});

test('conv kernels stored OIHW (the training step layout): same gradients', async () => {
  const cnn = smallCnn({ inputSize: 20, channels: 3, width: 4, depth: 3, embeddingDim: 8, head: 'flatten' });
  await compare(cnn, [20, 20, 3], 4, [], 'oihw');
  await compare(resnet33(), [33, 33, 3], 3, ['conv1', 'bn1'], 'oihw');
});

test("dlib's ops: affine, strided valid conv, zero pad, average pools, channel padding, add + relu", async () => {
  const def: NetworkDef = {
    name: 'dlib-shaped',
    outputs: ['embedding'],
    nodes: [
      { op: 'input', name: 'image', shape: [14, 14, 2] },
      { op: 'affine', name: 'norm', input: 'image' },
      { op: 'conv2d', name: 'c1', input: 'norm', filters: 4, kernel: 3, strides: 2, padding: 'valid' },
      { op: 'activation', name: 'r1', input: 'c1', fn: 'relu' },
      {
        op: 'pad',
        name: 'p1',
        input: 'r1',
        pads: [
          [0, 1],
          [0, 1],
        ],
      },
      { op: 'avgPool', name: 'ap', input: 'norm', size: 2, strides: 2, padding: 'valid' },
      { op: 'padChannels', name: 'pc', input: 'ap', channels: 4 },
      { op: 'add', name: 'sum', inputs: ['p1', 'pc'], activation: 'relu' },
      {
        op: 'avgPool',
        name: 'ap2',
        input: 'sum',
        size: 3,
        strides: 2,
        padding: [
          [1, 1],
          [1, 1],
        ],
      },
      { op: 'affine', name: 'a2', input: 'ap2' },
      { op: 'globalAvgPool', name: 'gap', input: 'a2' },
      { op: 'dense', name: 'fc', input: 'gap', units: 8 },
      { op: 'l2normalize', name: 'embedding', input: 'fc' },
    ],
  };
  await compare(def, [14, 14, 2], 3);
});

test('tanh and sigmoid activations', async () => {
  const base = smallCnn({ inputSize: 12, channels: 1, width: 4, depth: 2, embeddingDim: 8, head: 'avg' });
  let k = 0;
  const def: NetworkDef = {
    ...base,
    nodes: base.nodes.map((n) =>
      n.op === 'activation' ? { ...n, fn: (k++ % 2 === 0 ? 'tanh' : 'sigmoid') as 'tanh' | 'sigmoid' } : n,
    ),
  };
  await compare(def, [12, 12, 1], 4);
});
