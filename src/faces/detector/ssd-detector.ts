/**
 * Face detection with face-api's SSD-MobileNetV1: our NetworkDef on the product's engine, and our own
 * decoding (anchors, box regression, sigmoid scores, NMS). Faces that fill the frame and small faces in
 * large photos need extra passes at other scales (see `planPasses`), run only where the first pass
 * leaves them something to find (see `adaptPass`); the candidates of all passes are merged with NMS.
 */
import type { EngineName } from '../../config.js';
import { foldBatchNorm } from '../../engine/graph/fold.js';
import { createInferenceNetwork, type InferenceNetwork } from '../../engine/inference/index.js';
import { VisageError } from '../../errors.js';
import { resize } from '../../image/geometry.js';
import { assertRgbImage, type RgbImage } from '../../image/rgb.js';
import {
  loadSsdMobilenetV1,
  SSD_HEADS,
  SSD_INPUT,
  SSD_STRIDES,
  ssdHeadOutputs,
} from '../models/ssd-mobilenetv1.js';
import type { DetectedFace } from '../types.js';
import { generateAnchors } from './anchors.js';
import { nonMaxSuppression, type ScoredBox } from './nms.js';

export interface DetectOptions {
  /** Minimum detector score, 0..1. Default 0.5 (face-api's). */
  minScore?: number;
  /** At most this many faces, best first. Default 100. */
  maxFaces?: number;
  /** NMS overlap threshold. Default 0.5. */
  iouThreshold?: number;
  /**
   * Smallest face (box width, image pixels) to look for. In photos larger than about 18× this size it
   * plans an extra, high-resolution pass (see planPasses), which runs when the first pass shows small or
   * unsure faces or none (see adaptPass). Default 40. 0 = no such pass.
   */
  minFaceSize?: number;
  /** Long-side limit of the high-resolution pass, bounding its time and memory. Default 2048. */
  maxInputSize?: number;
  /**
   * Also look for faces that fill the frame (one extra 512 pass, and a further one when no face is found;
   * see planPasses). Default true.
   * `{ zoomOut: false, minFaceSize: 0 }` is face-api's single pass.
   */
  zoomOut?: boolean;
  /**
   * Run the zoom-out and high-resolution passes only where the first pass leaves them something to find
   * (see `SsdFaceDetector.detect`). Default true; false runs every planned pass.
   */
  adaptive?: boolean;
}

type Candidate = ScoredBox;

/**
 * The smallest face (box width, in network-input pixels) the detector finds reliably. Measured on the
 * shared group photos and face-api's samples shrunk step by step (faces at 8–44 input px, minScore 0.5):
 * recall 51 % at 8–12 px, 81 % at 12–16, 86–88 % at 16–28, 100 % from 28 px up.
 */
export const MIN_RELIABLE_INPUT_FACE = 28;

export interface Pass {
  /** 'full': the whole photo at 512 (always run); the others are extra passes (see planPasses). */
  kind: 'full' | 'zoomOut' | 'highRes' | 'zoomOutFar';
  /** Network input pixels per image pixel. */
  scale: number;
  /** Where the scaled image's top-left corner lands in the input. */
  x: number;
  y: number;
  /** Network input size; the rest around the image is filled with `fill`. */
  inputW: number;
  inputH: number;
  fill: number;
  /** Candidates whose longer side is below this many image pixels are dropped. */
  minBox: number;
}

/** How far the zoom-out pass shrinks the photo: the photo spans 1/ZOOM_OUT of the input's side. */
const ZOOM_OUT = 2.5;
/**
 * The last resort's zoom (see planPasses, pass 4). On the 149 shared colour face crops, photos without a
 * face at 0.5 went from 7 to 5 in colour and from 16 to 7 in grey (the images column of
 * `node scripts/accuracy-stages.mjs --sets colour --variants visage+flip,visage+grey+flip`, before and
 * after). It found nothing on the shared non-face photos (test/faces/detect.test.ts).
 */
const ZOOM_OUT_FAR = 5;
/** Smallest face the zoom-out pass reports, relative to the photo's long side. */
const ZOOM_OUT_MIN_FACE = 0.2;

/**
 * The network passes for one photo:
 * 1. the whole photo padded with black to a square and scaled to 512×512, exactly as face-api does;
 *    it finds faces down to 28·L/512 px (L the long side), but often not faces that fill the frame;
 * 2. "zoom-out": the photo shrunk to 1/2.5 of a grey 512×512 input, for faces that fill the frame,
 *    which SSD (trained on WIDER FACE) misses: on the shared 150×150 face crops (five_celebrity_faces,
 *    faceapi_bbt) pass 1 alone finds a face in 47 of 133, passes 1+2 in 126. It only reports faces of
 *    at least 0.2·L: smaller ones are below 41 input pixels there, and it produced false positives;
 * 3. when pass 1's floor is above `minFaceSize`, a fully convolutional pass on the photo scaled so a
 *    `minFaceSize` face spans 28 input pixels (anchors keep their absolute size, see anchors.ts), capped
 *    at `maxInputSize` on the long side. On a 3840×1920 collage of the shared group photos (40 faces,
 *    64–122 px) pass 1 finds 26; adding a 1536 pass 39 in 2.1 s; 40 overlapping 512 tiles (the
 *    alternative) found 38 in 23 s; neither added false positives. Pass 1 then leaves faces under 28
 *    input pixels to this pass.
 * 4. "zoom-out far": the photo at 1/5 of the input, a last resort for face crops the other passes miss,
 *    grey ones above all (SSD leans on skin colour); adaptive detection runs it only when no face was
 *    found, so photos with a face never pay for it.
 */
export function planPasses(
  width: number,
  height: number,
  opts: { minFaceSize: number; maxInputSize: number; zoomOut: boolean },
): Pass[] {
  const { minFaceSize, maxInputSize } = opts;
  const full = Math.max(width, height);
  const base = SSD_INPUT / full;
  const passes: Pass[] = [
    { kind: 'full', scale: base, x: 0, y: 0, inputW: SSD_INPUT, inputH: SSD_INPUT, fill: 0, minBox: 0 },
  ];
  if (opts.zoomOut) passes.push(zoomOutPass(width, height, ZOOM_OUT, 'zoomOut'));
  const scale = Math.min(MIN_RELIABLE_INPUT_FACE / minFaceSize, Math.max(SSD_INPUT, maxInputSize) / full);
  // Not worth a third pass unless it zooms in by at least a quarter.
  if (minFaceSize > 0 && scale >= 1.25 * base) {
    passes.push(highResPass(width, height, scale));
    // Faces below the reliable size at 512 are the third pass's: pass 1 localises them poorly, and its
    // boxes can be offset enough from the good ones to survive NMS as duplicates.
    passes[0].minBox = MIN_RELIABLE_INPUT_FACE / base;
  }
  if (opts.zoomOut) passes.push(zoomOutPass(width, height, ZOOM_OUT_FAR, 'zoomOutFar'));
  return passes;
}

/** The photo shrunk to 1/zoom of a grey 512×512 input, centred, reporting faces of at least 0.2·L only. */
function zoomOutPass(width: number, height: number, zoom: number, kind: 'zoomOut' | 'zoomOutFar'): Pass {
  const full = Math.max(width, height);
  const scale = SSD_INPUT / full / zoom;
  return {
    kind,
    scale,
    x: Math.round((SSD_INPUT - width * scale) / 2),
    y: Math.round((SSD_INPUT - height * scale) / 2),
    inputW: SSD_INPUT,
    inputH: SSD_INPUT,
    fill: 128,
    minBox: ZOOM_OUT_MIN_FACE * full,
  };
}

/** The whole photo at `scale`, its input sides rounded up to the network's stride (32). */
export function highResPass(width: number, height: number, scale: number): Pass {
  const up = (n: number) => Math.ceil(Math.round(n * scale) / 32) * 32;
  return { kind: 'highRes', scale, x: 0, y: 0, inputW: up(width), inputH: up(height), fill: 0, minBox: 0 };
}

/**
 * Score down to which pass 1's candidates count as evidence of faces (they are not reported): at 0.3
 * pass 1 already sees most faces the extra passes then find with confidence.
 */
export const PROBE_SCORE = 0.3;
/**
 * A pass-1 candidate narrower than this multiple of pass 1's reliable floor calls for the high-resolution
 * pass: faces that close to the floor are found unreliably (obama_and_biden.jpg's child, 36 input px
 * wide, scores 0.49 at 512 and 0.94 in the high-resolution pass), and crowds hold smaller ones still.
 */
export const SMALL_FACE_EVIDENCE = 1.5;
/**
 * A face pass 1 keeps with a lower score than this also calls for the high-resolution pass, which sees
 * it 2–3× larger: on large portraits pass 1 finds the face at 0.52–0.60 where that pass gives 1.00 and a
 * tighter box (obama-1080p.jpg, biden.jpg of face_recognition_examples).
 */
export const SURE_SCORE = 0.8;
/**
 * Once pass 1 has found faces, the high-resolution pass looks for faces down to half the narrowest one it
 * saw (never below `minFaceSize`): that face then spans this many input pixels, twice the reliable size.
 * A size-relative smallest face: a portrait or a group at an ordinary distance does not pay for the
 * 40 px faces of a crowd, while a crowd (candidates of a few input pixels) still gets the full zoom.
 */
export const SEEN_FACE_INPUT = 2 * MIN_RELIABLE_INPUT_FACE;

const longSide = (c: ScoredBox) => Math.max(c.box[2] - c.box[0], c.box[3] - c.box[1]);
const width = (c: ScoredBox) => c.box[3] - c.box[1];

/**
 * The extra pass `p` as it should run once pass 1 has run (`probe`: its candidates down to PROBE_SCORE;
 * `found`: the faces kept so far), or undefined when it can add nothing:
 * - zoom-out reports only faces of at least ZOOM_OUT_MIN_FACE·L, the frame-filling faces pass 1 misses.
 *   Skipped when pass 1 found a smaller face and saw no candidate of that size at all: the photo is a
 *   scene, not a close-up;
 * - high resolution finds the faces below pass 1's floor and sharpens the ones near it. Run as planned
 *   when no face was found so far. Otherwise run only when pass 1 saw a candidate near or below its
 *   floor or kept a face it was unsure of (< SURE_SCORE), and only as far in as SEEN_FACE_INPUT asks;
 *   skipped when every face was sure and well above the floor, where it would cost ~5× pass 1;
 * - zoom-out far runs only when the passes before it found no face.
 */
function adaptPass(
  p: Pass,
  full: Pass,
  probe: ScoredBox[],
  found: ScoredBox[],
  minScore: number,
  img: RgbImage,
): Pass | undefined {
  if (p.kind === 'zoomOut') {
    const large = (c: ScoredBox) => longSide(c) >= p.minBox;
    const scene = probe.some((c) => c.score >= minScore && !large(c)) && !probe.some(large);
    return scene ? undefined : p;
  }
  if (p.kind === 'zoomOutFar') return found.length === 0 ? p : undefined;
  if (p.kind !== 'highRes') return p;
  if (found.length === 0) return p;
  const floor = MIN_RELIABLE_INPUT_FACE / full.scale;
  const small = probe.some((c) => width(c) < SMALL_FACE_EVIDENCE * floor);
  if (!small && !found.some((c) => c.score < SURE_SCORE)) return undefined;
  const narrowest = Math.min(...probe.map(width), ...found.map(width));
  const scale = Math.min(p.scale, SEEN_FACE_INPUT / narrowest);
  return scale < 1.25 * full.scale ? undefined : highResPass(img.width, img.height, scale);
}

export class SsdFaceDetector {
  readonly net: InferenceNetwork;
  /** Passes run by detect() so far, and their time (ms), per kind: what `visage bench faces` reports. */
  readonly passStats: Record<Pass['kind'], { runs: number; ms: number }> = {
    full: { runs: 0, ms: 0 },
    zoomOut: { runs: 0, ms: 0 },
    highRes: { runs: 0, ms: 0 },
    zoomOutFar: { runs: 0, ms: 0 },
  };
  private readonly anchorCache = new Map<string, Float32Array>();

  constructor(net: InferenceNetwork) {
    this.net = net;
  }

  /** Loads face-api's weights (node_modules) into our graph; batch-norm is folded into the depthwise convs. */
  static load(modelDir?: string, engine?: EngineName): SsdFaceDetector {
    const m = loadSsdMobilenetV1(modelDir);
    const folded = foldBatchNorm(m.def, m.weights);
    return new SsdFaceDetector(createInferenceNetwork(folded.def, folded.weights, { engine }));
  }

  async detect(img: RgbImage, opts: DetectOptions = {}): Promise<DetectedFace[]> {
    assertRgbImage(img);
    const minScore = opts.minScore ?? 0.5;
    const maxFaces = opts.maxFaces ?? 100;
    const iouThreshold = opts.iouThreshold ?? 0.5;
    if (!(minScore > 0 && minScore < 1))
      throw new VisageError('E_BAD_OPTION', `minScore must be in (0, 1), got ${minScore}`);
    const passes = planPasses(img.width, img.height, {
      minFaceSize: opts.minFaceSize ?? 40,
      maxInputSize: opts.maxInputSize ?? 2048,
      zoomOut: opts.zoomOut ?? true,
    });
    const candidates: Candidate[] = [];
    const adaptive = opts.adaptive ?? true;
    // Pass 1 is read down to PROBE_SCORE: its weak candidates are the evidence the extra passes need.
    const [full, ...extra] = passes;
    const probe = await this.timedPass(img, { ...full, minBox: 0 }, Math.min(minScore, PROBE_SCORE));
    candidates.push(...probe.filter((c) => c.score >= minScore && longSide(c) >= full.minBox));
    for (const planned of extra) {
      const p = adaptive ? adaptPass(planned, full, probe, candidates, minScore, img) : planned;
      if (p) candidates.push(...(await this.timedPass(img, p, minScore)));
    }
    const merged = suppressFragments(nonMaxSuppression(candidates, iouThreshold, Infinity));
    return merged.slice(0, maxFaces).map((c) => {
      const [y0, x0, y1, x1] = c.box;
      return { box: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, score: c.score };
    });
  }

  private async timedPass(img: RgbImage, pass: Pass, minScore: number): Promise<Candidate[]> {
    const t = performance.now();
    const out = await this.runPass(img, pass, minScore);
    const s = this.passStats[pass.kind];
    s.runs++;
    s.ms += performance.now() - t;
    return out;
  }

  /** The raw candidates (score ≥ minScore) of one pass, boxes in image pixels clipped to the image. */
  async runPass(img: RgbImage, pass: Pass, minScore: number): Promise<Candidate[]> {
    const { inputW: inW, inputH: inH, x: ox, y: oy } = pass;
    const dw = Math.max(1, Math.min(inW, Math.round(img.width * pass.scale)));
    const dh = Math.max(1, Math.min(inH, Math.round(img.height * pass.scale)));
    const scaled = resize(img, dw, dh);
    // The scaled photo at (ox, oy) of an inH×inW input filled with `fill`, as 0..255 floats.
    const input = new Float32Array(inH * inW * 3).fill(pass.fill);
    for (let r = 0; r < dh; r++) {
      const src = r * dw * 3;
      const dst = ((oy + r) * inW + ox) * 3;
      for (let i = 0; i < dw * 3; i++) input[dst + i] = scaled.data[src + i];
    }
    const outs = await this.net.run({ data: input, shape: [1, inH, inW, 3] });
    const grids: Array<[number, number]> = [];
    const boxes: Float32Array[] = [];
    const logits: Float32Array[] = [];
    for (let i = 0; i < SSD_HEADS.length; i++) {
      const [b, c] = ssdHeadOutputs(i);
      grids.push([outs[b].shape[1], outs[b].shape[2]]);
      boxes.push(outs[b].data);
      logits.push(outs[c].data);
    }
    const anchors = this.anchors(inH, inW, grids);
    // Normalised input coordinates → image pixels (edge coordinates), per axis.
    const kx = img.width / dw;
    const ky = img.height / dh;
    const toX = (u: number) => Math.min(img.width, Math.max(0, (u * inW - ox) * kx));
    const toY = (v: number) => Math.min(img.height, Math.max(0, (v * inH - oy) * ky));
    const logitMin = Math.log(minScore / (1 - minScore));
    const out: Candidate[] = [];
    let a = 0;
    for (let h = 0; h < grids.length; h++) {
      const box = boxes[h];
      const cls = logits[h];
      const n = box.length / 4;
      for (let j = 0; j < n; j++, a++) {
        // Class 0 is background, 1 face; face-api scores with a sigmoid of the face logit alone.
        const logit = cls[j * 3 + 1];
        if (logit < logitMin) continue;
        const score = 1 / (1 + Math.exp(-logit));
        const ay0 = anchors[a * 4];
        const ax0 = anchors[a * 4 + 1];
        const ah = anchors[a * 4 + 2] - ay0;
        const aw = anchors[a * 4 + 3] - ax0;
        // TF OD API box coder with scale factors (10, 10, 5, 5).
        const cy = (box[j * 4] / 10) * ah + ay0 + ah / 2;
        const cx = (box[j * 4 + 1] / 10) * aw + ax0 + aw / 2;
        const hh = (Math.exp(box[j * 4 + 2] / 5) * ah) / 2;
        const hw = (Math.exp(box[j * 4 + 3] / 5) * aw) / 2;
        const y0 = toY(cy - hh);
        const x0 = toX(cx - hw);
        const y1 = toY(cy + hh);
        const x1 = toX(cx + hw);
        if (y1 - y0 < 1 || x1 - x0 < 1 || Math.max(y1 - y0, x1 - x0) < pass.minBox) continue;
        out.push({ box: [y0, x0, y1, x1], score });
      }
    }
    return out;
  }

  private anchors(h: number, w: number, grids: Array<[number, number]>): Float32Array {
    const key = `${h}x${w}:${grids.map((g) => g.join('x')).join(',')}`;
    let a = this.anchorCache.get(key);
    if (!a) {
      a = generateAnchors(h, w, grids, SSD_STRIDES);
      this.anchorCache.set(key, a);
    }
    return a;
  }

  dispose(): void {
    this.net.dispose();
  }
}

/**
 * Drops a box when most of it (≥ 60 %) lies inside a larger kept box: what remains of a face cut by a
 * tile border, or a face part detected inside a face. Two visible faces never overlap that much.
 */
function suppressFragments<T extends ScoredBox>(boxes: T[]): T[] {
  const area = (b: ScoredBox['box']) => (b[2] - b[0]) * (b[3] - b[1]);
  return boxes.filter((c) => {
    const a = area(c.box);
    return !boxes.some((k) => {
      if (k === c || area(k.box) <= a) return false;
      const ih = Math.max(0, Math.min(c.box[2], k.box[2]) - Math.max(c.box[0], k.box[0]));
      const iw = Math.max(0, Math.min(c.box[3], k.box[3]) - Math.max(c.box[1], k.box[1]));
      return ih * iw >= 0.6 * a;
    });
  });
}
