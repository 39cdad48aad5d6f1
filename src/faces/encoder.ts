/**
 * Face encoders: aligned face chip(s) in, unit-length descriptors out. `FaceEncoder` is the seam where
 * other models plug in (face-api's dlib ResNet today; a Visage-trained network saved with saveModel, or
 * any other NetworkDef, through GraphFaceEncoder).
 */
import type { EngineName } from '../config.js';
import { loadModel } from '../engine/graph/serialize.js';
import { inferShapes } from '../engine/graph/shapes.js';
import type { NetworkDef, WeightMap } from '../engine/graph/types.js';
import { createInferenceNetwork, type InferenceNetwork } from '../engine/inference/index.js';
import { VisageError } from '../errors.js';
import { flipHorizontal, resize } from '../image/geometry.js';
import type { RgbImage } from '../image/rgb.js';
import { imagesToArray } from '../image/tensor.js';
import { flipAverage } from './compare.js';
import { loadDlibResnet } from './models/dlib-resnet.js';
import { fuseConvAffineActivation } from '../engine/graph/fuse.js';

/** Options of an encoder call. */
export interface EncodeOptions {
  /** Test-time augmentation: average the descriptors of the chip and its mirror image, renormalised. */
  flip?: boolean;
}

/** Aligned face chips in, unit-length descriptors out: the seam where another encoder plugs in. */
export interface FaceEncoder {
  /** Model id stored with every embedding, e.g. 'dlib-resnet34@face-api-1.7'. */
  readonly id: string;
  /** Side of the square chip the encoder reads. */
  readonly inputSize: number;
  /** Descriptor length. */
  readonly dim: number;
  /**
   * Test-time flip used when a call does not say: set by a model trained with `--val-flip`, whose
   * threshold was chosen on flip-averaged descriptors.
   */
  readonly flip?: boolean;
  /** One unit-length descriptor per chip (chips of another size are resized to inputSize first). */
  encode(chips: RgbImage[], opts?: EncodeOptions): Promise<Float32Array[]>;
  dispose(): void;
}

export interface GraphEncoderSpec {
  id: string;
  def: NetworkDef;
  weights: WeightMap;
  /** Node whose output is the descriptor. Default: the network's first output. L2-normalised here. */
  output?: string;
  /** Chips per forward pass. Default 16. */
  batchSize?: number;
  /** The model's own decision threshold (squared L2), e.g. the best validation threshold of `visage train`. */
  threshold?: number;
  /** The model's own test-time flip default (meta.flip of a model trained with `--val-flip`). */
  flip?: boolean;
  /** Run on this engine rather than the product's (parity tests compare the two). */
  engine?: EngineName;
}

/**
 * An encoder for any NetworkDef whose input node takes a square RGB (3-channel) or grey (1-channel)
 * image as 0..255 floats and does its own normalisation (an `affine` node, as our imported models do).
 */
export class GraphFaceEncoder implements FaceEncoder {
  readonly id: string;
  readonly inputSize: number;
  readonly dim: number;
  /** Decision threshold (squared L2) saved with the model, if any (meta.threshold of a trained model). */
  readonly threshold?: number;
  readonly flip: boolean;
  private readonly channels: 1 | 3;
  private readonly output: string;
  private readonly batchSize: number;
  /** Public so that benchmarks and tests can ask which engine runs it. */
  readonly net: InferenceNetwork;

  constructor(spec: GraphEncoderSpec) {
    const input = spec.def.nodes.find((n) => n.op === 'input');
    if (!input || input.op !== 'input')
      throw new VisageError('E_BAD_MODEL', `${spec.def.name} has no input node`);
    const [h, w, c] = input.shape;
    if (h === null || h !== w || (c !== 1 && c !== 3)) {
      throw new VisageError(
        'E_BAD_MODEL',
        `a face encoder needs a fixed square RGB or grey input, ${spec.def.name} takes [${input.shape}]`,
      );
    }
    this.id = spec.id;
    this.threshold = spec.threshold;
    this.flip = spec.flip ?? false;
    this.inputSize = h;
    this.channels = c;
    this.output = spec.output ?? spec.def.outputs[0];
    const outShape = inferShapes(spec.def, [h, h, c]).get(this.output);
    if (!outShape || outShape.length !== 1) {
      throw new VisageError(
        'E_BAD_MODEL',
        `encoder output "${this.output}" of ${spec.def.name} is not a vector`,
      );
    }
    this.dim = outShape[0];
    this.batchSize = Math.max(1, spec.batchSize ?? 16);
    this.net = createInferenceNetwork(spec.def, spec.weights, { engine: spec.engine });
  }

  async encode(chips: RgbImage[], opts: EncodeOptions = {}): Promise<Float32Array[]> {
    const sized = chips.map((c) =>
      c.width === this.inputSize && c.height === this.inputSize
        ? c
        : resize(c, this.inputSize, this.inputSize),
    );
    const flip = opts.flip ?? this.flip;
    const inputs = flip ? sized.flatMap((c) => [c, flipHorizontal(c)]) : sized;
    const raw: Float32Array[] = [];
    for (let i = 0; i < inputs.length; i += this.batchSize) {
      const batch = inputs.slice(i, i + this.batchSize);
      const x = imagesToArray(batch, { scale: 1, channels: this.channels });
      const { data } = (await this.net.run(x, [this.output]))[this.output];
      for (let j = 0; j < batch.length; j++)
        raw.push(normalize(data.slice(j * this.dim, (j + 1) * this.dim)));
    }
    if (!flip) return raw;
    return sized.map((_, i) => flipAverage(raw[2 * i], raw[2 * i + 1], this.dim));
  }

  dispose(): void {
    this.net.dispose();
  }
}

function normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s);
  if (n > 0) for (let i = 0; i < v.length; i++) v[i] /= n;
  return v;
}

export const DLIB_ENCODER_ID = 'dlib-resnet34@face-api-1.7';

/**
 * Whether Visage's pipeline averages dlib's descriptor with its mirror image's unless told otherwise. On:
 * on held-out celeba_299 people it raised TAR at FAR 0.1 % and the ROC AUC for about 6 % more time per
 * face (docs/results/accuracy.md). The encoder itself stays plain (flip off), so it still matches
 * face-api's descriptors value for value; the pipeline, the verbs and the evaluations ask for the flip.
 */
export const DLIB_PIPELINE_FLIP = true;

/**
 * How many jittered chips (dlib's num_jitters: small random rotation, scale, shift and mirror of the chip)
 * Visage's pipeline averages into dlib's descriptor unless told otherwise. 4: on held-out celeba_299
 * people it raised TAR at FAR 0.1 % and lowered FRR at τ, as much as 8 or 16, for about 14 % more time
 * per face (docs/results/accuracy.md). 0 turns it off.
 */
export const DLIB_PIPELINE_JITTER = 4;

/**
 * dlib's ResNet-34 face encoder with face-api's weights and preprocessing ((x − mean) / 255, 150×150).
 * Reads the `fc` tap (dlib's raw descriptor) and normalises it to unit length. Raw descriptors of real
 * faces have norms of 1.39–1.56 (11 faces measured), so dlib's customary 0.6 threshold on raw distances
 * corresponds to about 0.41 between our unit vectors (0.17 squared).
 */
export function loadDlibEncoder(
  opts: { modelDir?: string; batchSize?: number; engine?: EngineName } = {},
): GraphFaceEncoder {
  const { def, weights } = loadDlibResnet(opts.modelDir);
  const fused = fuseConvAffineActivation(def, weights);
  return new GraphFaceEncoder({
    id: DLIB_ENCODER_ID,
    ...fused,
    output: 'fc',
    batchSize: opts.batchSize,
    engine: opts.engine,
  });
}

/** An encoder saved in the Visage model format (saveModel); its id comes from meta.id, else the def name. */
export function loadGraphEncoder(
  dir: string,
  opts: { batchSize?: number; output?: string } = {},
): GraphFaceEncoder {
  const m = loadModel(dir);
  const id = typeof m.meta.id === 'string' ? m.meta.id : m.def.name;
  const output =
    opts.output ?? (typeof m.meta.embeddingOutput === 'string' ? m.meta.embeddingOutput : undefined);
  const t = m.meta.threshold;
  const threshold = typeof t === 'number' && Number.isFinite(t) && t > 0 ? t : undefined;
  return new GraphFaceEncoder({
    id,
    def: m.def,
    weights: m.weights,
    output,
    batchSize: opts.batchSize,
    threshold,
    flip: m.meta.flip === true,
  });
}
