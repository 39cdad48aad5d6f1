/**
 * Index arithmetic shared by the convolution gradient kernels, one spatial axis at a time (the two axes of a
 * 2-D convolution are independent). Forward convolution along one axis:
 *
 *   y[o] = Σ_k x[o·stride + k·dilation − padBefore] · w[k]
 *
 * Pure functions, no tensors: the kernels turn these plans into calls of fast forward kernels.
 */

/** One axis of a convolution as seen by its gradients. */
export interface ConvAxis {
  /** Length of x (= length of dx). */
  inSize: number;
  /** Length of y (= length of dy). */
  outSize: number;
  filterSize: number;
  stride: number;
  dilation: number;
  /** Zero padding before x (from tfjs's padInfo: 'same', 'valid' or explicit). */
  padBefore: number;
}

/** Conv2DInfo's fields that describe the two spatial axes (structural, so this file stays tensor-free). */
export interface SpatialConvInfo {
  inHeight: number;
  inWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padInfo: { top: number; left: number };
}

/** Both spatial axes of a convolution: geometry from tfjs's Conv2DInfo, output sizes from dy. */
export function convAxes(
  info: SpatialConvInfo,
  filter: { height: number; width: number },
  out: { height: number; width: number },
): { rows: ConvAxis; cols: ConvAxis } {
  return {
    rows: {
      inSize: info.inHeight,
      outSize: out.height,
      filterSize: filter.height,
      stride: info.strideHeight,
      dilation: info.dilationHeight,
      padBefore: info.padInfo.top,
    },
    cols: {
      inSize: info.inWidth,
      outSize: out.width,
      filterSize: filter.width,
      stride: info.strideWidth,
      dilation: info.dilationWidth,
      padBefore: info.padInfo.left,
    },
  };
}

/**
 * The input gradient split by output phase ("sub-pixel" decomposition): the dx positions i ≡ residue (mod
 * stride) only receive the filter taps k with k·dilation ≡ residue + padBefore (mod stride), and for them
 * dx is a plain stride-1 correlation of dy with those taps. So a strided transposed convolution becomes
 * stride² small stride-1 convolutions with no multiplications by inserted zeros.
 */
export interface InputGradPhase {
  /** dx positions residue, residue + stride, …; `count` of them. */
  residue: number;
  count: number;
  /** Filter taps in the order the sub-filter uses them (increasing dy offset); empty: this phase of dx is 0. */
  taps: number[];
  /** Spacing of consecutive taps in dy (the sub-convolution's dilation). */
  dilation: number;
  /** dy[cropStart, cropEnd) is the part this phase reads; the rest only meets padding of x. */
  cropStart: number;
  cropEnd: number;
  /** Zeros around the cropped dy so the sub-convolution yields exactly `count` positions. */
  padBefore: number;
  padAfter: number;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

const mod = (a: number, m: number): number => ((a % m) + m) % m;

export function inputGradPhases(axis: ConvAxis): InputGradPhase[] {
  const { inSize, outSize, filterSize, stride, dilation, padBefore } = axis;
  const phases: InputGradPhase[] = [];
  for (let residue = 0; residue < Math.min(stride, inSize); residue++) {
    const count = Math.ceil((inSize - residue) / stride);
    // dx[residue + stride·v] = Σ_k dy[v + e_k] · w[k] with e_k = (residue + padBefore − k·dilation) / stride.
    const taps: number[] = [];
    for (let k = filterSize - 1; k >= 0; k--) {
      if (mod(residue + padBefore - k * dilation, stride) === 0) taps.push(k);
    }
    const zero: InputGradPhase = {
      residue,
      count,
      taps: [],
      dilation: 1,
      cropStart: 0,
      cropEnd: 0,
      padBefore: 0,
      padAfter: 0,
    };
    if (taps.length === 0) {
      phases.push(zero);
      continue;
    }
    const offset = (k: number): number => (residue + padBefore - k * dilation) / stride;
    const lo = offset(taps[0]);
    const hi = count - 1 + offset(taps[taps.length - 1]);
    const cropStart = Math.max(0, lo);
    const cropEnd = Math.min(outSize, hi + 1);
    if (cropEnd <= cropStart) {
      phases.push(zero);
      continue;
    }
    phases.push({
      residue,
      count,
      taps,
      dilation: dilation / gcd(stride, dilation),
      cropStart,
      cropEnd,
      padBefore: cropStart - lo,
      padAfter: hi + 1 - cropEnd,
    });
  }
  return phases;
}

/**
 * The filter gradient reads x through a "phase grid": x (padded) split by position mod stride, so that tap k
 * reads phase (k·dilation mod stride) at grid offset ⌊k·dilation / stride⌋ from the output position. Every
 * tap is then a plain shift of the same grid, which lets the kernels use contiguous row ranges.
 */
export interface FilterGradAxis {
  /** Grid length: outSize + the largest tap offset, so that every output position plus offset fits. */
  gridSize: number;
  /** Per tap: which phase it reads and at which offset in the grid. */
  tapPhase: number[];
  tapOffset: number[];
  /** Phases actually read (at most `stride`). */
  phases: number[];
}

export function filterGradAxis(axis: ConvAxis): FilterGradAxis {
  const { outSize, filterSize, stride, dilation } = axis;
  const tapPhase: number[] = [];
  const tapOffset: number[] = [];
  for (let k = 0; k < filterSize; k++) {
    tapPhase.push((k * dilation) % stride);
    tapOffset.push(Math.floor((k * dilation) / stride));
  }
  const gridSize = outSize + Math.max(...tapOffset);
  const phases = [...new Set(tapPhase)].sort((a, b) => a - b);
  return { gridSize, tapPhase, tapOffset, phases };
}

/** The x position that grid cell `cell` of phase `phase` holds (out of range: padding, i.e. zero). */
export function gridToInput(axis: ConvAxis, phase: number, cell: number): number {
  return cell * axis.stride + phase - axis.padBefore;
}
