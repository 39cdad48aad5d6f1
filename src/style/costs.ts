import * as tf from '@tensorflow/tfjs-core';
import { VisageError } from '../errors.js';

/**
 * The costs of Gatys et al., normalised exactly as in the deep-learning course:
 *   J_content = 1/(4·n_H·n_W·n_C) · Σ (a(C) − a(G))²
 *   Gram      G_kk' = Σ_ij a_ijk · a_ijk'
 *   J_style[l] = 1/(4·n_C²·(n_H·n_W)²) · Σ_kk' (G(S) − G(G))²
 *   J_style   = Σ_l λ[l] · J_style[l]
 * Activations are NHWC with a batch of one. All functions are differentiable and leave no tensors behind
 * except their result.
 */

function dims(a: tf.Tensor): { nH: number; nW: number; nC: number } {
  const [n, nH, nW, nC] = a.shape as number[];
  if (a.rank !== 4 || n !== 1)
    throw new VisageError(
      'E_BAD_INPUT',
      `expected an activation of shape [1,H,W,C], got [${a.shape.join(',')}]`,
    );
  return { nH, nW, nC };
}

export function contentCost(aC: tf.Tensor, aG: tf.Tensor): tf.Scalar {
  const { nH, nW, nC } = dims(aG);
  return tf.tidy(() => tf.div(tf.sum(tf.squaredDifference(aC, aG)), 4 * nH * nW * nC));
}

/**
 * mᵀm and its gradient m·(dG + dGᵀ) with untransposed matMuls only: tfjs-wasm's BatchMatMul with a
 * transpose flag is 7–20× slower than a transpose followed by a plain product (bench style, 256 px
 * VGG-19: the Gram matrices and their stock gradients took ~⅓ of an iteration).
 */
const gramOfRows = tf.customGrad(((m: tf.Tensor2D, save: tf.GradSaveFunc) => {
  save([m]);
  return {
    value: tf.matMul(tf.transpose(m), m),
    gradFunc: (dG: tf.Tensor2D, [saved]: tf.Tensor[]) =>
      tf.matMul(saved as tf.Tensor2D, tf.add(dG, tf.transpose(dG))),
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (m: tf.Tensor2D) => tf.Tensor2D;

/** Gram matrix [n_C, n_C] of an activation [1, n_H, n_W, n_C]. */
export function gramMatrix(a: tf.Tensor): tf.Tensor2D {
  const { nH, nW, nC } = dims(a);
  return tf.tidy(() => gramOfRows(tf.reshape(a, [nH * nW, nC]) as tf.Tensor2D));
}

/**
 * J_style[l] from the style image's Gram matrix and the generated image's activation. The normaliser uses
 * the generated image's n_H·n_W; when the style image has another size, pass its Gram already scaled to
 * the generated image's area (see `scaleGram`), since a Gram matrix grows with the number of positions.
 */
export function styleLayerCost(gramS: tf.Tensor2D, aG: tf.Tensor): tf.Scalar {
  const { nH, nW, nC } = dims(aG);
  return tf.tidy(() => {
    const gG = gramMatrix(aG);
    return tf.div(tf.sum(tf.squaredDifference(gramS, gG)), 4 * nC * nC * (nH * nW) ** 2);
  });
}

/** A Gram matrix computed over `fromArea` positions, rescaled to what it would be over `toArea` positions. */
export function scaleGram(gram: tf.Tensor2D, fromArea: number, toArea: number): tf.Tensor2D {
  return tf.tidy(() => tf.mul(gram, toArea / fromArea));
}

/** Σ_l λ[l]·J_style[l]; `grams` and `acts` are keyed by layer name. */
export function styleCost(
  grams: Record<string, tf.Tensor2D>,
  acts: Record<string, tf.Tensor>,
  lambdas: Record<string, number>,
): tf.Scalar {
  return tf.tidy(() => {
    let total: tf.Scalar = tf.scalar(0);
    for (const [layer, lambda] of Object.entries(lambdas)) {
      if (lambda === 0) continue;
      total = tf.add(total, tf.mul(styleLayerCost(grams[layer], acts[layer]), lambda));
    }
    return total;
  });
}

/**
 * Total variation Σ (x[i+1,j] − x[i,j])² + (x[i,j+1] − x[i,j])², divided by the number of pixel values
 * (so it does not grow with the image), on whatever scale `x` has ([1, H, W, C]).
 */
export function totalVariation(x: tf.Tensor4D): tf.Scalar {
  const [, h, w, c] = x.shape;
  return tf.tidy(() => {
    const dy = tf.sub(
      tf.slice(x, [0, 1, 0, 0], [1, h - 1, w, c]),
      tf.slice(x, [0, 0, 0, 0], [1, h - 1, w, c]),
    );
    const dx = tf.sub(
      tf.slice(x, [0, 0, 1, 0], [1, h, w - 1, c]),
      tf.slice(x, [0, 0, 0, 0], [1, h, w - 1, c]),
    );
    return tf.div(tf.add(tf.sum(tf.square(dy)), tf.sum(tf.square(dx))), h * w * c);
  });
}
