/**
 * The gallery's on-disk layout (SQLite). Bump SCHEMA_VERSION with a migration whenever it changes;
 * a file with a newer version is refused rather than half-understood.
 */
import { z } from 'zod';

export const SCHEMA_VERSION = 1;
/** meta.app value: tells a Visage gallery from any other SQLite file. */
export const GALLERY_APP_ID = 'visage-gallery';

export const CREATE_TABLES = `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE people (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE embeddings (
  id         INTEGER PRIMARY KEY,
  person_id  INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
  model      TEXT NOT NULL,
  dim        INTEGER NOT NULL,
  vector     BLOB NOT NULL CHECK (length(vector) = 4 * dim),
  source     TEXT,
  created_at TEXT NOT NULL
);

CREATE INDEX embeddings_person ON embeddings(person_id);
`;

/** Face crops are personal data: this table exists only in galleries opened with storePhotos. */
export const CREATE_PHOTOS = `
CREATE TABLE IF NOT EXISTS photos (
  embedding_id INTEGER PRIMARY KEY REFERENCES embeddings(id) ON DELETE CASCADE,
  mime         TEXT NOT NULL,
  data         BLOB NOT NULL
);
`;

const intString = z.string().regex(/^\d+$/).transform(Number);

export const MetaSchema = z.object({
  app: z.literal(GALLERY_APP_ID),
  schema_version: intString,
  model: z.string().min(1),
  dim: intString.refine((d) => d > 0, 'dim must be positive'),
  created_at: z.string(),
});
