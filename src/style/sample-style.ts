import { createImage, type RgbImage } from '../image/rgb.js';

/**
 * A generated "swirling brush strokes" painting for the demo: no style image ships in our npm
 * dependencies, and research images must not be redistributed, so the demo paints its own. Strokes
 * follow a smooth flow field (curl of a few sines) in a warm/cold palette, like an expressionist sky.
 */
export function generatedStyleImage(size = 256, seed = 7): RgbImage {
  const img = createImage(size, size, [20, 30, 60]);
  let s = seed >>> 0;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const palette: Array<[number, number, number]> = [
    [236, 112, 20],
    [250, 190, 40],
    [40, 70, 160],
    [20, 30, 70],
    [200, 60, 30],
    [90, 140, 200],
  ];
  const angle = (x: number, y: number) =>
    Math.sin(x / 37 + Math.cos(y / 53)) * 2.2 + Math.cos(y / 29 - x / 71) * 1.4 + (y / size) * 1.2;
  const strokes = Math.round((size * size) / 18);
  for (let k = 0; k < strokes; k++) {
    let x = rand() * size;
    let y = rand() * size;
    // Bands: warm above, cold below, mixed at the horizon, as in a sunset sky over water.
    const band = Math.min(palette.length - 1, Math.floor(((y / size) * 0.8 + rand() * 0.4) * palette.length));
    const [r, g, b] = palette[band];
    const shade = 0.8 + rand() * 0.4;
    const len = 8 + rand() * 18;
    const width = 1 + Math.floor(rand() * 2);
    for (let t = 0; t < len; t++) {
      const a = angle(x, y);
      x += Math.cos(a);
      y += Math.sin(a) * 0.6;
      for (let dy = -width; dy <= width; dy++) {
        for (let dx = -width; dx <= width; dx++) {
          const px = Math.round(x + dx);
          const py = Math.round(y + dy);
          if (px < 0 || py < 0 || px >= size || py >= size) continue;
          const i = (py * size + px) * 3;
          img.data[i] = Math.min(255, r * shade);
          img.data[i + 1] = Math.min(255, g * shade);
          img.data[i + 2] = Math.min(255, b * shade);
        }
      }
    }
  }
  return img;
}
