import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forwardFlops, type NetworkDef } from '../../src/engine/graph/index.js';

test('forwardFlops counts 2 FLOPs per multiply-accumulate of convolutions and dense layers', () => {
  const def: NetworkDef = {
    name: 't',
    outputs: ['fc'],
    nodes: [
      { op: 'input', name: 'x', shape: [8, 8, 3] },
      // 'same', stride 2: 4×4×16 outputs, each 3·3·3 MACs.
      { op: 'conv2d', name: 'c', input: 'x', filters: 16, kernel: 3, strides: 2, padding: 'same' },
      // depthwise 3×3 'valid': 2×2×16 outputs, 9 MACs each.
      { op: 'depthwiseConv2d', name: 'd', input: 'c', kernel: 3, padding: 'valid' },
      { op: 'activation', name: 'r', input: 'd', fn: 'relu' },
      { op: 'flatten', name: 'f', input: 'r' },
      { op: 'dense', name: 'fc', input: 'f', units: 10 },
    ],
  };
  const want = 2 * (4 * 4 * 16 * 27 + 2 * 2 * 16 * 9 + 64 * 10);
  assert.equal(forwardFlops(def, [8, 8, 3]), want);
});
