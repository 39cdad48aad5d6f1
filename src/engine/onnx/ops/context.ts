/**
 * What an op rule sees of the graph being built (tfjs-core's gradient registry and tinygrad's mlops have
 * the same shape: one op, its forward and its backward side by side). A rule emits its forward nodes,
 * names its outputs, and returns its backward rule, which the builder calls in reverse graph order.
 */
import type { VisageError } from '../../../errors.js';
import type { Shape } from '../../graph/shapes.js';
import type { GraphNode } from '../../graph/types.js';
import type { Emitter } from './emitter.js';

/** dy ↦ one gradient per graph input of the node (undefined: that input needs none). */
export type Back = (dy: string) => Array<string | undefined>;

export interface OpContext<N extends GraphNode = GraphNode> {
  readonly e: Emitter;
  readonly node: N;
  /** The batch size (shapes are static). */
  readonly batch: number;
  /** The training-graph tensors of the node's inputs (NCHW maps, [N, C] vectors), and the first of them. */
  readonly xs: string[];
  readonly x: string;
  /** The same for the inference graph (other tensors after the first batch norm). */
  readonly xis: string[];
  readonly xi: string;
  /** NHWC shapes without the batch: of the first input ([] for the input node) and of the output. */
  readonly inShape: Shape;
  readonly outShape: Shape;
  /** Per input: whether its output depends on a trainable weight (else no input gradient is written). */
  readonly inNeeds: boolean[];
  /** The graph name of this node's weight `role`; a missing weight is an E_BAD_MODEL error. */
  weight(role: string): string;
  /** Whether this node's weight `role` exists and gets a gradient. */
  trainable(role: string): boolean;
  /** Whether a weight is fed in OIHW order (see TrainingGraphParam.order). */
  oihw(weight: string): boolean;
  /** Names the node's output in the training graph and in the inference graph. */
  setOutput(training: string, inference: string): void;
  /**
   * For ops whose forward is the same in training and inference: `f` runs on the training inputs, then
   * again on the inference ones unless those are the same tensors (before the first batch norm).
   */
  dual<T extends { y: string }>(f: (ts: string[]) => T): T;
  /** Emits `f`'s nodes into the inference graph only. */
  inferenceOnly(f: () => string): string;
  /** Hands a batch norm's batch statistics out of the forward graph. */
  saveStats(mean: string, variance: string): void;
  /** The gradient of a trainable weight (set from a backward rule). */
  setGrad(weight: string, g: string): void;
  /** The error for an op (or a variant of one) this trainer has no rule for. */
  unsupported(what?: string): VisageError;
}

/** One op's forward nodes; returns its backward rule (none for the input). */
export type OpRule<N extends GraphNode = GraphNode> = (c: OpContext<N>) => Back | undefined;
