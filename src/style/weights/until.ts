import { VisageError } from '../../errors.js';
import { VGG19_BLOCKS, VGG19_CONV_LAYERS } from '../nets/vgg19.js';

/** Every VGG-19 node that can be tapped, in network order (conv1_1, conv1_2, pool1, conv2_1, …, pool5). */
export const VGG19_NODES: readonly string[] = VGG19_BLOCKS.flatMap(([, n], b) => [
  ...Array.from({ length: n }, (_, i) => `conv${b + 1}_${i + 1}`),
  `pool${b + 1}`,
]);

/**
 * The convolutions whose weights a network built up to `until` (a conv or pool name) needs, in order.
 * Loaders read only these, so a file cut after conv2_1 serves early layers and conv5_2…conv5_4 (unused
 * by style transfer) never reach memory.
 */
export function vgg19ConvsUntil(until = 'conv5_1'): string[] {
  const end = VGG19_NODES.indexOf(until);
  if (end < 0)
    throw new VisageError('E_UNKNOWN_LAYER', `VGG-19 has no layer "${until}"`, {
      layer: until,
      network: 'vgg19',
    });
  const wanted = new Set(VGG19_NODES.slice(0, end + 1));
  return VGG19_CONV_LAYERS.filter((c) => wanted.has(c));
}

/** The deepest VGG-19 node among `layers` (names VGG-19 lacks are left to the FeatureNet to refuse). */
export function vgg19UntilFor(layers: readonly string[]): string {
  const idx = Math.max(...layers.map((l) => VGG19_NODES.indexOf(l)));
  return idx >= 0 ? VGG19_NODES[idx] : 'conv5_1';
}
