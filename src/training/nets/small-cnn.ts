import { VisageError } from '../../errors.js';
import type { GraphNode, NetworkDef } from '../../engine/graph/index.js';

export interface SmallCnnOptions {
  inputSize: number;
  channels: 1 | 3;
  /** Channels of the first stage; each further stage doubles them (capped at 8·width). */
  width?: number;
  /** Number of stages; every stage but the last halves the resolution. */
  depth?: number;
  embeddingDim?: number;
  /**
   * How the last feature map becomes the embedding: 'avg' (global average pooling, position-free) or
   * 'flatten' (every position keeps its own weights — where the eyes are matters in an aligned face).
   */
  head?: 'avg' | 'flatten';
}

/**
 * A VGG-style embedding net for training from scratch on small face sets (hundreds of images): stages of
 * two 3×3 conv → batch-norm → ReLU followed by 2×2 max-pool, then global average pooling, a dense layer
 * and L2 normalisation. ≈1.2 M parameters at width 32, depth 4 (a ResNet-18 has 11 M), and cheap
 * activations, so a CPU trains it in minutes.
 */
export function smallCnn(opts: SmallCnnOptions): NetworkDef {
  const { inputSize, channels } = opts;
  const width = opts.width ?? 32;
  const depth = opts.depth ?? 4;
  const embeddingDim = opts.embeddingDim ?? 128;
  if (!Number.isInteger(depth) || depth < 1 || depth > 6)
    throw new VisageError('E_BAD_OPTION', `small CNN depth must be 1..6, got ${depth}`);
  if (inputSize >> (depth - 1) < 2)
    throw new VisageError('E_BAD_OPTION', `input size ${inputSize} is too small for ${depth} stages`);

  const nodes: GraphNode[] = [{ op: 'input', name: 'image', shape: [inputSize, inputSize, channels] }];
  let x = 'image';
  for (let s = 0; s < depth; s++) {
    const filters = width * Math.min(8, 1 << s);
    for (let c = 1; c <= 2; c++) {
      const p = `stage${s + 1}.${c}`;
      nodes.push({ op: 'conv2d', name: `${p}.conv`, input: x, filters, kernel: 3, padding: 'same' });
      nodes.push({ op: 'batchNorm', name: `${p}.bn`, input: `${p}.conv`, epsilon: 1e-5, momentum: 0.9 });
      nodes.push({ op: 'activation', name: `${p}.relu`, input: `${p}.bn`, fn: 'relu' });
      x = `${p}.relu`;
    }
    if (s < depth - 1) {
      const pool = `stage${s + 1}.pool`;
      nodes.push({ op: 'maxPool', name: pool, input: x, size: 2, strides: 2, padding: 'valid' });
      x = pool;
    }
  }
  const head = opts.head ?? 'avg';
  const pooled = head === 'avg' ? 'avgpool' : 'flatten';
  nodes.push(
    head === 'avg'
      ? { op: 'globalAvgPool', name: pooled, input: x }
      : { op: 'flatten', name: pooled, input: x },
  );
  nodes.push({ op: 'dense', name: 'fc', input: pooled, units: embeddingDim });
  nodes.push({ op: 'l2normalize', name: 'embedding', input: 'fc' });
  const name = `visage-cnn-w${width}-d${depth}-e${embeddingDim}${head === 'flatten' ? '-flat' : ''}`;
  return { name, nodes, outputs: ['embedding'] };
}
