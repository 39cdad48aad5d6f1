/**
 * The face verbs as the service runs them: the library's Visage (one pipeline, models loaded once) for
 * verify / embed / detect, and identify / enroll against a named Gallery of the registry. Every call goes
 * through the bounded queue, so inference never piles up.
 */
import { Visage } from '../api.js';
import { VisageError } from '../errors.js';
import { confidence as confidenceOf } from '../faces/compare.js';
import type { DetectedFace } from '../faces/types.js';
import type { Gallery } from '../store/gallery.js';
import type { BoundedQueue } from './queue.js';

export type FacesRule = 'largest' | 'all' | 'error';

export interface Match {
  name: string;
  distance: number;
  confidence: number | null;
}

export interface EnrollOutcome {
  name: string;
  faces: Array<{ faceId: number; box: DetectedFace['box']; score: number; index: number }>;
  total: number;
  created: boolean;
  /** true when an earlier request with the same Idempotency-Key already stored it. */
  replayed: boolean;
}

const area = (f: DetectedFace) => f.box.width * f.box.height;

export class FaceService {
  readonly visage: Visage;
  facesEncoded = 0;

  constructor(
    readonly queue: BoundedQueue,
    opts: { maxPixels?: number; threshold?: number } = {},
  ) {
    this.visage = new Visage({ maxPixels: opts.maxPixels, threshold: opts.threshold });
  }

  encoder(): Promise<{ id: string; dim: number }> {
    return this.visage.pipeline.encoder();
  }

  async detect(images: Buffer[]) {
    return this.queue.run(async () => {
      const out = [];
      for (const b of images) {
        const img = await this.visage.load(b);
        const faces = await this.visage.pipeline.detect(img);
        out.push({
          width: img.width,
          height: img.height,
          faces: faces.map((f, index) => ({ index, box: f.box, score: f.score })),
        });
      }
      return out;
    });
  }

  async embed(images: Buffer[]) {
    const r = await this.queue.run(() => this.visage.embed(images));
    this.facesEncoded += r.reduce((n, x) => n + x.faces.length, 0);
    return r.map((x) => ({
      model: x.model,
      faces: x.faces.map((f) => ({
        index: f.index,
        box: f.box,
        score: f.score,
        embedding: Array.from(f.embedding),
      })),
    }));
  }

  async verify(a: Buffer, b: Buffer, faceA?: number, faceB?: number) {
    const r = await this.queue.run(() => this.visage.verify(a, b, { faceA, faceB }));
    this.facesEncoded += 2;
    return {
      same: r.same,
      distance: r.distance,
      threshold: r.threshold,
      confidence: r.confidence,
      model: r.model,
      faces: r.faces.map(({ image: _i, ...f }) => f),
      notes: r.notes.map((n) => n.replace(/^<bytes>: /, '')),
    };
  }

  /** Every face with its nearest people and `match` (the best within τ, or null for unknown). */
  async identify(gallery: Gallery, image: Buffer, top: number) {
    const policy = await this.visage.policy();
    const embedded = await this.queue.run(async () =>
      this.visage.pipeline.embedAll(await this.visage.load(image), {
        flip: this.visage.options.flip,
        jitter: this.visage.options.jitter,
      }),
    );
    this.facesEncoded += embedded.length;
    const conf = (d: number) => (policy.confidence ? confidenceOf(policy.confidence, d) : null);
    const empty = gallery.stats().embeddings === 0;
    return {
      model: gallery.model,
      threshold: policy.threshold,
      faces: embedded.map((f, index) => {
        const r = empty ? undefined : gallery.search(f.embedding, { top, threshold: policy.threshold });
        const best = r?.best;
        return {
          index,
          box: f.face.box,
          score: f.face.score,
          match: best ? { name: best.name, distance: best.distance, confidence: conf(best.distance) } : null,
          matches: (r?.matches ?? []).map((m) => ({
            name: m.name,
            distance: m.distance,
            confidence: conf(m.distance),
          })),
        } as {
          index: number;
          box: DetectedFace['box'];
          score: number;
          match: Match | null;
          matches: Match[];
        };
      }),
    };
  }

  /**
   * Enroll the face(s) of one photo. `idempotency` is written as the embeddings' source in the same
   * transaction, so a retried request finds it and stores nothing twice — even across a crash.
   */
  async enroll(
    galleryRef: { existing?: Gallery; open: () => Promise<Gallery> },
    name: string,
    image: Buffer,
    opts: { faces: FacesRule; face?: number; idempotency?: string },
  ): Promise<EnrollOutcome> {
    const source = opts.idempotency ? `idempotency:${opts.idempotency}` : undefined;
    const replay = (): EnrollOutcome | undefined => {
      const gallery = galleryRef.existing;
      const prior = source && gallery ? gallery.findBySource(source) : undefined;
      if (!gallery || !prior) return undefined;
      const total = gallery.listPeople().find((p) => p.name === prior.name)?.embeddings ?? 0;
      return { name: prior.name, faces: [], total, created: false, replayed: true };
    };
    const before = replay();
    if (before) return before;
    const chosen = await this.queue.run(async () => {
      const img = await this.visage.load(image);
      const faces = await this.visage.pipeline.detect(img);
      if (faces.length === 0) throw new VisageError('E_NO_FACE', 'no face found in the image');
      let picked: number[];
      if (opts.face !== undefined) {
        if (opts.face >= faces.length)
          throw new VisageError('E_FACE_INDEX', `face #${opts.face} asked for, ${faces.length} found`, {
            found: faces.length,
          });
        picked = [opts.face];
      } else if (faces.length === 1 || opts.faces === 'largest') {
        picked = [faces.reduce((best, f, i) => (area(f) > area(faces[best]) ? i : best), 0)];
      } else if (opts.faces === 'all') {
        picked = faces.map((_, i) => i);
      } else {
        throw new VisageError(
          'E_MANY_FACES',
          `${faces.length} faces found; pick one with face=N, or say faces=largest or faces=all`,
          { found: faces.length },
        );
      }
      const emb = await this.visage.pipeline.embedFaces(
        img,
        picked.map((i) => faces[i]),
        this.visage.options.flip,
        this.visage.options.jitter,
      );
      return emb.map((e, k) => ({ index: picked[k], e }));
    });
    this.facesEncoded += chosen.length;
    // Opened (created on first use) only now: a refused photo leaves no empty gallery behind.
    const gallery = galleryRef.existing ?? (await galleryRef.open());
    galleryRef.existing = gallery;
    // Another request with the same key may have committed while this one computed; from this check to
    // the commit below nothing awaits, so no other request can interleave.
    const raced = replay();
    if (raced) return raced;
    const r = gallery.enroll(
      name,
      chosen.map((c) => c.e.embedding),
      { source },
    );
    const ids = gallery.embeddingsOf(r.name).slice(-r.added);
    return {
      name: r.name,
      faces: chosen.map((c, k) => ({
        faceId: ids[k].embeddingId,
        index: c.index,
        box: c.e.face.box,
        score: c.e.face.score,
      })),
      total: r.total,
      created: r.created,
      replayed: false,
    };
  }

  async close(): Promise<void> {
    await this.queue.idle();
    await this.visage.close();
  }
}
