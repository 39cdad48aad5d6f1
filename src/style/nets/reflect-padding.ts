import { pair, type Conv2dNode, type GraphNode, type NetworkDef } from '../../engine/graph/index.js';

/**
 * Replace the implicit zero padding of every stride-1 'same' convolution and pooling with an explicit
 * reflect pad followed by a 'valid' op. Zero padding makes border pixels look like an edge to every
 * layer, and style optimisation paints that edge into the image (fringes along the borders); mirrored
 * borders carry no such signal. Weights are unchanged, node names too (the pad nodes are `<name>_pad`).
 */
export function withReflectPadding(def: NetworkDef): NetworkDef {
  const nodes: GraphNode[] = [];
  for (const n of def.nodes) {
    if (
      (n.op === 'conv2d' || n.op === 'depthwiseConv2d' || n.op === 'maxPool' || n.op === 'avgPool') &&
      n.padding === 'same'
    ) {
      const [kh, kw] = pair(n.op === 'maxPool' || n.op === 'avgPool' ? n.size : (n as Conv2dNode).kernel, 1);
      const [sh, sw] = pair(n.strides, 1);
      const d = 'dilation' in n ? (n.dilation ?? 1) : 1;
      const eh = (kh - 1) * d;
      const ew = (kw - 1) * d;
      // Strided 'same' padding depends on the input size; leave those (InceptionV3 has none).
      if (sh === 1 && sw === 1 && (eh > 0 || ew > 0)) {
        const pads: [[number, number], [number, number]] = [
          [Math.floor(eh / 2), eh - Math.floor(eh / 2)],
          [Math.floor(ew / 2), ew - Math.floor(ew / 2)],
        ];
        nodes.push({ op: 'pad', name: `${n.name}_pad`, input: n.input, pads, mode: 'reflect' });
        nodes.push({ ...n, input: `${n.name}_pad`, padding: 'valid' } as GraphNode);
        continue;
      }
    }
    nodes.push(n);
  }
  return { ...def, name: `${def.name}-reflect`, nodes };
}
