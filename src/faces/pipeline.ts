/**
 * The face pipeline: detect (SSD-MobileNetV1) → 68 landmarks → dlib alignment (150×150 chip) → encode
 * (dlib ResNet by default). Models load lazily on first use, once per pipeline. Everything is ours except
 * the weights, which are read from @vladmandic/face-api's model folder.
 *
 *   const faces = new FacePipeline();
 *   const { embedding } = await faces.embed(await decodeImage('me.jpg'));
 */
import { initEngine } from '../engine/backend.js';
import { VisageError } from '../errors.js';
import { flipHorizontal } from '../image/geometry.js';
import { assertRgbImage, type RgbImage } from '../image/rgb.js';
import { alignFace, extractChip } from './align.js';
import { meanDirection } from './compare.js';
import { SsdFaceDetector, type DetectOptions } from './detector/ssd-detector.js';
import {
  DLIB_PIPELINE_FLIP,
  DLIB_PIPELINE_JITTER,
  loadDlibEncoder,
  loadGraphEncoder,
  type FaceEncoder,
} from './encoder.js';
import { jitterTransforms } from './jitter.js';
import { LandmarkDetector, type LandmarkOptions } from './landmarks.js';
import type { AlignedFace, DetectedFace, Embedding } from './types.js';

export interface FacePipelineOptions {
  /** Folder with face-api's model files. Default: the installed @vladmandic/face-api package's. */
  modelDir?: string;
  /** The encoder to use (default: dlib ResNet-34, loaded lazily). The pipeline disposes it. */
  encoder?: FaceEncoder;
  /** Or a Visage model folder (from `visage train`), loaded lazily once the engine is up. */
  model?: string;
  /** Default detection options (per-call options override them). */
  detect?: DetectOptions;
  /** Margin of the aligned chip around the mean face (dlib: 0.25). */
  padding?: number;
  /** Landmark options (mirror averaging). */
  landmarks?: LandmarkOptions;
}

export interface EmbedOptions {
  /** Which face: 'largest' (default) or an index into detect()'s order (best score first). */
  face?: 'largest' | number;
  /** Test-time flip augmentation (default: on for dlib, DLIB_PIPELINE_FLIP; else the encoder's own). */
  flip?: boolean;
  /**
   * Jitter averaging (dlib's num_jitters): also encode this many randomly perturbed chips of each face
   * and average them with the chip (and its mirror, with flip). Default: DLIB_PIPELINE_JITTER for dlib, 0
   * (off) for another encoder. See jitter.ts.
   */
  jitter?: number;
  detect?: DetectOptions;
}

export interface FaceEmbedding {
  face: DetectedFace;
  embedding: Embedding;
}

export class FacePipeline {
  private readonly opts: FacePipelineOptions;
  private detector?: Promise<SsdFaceDetector>;
  private landmarker?: Promise<LandmarkDetector>;
  private encoderP?: Promise<FaceEncoder>;

  constructor(opts: FacePipelineOptions = {}) {
    this.opts = opts;
  }

  /** The encoder (loaded on first call): its id and dim describe the embeddings this pipeline makes. */
  encoder(): Promise<FaceEncoder> {
    this.encoderP ??= this.load(
      () =>
        this.opts.encoder ??
        (this.opts.model
          ? loadGraphEncoder(this.opts.model)
          : loadDlibEncoder({ modelDir: this.opts.modelDir })),
      () => (this.encoderP = undefined),
    );
    return this.encoderP;
  }

  private getDetector(): Promise<SsdFaceDetector> {
    this.detector ??= this.load(
      () => SsdFaceDetector.load(this.opts.modelDir),
      () => (this.detector = undefined),
    );
    return this.detector;
  }

  private getLandmarker(): Promise<LandmarkDetector> {
    this.landmarker ??= this.load(
      () => LandmarkDetector.load(this.opts.modelDir),
      () => (this.landmarker = undefined),
    );
    return this.landmarker;
  }

  /** Starts the engine, then builds a model; a failure is not cached, so a later call retries. */
  private async load<T>(build: () => T, forget: () => void): Promise<T> {
    try {
      await initEngine();
      return build();
    } catch (e) {
      forget();
      throw e;
    }
  }

  /** All faces, best score first, each with 68 landmarks. */
  async detect(img: RgbImage, opts: DetectOptions = {}): Promise<DetectedFace[]> {
    assertRgbImage(img);
    const detector = await this.getDetector();
    const faces = await detector.detect(img, { ...this.opts.detect, ...opts });
    if (faces.length === 0) return faces;
    const landmarker = await this.getLandmarker();
    const landmarks = await landmarker.detect(
      img,
      faces.map((f) => f.box),
      this.opts.landmarks,
    );
    return faces.map((f, i) => ({ ...f, landmarks: landmarks[i] }));
  }

  /** The encoder's canonical chip of a detected face (landmarks are detected if missing). */
  async align(img: RgbImage, face: DetectedFace): Promise<AlignedFace> {
    let f = face;
    if (!f.landmarks) {
      const landmarker = await this.getLandmarker();
      const [points] = await landmarker.detect(img, [face.box], this.opts.landmarks);
      f = { ...face, landmarks: points };
    }
    const size = (await this.encoder()).inputSize;
    return alignFace(img, f, { size, padding: this.opts.padding });
  }

  /** The embedding of one face; E_NO_FACE when there is none, E_FACE_INDEX for a bad index. */
  async embed(img: RgbImage, opts: EmbedOptions = {}): Promise<FaceEmbedding> {
    const faces = await this.detect(img, opts.detect);
    if (faces.length === 0) {
      throw new VisageError('E_NO_FACE', 'no face found in the image', {
        width: img.width,
        height: img.height,
      });
    }
    const which = opts.face ?? 'largest';
    let face: DetectedFace;
    if (which === 'largest') {
      face = faces.reduce((a, b) => (b.box.width * b.box.height > a.box.width * a.box.height ? b : a));
    } else {
      if (!Number.isInteger(which) || which < 0 || which >= faces.length) {
        throw new VisageError(
          'E_FACE_INDEX',
          `face index ${which} is out of range: ${faces.length} face(s) found`,
          {
            index: which,
            faces: faces.length,
          },
        );
      }
      face = faces[which];
    }
    const [embedding] = await this.embedFaces(img, [face], opts.flip, opts.jitter);
    return embedding;
  }

  /** Embeddings of every face, in detect() order; [] when there is none. */
  async embedAll(img: RgbImage, opts: Omit<EmbedOptions, 'face'> = {}): Promise<FaceEmbedding[]> {
    const faces = await this.detect(img, opts.detect);
    return this.embedFaces(img, faces, opts.flip, opts.jitter);
  }

  /**
   * Aligns and encodes given faces (with landmarks, as detect() returns them), batched. With `jitter` N > 0
   * each face is encoded from its chip, its mirror image (with flip) and N jittered chips, and the unit
   * descriptors are averaged (dlib flips half of the jittered chips already, so they are not mirrored again).
   */
  async embedFaces(
    img: RgbImage,
    faces: DetectedFace[],
    flip?: boolean,
    jitterAsked?: number,
  ): Promise<FaceEmbedding[]> {
    // The default dlib encoder gets the pipeline's flip and jitter; another encoder keeps its own flip.
    const dlib = !(this.opts.encoder || this.opts.model);
    const jitter = jitterAsked ?? (dlib ? DLIB_PIPELINE_JITTER : 0);
    if (!Number.isInteger(jitter) || jitter < 0) {
      throw new VisageError('E_BAD_OPTION', `jitter must be a whole number ≥ 0, got ${jitter}`);
    }
    if (faces.length === 0) return [];
    const aligned = await Promise.all(faces.map((f) => this.align(img, f)));
    const encoder = await this.encoder();
    const withFlip = flip ?? (dlib ? DLIB_PIPELINE_FLIP : undefined);
    const embedding = (vector: Float32Array) => ({ model: encoder.id, vector });
    if (jitter === 0) {
      const vectors = await encoder.encode(
        aligned.map((a) => a.chip),
        { flip: withFlip },
      );
      return aligned.map((a, i) => ({ face: a.face, embedding: embedding(vectors[i]) }));
    }
    const mirror = withFlip ?? encoder.flip ?? false;
    const size = encoder.inputSize;
    const perFace = aligned.map((a) => [
      a.chip,
      ...(mirror ? [flipHorizontal(a.chip)] : []),
      ...jitterTransforms(a.chipToImage, size, jitter).map((m) => extractChip(img, m, size)),
    ]);
    const vectors = await encoder.encode(perFace.flat(), { flip: false });
    let at = 0;
    return aligned.map((a, i) => {
      const mine = vectors.slice(at, (at += perFace[i].length));
      return { face: a.face, embedding: embedding(meanDirection(mine)) };
    });
  }

  /** Frees the models' weights; the pipeline reloads them if used again. */
  async dispose(): Promise<void> {
    const parts = [this.detector, this.landmarker, this.encoderP];
    this.detector = this.landmarker = this.encoderP = undefined;
    for (const p of parts) if (p) (await p.catch(() => undefined))?.dispose();
  }
}
