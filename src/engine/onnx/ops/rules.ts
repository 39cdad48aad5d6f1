/**
 * The op table: each op kind the onnxruntime trainer supports → its rule (forward and gradient side by
 * side, one file per op). An op missing here is refused with E_BAD_OPTION (train with --engine tfjs).
 */
import type { GraphNode } from '../../graph/types.js';
import { activation } from './activation.js';
import { add } from './add.js';
import { affine } from './affine.js';
import { avgPool } from './avg-pool.js';
import { batchNorm } from './batch-norm.js';
import type { OpRule } from './context.js';
import { conv2d } from './conv2d.js';
import { dense } from './dense.js';
import { flatten } from './flatten.js';
import { globalAvgPool } from './global-avg-pool.js';
import { input } from './input.js';
import { l2normalize } from './l2-normalize.js';
import { maxPool } from './max-pool.js';
import { padChannels } from './pad-channels.js';
import { pad } from './pad.js';

/** The node type of op kind K (PoolNode for both pools). */
type NodeOf<K extends GraphNode['op'], N = GraphNode> = N extends { op: infer O }
  ? K extends O
    ? N
    : never
  : never;

const RULES: { [K in GraphNode['op']]?: OpRule<NodeOf<K>> } = {
  input,
  conv2d,
  batchNorm,
  affine,
  dense,
  activation,
  add,
  maxPool,
  avgPool,
  pad,
  padChannels,
  globalAvgPool,
  flatten,
  l2normalize,
};

export function opRule(op: GraphNode['op']): OpRule | undefined {
  return RULES[op] as OpRule | undefined;
}
