import * as tf from '@tensorflow/tfjs-core';

/**
 * Limited-memory BFGS on one variable, without line search (a fixed step `lr` along the quasi-Newton
 * direction, like torch.optim.LBFGS's default and the reference neural-style implementations). The
 * curvature pairs use the step actually taken, so clamping the pixels between steps stays consistent.
 */
export class LbfgsState {
  readonly history: number;
  s: tf.Tensor1D[] = [];
  y: tf.Tensor1D[] = [];
  rho: number[] = [];
  prevX?: tf.Tensor1D;
  prevGrad?: tf.Tensor1D;
  hDiag = 1;
  steps = 0;

  constructor(history = 20) {
    this.history = history;
  }

  dispose(): void {
    tf.dispose([
      ...this.s,
      ...this.y,
      ...(this.prevX ? [this.prevX] : []),
      ...(this.prevGrad ? [this.prevGrad] : []),
    ]);
    this.s = [];
    this.y = [];
    this.rho = [];
    this.prevX = undefined;
    this.prevGrad = undefined;
  }
}

const dot = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.sum(tf.mul(a, b)).dataSync()[0]);

/** One L-BFGS step on `x` minimising `f`; returns f's value before the step (caller disposes it). */
export function lbfgsStep(state: LbfgsState, x: tf.Variable, f: () => tf.Scalar, lr: number): tf.Scalar {
  const { value, grads } = tf.variableGrads(f, [x]);
  lbfgsApply(state, x, grads[x.name], lr);
  tf.dispose(grads);
  return value;
}

/** The step itself, from the gradient of f at x (computed by whatever engine); `grad` stays the caller's. */
export function lbfgsApply(state: LbfgsState, x: tf.Variable, grad: tf.Tensor, lr: number): void {
  const g = tf.tidy(() => tf.reshape(grad, [-1])) as tf.Tensor1D;
  const xFlat = tf.tidy(() => tf.reshape(x, [-1])) as tf.Tensor1D;

  if (state.prevX && state.prevGrad) {
    const s = tf.sub(xFlat, state.prevX) as tf.Tensor1D;
    const y = tf.sub(g, state.prevGrad) as tf.Tensor1D;
    const ys = dot(y, s);
    if (ys > 1e-10) {
      state.s.push(s);
      state.y.push(y);
      state.rho.push(1 / ys);
      state.hDiag = ys / dot(y, y);
      if (state.s.length > state.history) {
        tf.dispose([state.s.shift()!, state.y.shift()!]);
        state.rho.shift();
      }
    } else tf.dispose([s, y]);
    tf.dispose([state.prevX, state.prevGrad]);
  }

  // Two-loop recursion for d = −H·g.
  const k = state.s.length;
  const alpha = new Array<number>(k);
  let q = tf.neg(g) as tf.Tensor1D;
  for (let i = k - 1; i >= 0; i--) {
    alpha[i] = dot(state.s[i], q) * state.rho[i];
    const nq = tf.tidy(() => tf.sub(q, tf.mul(state.y[i], alpha[i]))) as tf.Tensor1D;
    q.dispose();
    q = nq;
  }
  let r = tf.mul(q, state.hDiag) as tf.Tensor1D;
  q.dispose();
  for (let i = 0; i < k; i++) {
    const beta = dot(state.y[i], r) * state.rho[i];
    const nr = tf.tidy(() => tf.add(r, tf.mul(state.s[i], alpha[i] - beta))) as tf.Tensor1D;
    r.dispose();
    r = nr;
  }
  // First step: no curvature yet, so keep it small relative to the gradient (as torch does).
  const t = state.steps === 0 ? Math.min(1, 1 / tf.tidy(() => tf.sum(tf.abs(g)).dataSync()[0])) * lr : lr;
  tf.tidy(() => x.assign(tf.add(x, tf.reshape(tf.mul(r, t), x.shape))));
  r.dispose();
  state.prevX = xFlat;
  state.prevGrad = g;
  state.steps++;
}
