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
import { z } from 'zod';
import { VisageError } from './errors.js';
import { statInputFile } from './files.js';
import { parseOptions, ThresholdSchema } from './options.js';
import {
  confidence as confidenceOf,
  squaredL2,
  verifyDecision,
  type ThresholdPolicy,
} from './faces/compare.js';
import { loadCalibration, policyFor, defaultCalibration, type CalibrationFile } from './faces/calibration.js';
import type { FaceEncoder } from './faces/encoder.js';
import { FacePipeline } from './faces/pipeline.js';
import type { DetectedFace, Embedding } from './faces/types.js';
import { decodeImage } from './image/decode.js';
import { assertRgbImage, type RgbImage } from './image/rgb.js';
import { Gallery, type PersonInfo, type SearchMatch } from './store/gallery.js';

/** A file path, encoded image bytes, or decoded pixels. */
export type ImageInput = string | Uint8Array | RgbImage;

/** The options of `new Visage(…)`, checked once here (the CLI and the HTTP API pass theirs through it). */
export const VisageOptionsSchema = z
  .object({
    gallery: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
    encoder: z.custom<FaceEncoder>((e) => typeof e === 'object' && e !== null && 'encode' in e).optional(),
    flip: z.boolean().optional(),
    jitter: z.number().int().min(0).max(64).optional(),
    threshold: ThresholdSchema.optional(),
    calibration: z.string().min(1).optional(),
    maxPixels: z.number().int().min(1).optional(),
  })
  .strict();

/** Options of `new Visage(options)`; every field is optional and has a default that works. */
export interface VisageOptions {
  /**
   * Gallery file for enroll / identify / people (default: VISAGE_GALLERY, else ./visage-gallery.sqlite).
   * enroll creates it; the other verbs need it to exist (E_GALLERY_NOT_FOUND).
   */
  gallery?: string;
  /** A Visage model folder (from `visage train`) to use as the encoder instead of the default dlib ResNet. */
  model?: string;
  /** Or an encoder object (another FaceEncoder implementation). */
  encoder?: FaceEncoder;
  /**
   * Test-time flip augmentation: mean of the descriptors of the face and its mirror image (default: on
   * for dlib; for a trained model its own, on when trained with `--val-flip`). Costs a second encoder pass.
   */
  flip?: boolean;
  /**
   * Jitter averaging (dlib's num_jitters): also encode this many slightly rotated, scaled, shifted or
   * mirrored chips of each face and average (default: 4 for dlib, 0 for a trained model; 0 = off).
   * About 14 % more time per face with 4.
   */
  jitter?: number;
  /**
   * Decision threshold τ on d = ‖f(a) − f(b)‖² between unit vectors, in [0, 4]: same person when d ≤ τ.
   * Default: calibrated per model (models/calibration.json; about 0.14 for dlib, chosen for FAR ≤ 0.1 % on new people). Lower is stricter.
   */
  threshold?: number;
  /** Calibration file with per-model τ and confidence (default: the one shipped in models/calibration.json). */
  calibration?: string;
  /** Pixel limit for decoded images (default 40 MP, or VISAGE_MAX_PIXELS). */
  maxPixels?: number;
}

/** Options of `verify`: which face of each photo (detection order, 0 = best score); default the largest. */
export const VerifyOptionsSchema = z
  .object({ faceA: z.number().int().min(0).optional(), faceB: z.number().int().min(0).optional() })
  .strict();
/** Options of `verify`: `faceA` / `faceB` pick a face by detection index (default: the largest). */
export type VerifyOptions = z.input<typeof VerifyOptionsSchema>;

/** Options of `identify`: how many nearest people to list per face (default 3, at least 1). */
export const IdentifyOptionsSchema = z.object({ top: z.number().int().min(1).max(1000).default(3) }).strict();
/** Options of `identify`: `top`, the nearest people listed per face (default 3). */
export type IdentifyOptions = z.input<typeof IdentifyOptionsSchema>;

/** A person's name: non-empty after trimming, at most 200 characters. */
export const PersonNameSchema = z
  .string()
  .refine((n) => n.trim().length > 0, 'a person needs a non-empty name')
  .refine((n) => n.length <= 200, 'a name is at most 200 characters');

/** Where a face is: its index in detection order, its box in pixels, the detector score (0…1). */
export interface FaceReport {
  /** Index of the face in detection order (best score first). */
  index: number;
  box: DetectedFace['box'];
  score: number;
}

/** What `verify` answers: the verdict, d, τ, the confidence and which faces were compared. */
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

/** The face a verb used from one image, and how many the image had. */
export interface UsedFace extends FaceReport {
  image: string;
  /** How many faces the image had. */
  found: number;
}

/** A gallery person matched to a face. */
export interface FaceMatch {
  name: string;
  /** d = ‖f(face) − f(person)‖², the closest of the person's embeddings. */
  distance: number;
  /** P(same | d) from the model's calibration; null when the model has none. */
  confidence: number | null;
}

/** One face of an `identify` answer. */
export interface IdentifiedFace extends FaceReport {
  /**
   * Who this face is: the nearest enrolled person within τ, or null for nobody ("unknown"). Within one
   * photo each person is given to at most one face — the closest; another face gets its next match.
   */
  match: FaceMatch | null;
  /** Nearest people, closest first, at most `top`, regardless of τ. */
  matches: Array<SearchMatch & { confidence: number | null }>;
}

/** What `identify` answers: every face of the photo with its match (or null) and nearest people. */
export interface IdentifyResult {
  image: string;
  model: string;
  threshold: number;
  faces: IdentifiedFace[];
}

/** What `enroll` did: embeddings added, the person's total, whether the person is new. */
export interface EnrollResult {
  name: string;
  added: number;
  total: number;
  created: boolean;
  faces: UsedFace[];
  notes: string[];
}

/** What `detect` answers: the image size and every face with its box, score and 68 landmarks. */
export interface DetectResult {
  image: string;
  width: number;
  height: number;
  faces: Array<FaceReport & { landmarks?: DetectedFace['landmarks'] }>;
}

/** What `embed` answers for one image: every face with its unit-length embedding (128 values for dlib). */
export interface EmbedResult {
  image: string;
  model: string;
  faces: Array<FaceReport & { landmarks?: DetectedFace['landmarks']; embedding: Float32Array }>;
}

function describe(input: ImageInput): string {
  return typeof input === 'string' ? input : input instanceof Uint8Array ? '<bytes>' : '<image>';
}

/** The face verbs over one encoder and one gallery: `verify` (1:1), `enroll` (one photo is enough),
 * `identify` (1:K, open set), `embed`, `detect` and the people in the gallery. Models load on first
 * use; `close()` frees them. Inputs are paths, encoded bytes or decoded RGB pixels. */
export class Visage {
  readonly options: VisageOptions;
  readonly pipeline: FacePipeline;
  private galleryHandle?: Gallery;
  private calibration?: CalibrationFile | null;

  /** Options are checked here (E_BAD_OPTION); no model is loaded until the first verb needs it. */
  constructor(options: VisageOptions = {}) {
    this.options = parseOptions(VisageOptionsSchema, options, 'Visage options');
    if (this.options.calibration) statInputFile(this.options.calibration, 'calibration file');
    this.pipeline = new FacePipeline({ encoder: this.options.encoder, model: this.options.model });
  }

  /** Decode any accepted input into RGB pixels (EXIF-rotated, size-checked). */
  async load(input: ImageInput): Promise<RgbImage> {
    if (typeof input === 'string' || input instanceof Uint8Array)
      return decodeImage(input, { maxPixels: this.options.maxPixels });
    assertRgbImage(input);
    return input;
  }

  /**
   * Decodes the inputs one ahead: asking for image i starts decoding image i + 1 (sharp decodes on
   * libuv's threads), so it overlaps image i's network work. A failed decode is reported only when its
   * image's turn comes, as without the look-ahead.
   */
  private decodeAhead(inputs: readonly ImageInput[]): (i: number) => Promise<RgbImage> {
    const started = new Map<number, Promise<RgbImage>>();
    const start = (i: number): Promise<RgbImage> | undefined => {
      if (i >= inputs.length) return undefined;
      let p = started.get(i);
      if (!p) {
        p = this.load(inputs[i]);
        p.catch(() => undefined); // observed here; awaited (and thrown) by the caller in turn
        started.set(i, p);
      }
      return p;
    };
    return (i) => {
      const p = start(i)!;
      start(i + 1);
      return p;
    };
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
        this.calibration = defaultCalibration();
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
    const decoded = this.decodeAhead(inputs);
    for (const [i, input] of inputs.entries()) {
      const img = await decoded(i);
      const faces = await this.pipeline.embedAll(img, {
        flip: this.options.flip,
        jitter: this.options.jitter,
      });
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
    decoded: Promise<RgbImage> = this.load(input),
  ): Promise<{ used: UsedFace; embedding: Embedding }> {
    const img = await decoded;
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
    const [e] = await this.pipeline.embedFaces(img, [faces[index]], this.options.flip, this.options.jitter);
    return {
      used: { image: name, index, box: e.face.box, score: e.face.score, found: faces.length },
      embedding: e.embedding,
    };
  }

  /**
   * 1:1 — are the faces in two photos the same person? Uses the largest face of each photo unless
   * `faceA` / `faceB` pick another (notes say when a photo had several). `same` is d ≤ τ.
   */
  async verify(a: ImageInput, b: ImageInput, opts: VerifyOptions = {}): Promise<VerifyResult> {
    const o = parseOptions(VerifyOptionsSchema, opts, 'verify options');
    // The model and its threshold first: a bad --model or --calibration fails before any detection.
    const policy = await this.policy();
    const notes: string[] = [];
    const decoded = this.decodeAhead([a, b]);
    const ea = await this.oneFace(a, o.faceA, notes, decoded(0));
    const eb = await this.oneFace(b, o.faceB, notes, decoded(1));
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

  /**
   * The gallery, opened on first use. Only enroll (`create`) makes a new file; the verbs that read or edit
   * what is there fail with E_GALLERY_NOT_FOUND on a missing one instead of leaving an empty file behind.
   */
  async gallery(opts: { create?: boolean } = {}): Promise<Gallery> {
    if (!this.galleryHandle) {
      const encoder = await this.pipeline.encoder();
      const file = this.options.gallery ?? process.env.VISAGE_GALLERY ?? 'visage-gallery.sqlite';
      this.galleryHandle = Gallery.open(file, {
        model: encoder.id,
        dim: encoder.dim,
        create: opts.create ?? false,
      });
    }
    return this.galleryHandle;
  }

  /**
   * One-shot enrollment: one photo is enough, more are allowed (a path, bytes, pixels, or a list of them).
   * Every image must show a face (the largest is used); all embeddings are computed before the gallery is
   * touched, and written in one transaction, so a bad photo in the list stores nothing.
   */
  async enroll(name: string, inputs: ImageInput | ImageInput[]): Promise<EnrollResult> {
    const person = parseOptions(PersonNameSchema, name, 'enroll');
    const list = Array.isArray(inputs) ? inputs : [inputs];
    if (list.length === 0) throw new VisageError('E_USAGE', 'enroll needs at least one image');
    await this.pipeline.encoder();
    const notes: string[] = [];
    const used: UsedFace[] = [];
    const vectors: Embedding[] = [];
    const decoded = this.decodeAhead(list);
    for (const [i, input] of list.entries()) {
      const e = await this.oneFace(input, undefined, notes, decoded(i));
      used.push(e.used);
      vectors.push(e.embedding);
    }
    const gallery = await this.gallery({ create: true });
    const r = gallery.enroll(person, vectors, { source: used.map((u) => u.image) });
    return { name: r.name, added: r.added, total: r.total, created: r.created, faces: used, notes };
  }

  /**
   * 1:K — who is each face in the photo? Each face gets `match` (the nearest person within τ) or null
   * for unknown, plus its `top` nearest people. Faces of one photo are assigned one-to-one: a person
   * matched by two faces keeps the closer one. A photo without faces gives an empty list.
   */
  async identify(input: ImageInput, opts: IdentifyOptions = {}): Promise<IdentifyResult> {
    const { top } = parseOptions(IdentifyOptionsSchema, opts, 'identify options');
    const policy = await this.policy();
    const gallery = await this.gallery();
    const img = await this.load(input);
    const faces = await this.pipeline.embedAll(img, { flip: this.options.flip, jitter: this.options.jitter });
    const conf = (d: number) => (policy.confidence ? confidenceOf(policy.confidence, d) : null);
    // Enough candidates per face that a face losing its first choice can still take its next one.
    const results = faces.map((f) =>
      gallery.search(f.embedding, { top: Math.max(top, faces.length), threshold: policy.threshold }),
    );
    const assigned = assignOneToOne(
      results.map((r) => r.matches.filter((m) => m.distance <= policy.threshold)),
    );
    return {
      image: describe(input),
      model: (await this.pipeline.encoder()).id,
      threshold: policy.threshold,
      faces: faces.map((f, index) => {
        const m = assigned[index];
        return {
          index,
          box: f.face.box,
          score: f.face.score,
          match: m ? { name: m.name, distance: m.distance, confidence: conf(m.distance) } : null,
          matches: results[index].matches.slice(0, top).map((c) => ({ ...c, confidence: conf(c.distance) })),
        };
      }),
    };
  }

  /** Every face in a photo (boxes in pixels, score 0…1, 68 landmarks), best score first; no embeddings. */
  async detect(input: ImageInput): Promise<DetectResult> {
    const img = await this.load(input);
    const faces = await this.pipeline.detect(img);
    return {
      image: describe(input),
      width: img.width,
      height: img.height,
      faces: faces.map((f, index) => ({ index, box: f.box, score: f.score, landmarks: f.landmarks })),
    };
  }

  /** Everyone enrolled, with embedding counts (E_GALLERY_NOT_FOUND when the gallery file does not exist). */
  async listPeople(): Promise<PersonInfo[]> {
    return (await this.gallery()).listPeople();
  }

  /** Delete a person and all their embeddings (E_UNKNOWN_PERSON when there is no such person). */
  async removePerson(name: string): Promise<{ name: string; embeddings: number }> {
    return (await this.gallery()).removePerson(name);
  }

  /** Rename a person (E_UNKNOWN_PERSON for a missing one). */
  async renamePerson(from: string, to: string): Promise<void> {
    parseOptions(PersonNameSchema, to, 'rename');
    (await this.gallery()).renamePerson(from, to);
  }

  /** Close the gallery and free the models' memory. The instance can be used again afterwards. */
  async close(): Promise<void> {
    this.galleryHandle?.close();
    this.galleryHandle = undefined;
    await this.pipeline.dispose();
  }
}

/**
 * One person per face: candidate pairs (face, person within τ) taken closest first, each face and each
 * person used once. Greedy is exact enough here: a photo has a handful of faces and the distances of
 * true matches are far apart from those of strangers.
 */
export function assignOneToOne(candidates: SearchMatch[][]): Array<SearchMatch | null> {
  const pairs = candidates.flatMap((list, face) => list.map((m) => ({ face, m })));
  pairs.sort((x, y) => x.m.distance - y.m.distance || x.face - y.face);
  const out: Array<SearchMatch | null> = candidates.map(() => null);
  const taken = new Set<number>();
  for (const { face, m } of pairs) {
    if (out[face] || taken.has(m.personId)) continue;
    out[face] = m;
    taken.add(m.personId);
  }
  return out;
}

function area(f: DetectedFace): number {
  return f.box.width * f.box.height;
}
