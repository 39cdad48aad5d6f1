/**
 * One error type for everything a user can get wrong or the environment can refuse.
 * `code` is stable (documented, tested, returned by the CLI and the HTTP API); the message is for people.
 */
export type ErrorCode =
  // usage (CLI exit 1)
  | 'E_USAGE'
  | 'E_BAD_OPTION'
  // input (CLI exit 2)
  | 'E_FILE_NOT_FOUND'
  | 'E_NOT_A_FILE'
  | 'E_NOT_A_DIRECTORY'
  | 'E_FILE_TOO_LARGE'
  | 'E_OUTPUT_PATH'
  | 'E_EMPTY_FILE'
  | 'E_NOT_AN_IMAGE'
  | 'E_TRUNCATED_IMAGE'
  | 'E_IMAGE_TOO_LARGE'
  | 'E_UNSUPPORTED_FORMAT'
  | 'E_NO_FACE'
  | 'E_FACE_INDEX'
  | 'E_UNKNOWN_PERSON'
  | 'E_EMPTY_GALLERY'
  | 'E_GALLERY_NOT_FOUND'
  | 'E_MODEL_MISMATCH'
  | 'E_GALLERY_LOCKED'
  | 'E_BAD_GALLERY'
  | 'E_READ_ONLY'
  | 'E_BAD_MODEL'
  | 'E_BAD_WEIGHTS'
  | 'E_WRONG_NETWORK'
  | 'E_UNKNOWN_LAYER'
  | 'E_BAD_DATASET'
  | 'E_BAD_INPUT'
  | 'E_DIVERGED'
  | 'E_MANY_FACES'
  // HTTP service (src/server): request-level refusals
  | 'E_BAD_JSON'
  | 'E_PAYLOAD_TOO_LARGE'
  | 'E_UNSUPPORTED_MEDIA'
  | 'E_UNAUTHORIZED'
  | 'E_FORBIDDEN'
  | 'E_NOT_FOUND'
  | 'E_UNKNOWN_GALLERY'
  | 'E_UNKNOWN_FACE'
  | 'E_UNKNOWN_JOB'
  | 'E_NAME_TAKEN'
  | 'E_JOB_STATE'
  | 'E_RATE_LIMITED'
  | 'E_BUSY'
  | 'E_TIMEOUT'
  | 'E_NOT_READY'
  // environment / internal (CLI exit 3)
  | 'E_MODEL_NOT_FOUND'
  | 'E_BACKEND'
  | 'E_WORKER'
  | 'E_INTERNAL';

const USAGE_CODES: ReadonlySet<ErrorCode> = new Set(['E_USAGE', 'E_BAD_OPTION']);
const INTERNAL_CODES: ReadonlySet<ErrorCode> = new Set([
  'E_MODEL_NOT_FOUND',
  'E_BACKEND',
  'E_WORKER',
  'E_INTERNAL',
]);

/** The one error type: `code` is stable (see ErrorCode), `message` is for people, `details` for programs. */
export class VisageError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'VisageError';
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }
}

/** True for an error thrown by Visage (a VisageError), whose `code` can then be read. */
export function isVisageError(e: unknown): e is VisageError {
  return e instanceof VisageError;
}

/** CLI exit code for an error: 1 usage, 2 bad input, 3 internal. */
export function exitCodeFor(e: unknown): 1 | 2 | 3 {
  if (!isVisageError(e)) return 3;
  if (USAGE_CODES.has(e.code)) return 1;
  if (INTERNAL_CODES.has(e.code)) return 3;
  return 2;
}
