/**
 * The whole user API for faces in one file (face_recognition's api.py is the model): one verb per task —
 * embed, verify, enroll, identify, people — the same verbs as the CLI (`visage <verb>`).
 *
 *   const v = new Visage({ gallery: 'people.sqlite' });
 *   await v.enroll('alice', ['alice.jpg']);
 *   const { faces } = await v.identify('party.jpg');
 *   const { same, confidence } = await v.verify('a.jpg', 'b.jpg');
 *   await v.close();
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VisageError } from './errors.js';
import {
  confidence as confidenceOf,
  squaredL2,
  verifyDecision,
  type ThresholdPolicy,
} from './faces/compare.js';
import { loadCalibration, policyFor, type CalibrationFile } from './faces/calibration.js';
import type { FaceEncoder } from './faces/encoder.js';
import { FacePipeline } from './faces/pipeline.js';
import type { DetectedFace, Embedding } from './faces/types.js';
import { decodeImage } from './image/decode.js';
import { assertRgbImage, type RgbImage } from './image/rgb.js';
import { packageRoot } from './paths.js';
import { Gallery, type PersonInfo, type SearchMatch } from './store/gallery.js';

/** A file path, encoded image bytes, or decoded pixels. */
export type ImageInput = string | Uint8Array | RgbImage;

export interface VisageOptions {
  /** Gallery file for enroll / identify / people (default: VISAGE_GALLERY, else ./visage-gallery.sqlite). */
  gallery?: string;
  /** A Visage model folder (from `visage train`) to use as the encoder instead of the default dlib ResNet. */
  model?: string;
  /** Or an encoder object (another FaceEncoder implementation). */
  encoder?: FaceEncoder;
  /**
   * Test-time flip augmentation: mean of the descriptors of the face and its mirror image (default: the
   * encoder's own — on for a model trained with `--val-flip`, off for dlib).
   */
  flip?: boolean;
  /** Override the decision threshold τ (squared L2 between unit vectors). */
  threshold?: number;
  /** Calibration file with per-model τ and confidence (default: the one shipped in models/calibration.json). */
  calibration?: string;
  /** Pixel limit for decoded images (default 40 MP). */
  maxPixels?: number;
}

export interface FaceReport {
  /** Index of the face in detection order (best score first). */
  index: number;
  box: DetectedFace['box'];
  score: number;
}

export interface VerifyResult {
  same: boolean;
  /** d = ||f(a) − f(b)||² between unit vectors, in [0, 4]. */
  distance: number;
  threshold: number;
  /** P(same | d) from the model's logistic calibration; null when the model has none. */
  confidence: number | null;
  model: string;
  faces: [UsedFace, UsedFace];
  notes: string[];
}

export interface UsedFace extends FaceReport {
  image: string;
  /** How many faces the image had. */
  found: number;
}

export interface IdentifiedFace extends FaceReport {
  /** Best match within τ, or 'unknown'. */
  identity: string | 'unknown';
  distance: number | null;
  confidence: number | null;
  /** Nearest people, closest first, at most `top`, regardless of τ. */
  matches: Array<SearchMatch & { confidence: number | null }>;
}

export interface IdentifyResult {
  image: string;
  model: string;
  threshold: number;
  faces: IdentifiedFace[];
}

export interface EnrollResult {
  name: string;
  added: number;
  total: number;
  created: boolean;
  faces: UsedFace[];
  notes: string[];
}

export interface EmbedResult {
  image: string;
  model: string;
  faces: Array<FaceReport & { landmarks?: DetectedFace['landmarks']; embedding: Float32Array }>;
}

/** Where `visage calibrate` saves by default: the user's config, never the installed package. */
export function userCalibrationFile(): string {
  const base = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'visage', 'calibration.json');
}

/** The calibration shipped with the package (made by `visage calibrate`, see README). */
export function shippedCalibrationFile(): string {
  return path.join(packageRoot(), 'models', 'calibration.json');
}

function describe(input: ImageInput): string {
  return typeof input === 'string' ? input : input instanceof Uint8Array ? '<bytes>' : '<image>';
}

export class Visage {
  readonly options: VisageOptions;
  readonly pipeline: FacePipeline;
  private galleryHandle?: Gallery;
  private calibration?: CalibrationFile | null;

  constructor(options: VisageOptions = {}) {
    this.options = options;
    this.pipeline = new FacePipeline({ encoder: options.encoder, model: options.model });
  }

  /** Decode any accepted input into RGB pixels (EXIF-rotated, size-checked). */
  async load(input: ImageInput): Promise<RgbImage> {
    if (typeof input === 'string' || input instanceof Uint8Array)
      return decodeImage(input, { maxPixels: this.options.maxPixels });
    assertRgbImage(input);
    return input;
  }

  /** Threshold and confidence model for the current encoder. */
  async policy(): Promise<ThresholdPolicy> {
    const encoder = await this.pipeline.encoder();
    if (this.calibration === undefined) {
      // An explicit file; else the shipped calibration overlaid with the user's own (`visage calibrate`).
      if (this.options.calibration) {
        if (!fs.existsSync(this.options.calibration)) {
          throw new VisageError(
            'E_FILE_NOT_FOUND',
            `calibration file not found: ${this.options.calibration}`,
          );
        }
        this.calibration = loadCalibration(this.options.calibration);
      } else {
        const files = [shippedCalibrationFile(), userCalibrationFile()].filter((f) => fs.existsSync(f));
        this.calibration = files.length
          ? { version: 1, policies: Object.assign({}, ...files.map((f) => loadCalibration(f).policies)) }
          : null;
      }
    }
    let policy: ThresholdPolicy;
    try {
      policy = policyFor(encoder.id, this.calibration ?? undefined);
    } catch (e) {
      // A trained model carries the threshold chosen on its validation identities.
      const t = (encoder as { threshold?: number }).threshold;
      if (typeof t !== 'number') throw e;
      policy = { model: encoder.id, metric: 'squared-l2', threshold: t };
    }
    return this.options.threshold !== undefined ? { ...policy, threshold: this.options.threshold } : policy;
  }

  /** Every face in each image with its embedding. An image without faces gives an empty list. */
  async embed(inputs: ImageInput[]): Promise<EmbedResult[]> {
    const out: EmbedResult[] = [];
    for (const input of inputs) {
      const img = await this.load(input);
      const faces = await this.pipeline.embedAll(img, { flip: this.options.flip });
      out.push({
        image: describe(input),
        model: (await this.pipeline.encoder()).id,
        faces: faces.map((f, index) => ({
          index,
          box: f.face.box,
          score: f.face.score,
          landmarks: f.face.landmarks,
          embedding: f.embedding.vector,
        })),
      });
    }
    return out;
  }

  /** One face of an image (the largest unless `face` picks another), with a note when there were several. */
  private async oneFace(
    input: ImageInput,
    face: number | undefined,
    notes: string[],
  ): Promise<{ used: UsedFace; embedding: Embedding }> {
    const img = await this.load(input);
    const faces = await this.pipeline.detect(img);
    const name = describe(input);
    if (faces.length === 0) throw new VisageError('E_NO_FACE', `no face found in ${name}`, { image: name });
    let index: number;
    if (face === undefined) {
      index = 0;
      for (let i = 1; i < faces.length; i++) if (area(faces[i]) > area(faces[index])) index = i;
      if (faces.length > 1)
        notes.push(
          `${name}: ${faces.length} faces found, used the largest (#${index}); pick another with --face`,
        );
    } else {
      if (!Number.isInteger(face) || face < 0 || face >= faces.length) {
        throw new VisageError('E_FACE_INDEX', `${name}: face #${face} asked for, ${faces.length} found`, {
          image: name,
          faces: faces.length,
        });
      }
      index = face;
    }
    const [e] = await this.pipeline.embedFaces(img, [faces[index]], this.options.flip);
    return {
      used: { image: name, index, box: e.face.box, score: e.face.score, found: faces.length },
      embedding: e.embedding,
    };
  }

  /** 1:1 — are these the same person? */
  async verify(
    a: ImageInput,
    b: ImageInput,
    opts: { faceA?: number; faceB?: number } = {},
  ): Promise<VerifyResult> {
    const notes: string[] = [];
    const ea = await this.oneFace(a, opts.faceA, notes);
    const eb = await this.oneFace(b, opts.faceB, notes);
    const policy = await this.policy();
    const distance = squaredL2(ea.embedding.vector, eb.embedding.vector);
    const decision = verifyDecision(distance, policy.threshold);
    return {
      same: decision.same,
      distance,
      threshold: policy.threshold,
      confidence: policy.confidence ? confidenceOf(policy.confidence, distance) : null,
      model: ea.embedding.model,
      faces: [ea.used, eb.used],
      notes,
    };
  }

  /** The gallery, opened (or created for this encoder) on first use. */
  async gallery(): Promise<Gallery> {
    if (!this.galleryHandle) {
      const encoder = await this.pipeline.encoder();
      const file = this.options.gallery ?? process.env.VISAGE_GALLERY ?? 'visage-gallery.sqlite';
      this.galleryHandle = Gallery.open(file, { model: encoder.id, dim: encoder.dim });
    }
    return this.galleryHandle;
  }

  /**
   * One-shot enrollment: one photo is enough, more are allowed. Every image must show a face (the largest is
   * used); all embeddings are computed before the gallery is touched, and written in one transaction.
   */
  async enroll(name: string, inputs: ImageInput[]): Promise<EnrollResult> {
    if (!name.trim()) throw new VisageError('E_BAD_INPUT', 'a person needs a non-empty name');
    if (inputs.length === 0) throw new VisageError('E_USAGE', 'enroll needs at least one image');
    const notes: string[] = [];
    const used: UsedFace[] = [];
    const vectors: Embedding[] = [];
    for (const input of inputs) {
      const e = await this.oneFace(input, undefined, notes);
      used.push(e.used);
      vectors.push(e.embedding);
    }
    const gallery = await this.gallery();
    const r = gallery.enroll(name, vectors, { source: used.map((u) => u.image) });
    return { name: r.name, added: r.added, total: r.total, created: r.created, faces: used, notes };
  }

  /** 1:K — who is each face in the photo, or 'unknown'. A photo without faces gives an empty list. */
  async identify(input: ImageInput, opts: { top?: number } = {}): Promise<IdentifyResult> {
    const gallery = await this.gallery();
    const policy = await this.policy();
    const img = await this.load(input);
    const faces = await this.pipeline.embedAll(img, { flip: this.options.flip });
    const conf = (d: number) => (policy.confidence ? confidenceOf(policy.confidence, d) : null);
    return {
      image: describe(input),
      model: (await this.pipeline.encoder()).id,
      threshold: policy.threshold,
      faces: faces.map((f, index) => {
        const r = gallery.search(f.embedding, { top: opts.top ?? 3, threshold: policy.threshold });
        const best = r.best;
        return {
          index,
          box: f.face.box,
          score: f.face.score,
          identity: best === 'unknown' ? 'unknown' : best.name,
          distance: best === 'unknown' ? (r.matches[0]?.distance ?? null) : best.distance,
          confidence: best === 'unknown' ? null : conf(best.distance),
          matches: r.matches.map((m) => ({ ...m, confidence: conf(m.distance) })),
        };
      }),
    };
  }

  async listPeople(): Promise<PersonInfo[]> {
    return (await this.gallery()).listPeople();
  }

  async removePerson(name: string): Promise<{ name: string; embeddings: number }> {
    return (await this.gallery()).removePerson(name);
  }

  async renamePerson(from: string, to: string): Promise<void> {
    (await this.gallery()).renamePerson(from, to);
  }

  async close(): Promise<void> {
    this.galleryHandle?.close();
    this.galleryHandle = undefined;
    await this.pipeline.dispose();
  }
}

function area(f: DetectedFace): number {
  return f.box.width * f.box.height;
}
