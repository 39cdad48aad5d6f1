/**
 * Fine-tuning with the first blocks frozen: their gradients are zeroed before the optimiser sees them (and
 * they are left out of weight decay), so neither they nor the optimiser's state for them ever change.
 * Batch-norm moving statistics of frozen blocks still follow the new data, as in PyTorch's train mode.
 */
import type { NetworkDef } from '../engine/graph/index.js';
import type { GradientParts, Optimizer } from './optim/index.js';
import type { OptimizerState, StatefulOptimizer } from './optim/state.js';
import type { ParamLayout } from './params.js';

/**
 * The network's weighted nodes grouped into blocks: consecutive nodes sharing the part of their name before
 * the first '.' (stage1.1.conv and stage1.2.bn → stage1; layer1.0.conv1 → layer1; conv1 → conv1).
 */
export function weightBlocks(def: NetworkDef, layout: ParamLayout): { name: string; nodes: string[] }[] {
  const blocks: { name: string; nodes: string[] }[] = [];
  for (const n of def.nodes) {
    if (!layout.entries.some((e) => e.trainable && e.name.startsWith(`${n.name}/`))) continue;
    const key = n.name.split('.')[0];
    const last = blocks[blocks.length - 1];
    if (last?.name === key) last.nodes.push(n.name);
    else blocks.push({ name: key, nodes: [n.name] });
  }
  return blocks;
}

/** [from, to) ranges of the trainable vector owned by the given nodes. */
export function paramRanges(layout: ParamLayout, nodes: readonly string[]): [number, number][] {
  const set = new Set(nodes);
  return layout.entries
    .filter((e) => e.trainable && set.has(e.name.slice(0, e.name.lastIndexOf('/'))))
    .map((e) => [e.offset, e.offset + e.size]);
}

export class FrozenOptimizer implements Optimizer, StatefulOptimizer {
  constructor(
    private readonly inner: Optimizer & StatefulOptimizer,
    private readonly frozen: readonly [number, number][],
  ) {}

  get name(): string {
    return this.inner.name;
  }
  get lr(): number {
    return this.inner.lr;
  }
  set lr(v: number) {
    this.inner.lr = v;
  }
  get steps(): number {
    return this.inner.steps;
  }

  step(params: Float32Array, grad: GradientParts): void {
    // The parts are scratch buffers of the step (see TrainingStep), so they may be changed here.
    for (const g of grad instanceof Float32Array ? [grad] : grad)
      for (const [from, to] of this.frozen) g.fill(0, from, to);
    this.inner.step(params, grad);
  }

  state(): OptimizerState {
    return this.inner.state();
  }
  restore(state: OptimizerState): void {
    this.inner.restore(state);
  }
}
