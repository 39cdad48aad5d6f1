import * as tf from '@tensorflow/tfjs-core';

/**
 * How the generated image is parametrised for the optimiser. `pixels`: one variable, the image itself.
 * `pyramid`: the image is the sum of a full-resolution layer and coarser layers (½, ¼, …) upsampled
 * bilinearly. Adam moves every variable at about the same rate, so the coarse layers change large
 * regions coherently: the optimiser is steered towards strokes and colour fields instead of
 * pixel-level speckle (the same preconditioning idea as Lucid's decorrelated image parametrisations).
 */
export interface ImageParam {
  readonly variables: tf.Variable[];
  readonly height: number;
  readonly width: number;
  /** The image in 0..255 (differentiable w.r.t. the variables). */
  image(): tf.Tensor4D;
  /** Bring the image back into 0..255 after an update. */
  project(): void;
  dispose(): void;
}

export class PixelParam implements ImageParam {
  readonly variables: tf.Variable[];
  readonly height: number;
  readonly width: number;
  private readonly x: tf.Variable<tf.Rank.R4>;

  constructor(init: tf.Tensor4D) {
    this.x = tf.variable(init, true);
    this.variables = [this.x];
    [, this.height, this.width] = init.shape;
  }

  image(): tf.Tensor4D {
    return this.x;
  }

  project(): void {
    tf.tidy(() => this.x.assign(tf.clipByValue(this.x, 0, 255)));
  }

  dispose(): void {
    this.x.dispose();
  }
}

/**
 * Square root of ImageNet's RGB colour correlation (the matrix Lucid uses), columns scaled so the largest
 * has unit norm. An optimiser step on the first coordinate changes brightness; the other two change
 * chroma 2–4× more slowly, which keeps Adam's per-coordinate steps from painting rainbow speckle.
 */
const COLOR_SQRT = [
  [0.26, 0.09, 0.02],
  [0.27, 0.0, -0.05],
  [0.27, -0.09, 0.03],
];
const COLOR_NORM = Math.max(
  ...[0, 1, 2].map((j) => Math.hypot(COLOR_SQRT[0][j], COLOR_SQRT[1][j], COLOR_SQRT[2][j])),
);

export class PyramidParam implements ImageParam {
  readonly variables: tf.Variable[];
  readonly height: number;
  readonly width: number;
  /** The fixed part of the image (the init, corrected by projections). */
  private base: tf.Tensor4D;
  /** [3, 3] right-multiplied onto [.., 3] pixels: rgb = coords · Mᵀ. */
  private readonly color: tf.Tensor2D | undefined;

  /**
   * The image is `init + colour(Σ_k upsample(P_k))` with P_k of size ⌈h/2^k⌉×⌈w/2^k⌉ (k < levels),
   * all starting at zero; `decorrelate` applies COLOR_SQRT as `colour`, else the identity.
   */
  constructor(init: tf.Tensor4D, levels: number, decorrelate = false) {
    [, this.height, this.width] = init.shape;
    this.base = tf.clone(init);
    this.color = decorrelate
      ? tf.tidy(() => tf.transpose(tf.div(tf.tensor2d(COLOR_SQRT), COLOR_NORM)) as tf.Tensor2D)
      : undefined;
    this.variables = [];
    for (let k = 0; k < levels; k++) {
      const h = Math.ceil(this.height / 2 ** k);
      const w = Math.ceil(this.width / 2 ** k);
      if (h < 2 || w < 2) break;
      const zeros = tf.zeros([1, h, w, 3]);
      this.variables.push(tf.variable(zeros, true));
      zeros.dispose();
    }
  }

  image(): tf.Tensor4D {
    return tf.tidy(() => {
      const parts = this.variables.map((v, k) =>
        k === 0 ? v : tf.image.resizeBilinear(v as tf.Tensor4D, [this.height, this.width], false, true),
      );
      let delta: tf.Tensor = parts.length === 1 ? parts[0] : tf.addN(parts);
      if (this.color)
        delta = tf.reshape(tf.matMul(tf.reshape(delta, [-1, 3]), this.color), [
          1,
          this.height,
          this.width,
          3,
        ]);
      return tf.add(this.base, delta) as tf.Tensor4D;
    });
  }

  /** Keep the image in 0..255 by moving the fixed part (the variables keep their meaning for Adam). */
  project(): void {
    const next = tf.tidy(() => {
      const g = this.image();
      return tf.add(this.base, tf.sub(tf.clipByValue(g, 0, 255), g)) as tf.Tensor4D;
    });
    this.base.dispose();
    this.base = next;
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
    tf.dispose([this.base, ...(this.color ? [this.color] : [])]);
  }
}
