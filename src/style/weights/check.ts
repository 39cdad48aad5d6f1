import type { WeightMap } from '../../engine/graph/index.js';
import { VisageError } from '../../errors.js';
import { VGG19_BLOCKS } from '../nets/vgg19.js';

/** Every VGG-19 convolution with its [in, out] channels, in order. */
export const VGG19_CONV_SHAPES: ReadonlyArray<{ name: string; cin: number; cout: number }> = (() => {
  const out: { name: string; cin: number; cout: number }[] = [];
  let cin = 3;
  VGG19_BLOCKS.forEach(([filters, n], b) => {
    for (let i = 1; i <= n; i++) {
      out.push({ name: `conv${b + 1}_${i}`, cin, cout: filters });
      cin = filters;
    }
  });
  return out;
})();

/**
 * Checks that `weights` are VGG-19's convolutions up to at least `until` (default conv5_1, the last layer
 * style transfer uses) with the right shapes: E_WRONG_NETWORK names the first layer that is missing or
 * has another shape (e.g. VGG-16's 3-convolution third block, or a ResNet's weights).
 */
export function checkVgg19Weights(weights: WeightMap, source: string, until = 'conv5_1'): void {
  for (const { name, cin, cout } of VGG19_CONV_SHAPES) {
    const k = weights.get(`${name}/kernel`);
    const b = weights.get(`${name}/bias`);
    const want = [3, 3, cin, cout];
    if (!k || !b) {
      throw new VisageError('E_WRONG_NETWORK', `${source} is not VGG-19: it has no weights for ${name}`, {
        layer: name,
      });
    }
    if (k.shape.join() !== want.join() || b.shape.join() !== String(cout)) {
      throw new VisageError(
        'E_WRONG_NETWORK',
        `${source} is not VGG-19: ${name} has kernel [${k.shape}] and bias [${b.shape}], VGG-19 has [${want}] and [${cout}]`,
        { layer: name, shape: k.shape },
      );
    }
    if (k.data.length !== 9 * cin * cout || b.data.length !== cout)
      throw new VisageError('E_BAD_WEIGHTS', `${source}: ${name} holds the wrong number of values`);
    if (name === until) return;
  }
}
