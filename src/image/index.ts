/** Image I/O and pixel geometry: everything else in Visage reads, warps and writes pixels through here. */
export {
  type RgbImage,
  type GreyImage,
  type Rgb,
  createImage,
  cloneImage,
  assertRgbImage,
  toGrey,
  fromGrey,
} from './rgb.js';
export {
  decodeImage,
  sniffFormat,
  envMaxPixels,
  DEFAULT_MAX_PIXELS,
  type DecodeOptions,
  type ImageFormat,
  type SniffResult,
  type UnsupportedFormat,
} from './decode.js';
export { decodePnm, encodePnm, parsePnmHeader, isPnm, type PnmHeader, type PnmKind } from './pnm.js';
export { encodePng, encodeJpeg, encodeWebp, writeImage } from './encode.js';
export {
  resize,
  resizeData,
  crop,
  flipHorizontal,
  sideBySide,
  type Rect,
  type ResizeOptions,
} from './geometry.js';
export {
  warpAffine,
  warpAffineForward,
  similarityTransform,
  invertAffine,
  composeAffine,
  applyAffine,
  IDENTITY,
  type AffineMatrix,
  type Point,
  type BorderMode,
  type WarpOptions,
} from './affine.js';
export {
  imageToTensor,
  imagesToBatch,
  tensorToImage,
  batchToImages,
  type ImageToTensorOptions,
  type TensorNormalization,
} from './tensor.js';
export { drawBox, drawText, drawPoint, fillRect, measureText, type TextOptions } from './draw.js';
export { GLYPH_WIDTH, GLYPH_HEIGHT, ADVANCE, LINE_HEIGHT } from './font.js';
