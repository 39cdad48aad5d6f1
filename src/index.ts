/**
 * Visage's library API. The CLI (`visage <verb>`) is a thin shell over these functions.
 */
export { VisageError, isVisageError, type ErrorCode } from './errors.js';
export { initEngine, engineInfo, type EngineInfo } from './engine/backend.js';
export * from './engine/graph/index.js';
