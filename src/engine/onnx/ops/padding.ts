/** Window geometry shared by the convolution and pooling rules. */
import type { Padding } from '../../graph/types.js';

/** TF "same"/"valid"/explicit padding of one conv or pool as [top, left, bottom, right]. */
export function explicitPads(
  padding: Padding,
  input: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilation: number,
): [number, number, number, number] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding !== 'same') return [padding[0][0], padding[1][0], padding[0][1], padding[1][1]];
  const one = (i: 0 | 1) => {
    const ek = (kernel[i] - 1) * dilation + 1;
    const out = Math.ceil(input[i] / strides[i]);
    const total = Math.max((out - 1) * strides[i] + ek - input[i], 0);
    return [total >> 1, total - (total >> 1)];
  };
  const [t, b] = one(0);
  const [l, r] = one(1);
  return [t, l, b, r];
}

/**
 * ConvTranspose's output_padding that makes it return exactly the forward op's input size: the rows and
 * columns a strided forward window never reached (their gradient is 0).
 */
export function outputPadding(
  input: [number, number],
  output: [number, number],
  k: [number, number],
  s: [number, number],
  d: number,
  pads: number[],
): [number, number] {
  const reach = (i: 0 | 1) => (output[i] - 1) * s[i] + (k[i] - 1) * d + 1 - pads[i] - pads[i + 2];
  return [input[0] - reach(0), input[1] - reach(1)];
}
