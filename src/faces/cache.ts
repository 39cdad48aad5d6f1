import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { DetectedFace } from './types.js';

/** What one image gave: its faces (detect order) and their descriptors, or a centre-crop fallback. */
export interface CachedFaces {
  faces: Array<{ face: DetectedFace; vector: Float32Array }>;
  /** Descriptor of the centred crop, present when it was needed (no face found and a fallback asked for). */
  fallback?: Float32Array;
  /** The image's size; absent in entries written before it was recorded. */
  size?: { width: number; height: number };
}

/** Default cache file: VISAGE_CACHE, else $XDG_CACHE_HOME/visage or ~/.cache/visage. */
export function defaultCacheFile(): string {
  if (process.env.VISAGE_CACHE) return process.env.VISAGE_CACHE;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'visage', 'embeddings.sqlite');
}

/**
 * Embeddings keyed by the image's content hash, the encoder id and the pipeline variant, so that reruns of
 * evaluations and calibrations skip detection and encoding. Only derived vectors are stored, never pixels.
 */
export class EmbeddingCache {
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement;
  private readonly putStmt: Database.Statement;

  constructor(file = defaultCacheFile()) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file, { timeout: 5000 });
    this.db.pragma('journal_mode = WAL');
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS faces (key TEXT PRIMARY KEY, value TEXT NOT NULL, created_at TEXT NOT NULL)',
    );
    this.getStmt = this.db.prepare('SELECT value FROM faces WHERE key = ?');
    this.putStmt = this.db.prepare(
      "INSERT OR REPLACE INTO faces (key, value, created_at) VALUES (?, ?, datetime('now'))",
    );
  }

  static key(bytes: Uint8Array, model: string, variant: string): string {
    return `${crypto.createHash('sha256').update(bytes).digest('hex')}:${model}:${variant}`;
  }

  get(key: string): CachedFaces | undefined {
    const row = this.getStmt.get(key) as { value: string } | undefined;
    if (!row) return undefined;
    const v = JSON.parse(row.value) as {
      faces: Array<{ face: DetectedFace; vector: number[] }>;
      fallback?: number[];
      size?: { width: number; height: number };
    };
    return {
      faces: v.faces.map((f) => ({ face: f.face, vector: Float32Array.from(f.vector) })),
      fallback: v.fallback ? Float32Array.from(v.fallback) : undefined,
      size: v.size,
    };
  }

  put(key: string, value: CachedFaces): void {
    const json = JSON.stringify({
      faces: value.faces.map((f) => ({ face: f.face, vector: Array.from(f.vector) })),
      fallback: value.fallback ? Array.from(value.fallback) : undefined,
      size: value.size,
    });
    this.putStmt.run(key, json);
  }

  close(): void {
    this.db.close();
  }
}
