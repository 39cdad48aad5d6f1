/** What every route file gets: the stores, the face service, the jobs, the limits. */
import type { FaceService } from './face-service.js';
import type { GalleryRegistry } from './galleries.js';
import type { StyleJobs } from './style-jobs.js';
import type { ServiceDb } from './service-db.js';

export interface ServerLimits {
  /** Largest upload in bytes (one file, or a raw body). */
  uploadBytes: number;
  /** Requests per key per window. */
  rateMax: number;
  rateWindowMs: number;
  /** Inference tasks running at once and waiting at most. */
  concurrency: number;
  maxQueued: number;
  /** How long a request may wait for inference, and for its body to arrive. */
  requestTimeoutMs: number;
  /** Style jobs waiting at most (one runs at a time). */
  maxStyleJobs: number;
  maxPixels: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  uploadBytes: 10 * 1024 * 1024,
  rateMax: 600,
  rateWindowMs: 60_000,
  concurrency: 1,
  maxQueued: 64,
  requestTimeoutMs: 30_000,
  maxStyleJobs: 4,
  maxPixels: 40_000_000,
};

export interface ServerContext {
  db: ServiceDb;
  galleries: GalleryRegistry;
  faces: FaceService;
  jobs: StyleJobs;
  limits: ServerLimits;
  /** Models loaded and one self-test inference passed (see /readyz). */
  ready(): Promise<{ ok: boolean; checks: Record<string, string> }>;
}
