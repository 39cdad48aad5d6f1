import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VisageError } from '../../src/errors.js';
import {
  applyAffine,
  composeAffine,
  createImage,
  IDENTITY,
  invertAffine,
  similarityTransform,
  warpAffine,
  warpAffineForward,
  type AffineMatrix,
  type Point,
  type RgbImage,
} from '../../src/image/index.js';

function randomImage(w: number, h: number, seed = 3): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  return { width: w, height: h, data };
}
const pixel = (img: RgbImage, x: number, y: number): number[] =>
  Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

/** Rotation by `deg` about `c` with scale `s`, then translation `t`, mapping input → output coordinates. */
function similarity(deg: number, s: number, c: Point, t: Point = [0, 0]): AffineMatrix {
  const a = s * Math.cos((deg * Math.PI) / 180);
  const b = s * Math.sin((deg * Math.PI) / 180);
  return [
    [a, -b, c[0] - a * c[0] + b * c[1] + t[0]],
    [b, a, c[1] - b * c[0] - a * c[1] + t[1]],
  ];
}

/** Deterministic standard-normal noise. */
function gaussian(seed: number): () => number {
  let s = seed;
  const u = () => ((s = (s * 1103515245 + 12345) >>> 0) + 1) / 4294967297;
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

describe('warpAffine', () => {
  it('the identity warp is exact', () => {
    const img = randomImage(41, 29);
    assert.deepEqual(warpAffine(img, IDENTITY, 41, 29).data, img.data);
  });

  it('an integer translation moves pixels exactly and fills with the border value', () => {
    const img = randomImage(20, 10);
    // Output (x, y) reads input (x + 3, y - 2).
    const out = warpAffine(
      img,
      [
        [1, 0, 3],
        [0, 1, -2],
      ],
      20,
      10,
      { borderValue: [1, 2, 3] },
    );
    for (let y = 0; y < 10; y++) {
      for (let x = 0; x < 20; x++) {
        const want = x + 3 < 20 && y - 2 >= 0 ? pixel(img, x + 3, y - 2) : [1, 2, 3];
        assert.deepEqual(pixel(out, x, y), want, `(${x}, ${y})`);
      }
    }
  });

  it('a 90° rotation about the centre (built with cos/sin) permutes pixels exactly', () => {
    const n = 15;
    const img = randomImage(n, n);
    const c: Point = [(n - 1) / 2, (n - 1) / 2];
    // Forward: rotate input by +90° about the centre (y down: (x, y) → (c + (c_y - y), ...)).
    const out = warpAffineForward(img, similarity(90, 1, c), n, n);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        // Inverse of a +90° rotation: output (x, y) came from input (y, n-1-x).
        assert.deepEqual(pixel(out, x, y), pixel(img, y, n - 1 - x), `(${x}, ${y})`);
      }
    }
  });

  it('matches a rotated+translated linear pattern at every pixel (pixel-centre convention)', () => {
    // Bilinear interpolation reproduces a linear function exactly, so any half-pixel slip shows up.
    const w = 50;
    const h = 40;
    const img = createImage(w, h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        img.data[(y * w + x) * 3] = 4 * x + 10;
        img.data[(y * w + x) * 3 + 1] = 5 * y + 20;
        img.data[(y * w + x) * 3 + 2] = 99;
      }
    }
    const inv = invertAffine(similarity(30, 0.8, [25, 20], [3.3, -1.7]));
    const out = warpAffine(img, inv, w, h);
    let checked = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const [sx, sy] = applyAffine(inv, [x, y]);
        if (sx < 0 || sy < 0 || sx > w - 1 || sy > h - 1) continue;
        const [r, g, b] = pixel(out, x, y);
        assert.ok(Math.abs(r - (4 * sx + 10)) <= 0.5 + 1e-6, `R at (${x}, ${y}): ${r} vs ${4 * sx + 10}`);
        assert.ok(Math.abs(g - (5 * sy + 20)) <= 0.5 + 1e-6, `G at (${x}, ${y}): ${g} vs ${5 * sy + 20}`);
        assert.equal(b, 99);
        checked++;
      }
    }
    assert.ok(checked > 1000, `${checked} pixels inside`);
  });

  it('border modes: constant, replicate and reflect (without repeating the edge)', () => {
    const row: RgbImage = {
      width: 4,
      height: 1,
      data: Uint8Array.from([10, 0, 0, 20, 0, 0, 30, 0, 0, 40, 0, 0]),
    };
    // Output x reads input x - 7: x = 0..10 → input -7..3.
    const m: AffineMatrix = [
      [1, 0, -7],
      [0, 1, 0],
    ];
    const reds = (img: RgbImage) => Array.from({ length: img.width }, (_, x) => img.data[x * 3]);
    assert.deepEqual(
      reds(warpAffine(row, m, 11, 1, { borderValue: [5, 5, 5] })),
      [5, 5, 5, 5, 5, 5, 5, 10, 20, 30, 40],
    );
    assert.deepEqual(
      reds(warpAffine(row, m, 11, 1, { border: 'replicate' })),
      [10, 10, 10, 10, 10, 10, 10, 10, 20, 30, 40],
    );
    // Reflect-101 around index 0 and with period 6: … 20 10 20 30 40 30 20 | 10 20 30 40.
    assert.deepEqual(
      reds(warpAffine(row, m, 11, 1, { border: 'reflect' })),
      [20, 10, 20, 30, 40, 30, 20, 10, 20, 30, 40],
    );
  });

  it('a similarity warp followed by its inverse approximately restores the image', () => {
    const n = 64;
    const img = createImage(n, n);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const o = (y * n + x) * 3;
        img.data[o] = Math.round(127 + 100 * Math.sin(x / 5) * Math.cos(y / 7));
        img.data[o + 1] = Math.round(127 + 100 * Math.cos((x + y) / 6));
        img.data[o + 2] = Math.round((x * 255) / (n - 1));
      }
    }
    const fwd = similarity(17, 1.15, [31.5, 31.5], [1.5, -2]);
    const there = warpAffineForward(img, fwd, n, n, { border: 'replicate' });
    const back = warpAffine(there, fwd, n, n, { border: 'replicate' });
    let sum = 0;
    let count = 0;
    for (let y = 16; y < 48; y++) {
      for (let x = 16; x < 48; x++) {
        for (let c = 0; c < 3; c++)
          sum += Math.abs(back.data[(y * n + x) * 3 + c] - img.data[(y * n + x) * 3 + c]);
        count += 3;
      }
    }
    assert.ok(sum / count < 3, `mean abs error ${sum / count}`);
    assert.ok(sum / count > 0, 'two bilinear resamplings are not lossless, so the error cannot be exactly 0');
  });

  it('aligning by landmarks moves a marked point to its template position (sub-pixel)', () => {
    const img = createImage(80, 60);
    // Three bright dots at known sub-pixel landmark positions (a 2×2 blob centred on each).
    const landmarks: Point[] = [
      [20.5, 15.5],
      [50.5, 20.5],
      [35.5, 45.5],
    ];
    for (const [lx, ly] of landmarks) {
      for (const [dx, dy] of [
        [-0.5, -0.5],
        [0.5, -0.5],
        [-0.5, 0.5],
        [0.5, 0.5],
      ]) {
        img.data.fill(255, ((ly + dy) * 80 + (lx + dx)) * 3, ((ly + dy) * 80 + (lx + dx)) * 3 + 3);
      }
    }
    const template: Point[] = [
      [12, 14],
      [36, 14],
      [24, 36],
    ];
    const out = warpAffineForward(img, similarityTransform(landmarks, template), 48, 48);
    // The first template point's neighbourhood holds the first dot: its intensity centroid must land there.
    let sx = 0;
    let sy = 0;
    let sw = 0;
    for (let y = 6; y < 22; y++) {
      for (let x = 4; x < 20; x++) {
        const v = out.data[(y * 48 + x) * 3];
        sx += v * x;
        sy += v * y;
        sw += v;
      }
    }
    assert.ok(sw > 0);
    const fitted = similarityTransform(landmarks, template);
    const err = Math.hypot(...applyAffine(fitted, landmarks[0]).map((v, i) => v - template[0][i]));
    const centroidErr = Math.hypot(
      sx / sw - applyAffine(fitted, landmarks[0])[0],
      sy / sw - applyAffine(fitted, landmarks[0])[1],
    );
    assert.ok(
      centroidErr < 0.25,
      `dot centroid ${sx / sw}, ${sy / sw} is ${centroidErr} px off (fit error ${err})`,
    );
  });
});

describe('similarityTransform / invertAffine', () => {
  const src: Point[] = [
    [30.2, 51.7],
    [65.5, 51.5],
    [48.0, 71.7],
    [33.5, 92.4],
    [62.7, 92.2],
  ];

  it('recovers an exact similarity exactly', () => {
    const t = similarity(-23, 0.7, [10, 4], [5, -8]);
    const m = similarityTransform(
      src,
      src.map((p) => applyAffine(t, p)),
    );
    for (let r = 0; r < 2; r++) for (let c = 0; c < 3; c++) assert.ok(Math.abs(m[r][c] - t[r][c]) < 1e-9);
  });

  it('recovers a known transform from noisy points', () => {
    const noise = gaussian(42);
    const t = similarity(20, 1.3, [0, 0], [5, -7]);
    // Many points spread widely make the fit tight even with σ = 0.5 px noise.
    const pts: Point[] = Array.from({ length: 40 }, (_, i) => [
      ((i * 37) % 100) + 0.5 * i,
      ((i * 53) % 90) - 0.3 * i,
    ]);
    const noisy = pts.map((p): Point => {
      const [x, y] = applyAffine(t, p);
      return [x + 0.5 * noise(), y + 0.5 * noise()];
    });
    const m = similarityTransform(pts, noisy);
    const scale = Math.hypot(m[0][0], m[1][0]);
    const angle = (Math.atan2(m[1][0], m[0][0]) * 180) / Math.PI;
    assert.ok(Math.abs(scale - 1.3) < 0.01, `scale ${scale}`);
    assert.ok(Math.abs(angle - 20) < 0.5, `angle ${angle}`);
    assert.ok(
      Math.abs(m[0][2] - 5) < 0.5 && Math.abs(m[1][2] + 7) < 0.5,
      `translation ${m[0][2]}, ${m[1][2]}`,
    );

    // And it is the least-squares optimum: nudging any parameter increases the residual.
    const residual = (a: AffineMatrix) =>
      pts.reduce(
        (s, p, k) =>
          s + (applyAffine(a, p)[0] - noisy[k][0]) ** 2 + (applyAffine(a, p)[1] - noisy[k][1]) ** 2,
        0,
      );
    const best = residual(m);
    const [[a, nb, tx], [b, , ty]] = m;
    for (const [da, db, dx, dy] of [
      [1e-3, 0, 0, 0],
      [-1e-3, 0, 0, 0],
      [0, 1e-3, 0, 0],
      [0, -1e-3, 0, 0],
      [0, 0, 0.01, 0],
      [0, 0, 0, -0.01],
    ]) {
      const nudged: AffineMatrix = [
        [a + da, nb - db, tx + dx],
        [b + db, a + da, ty + dy],
      ];
      assert.ok(residual(nudged) > best);
    }
  });

  it('never returns a reflection, even for mirrored points', () => {
    const mirrored = src.map(([x, y]): Point => [100 - x, y]);
    const m = similarityTransform(src, mirrored);
    assert.ok(m[0][0] * m[1][1] - m[0][1] * m[1][0] > 0);
    assert.equal(m[0][0], m[1][1]);
    assert.equal(m[0][1], -m[1][0]);
  });

  it('refuses degenerate input', () => {
    const bad = (e: unknown) => e instanceof VisageError && e.code === 'E_BAD_INPUT';
    assert.throws(() => similarityTransform([[1, 1]], [[2, 2]]), bad);
    assert.throws(() => similarityTransform(src, src.slice(1)), bad);
    assert.throws(
      () =>
        similarityTransform(
          [
            [3, 3],
            [3, 3],
          ],
          [
            [0, 0],
            [1, 1],
          ],
        ),
      bad,
    );
    assert.throws(
      () =>
        invertAffine([
          [1, 2, 3],
          [2, 4, 5],
        ]),
      bad,
    );
  });

  it('invertAffine and composeAffine agree', () => {
    const m: AffineMatrix = [
      [1.2, 0.3, -4],
      [-0.5, 0.9, 7],
    ];
    const id = composeAffine(m, invertAffine(m));
    for (let r = 0; r < 2; r++)
      for (let c = 0; c < 3; c++) assert.ok(Math.abs(id[r][c] - IDENTITY[r][c]) < 1e-12);
    const p: Point = [3.5, -2];
    const q = applyAffine(composeAffine(m, m), p);
    const q2 = applyAffine(m, applyAffine(m, p));
    assert.ok(Math.abs(q[0] - q2[0]) < 1e-12 && Math.abs(q[1] - q2[1]) < 1e-12);
  });
});
