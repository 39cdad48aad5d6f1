/**
 * Fine-tuning with the first blocks frozen. Frozen weights are constants of the training step
 * (TrainingStep's `frozen` option): tfjs only differentiates along paths to the variables it is asked
 * about, so the backward pass stops at the first trainable layer instead of computing gradients for the
 * frozen prefix and throwing them away, and the optimiser (and weight decay) never sees them, so they stay
 * bit-identical. Batch-norm moving statistics of frozen blocks still follow the new data, as in PyTorch's
 * train mode.
 */
import { VisageError } from '../errors.js';
import type { NetworkDef } from '../engine/graph/index.js';
import { ParamLayout } from './params.js';

export interface WeightBlock {
  name: string;
  nodes: string[];
}

/**
 * The network's weighted nodes grouped into blocks: consecutive nodes sharing the part of their name before
 * the first '.' or '/' (stage1.1.conv and stage1.2.bn → stage1; layer1.0.conv1 → layer1; dlib's
 * conv64_1/conv1/conv and conv64_1/conv2/scale → conv64_1, one residual block; conv1 → conv1).
 */
export function weightBlocks(def: NetworkDef, layout: ParamLayout): WeightBlock[] {
  const blocks: WeightBlock[] = [];
  for (const n of def.nodes) {
    if (!layout.entries.some((e) => e.trainable && e.name.startsWith(`${n.name}/`))) continue;
    const key = n.name.split(/[./]/)[0];
    const last = blocks[blocks.length - 1];
    if (last?.name === key) last.nodes.push(n.name);
    else blocks.push({ name: key, nodes: [n.name] });
  }
  return blocks;
}

export interface FreezePlan {
  /** Every node whose weights stay constant: the fixed ones, then those of the frozen blocks. */
  frozen: string[];
  /** The network's blocks (fixed nodes left out), frozen ones first. */
  frozenBlocks: WeightBlock[];
  trainableBlocks: WeightBlock[];
}

/**
 * Which nodes `--freeze n` keeps constant: the first n weight blocks, besides the `fixed` nodes (input
 * normalisation) that never train. At least one block must stay trainable (E_BAD_OPTION).
 */
export function planFreeze(
  def: NetworkDef,
  input: [number, number, number],
  n: number,
  fixed: readonly string[] = [],
): FreezePlan {
  const blocks = weightBlocks(def, ParamLayout.of(def, input, fixed));
  if (n >= blocks.length)
    throw new VisageError(
      'E_BAD_OPTION',
      `--freeze ${n} would freeze all ${blocks.length} weight blocks of ${def.name} (${blocks.map((b) => b.name).join(', ')})`,
    );
  const frozenBlocks = blocks.slice(0, n);
  return {
    frozen: [...fixed, ...frozenBlocks.flatMap((b) => b.nodes)],
    frozenBlocks,
    trainableBlocks: blocks.slice(n),
  };
}
