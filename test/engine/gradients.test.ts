/**
 * Gradients on the wasm backend, which run through our kernels (src/engine/kernels/): each analytic gradient
 * is checked against central finite differences of the wasm forward pass and against tfjs's cpu backend.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import { fastGradientKernels, registerFastGradients } from '../../src/engine/kernels/index.js';
import { gridLimits } from '../../src/engine/kernels/phase-grid.js';

type Fn = (...xs: tf.Tensor[]) => tf.Tensor;

/** Deterministic pseudo-random values (so a failure reproduces). */
function randoms(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

function onBackend<T>(name: string, f: () => T): T {
  const previous = tf.getBackend();
  tf.setBackend(name);
  try {
    return f();
  } finally {
    tf.setBackend(previous);
  }
}

/** max |a − b| / max |b| */
function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / (scale || 1);
}

interface CheckOptions {
  /** Compare with the cpu backend's gradient (off where tfjs's own cpu gradient is not the true one). */
  cpu?: boolean;
  /** Finite-difference step (float32: large enough to rise above rounding, small enough for curvature). */
  h?: number;
  /** Coordinates probed per input. */
  probes?: number;
}

/**
 * loss = Σ f(inputs) · R for fixed random R. Checks tf.grads on wasm against finite differences on wasm and
 * (optionally) against tf.grads on cpu; returns the wasm gradients' values.
 */
function checkGradients(name: string, f: Fn, shapes: number[][], options: CheckOptions = {}): void {
  const { cpu = true, h = 1e-2, probes = 12 } = options;
  const values = shapes.map((s, i) => randoms(tf.util.sizeFromShape(s), 7 + i * 101));
  const make = (): tf.Tensor[] => values.map((v, i) => tf.tensor(v, shapes[i]));
  const outShape = tf.tidy(() => f(...make()).shape);
  const weights = randoms(tf.util.sizeFromShape(outShape), 4242);
  const lossOf = (...xs: tf.Tensor[]): tf.Scalar => tf.sum(tf.mul(f(...xs), tf.tensor(weights, outShape)));
  const gradsOn = (backend: string): Float32Array[] =>
    onBackend(backend, () =>
      tf.tidy(() =>
        tf
          .grads(lossOf)(make())
          .map((g) => g.dataSync() as Float32Array),
      ),
    );

  const wasm = gradsOn('wasm');
  if (cpu) {
    const reference = gradsOn('cpu');
    wasm.forEach((g, i) => {
      const err = relError(g, reference[i]);
      assert.ok(err < 1e-4, `${name}: input ${i} differs from the cpu backend (rel ${err.toExponential(2)})`);
    });
  }
  // Central differences in float32 on a few coordinates of each input.
  if (probes === 0) return;
  values.forEach((v, i) => {
    const picks = randoms(probes, 99 + i).map((r) => Math.floor(((r + 1) / 2) * v.length));
    const analytic: number[] = [];
    const numeric: number[] = [];
    for (const k of picks) {
      const at = (delta: number): number =>
        tf.tidy(() => {
          const xs = make();
          const shifted = values[i].slice();
          shifted[k] += delta;
          xs[i] = tf.tensor(shifted, shapes[i]);
          return lossOf(...xs).dataSync()[0];
        });
      numeric.push((at(h) - at(-h)) / (2 * h));
      analytic.push(wasm[i][k]);
    }
    const scale = Math.max(...Array.from(wasm[i], Math.abs), 1e-3);
    const worst = Math.max(...analytic.map((a, j) => Math.abs(a - numeric[j])));
    assert.ok(
      worst / scale < 1e-2,
      `${name}: input ${i} disagrees with finite differences (rel ${(worst / scale).toExponential(2)})`,
    );
  });
}

/** Run a kernel directly (for attributes tfjs's own gradients never pass, e.g. dilations). */
function runKernel(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown>,
): tf.Tensor {
  return tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
}

before(async () => {
  await initEngine('wasm');
});

test('our kernels are the ones registered on wasm (idempotently), and cpu keeps its own', () => {
  registerFastGradients();
  for (const config of fastGradientKernels) {
    assert.equal(tf.getKernel(config.kernelName, 'wasm')?.kernelFunc, config.kernelFunc, config.kernelName);
    assert.notEqual(tf.getKernel(config.kernelName, 'cpu')?.kernelFunc, config.kernelFunc, config.kernelName);
  }
  const names = fastGradientKernels.map((k) => k.kernelName);
  for (const name of ['Conv2DBackpropInput', 'Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']) {
    assert.ok(names.includes(name), `${name} is provided`);
  }
});

describe('conv2d', () => {
  const cases: Array<[string, number[], number[], number, 'same' | 'valid' | number[][]]> = [
    ['3x3 stride 1 same, odd 7x9, batch 2', [2, 7, 9, 3], [3, 3, 3, 4], 1, 'same'],
    ['3x3 stride 2 same', [2, 7, 9, 3], [3, 3, 3, 4], 2, 'same'],
    ['3x3 stride 1 valid', [2, 7, 9, 3], [3, 3, 3, 4], 1, 'valid'],
    ['3x3 stride 2 valid', [2, 7, 9, 3], [3, 3, 3, 4], 2, 'valid'],
    [
      '3x3 stride 2 explicit pads',
      [2, 7, 9, 3],
      [3, 3, 3, 4],
      2,
      [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0],
      ],
    ],
    [
      '3x3 stride 1 explicit pads',
      [1, 6, 5, 2],
      [3, 3, 2, 3],
      1,
      [
        [0, 0],
        [3, 0],
        [2, 3],
        [0, 0],
      ],
    ],
    ['1x1 stride 2 same', [2, 8, 7, 3], [1, 1, 3, 5], 2, 'same'],
    ['7x7 stride 2 same', [1, 11, 10, 2], [7, 7, 2, 3], 2, 'same'],
    ['7x7 stride 1 valid', [1, 11, 10, 2], [7, 7, 2, 3], 1, 'valid'],
  ];
  for (const [name, xShape, wShape, stride, pad] of cases) {
    test(name, () => {
      checkGradients(
        `conv2d ${name}`,
        (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad as 'same'),
        [xShape, wShape],
      );
    });
  }

  test('dilation 2 (kernels called directly: tfjs refuses dilated conv gradients)', () => {
    const x = tf.tensor(randoms(2 * 9 * 8 * 3, 1), [2, 9, 8, 3]) as tf.Tensor4D;
    const w = tf.tensor(randoms(3 * 3 * 3 * 4, 2), [3, 3, 3, 4]) as tf.Tensor4D;
    const y = tf.conv2d(x, w, 1, 'same', 'NHWC', 2);
    const dy = tf.tensor(randoms(y.size, 3), y.shape);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 2 };
    const dx = runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape });
    const dw = runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape });
    const [refDx, refDw] = dilatedReference((a, f) => tf.conv2d(a, f, 1, 'same'), x, w, dy);
    assert.ok(relError(dx.dataSync(), refDx) < 1e-4, 'dx');
    assert.ok(relError(dw.dataSync(), refDw) < 1e-4, 'dw');
    // And finite differences of the wasm forward pass, through the same kernels.
    checkDirect(
      'conv2d dilation 2',
      (xx, ww) => tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'same', 'NHWC', 2),
      [x, w],
      dy,
      [dx, dw],
    );
  });
});

/**
 * Gradients of Σ conv(x, w dilated by 2)·dy on the cpu backend, computed through an undilated convolution
 * with the equivalent filter (zeros between the taps), whose gradients tfjs supports.
 */
function dilatedReference(
  conv: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor,
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  dy: tf.Tensor,
): [Float32Array, Float32Array] {
  return onBackend('cpu', () =>
    tf.tidy(() => {
      const [kh, kw, a, b] = w.shape;
      const taps = w.arraySync();
      const zero = taps[0][0].map((row) => row.map(() => 0));
      const big = tf.tensor4d(
        Array.from({ length: 2 * kh - 1 }, (_, i) =>
          Array.from({ length: 2 * kw - 1 }, (_, j) =>
            i % 2 === 0 && j % 2 === 0 ? taps[i / 2][j / 2] : zero,
          ),
        ),
      );
      const loss = (xx: tf.Tensor, ww: tf.Tensor): tf.Scalar =>
        tf.sum(tf.mul(conv(xx as tf.Tensor4D, ww as tf.Tensor4D), dy));
      const [gx, gBig] = tf.grads(loss)([x, big]);
      const gw = tf.stridedSlice(gBig, [0, 0, 0, 0], [2 * kh - 1, 2 * kw - 1, a, b], [2, 2, 1, 1]);
      return [gx.dataSync() as Float32Array, gw.dataSync() as Float32Array];
    }),
  );
}

/** Finite differences of Σ f(inputs)·dy against given gradients. */
function checkDirect(name: string, f: Fn, inputs: tf.Tensor[], dy: tf.Tensor, grads: tf.Tensor[]): void {
  const h = 1e-2;
  inputs.forEach((input, i) => {
    const v = input.dataSync() as Float32Array;
    const g = grads[i].dataSync();
    const scale = Math.max(...Array.from(g, Math.abs));
    for (const r of randoms(10, 5 + i)) {
      const k = Math.floor(((r + 1) / 2) * v.length);
      const at = (delta: number): number =>
        tf.tidy(() => {
          const shifted = v.slice();
          shifted[k] += delta;
          const xs = inputs.map((t, j) => (j === i ? tf.tensor(shifted, t.shape) : t));
          return tf.sum(tf.mul(f(...xs), dy)).dataSync()[0];
        });
      const numeric = (at(h) - at(-h)) / (2 * h);
      assert.ok(
        Math.abs(numeric - g[k]) / scale < 1e-2,
        `${name}: input ${i} at ${k}: ${g[k]} vs ${numeric}`,
      );
    }
  });
}

describe('depthwise conv2d', () => {
  const cases: Array<[string, number[], number[], number, 'same' | 'valid']> = [
    ['3x3 stride 1 same, multiplier 1', [2, 7, 9, 3], [3, 3, 3, 1], 1, 'same'],
    ['3x3 stride 2 same, multiplier 1', [2, 7, 9, 3], [3, 3, 3, 1], 2, 'same'],
    ['3x3 stride 1 valid, multiplier 2', [2, 7, 9, 3], [3, 3, 3, 2], 1, 'valid'],
    ['3x3 stride 2 valid, multiplier 2', [2, 7, 9, 3], [3, 3, 3, 2], 2, 'valid'],
    ['5x5 stride 2 same, multiplier 2', [1, 11, 10, 2], [5, 5, 2, 2], 2, 'same'],
    ['1x1 stride 1 same', [2, 5, 6, 4], [1, 1, 4, 1], 1, 'same'],
  ];
  for (const [name, xShape, wShape, stride, pad] of cases) {
    test(name, () => {
      checkGradients(
        `depthwise ${name}`,
        (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad),
        [xShape, wShape],
      );
    });
  }

  test('dilation 2, multiplier 2 (kernels called directly)', () => {
    const x = tf.tensor(randoms(2 * 9 * 8 * 3, 11), [2, 9, 8, 3]) as tf.Tensor4D;
    const w = tf.tensor(randoms(3 * 3 * 3 * 2, 12), [3, 3, 3, 2]) as tf.Tensor4D;
    const y = tf.depthwiseConv2d(x, w, 1, 'same', 'NHWC', 2);
    const dy = tf.tensor(randoms(y.size, 13), y.shape);
    const attrs = { strides: 1, pad: 'same', dilations: 2 };
    const dx = runKernel(
      'DepthwiseConv2dNativeBackpropInput',
      { dy, filter: w },
      { ...attrs, inputShape: x.shape },
    );
    const dw = runKernel(
      'DepthwiseConv2dNativeBackpropFilter',
      { x, dy },
      { ...attrs, filterShape: w.shape },
    );
    // (The cpu backend's own depthwise backprop kernels ignore dilations: tfjs never passes any.)
    const [refDx, refDw] = dilatedReference((a, f) => tf.depthwiseConv2d(a, f, 1, 'same'), x, w, dy);
    assert.ok(relError(dx.dataSync(), refDx) < 1e-4, 'dx');
    assert.ok(relError(dw.dataSync(), refDw) < 1e-4, 'dw');
    checkDirect(
      'depthwise dilation 2',
      (xx, ww) => tf.depthwiseConv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'same', 'NHWC', 2),
      [x, w],
      dy,
      [dx, dw],
    );
  });
});

test('filter gradients of large batches, split into batch groups, are the same', () => {
  const saved = gridLimits.groupBytes;
  gridLimits.groupBytes = 2 * 7 * 9 * 3 * 4; // two images per group: groups of 2, 2, 1
  try {
    checkGradients(
      'conv2d in batch groups',
      (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'),
      [
        [5, 7, 9, 3],
        [3, 3, 3, 4],
      ],
    );
    checkGradients(
      'depthwise in batch groups',
      (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid'),
      [
        [5, 7, 9, 3],
        [3, 3, 3, 2],
      ],
    );
  } finally {
    gridLimits.groupBytes = saved;
  }
});

describe('pooling', () => {
  test('maxPool 3x3 stride 2 same', () => {
    checkGradients('maxPool', (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same'), [[2, 9, 7, 5]], { h: 1e-3 });
  });
  test('maxPool 2x2 stride 2 valid', () => {
    checkGradients('maxPool', (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'), [[2, 8, 8, 3]], {
      h: 1e-3,
    });
  });
  test('maxPool ties send the gradient to the first maximum, as on cpu', () => {
    // A ReLU output: whole windows of zeros.
    checkGradients(
      'maxPool after relu',
      (x) => tf.maxPool(tf.relu(tf.sub(x as tf.Tensor4D, 0.6)), 2, 2, 'valid'),
      [[1, 6, 6, 4]],
      {
        probes: 0,
      },
    );
  });
  test('avgPool 2x2 stride 2 valid', () => {
    checkGradients('avgPool', (x) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid'), [[2, 8, 6, 3]]);
  });
  test('avgPool 3x3 stride 2 same: the exact gradient at padded borders', () => {
    // tfjs's cpu AvgPoolGrad divides by the full window there, unlike its own forward pass: only finite
    // differences are the reference.
    checkGradients('avgPool same', (x) => tf.avgPool(x as tf.Tensor4D, 3, 2, 'same'), [[2, 7, 9, 3]], {
      cpu: false,
    });
  });
});

describe('other layers', () => {
  const c = 4;
  // Kinked activations get a smaller finite-difference step.
  const cases: Array<[string, Fn, number[][], CheckOptions?]> = [
    ['relu', (x) => tf.relu(x), [[2, 5, 5, c]], { h: 1e-3 }],
    ['relu6', (x) => tf.relu6(tf.mul(x, 8)), [[2, 5, 5, c]], { h: 1e-3 }],
    ['leakyRelu', (x) => tf.leakyRelu(x, 0.1), [[2, 5, 5, c]], { h: 1e-3 }],
    ['prelu', (x, a) => tf.prelu(x, a), [[2, 5, 5, c], [c]], { h: 1e-3 }],
    ['elu', (x) => tf.elu(x), [[2, 5, 5, c]]],
    ['sigmoid', (x) => tf.sigmoid(x), [[2, 5, 5, c]]],
    ['tanh', (x) => tf.tanh(x), [[2, 5, 5, c]]],
    [
      'matMul',
      (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
      [
        [6, 5],
        [5, 3],
      ],
    ],
    [
      'batched matMul, transposed',
      (a, b) => tf.matMul(a, b, true, false),
      [
        [2, 5, 6],
        [2, 5, 3],
      ],
    ],
    [
      'batchNorm with batch statistics',
      (x, scale, offset) => {
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        return tf.batchNorm(
          x as tf.Tensor4D,
          mean,
          variance,
          offset as tf.Tensor1D,
          scale as tf.Tensor1D,
          1e-3,
        );
      },
      [[2, 4, 5, c], [c], [c]],
    ],
    [
      'fused conv2d + bias + relu',
      (x, w, b) =>
        tf.fused.conv2d({
          x: x as tf.Tensor4D,
          filter: w as tf.Tensor4D,
          strides: 2,
          pad: 'same',
          bias: b,
          activation: 'relu',
        }),
      [[2, 7, 9, 3], [3, 3, 3, 4], [4]],
      { h: 1e-3 },
    ],
    [
      'fused matMul + bias + relu',
      (a, b, bias) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias, activation: 'relu' }),
      [[6, 5], [5, 3], [3]],
      { h: 1e-3 },
    ],
    [
      'sum over batch and space (bias gradients)',
      (x) => tf.mul(tf.sum(x, [0, 1, 2]), tf.mean(x, [0, 1])),
      [[2, 3, 5, c]],
    ],
  ];
  for (const [name, f, shapes, options] of cases) {
    test(name, () => checkGradients(name, f, shapes, options));
  }

  test('variableGrads and an optimizer step go through the same kernels', () => {
    const w = tf.variable(tf.tensor(randoms(3 * 3 * 3 * 4, 21), [3, 3, 3, 4]));
    const x = tf.tensor(randoms(2 * 7 * 9 * 3, 22), [2, 7, 9, 3]) as tf.Tensor4D;
    const loss = (): tf.Scalar => tf.sum(tf.square(tf.conv2d(x, w as tf.Tensor4D, 2, 'same')));
    const { grads } = tf.variableGrads(loss);
    const direct = tf.grad((f: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, f as tf.Tensor4D, 2, 'same'))))(w);
    assert.ok(relError(grads[w.name].dataSync(), direct.dataSync()) < 1e-6);
    const before = loss().dataSync()[0];
    tf.train.sgd(1e-4).minimize(loss);
    assert.ok(loss().dataSync()[0] < before, 'one SGD step lowers the loss');
  });
});
