/** Stable error codes → HTTP statuses, and the one JSON error body every route returns (never a stack). */
import { VisageError, isVisageError, type ErrorCode } from '../errors.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  E_USAGE: 400,
  E_BAD_OPTION: 400,
  E_BAD_INPUT: 400,
  E_BAD_JSON: 400,
  E_EMPTY_FILE: 400,
  E_TRUNCATED_IMAGE: 400,
  E_UNAUTHORIZED: 401,
  E_FORBIDDEN: 403,
  E_NOT_FOUND: 404,
  E_FILE_NOT_FOUND: 404,
  E_UNKNOWN_PERSON: 404,
  E_UNKNOWN_GALLERY: 404,
  E_UNKNOWN_FACE: 404,
  E_UNKNOWN_JOB: 404,
  E_MODEL_MISMATCH: 409,
  E_NAME_TAKEN: 409,
  E_JOB_STATE: 409,
  E_IMAGE_TOO_LARGE: 413,
  E_PAYLOAD_TOO_LARGE: 413,
  E_NOT_AN_IMAGE: 415,
  E_UNSUPPORTED_FORMAT: 415,
  E_UNSUPPORTED_MEDIA: 415,
  E_NO_FACE: 422,
  E_MANY_FACES: 422,
  E_FACE_INDEX: 422,
  E_EMPTY_GALLERY: 422,
  E_RATE_LIMITED: 429,
  E_BUSY: 503,
  E_TIMEOUT: 503,
  E_NOT_READY: 503,
  E_GALLERY_LOCKED: 503,
};

export function httpStatusFor(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

export interface ErrorBody {
  error: { code: string; message: string; requestId: string; details?: Record<string, unknown> };
}

/** fastify's own errors (body parsing, limits, validation) carry FST_* codes; give them ours. */
function fromFastify(e: {
  code?: string;
  statusCode?: number;
  message: string;
  validation?: unknown;
}): VisageError {
  const c = e.code ?? '';
  if (e.validation) return new VisageError('E_BAD_INPUT', e.message);
  if (
    c === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
    c === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
    e instanceof SyntaxError
  )
    return new VisageError('E_BAD_JSON', 'the body is not valid JSON');
  if (e.statusCode === 413 || c === 'FST_REQ_FILE_TOO_LARGE' || c === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new VisageError('E_PAYLOAD_TOO_LARGE', 'the upload is larger than the server accepts');
  if (e.statusCode === 415 || c === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return new VisageError('E_UNSUPPORTED_MEDIA', 'unsupported Content-Type');
  if (e.statusCode === 429) return new VisageError('E_RATE_LIMITED', e.message);
  if (e.statusCode === 404) return new VisageError('E_NOT_FOUND', e.message);
  if (e.statusCode === 408 || c === 'FST_ERR_REQUEST_TIMEOUT')
    return new VisageError('E_TIMEOUT', 'the request took too long');
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)
    return new VisageError('E_BAD_INPUT', e.message);
  return new VisageError('E_INTERNAL', 'internal error');
}

export function toHttpError(e: unknown, requestId: string): { status: number; body: ErrorBody } {
  const v = isVisageError(e) ? e : fromFastify((e ?? {}) as never);
  const status = httpStatusFor(v.code);
  // Internal messages may carry paths or library internals: say only that it failed.
  const message = status >= 500 && v.code === 'E_INTERNAL' ? 'internal error' : v.message;
  const details = v.details && status < 500 ? safeDetails(v.details) : undefined;
  return { status, body: { error: { code: v.code, message, requestId, ...(details ? { details } : {}) } } };
}

/** Only plain values from details (no file paths of the server). */
function safeDetails(d: Record<string, unknown>): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d)) {
    if (k === 'file' || k === 'image') continue;
    if (['number', 'string', 'boolean'].includes(typeof v)) out[k] = v;
  }
  return Object.keys(out).length ? out : undefined;
}
