import { VisageError } from '../../errors.js';
import type { GraphNode, NetworkDef, Padding } from '../../engine/graph/index.js';

export interface ResnetEmbeddingOptions {
  depth: 18 | 34;
  /** Square input side in pixels. */
  inputSize: number;
  channels: 1 | 3;
  /** Channels of the first stage (64 in the paper); stages have width, 2·width, 4·width, 8·width. */
  width?: number;
  embeddingDim?: number;
  /**
   * 'imagenet': 7×7/2 conv + 3×3/2 max-pool (the paper's, for ≥ ~96 px); 'small': one 3×3/1 conv and no
   * pool (CIFAR-style, for small inputs). Default: 'imagenet' from 96 px up.
   */
  stem?: 'imagenet' | 'small';
  /** Batch-norm epsilon and momentum (Keras convention; 0.9 is PyTorch's momentum=0.1). */
  bnEpsilon?: number;
  bnMomentum?: number;
}

const BLOCKS: Record<18 | 34, number[]> = { 18: [2, 2, 2, 2], 34: [3, 4, 6, 3] };

/** PyTorch's symmetric padding p on both sides (TF "same" pads stride-2 convs asymmetrically). */
const sym = (p: number): Padding => [
  [p, p],
  [p, p],
];

/**
 * ResNet-18/34 (He et al. 2016, basic blocks, 1×1/2 projection shortcuts) ending in global average pool,
 * a dense embedding and L2 normalisation. Node names follow torchvision (conv1, bn1, layer1.0.conv1,
 * layer2.0.downsample.0, …) so that weights map one-to-one onto a PyTorch model, and padding matches
 * PyTorch's so that both compute the same function.
 */
export function resnetEmbedding(opts: ResnetEmbeddingOptions): NetworkDef {
  const { depth, inputSize, channels } = opts;
  const width = opts.width ?? 64;
  const embeddingDim = opts.embeddingDim ?? 128;
  const stem = opts.stem ?? (inputSize >= 96 ? 'imagenet' : 'small');
  const epsilon = opts.bnEpsilon ?? 1e-5;
  const momentum = opts.bnMomentum ?? 0.9;
  if (!BLOCKS[depth]) throw new VisageError('E_BAD_OPTION', `ResNet depth must be 18 or 34, got ${depth}`);
  if (!(inputSize >= 8)) throw new VisageError('E_BAD_OPTION', `input size ${inputSize} is too small`);

  const nodes: GraphNode[] = [{ op: 'input', name: 'image', shape: [inputSize, inputSize, channels] }];
  const conv = (name: string, input: string, filters: number, kernel: number, stride: number) =>
    nodes.push({
      op: 'conv2d',
      name,
      input,
      filters,
      kernel,
      strides: stride,
      padding: kernel === 1 ? 'valid' : stride === 1 ? 'same' : sym((kernel - 1) >> 1),
    });
  const bn = (name: string, input: string) => nodes.push({ op: 'batchNorm', name, input, epsilon, momentum });
  const relu = (name: string, input: string) => nodes.push({ op: 'activation', name, input, fn: 'relu' });

  let x: string;
  if (stem === 'imagenet') {
    conv('conv1', 'image', width, 7, 2);
    bn('bn1', 'conv1');
    relu('relu', 'bn1');
    nodes.push({ op: 'maxPool', name: 'maxpool', input: 'relu', size: 3, strides: 2, padding: sym(1) });
    x = 'maxpool';
  } else {
    conv('conv1', 'image', width, 3, 1);
    bn('bn1', 'conv1');
    relu('relu', 'bn1');
    x = 'relu';
  }

  let inC = width;
  BLOCKS[depth].forEach((blocks, stage) => {
    const outC = width << stage;
    for (let b = 0; b < blocks; b++) {
      const p = `layer${stage + 1}.${b}`;
      const stride = b === 0 && stage > 0 ? 2 : 1;
      conv(`${p}.conv1`, x, outC, 3, stride);
      bn(`${p}.bn1`, `${p}.conv1`);
      relu(`${p}.relu1`, `${p}.bn1`);
      conv(`${p}.conv2`, `${p}.relu1`, outC, 3, 1);
      bn(`${p}.bn2`, `${p}.conv2`);
      let shortcut = x;
      if (stride !== 1 || inC !== outC) {
        conv(`${p}.downsample.0`, x, outC, 1, stride);
        bn(`${p}.downsample.1`, `${p}.downsample.0`);
        shortcut = `${p}.downsample.1`;
      }
      nodes.push({ op: 'add', name: `${p}.add`, inputs: [`${p}.bn2`, shortcut], activation: 'relu' });
      x = `${p}.add`;
      inC = outC;
    }
  });

  nodes.push({ op: 'globalAvgPool', name: 'avgpool', input: x });
  nodes.push({ op: 'dense', name: 'fc', input: 'avgpool', units: embeddingDim });
  nodes.push({ op: 'l2normalize', name: 'embedding', input: 'fc' });
  return {
    name: `visage-resnet${depth}-w${width}-e${embeddingDim}${stem === 'small' ? '-s' : ''}`,
    nodes,
    outputs: ['embedding'],
  };
}
