import { exitCodeFor, isVisageError } from '../errors.js';

/** Global output settings, set once from the root options. */
export const out = { json: false, quiet: false };

/** Print a result: JSON on stdout with --json, else the human rendering. */
export function emit(result: unknown, human: () => string): void {
  if (out.json) process.stdout.write(JSON.stringify(result, replacer, 2) + '\n');
  else process.stdout.write(human() + '\n');
}

/** Typed arrays print as plain arrays in JSON. */
function replacer(_key: string, value: unknown): unknown {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView))
    return Array.from(value as unknown as ArrayLike<number>);
  return value;
}

/** Informational lines go to stderr so that stdout stays machine-readable. */
export function note(msg: string): void {
  if (!out.quiet) process.stderr.write(msg + '\n');
}

/** Report an error the same way for every command and return the exit code (1 usage, 2 input, 3 internal). */
export function reportError(e: unknown): number {
  const code = exitCodeFor(e);
  const body = isVisageError(e)
    ? e.toJSON()
    : { code: 'E_INTERNAL', message: e instanceof Error ? e.message : String(e) };
  if (out.json) process.stdout.write(JSON.stringify({ error: body }, null, 2) + '\n');
  process.stderr.write(`visage: error ${body.code}: ${body.message}\n`);
  if (code === 3 && !isVisageError(e) && e instanceof Error && process.env.VISAGE_DEBUG)
    process.stderr.write(`${e.stack}\n`);
  return code;
}
