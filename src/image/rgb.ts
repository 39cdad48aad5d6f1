import { VisageError } from '../errors.js';

/** An 8-bit RGB image: 3 bytes per pixel, row-major, no padding, no alpha. The one pixel type Visage passes around. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** An 8-bit single-channel image, same layout with 1 byte per pixel. */
export interface GreyImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export type Rgb = readonly [number, number, number];

/** A new image filled with one colour (black by default). */
export function createImage(width: number, height: number, fill: Rgb = [0, 0, 0]): RgbImage {
  checkSize(width, height);
  const data = new Uint8Array(width * height * 3);
  if (fill[0] !== 0 || fill[1] !== 0 || fill[2] !== 0) {
    for (let i = 0; i < data.length; i += 3) {
      data[i] = fill[0];
      data[i + 1] = fill[1];
      data[i + 2] = fill[2];
    }
  }
  return { width, height, data };
}

export function cloneImage(img: RgbImage): RgbImage {
  return { width: img.width, height: img.height, data: new Uint8Array(img.data) };
}

/** Throws E_BAD_INPUT unless `img` is a well-formed RgbImage (integer size ≥ 1, data length = w·h·3). */
export function assertRgbImage(img: RgbImage, what = 'image'): void {
  if (!img || !(img.data instanceof Uint8Array)) {
    throw new VisageError('E_BAD_INPUT', `${what} is not an RGB image (data must be a Uint8Array)`);
  }
  checkSize(img.width, img.height, what);
  if (img.data.length !== img.width * img.height * 3) {
    throw new VisageError(
      'E_BAD_INPUT',
      `${what} data has ${img.data.length} bytes, expected ${img.width}×${img.height}×3 = ${img.width * img.height * 3}`,
    );
  }
}

function checkSize(width: number, height: number, what = 'image'): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new VisageError('E_BAD_INPUT', `${what} size must be positive integers, got ${width}×${height}`, {
      width,
      height,
    });
  }
}

/** Luma with ITU-R BT.601 weights (what JPEG, PIL `L` and OpenCV use), rounded. */
export function toGrey(img: RgbImage): GreyImage {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const d = img.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    out[i] = Math.round(0.299 * d[j] + 0.587 * d[j + 1] + 0.114 * d[j + 2]);
  }
  return { width: img.width, height: img.height, data: out };
}

/** Grey → RGB by copying the value into all three channels. */
export function fromGrey(grey: GreyImage): RgbImage {
  const n = grey.width * grey.height;
  if (grey.data.length !== n) {
    throw new VisageError('E_BAD_INPUT', `grey image data has ${grey.data.length} bytes, expected ${n}`);
  }
  const out = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const v = grey.data[i];
    out[j] = v;
    out[j + 1] = v;
    out[j + 2] = v;
  }
  return { width: grey.width, height: grey.height, data: out };
}
