/**
 * SSD anchors ("priors") as the TensorFlow Object Detection API generates them for ssd_mobilenet_v1
 * (multiple_grid_anchor_generator: 6 layers, scales linearly from 0.2 to 0.95, aspect ratios
 * {1, 2, 1/2, 3, 0.3333} plus one interpolated scale at ratio 1, and only 3 boxes in the lowest layer).
 * Generating them, instead of using the 5118 anchors frozen into face-api's model for 512×512 input,
 * lets the detector run at other input sizes; a test checks both agree at 512.
 */
const MIN_SCALE = 0.2;
const MAX_SCALE = 0.95;
const LAYERS = 6;
const ASPECT_RATIOS = [1, 2, 0.5, 3, 0.3333];

/** [scale, aspectRatio] of every anchor of one cell, per layer. */
export function anchorSpecs(): Array<Array<[number, number]>> {
  const scales = Array.from(
    { length: LAYERS },
    (_, i) => MIN_SCALE + ((MAX_SCALE - MIN_SCALE) * i) / (LAYERS - 1),
  );
  scales.push(1);
  const specs: Array<Array<[number, number]>> = [];
  for (let l = 0; l < LAYERS; l++) {
    if (l === 0) {
      specs.push([
        [0.1, 1],
        [scales[0], 2],
        [scales[0], 0.5],
      ]);
    } else {
      // The exported graph lists the interpolated-scale box second, after the first ratio-1 box.
      const boxes = ASPECT_RATIOS.map((ar): [number, number] => [scales[l], ar]);
      boxes.splice(1, 0, [Math.sqrt(scales[l] * scales[l + 1]), 1]);
      specs.push(boxes);
    }
  }
  return specs;
}

/**
 * Anchors as (ymin, xmin, ymax, xmax) normalised to an input of `inputH`×`inputW` pixels, in the order the
 * heads emit predictions: layer, row, column, anchor. Cell (i, j) of a layer with cumulative stride s is
 * centred at ((j + ½)·s, (i + ½)·s) input pixels, and an anchor of scale k spans k·`reference` pixels:
 * the convolutional features respond to faces of a fixed pixel size, so anchors keep their absolute size
 * when the network runs on a larger input. With a 512×512 input this is exactly TF's export.
 */
export function generateAnchors(
  inputH: number,
  inputW: number,
  grids: Array<[number, number]>,
  strides: readonly number[],
  reference = 512,
): Float32Array {
  const specs = anchorSpecs();
  const total = grids.reduce((n, [h, w], l) => n + h * w * specs[l].length, 0);
  const out = new Float32Array(total * 4);
  let k = 0;
  grids.forEach(([gh, gw], l) => {
    for (let i = 0; i < gh; i++) {
      const cy = ((i + 0.5) * strides[l]) / inputH;
      for (let j = 0; j < gw; j++) {
        const cx = ((j + 0.5) * strides[l]) / inputW;
        for (const [scale, ar] of specs[l]) {
          const r = Math.sqrt(ar);
          const h = ((scale / r) * reference) / inputH;
          const w = (scale * r * reference) / inputW;
          out[k++] = cy - h / 2;
          out[k++] = cx - w / 2;
          out[k++] = cy + h / 2;
          out[k++] = cx + w / 2;
        }
      }
    }
  });
  return out;
}
