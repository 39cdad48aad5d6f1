/**
 * The enrolment gallery: people and their face embeddings in one SQLite file (better-sqlite3, WAL), with
 * every vector mirrored in memory for exact, fast open-set search (see vector-index.ts).
 *
 * Guarantees:
 * - every write is one IMMEDIATE transaction: a failed or killed enroll leaves the file as it was;
 * - the in-memory index changes only after a commit succeeds, and reloads when another process has
 *   committed since (PRAGMA data_version), so search never sees uncommitted or stale data;
 * - distances are squared L2 between unit vectors (see faces/compare.ts), so τ means the same thing
 *   everywhere.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { VisageError } from '../errors.js';
import { l2Normalize } from '../faces/compare.js';
import { VectorIndex } from './vector-index.js';
import { CREATE_PHOTOS, CREATE_TABLES, GALLERY_APP_ID, MetaSchema, SCHEMA_VERSION } from './schema.js';

type Db = Database.Database;

/** Structurally the same as faces' `Embedding`; kept local so the store does not depend on the face pipeline. */
export interface EmbeddingInput {
  model: string;
  vector: ArrayLike<number>;
}

/** A bare vector (taken to be from the gallery's model) or a model-tagged embedding (checked). */
export type EnrollVector = Float32Array | readonly number[] | EmbeddingInput;

/** Options of `Gallery.open(file, options)`. */
export interface GalleryOptions {
  /** Embedding model id; required to create a gallery; when opening, must match the file (E_MODEL_MISMATCH). */
  model?: string;
  dim?: number;
  /** Open without writing (every write then fails). The file must exist. */
  readonly?: boolean;
  /**
   * Create the file when it is missing (default true). False for verbs that only read or change what is
   * there (list, remove, rename, identify), so that a mistyped path fails with E_GALLERY_NOT_FOUND
   * instead of leaving an empty gallery behind.
   */
  create?: boolean;
  /** Keep the face crops given to enroll. Off by default: a gallery of vectors is far less sensitive. */
  storePhotos?: boolean;
  /** How long to wait for another process's write lock before E_GALLERY_LOCKED (default 5000 ms). */
  busyTimeoutMs?: number;
}

export interface PhotoInput {
  data: Uint8Array;
  mime: string;
}

export interface EnrollOptions {
  /** Where the embeddings came from (e.g. image path): one for all, or one per embedding. */
  source?: string | readonly (string | null | undefined)[];
  /** Face crops, one per embedding; only accepted by a gallery opened with storePhotos. */
  photos?: readonly (PhotoInput | null | undefined)[];
}

export interface EnrollEntry extends EnrollOptions {
  name: string;
  embeddings: Iterable<EnrollVector>;
}

/** What one person's enrollment stored. */
export interface EnrollResult {
  name: string;
  personId: number;
  /** Embeddings added by this call. */
  added: number;
  /** Embeddings the person has now. */
  total: number;
  /** true when this call created the person. */
  created: boolean;
}

/** A person in the gallery with their embedding count and timestamps (ISO 8601). */
export interface PersonInfo {
  personId: number;
  name: string;
  embeddings: number;
  createdAt: string;
  updatedAt: string;
}

export interface SearchOptions {
  /** How many people to return (default 5). */
  top?: number;
  /** Open-set threshold τ (squared L2): the best match counts only when distance ≤ τ. */
  threshold: number;
}

/** A person near a query embedding. */
export interface SearchMatch {
  name: string;
  /** Squared L2 distance between unit vectors, in [0, 4]; per person, to their closest embedding. */
  distance: number;
  personId: number;
}

/** What a 1:K search answers: the nearest people and the open-set verdict. */
export interface SearchResult {
  /** Nearest people first, at most `top`, regardless of the threshold. */
  matches: SearchMatch[];
  /** The nearest person if within τ, else null: nobody enrolled is close enough (open-set rejection). */
  best: SearchMatch | null;
  threshold: number;
}

export interface StoredPhoto {
  embeddingId: number;
  mime: string;
  data: Uint8Array;
}

export interface GalleryStats {
  file: string;
  model: string;
  dim: number;
  schemaVersion: number;
  people: number;
  embeddings: number;
  storePhotos: boolean;
  /** How search scans: 'wasm-simd' normally, 'js' where WebAssembly SIMD is unavailable or dim % 4 ≠ 0. */
  searchKernel: 'wasm-simd' | 'js';
}

const SQLITE_MAGIC = 'SQLite format 3\0';
const MAX_NAME_LENGTH = 200;

/** Turn the SQLite errors a user can cause into VisageErrors; anything else passes through. */
function translate(e: unknown, file: string): unknown {
  if (e instanceof VisageError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return e;
  const msg = (e as Error).message;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new VisageError(
      'E_GALLERY_LOCKED',
      `gallery ${file} is locked by another process (${msg})`,
      { file },
      {
        cause: e,
      },
    );
  }
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new VisageError(
      'E_BAD_GALLERY',
      `${file} is not a usable gallery: ${msg}`,
      { file },
      { cause: e },
    );
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return new VisageError('E_FILE_NOT_FOUND', `cannot open gallery ${file}: ${msg}`, { file }, { cause: e });
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return new VisageError(
      'E_READ_ONLY',
      `gallery ${file} cannot be written: ${msg}`,
      { file },
      { cause: e },
    );
  }
  return e;
}

function normaliseName(name: unknown): string {
  if (typeof name !== 'string') throw new VisageError('E_BAD_INPUT', 'person name must be a string');
  const n = name.normalize('NFC').trim();
  if (n.length === 0) throw new VisageError('E_BAD_INPUT', 'person name is empty');
  if (n.length > MAX_NAME_LENGTH) {
    throw new VisageError('E_BAD_INPUT', `person name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (/[\u0000-\u001f\u007f]/.test(n))
    throw new VisageError('E_BAD_INPUT', 'person name has control characters');
  return n;
}

/** Check the file looks like SQLite before handing it over, for a clear E_BAD_GALLERY instead of an I/O error. */
function precheckFile(file: string, readonly: boolean): boolean {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    if (readonly) throw new VisageError('E_FILE_NOT_FOUND', `gallery not found: ${file}`, { file });
    const dir = path.dirname(path.resolve(file));
    if (!fs.existsSync(dir)) {
      throw new VisageError('E_FILE_NOT_FOUND', `folder for the gallery does not exist: ${dir}`, { file });
    }
    return false;
  }
  if (!st.isFile()) throw new VisageError('E_BAD_GALLERY', `${file} is not a file`, { file });
  if (st.size === 0) return true; // SQLite treats an empty file as an empty database
  const head = Buffer.alloc(16);
  const fd = fs.openSync(file, 'r');
  let got: number;
  try {
    got = fs.readSync(fd, head, 0, 16, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (got < 16 || head.toString('latin1') !== SQLITE_MAGIC) {
    throw new VisageError('E_BAD_GALLERY', `${file} is not a gallery (not an SQLite database)`, { file });
  }
  return true;
}

/** The gallery: one SQLite file (WAL, one transaction per write, so an acknowledged write survives a
 * killed process) of people and their embeddings, with an in-memory index for exact 1:K search. */
export class Gallery {
  readonly file: string;
  readonly readonly: boolean;
  readonly storePhotos: boolean;
  private db: Db;
  private _model = '';
  private _dim = 0;
  private schemaVersion = SCHEMA_VERSION;
  private index!: VectorIndex;
  private dataVersion = 0;
  private hasPhotoTable = false;
  private closed = false;

  private constructor(file: string, db: Db, readonly: boolean, storePhotos: boolean) {
    this.file = file;
    this.db = db;
    this.readonly = readonly;
    this.storePhotos = storePhotos;
  }

  get model(): string {
    return this._model;
  }

  get dim(): number {
    return this._dim;
  }

  /**
   * Open (or create, unless readonly) a gallery. E_BAD_GALLERY for a file that is not one,
   * E_MODEL_MISMATCH when it holds another model's embeddings, E_GALLERY_LOCKED when another process holds
   * it past busyTimeoutMs.
   */
  static open(file: string, opts: GalleryOptions = {}): Gallery {
    const readonly = opts.readonly ?? false;
    const timeout = opts.busyTimeoutMs ?? 5000;
    if (!Number.isInteger(timeout) || timeout < 0) {
      throw new VisageError('E_BAD_OPTION', `busyTimeoutMs must be an integer ≥ 0, got ${timeout}`);
    }
    if (opts.model !== undefined && (typeof opts.model !== 'string' || opts.model.length === 0)) {
      throw new VisageError('E_BAD_OPTION', 'model must be a non-empty string');
    }
    if (opts.dim !== undefined && (!Number.isInteger(opts.dim) || opts.dim <= 0)) {
      throw new VisageError('E_BAD_OPTION', `dim must be a positive integer, got ${opts.dim}`);
    }
    const exists = precheckFile(file, readonly);
    if (!exists && opts.create === false && !fs.existsSync(file)) {
      throw new VisageError(
        'E_GALLERY_NOT_FOUND',
        `gallery not found: ${file} (enroll someone first, or pass the right --gallery)`,
        { file },
      );
    }
    if (!exists && (opts.model === undefined || opts.dim === undefined)) {
      throw new VisageError('E_BAD_OPTION', `creating gallery ${file} needs the embedding model id and dim`, {
        file,
      });
    }
    let db: Db;
    try {
      db = new Database(file, { readonly, fileMustExist: readonly, timeout });
    } catch (e) {
      throw translate(e, file);
    }
    const g = new Gallery(file, db, readonly, opts.storePhotos ?? false);
    try {
      g.init(opts, timeout);
    } catch (e) {
      db.close();
      const t = translate(e, file);
      // Any other SQLite complaint while reading the layout (e.g. a 'meta' table of another shape) means
      // this is not a gallery we can use.
      if (!(t instanceof VisageError) && typeof (t as { code?: unknown }).code === 'string') {
        throw new VisageError(
          'E_BAD_GALLERY',
          `${file} is not a usable gallery: ${(t as Error).message}`,
          { file },
          {
            cause: t,
          },
        );
      }
      throw t;
    }
    return g;
  }

  private init(opts: GalleryOptions, timeout: number): void {
    const db = this.db;
    db.pragma(`busy_timeout = ${timeout}`);
    if (!this.readonly) db.pragma('foreign_keys = ON');
    const tables = (): Set<string> =>
      new Set(
        (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]).filter(
          (n) => !n.startsWith('sqlite_'),
        ),
      );
    let have = tables();
    if (have.size === 0) {
      if (this.readonly)
        throw new VisageError('E_BAD_GALLERY', `${this.file} is an empty database, not a gallery`);
      if (opts.model === undefined || opts.dim === undefined) {
        throw new VisageError(
          'E_BAD_OPTION',
          `creating gallery ${this.file} needs the embedding model id and dim`,
        );
      }
      const model = opts.model;
      const dim = opts.dim;
      db.transaction(() => {
        // Re-check under the write lock: another process may have created it meanwhile.
        if (tables().size > 0) return;
        db.exec(CREATE_TABLES);
        const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
        put.run('app', GALLERY_APP_ID);
        put.run('schema_version', String(SCHEMA_VERSION));
        put.run('model', model);
        put.run('dim', String(dim));
        put.run('created_at', new Date().toISOString());
      }).immediate();
      have = tables();
    }
    if (!have.has('meta') || !have.has('people') || !have.has('embeddings')) {
      throw new VisageError('E_BAD_GALLERY', `${this.file} is an SQLite database but not a Visage gallery`, {
        file: this.file,
        tables: [...have],
      });
    }
    const rows = db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[];
    const parsed = MetaSchema.safeParse(Object.fromEntries(rows.map((r) => [r.key, r.value])));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new VisageError(
        'E_BAD_GALLERY',
        `${this.file} is not a Visage gallery (meta.${issue.path.join('.')})`,
        {
          file: this.file,
        },
      );
    }
    const meta = parsed.data;
    if (meta.schema_version > SCHEMA_VERSION) {
      throw new VisageError(
        'E_BAD_GALLERY',
        `${this.file} has gallery schema ${meta.schema_version}; this Visage reads up to ${SCHEMA_VERSION}`,
        { file: this.file, schemaVersion: meta.schema_version },
      );
    }
    if (opts.model !== undefined && opts.model !== meta.model) {
      throw new VisageError(
        'E_MODEL_MISMATCH',
        `gallery ${this.file} holds '${meta.model}' embeddings, not '${opts.model}': distances across models are meaningless`,
        { file: this.file, galleryModel: meta.model, model: opts.model },
      );
    }
    if (opts.dim !== undefined && opts.dim !== meta.dim) {
      throw new VisageError(
        'E_MODEL_MISMATCH',
        `gallery ${this.file} holds ${meta.dim}-D embeddings, not ${opts.dim}-D`,
        { file: this.file, galleryDim: meta.dim, dim: opts.dim },
      );
    }
    if (!this.readonly) {
      // Only now that the file is known to be ours (switching modes rewrites the header of any SQLite
      // file). WAL: readers never block the writer; a crash mid-transaction leaves only ignorable frames.
      db.pragma('journal_mode = WAL');
    }
    this._model = meta.model;
    this._dim = meta.dim;
    this.schemaVersion = meta.schema_version;
    this.hasPhotoTable = have.has('photos');
    if (this.storePhotos && !this.hasPhotoTable) {
      if (this.readonly) throw new VisageError('E_BAD_OPTION', 'storePhotos needs a writable gallery');
      db.exec(CREATE_PHOTOS);
      this.hasPhotoTable = true;
    }
    this.reload();
  }

  /** Rebuild the in-memory index from the file. */
  private reload(): void {
    const db = this.db;
    const dim = this._dim;
    const model = this._model;
    const count = db.prepare('SELECT count(*) FROM embeddings').pluck().get() as number;
    const index = new VectorIndex(dim, Math.max(1024, count));
    const names = new Map<number, string>();
    for (const r of db.prepare('SELECT id, name FROM people').raw().iterate() as Iterable<[number, string]>) {
      names.set(r[0], r[1]);
    }
    const rows = db
      .prepare('SELECT id, person_id, model, dim, vector FROM embeddings ORDER BY id')
      .raw()
      .iterate() as Iterable<[number, number, string, number, Uint8Array]>;
    for (const [id, personId, m, d, blob] of rows) {
      const name = names.get(personId);
      if (m !== model || d !== dim || name === undefined || blob.byteLength !== dim * 4) {
        throw new VisageError(
          'E_BAD_GALLERY',
          `${this.file}: embedding ${id} is inconsistent with the gallery`,
          {
            file: this.file,
            embeddingId: id,
          },
        );
      }
      index.addBytes(personId, name, id, blob);
    }
    this.index = index;
    this.dataVersion = this.readDataVersion();
  }

  private readDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  /** Reload when another connection has committed since we last looked. */
  private sync(): void {
    if (this.readDataVersion() !== this.dataVersion) this.reload();
  }

  private checkOpen(): void {
    if (this.closed) throw new VisageError('E_USAGE', `gallery ${this.file} is closed`);
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.readonly)
      throw new VisageError('E_READ_ONLY', `gallery ${this.file} was opened read-only`, { file: this.file });
  }

  /** Run `fn` in one IMMEDIATE transaction, translating lock/corruption errors. */
  private write<T>(fn: () => T): { value: T; stale: boolean } {
    let dv = this.dataVersion;
    try {
      const value = this.db
        .transaction(() => {
          // Under the write lock we see the latest commit; if another connection made it, the index
          // must be rebuilt after ours. Recorded only on success: a rollback leaves the index as it was.
          dv = this.readDataVersion();
          return fn();
        })
        .immediate();
      const stale = dv !== this.dataVersion;
      this.dataVersion = dv;
      return { value, stale };
    } catch (e) {
      throw translate(e, this.file);
    }
  }

  private toUnitVector(e: EnrollVector, what: string): Float32Array {
    let vec: ArrayLike<number>;
    if (ArrayBuffer.isView(e) || Array.isArray(e)) {
      vec = e as ArrayLike<number>;
    } else if (e !== null && typeof e === 'object' && 'vector' in e) {
      if (e.model !== this._model) {
        throw new VisageError(
          'E_MODEL_MISMATCH',
          `${what} comes from model '${e.model}' but the gallery holds '${this._model}'`,
          { model: e.model, galleryModel: this._model },
        );
      }
      vec = e.vector;
    } else {
      throw new VisageError('E_BAD_INPUT', `${what} is not an embedding`);
    }
    if (vec.length !== this._dim) {
      throw new VisageError(
        'E_MODEL_MISMATCH',
        `${what} has ${vec.length} values; the gallery's '${this._model}' embeddings have ${this._dim}`,
        { length: vec.length, dim: this._dim },
      );
    }
    try {
      return l2Normalize(vec);
    } catch (err) {
      throw new VisageError('E_BAD_INPUT', `${what}: ${(err as Error).message}`, undefined, { cause: err });
    }
  }

  /**
   * Add embeddings to a person (created if new). All-or-nothing: one transaction; on any error nothing is
   * written and the index is untouched.
   */
  enroll(name: string, embeddings: Iterable<EnrollVector>, opts: EnrollOptions = {}): EnrollResult {
    return this.enrollMany([{ name, embeddings, ...opts }])[0];
  }

  /** Several people in ONE transaction (bulk import, benchmarks); all-or-nothing like enroll. */
  enrollMany(entries: Iterable<EnrollEntry>): EnrollResult[] {
    this.checkWritable();
    const db = this.db;
    const pending: { personId: number; name: string; embeddingId: number; vector: Float32Array }[] = [];
    const now = new Date().toISOString();
    const findPerson = db.prepare('SELECT id FROM people WHERE name = ?').pluck();
    const insertPerson = db.prepare('INSERT INTO people (name, created_at, updated_at) VALUES (?, ?, ?)');
    const touchPerson = db.prepare('UPDATE people SET updated_at = ? WHERE id = ?');
    const insertEmbedding = db.prepare(
      'INSERT INTO embeddings (person_id, model, dim, vector, source, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const insertPhoto = this.hasPhotoTable
      ? db.prepare('INSERT INTO photos (embedding_id, mime, data) VALUES (?, ?, ?)')
      : undefined;
    const countFor = db.prepare('SELECT count(*) FROM embeddings WHERE person_id = ?').pluck();

    const { value: results, stale } = this.write(() => {
      const out: EnrollResult[] = [];
      for (const entry of entries) {
        const name = normaliseName(entry.name);
        if (entry.photos && !this.storePhotos) {
          throw new VisageError(
            'E_BAD_OPTION',
            'photos given but the gallery was not opened with storePhotos',
          );
        }
        let personId = findPerson.get(name) as number | undefined;
        const created = personId === undefined;
        if (personId === undefined) {
          personId = Number(insertPerson.run(name, now, now).lastInsertRowid);
        } else {
          touchPerson.run(now, personId);
        }
        let i = 0;
        for (const e of entry.embeddings) {
          const vector = this.toUnitVector(e, `embedding ${i} for '${name}'`);
          const src = Array.isArray(entry.source) ? entry.source[i] : entry.source;
          if (src !== undefined && src !== null && typeof src !== 'string') {
            throw new VisageError('E_BAD_INPUT', `source ${i} for '${name}' must be a string`);
          }
          const blob = Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
          const embeddingId = Number(
            insertEmbedding.run(personId, this._model, this._dim, blob, src ?? null, now).lastInsertRowid,
          );
          const photo = entry.photos?.[i];
          if (photo && insertPhoto) insertPhoto.run(embeddingId, photo.mime, Buffer.from(photo.data));
          pending.push({ personId, name, embeddingId, vector });
          i++;
        }
        if (i === 0) throw new VisageError('E_BAD_INPUT', `no embeddings to enroll for '${name}'`);
        out.push({ name, personId, added: i, total: countFor.get(personId) as number, created });
      }
      return out;
    });
    // Only now, after COMMIT, does the in-memory index change.
    if (stale) {
      this.reload();
    } else {
      this.index.reserve(this.index.size + pending.length);
      for (const p of pending) this.index.add(p.personId, p.name, p.embeddingId, p.vector);
    }
    return results;
  }

  private personId(name: string): number {
    const id = this.db.prepare('SELECT id FROM people WHERE name = ?').pluck().get(name) as
      number | undefined;
    if (id === undefined) {
      throw new VisageError('E_UNKNOWN_PERSON', `no one called '${name}' in the gallery`, { name });
    }
    return id;
  }

  /** Remove a person and all their embeddings (and photos). Returns how many embeddings went. */
  removePerson(name: string): { name: string; embeddings: number } {
    this.checkWritable();
    const n = normaliseName(name);
    const { value: removed, stale } = this.write(() => {
      const id = this.personId(n);
      if (this.hasPhotoTable) {
        this.db
          .prepare('DELETE FROM photos WHERE embedding_id IN (SELECT id FROM embeddings WHERE person_id = ?)')
          .run(id);
      }
      const count = this.db.prepare('DELETE FROM embeddings WHERE person_id = ?').run(id).changes;
      this.db.prepare('DELETE FROM people WHERE id = ?').run(id);
      return { id, count };
    });
    if (stale) this.reload();
    else this.index.removePerson(removed.id);
    return { name: n, embeddings: removed.count };
  }

  renamePerson(oldName: string, newName: string): void {
    this.checkWritable();
    const from = normaliseName(oldName);
    const to = normaliseName(newName);
    const { value: id, stale } = this.write(() => {
      const id = this.personId(from);
      if (from === to) return id;
      const clash = this.db.prepare('SELECT id FROM people WHERE name = ?').pluck().get(to);
      if (clash !== undefined) {
        throw new VisageError('E_BAD_INPUT', `cannot rename '${from}' to '${to}': that name is taken`, {
          from,
          to,
        });
      }
      this.db
        .prepare('UPDATE people SET name = ?, updated_at = ? WHERE id = ?')
        .run(to, new Date().toISOString(), id);
      return id;
    });
    if (stale) this.reload();
    else this.index.rename(id, to);
  }

  /**
   * Move every embedding of `from` to `into` and remove `from`, in one transaction (two enrolments of the
   * same person under different names). Returns how many embeddings moved and `into`'s new total.
   */
  mergePeople(from: string, into: string): { name: string; moved: number; total: number } {
    this.checkWritable();
    const a = normaliseName(from);
    const b = normaliseName(into);
    if (a === b) throw new VisageError('E_BAD_INPUT', `cannot merge '${a}' into itself`, { name: a });
    const { value } = this.write(() => {
      const src = this.personId(a);
      const dst = this.personId(b);
      const moved = this.db.prepare('UPDATE embeddings SET person_id = ? WHERE person_id = ?').run(dst, src);
      this.db.prepare('DELETE FROM people WHERE id = ?').run(src);
      this.db.prepare('UPDATE people SET updated_at = ? WHERE id = ?').run(new Date().toISOString(), dst);
      const total = this.db.prepare('SELECT count(*) FROM embeddings WHERE person_id = ?').pluck().get(dst);
      return { moved: moved.changes, total: total as number };
    });
    // Rare and whole-person: rebuilding the index is simpler than moving rows inside it.
    this.reload();
    return { name: b, ...value };
  }

  /** Remove one embedding (and its photo) of a person; the person stays, even with none left. */
  removeEmbedding(name: string, embeddingId: number): void {
    this.checkWritable();
    const n = normaliseName(name);
    this.write(() => {
      const id = this.personId(n);
      if (this.hasPhotoTable) this.db.prepare('DELETE FROM photos WHERE embedding_id = ?').run(embeddingId);
      const r = this.db.prepare('DELETE FROM embeddings WHERE id = ? AND person_id = ?').run(embeddingId, id);
      if (r.changes === 0) {
        throw new VisageError('E_UNKNOWN_FACE', `'${n}' has no face #${embeddingId}`, {
          name: n,
          embeddingId,
        });
      }
    });
    this.reload();
  }

  /**
   * The embedding stored with this exact `source`, if any: lets a caller make enrolment idempotent by
   * writing its request key as the source in the same transaction as the vector.
   */
  findBySource(source: string): { embeddingId: number; name: string } | undefined {
    this.checkOpen();
    const r = this.db
      .prepare('SELECT e.id, p.name FROM embeddings e JOIN people p ON p.id = e.person_id WHERE e.source = ?')
      .get(source) as { id: number; name: string } | undefined;
    return r && { embeddingId: r.id, name: r.name };
  }

  /** Everyone enrolled, by name, with embedding counts. */
  listPeople(): PersonInfo[] {
    this.checkOpen();
    try {
      const rows = this.db
        .prepare(
          `SELECT p.id, p.name, p.created_at, p.updated_at, count(e.id) AS n
           FROM people p LEFT JOIN embeddings e ON e.person_id = p.id
           GROUP BY p.id ORDER BY p.name`,
        )
        .all() as { id: number; name: string; created_at: string; updated_at: string; n: number }[];
      return rows.map((r) => ({
        personId: r.id,
        name: r.name,
        embeddings: r.n,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      }));
    } catch (e) {
      throw translate(e, this.file);
    }
  }

  /** A person's stored (unit-length) embeddings, oldest first. */
  embeddingsOf(name: string): { embeddingId: number; vector: Float32Array; source: string | null }[] {
    this.checkOpen();
    const id = this.personId(normaliseName(name));
    const rows = this.db
      .prepare('SELECT id, vector, source FROM embeddings WHERE person_id = ? ORDER BY id')
      .all(id) as { id: number; vector: Uint8Array; source: string | null }[];
    return rows.map((r) => ({
      embeddingId: r.id,
      // Copy: the blob's bytes need not be 4-byte aligned.
      vector: new Float32Array(Uint8Array.from(r.vector).buffer),
      source: r.source,
    }));
  }

  /** Stored photos of a person (empty when the gallery never stored any). */
  photosOf(name: string): StoredPhoto[] {
    this.checkOpen();
    const id = this.personId(normaliseName(name));
    if (!this.hasPhotoTable) return [];
    const rows = this.db
      .prepare(
        `SELECT ph.embedding_id, ph.mime, ph.data FROM photos ph JOIN embeddings e ON e.id = ph.embedding_id
         WHERE e.person_id = ? ORDER BY ph.embedding_id`,
      )
      .all(id) as { embedding_id: number; mime: string; data: Uint8Array }[];
    return rows.map((r) => ({ embeddingId: r.embedding_id, mime: r.mime, data: new Uint8Array(r.data) }));
  }

  /**
   * Exact open-set search: the `top` nearest people (each scored by their closest embedding) and the
   * verdict — the nearest person when within τ, else null. E_EMPTY_GALLERY when nothing is enrolled.
   */
  search(query: EnrollVector, opts: SearchOptions): SearchResult {
    this.checkOpen();
    const top = opts.top ?? 5;
    if (!Number.isInteger(top) || top < 1)
      throw new VisageError('E_BAD_OPTION', `top must be an integer ≥ 1, got ${top}`);
    if (typeof opts.threshold !== 'number' || !Number.isFinite(opts.threshold)) {
      throw new VisageError('E_BAD_OPTION', `threshold must be a finite number, got ${opts.threshold}`);
    }
    const q = this.toUnitVector(query, 'query');
    try {
      this.sync();
    } catch (e) {
      throw translate(e, this.file);
    }
    if (this.index.size === 0) {
      throw new VisageError('E_EMPTY_GALLERY', `gallery ${this.file} has no one enrolled`, {
        file: this.file,
      });
    }
    const matches = this.index.search(q, top);
    const first = matches[0];
    return { matches, best: first.distance <= opts.threshold ? first : null, threshold: opts.threshold };
  }

  stats(): GalleryStats {
    this.checkOpen();
    try {
      this.sync();
    } catch (e) {
      throw translate(e, this.file);
    }
    return {
      file: this.file,
      model: this._model,
      dim: this._dim,
      schemaVersion: this.schemaVersion,
      people: this.index.people,
      embeddings: this.index.size,
      storePhotos: this.hasPhotoTable,
      searchKernel: this.index.kernel,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
