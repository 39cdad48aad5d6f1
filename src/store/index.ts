export {
  Gallery,
  type EmbeddingInput,
  type EnrollEntry,
  type EnrollOptions,
  type EnrollResult,
  type EnrollVector,
  type GalleryOptions,
  type GalleryStats,
  type PersonInfo,
  type PhotoInput,
  type SearchMatch,
  type SearchOptions,
  type SearchResult,
  type StoredPhoto,
} from './gallery.js';
export { SCHEMA_VERSION } from './schema.js';
