/**
 * DIR/service.sqlite: what the service needs besides the galleries — API keys (only their SHA-256 is
 * stored) and style jobs. Galleries stay one Gallery file each under DIR/galleries/ (store/gallery.ts).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { VisageError } from '../errors.js';

export type Role = 'admin' | 'write' | 'read';
export const ROLES: readonly Role[] = ['admin', 'write', 'read'];

export interface ApiKey {
  id: string;
  role: Role;
  /** When set, the key may only touch this gallery. */
  gallery: string | null;
  label: string | null;
  createdAt: string;
  revokedAt: string | null;
}

export interface JobRow {
  id: string;
  keyId: string;
  state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  error: string | null;
  options: string;
  createdAt: string;
  finishedAt: string | null;
}

export const hashKey = (key: string) => crypto.createHash('sha256').update(key).digest('hex');

export class ServiceDb {
  readonly dir: string;
  private db: Database.Database;

  constructor(dir: string) {
    this.dir = dir;
    fs.mkdirSync(path.join(dir, 'galleries'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'jobs'), { recursive: true });
    this.db = new Database(path.join(dir, 'service.sqlite'), { timeout: 5000 });
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL, gallery TEXT, label TEXT,
        created_at TEXT NOT NULL, revoked_at TEXT);
      CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY, key_id TEXT NOT NULL, state TEXT NOT NULL, error TEXT, options TEXT NOT NULL,
        created_at TEXT NOT NULL, finished_at TEXT);`);
    // A job that was running when the process died will never finish.
    this.db
      .prepare(
        "UPDATE jobs SET state = 'failed', error = 'server restarted' WHERE state IN ('queued','running')",
      )
      .run();
  }

  /** Create a key; the secret is returned once and never stored. */
  createKey(
    role: Role,
    opts: { gallery?: string; label?: string; secret?: string } = {},
  ): { key: string } & ApiKey {
    if (!ROLES.includes(role))
      throw new VisageError('E_BAD_OPTION', `role must be admin, write or read, got ${role}`);
    const id = crypto.randomBytes(6).toString('hex');
    const key = opts.secret ?? `vsk_${crypto.randomBytes(24).toString('base64url')}`;
    const createdAt = new Date().toISOString();
    this.db
      .prepare('INSERT INTO api_keys (id, hash, role, gallery, label, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(id, hashKey(key), role, opts.gallery ?? null, opts.label ?? null, createdAt);
    return {
      key,
      id,
      role,
      gallery: opts.gallery ?? null,
      label: opts.label ?? null,
      createdAt,
      revokedAt: null,
    };
  }

  /** The live key with this secret, if any. */
  findKey(secret: string): ApiKey | undefined {
    const r = this.db
      .prepare('SELECT * FROM api_keys WHERE hash = ? AND revoked_at IS NULL')
      .get(hashKey(secret));
    return r ? toKey(r as Record<string, string | null>) : undefined;
  }

  hasKey(secret: string): boolean {
    return this.db.prepare('SELECT 1 FROM api_keys WHERE hash = ?').get(hashKey(secret)) !== undefined;
  }

  listKeys(): ApiKey[] {
    return (
      this.db.prepare('SELECT * FROM api_keys ORDER BY created_at').all() as Record<string, string | null>[]
    ).map(toKey);
  }

  revokeKey(id: string): void {
    const r = this.db
      .prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(new Date().toISOString(), id);
    if (r.changes === 0) throw new VisageError('E_NOT_FOUND', `no live key with id ${id}`, { id });
  }

  insertJob(id: string, keyId: string, options: unknown): void {
    this.db
      .prepare("INSERT INTO jobs (id, key_id, state, options, created_at) VALUES (?, ?, 'queued', ?, ?)")
      .run(id, keyId, JSON.stringify(options), new Date().toISOString());
  }

  setJobState(id: string, state: JobRow['state'], error: string | null = null): void {
    const done = state === 'done' || state === 'failed' || state === 'cancelled';
    this.db
      .prepare('UPDATE jobs SET state = ?, error = ?, finished_at = ? WHERE id = ?')
      .run(state, error, done ? new Date().toISOString() : null, id);
  }

  getJob(id: string): JobRow | undefined {
    const r = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as
      Record<string, string> | undefined;
    if (!r) return undefined;
    return {
      id: r.id,
      keyId: r.key_id,
      state: r.state as JobRow['state'],
      error: r.error ?? null,
      options: r.options,
      createdAt: r.created_at,
      finishedAt: r.finished_at ?? null,
    };
  }

  jobResultFile(id: string): string {
    return path.join(this.dir, 'jobs', `${id}.png`);
  }

  isOpen(): boolean {
    return this.db.open;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toKey(r: Record<string, string | null>): ApiKey {
  return {
    id: r.id!,
    role: r.role as Role,
    gallery: r.gallery,
    label: r.label,
    createdAt: r.created_at!,
    revokedAt: r.revoked_at,
  };
}
