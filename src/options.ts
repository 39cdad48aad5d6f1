/**
 * Option parsing shared by the library, the CLI and the HTTP API: every verb's options are one zod schema,
 * so `new Visage({ threshold: -5 })`, `visage verify --threshold -5` and a request with `threshold=-5`
 * are refused by the same rule with the same code (E_BAD_OPTION).
 */
import { z } from 'zod';
import { VisageError } from './errors.js';

/** Validate `value` against `schema`, turning zod's issues into one E_BAD_OPTION naming each bad field. */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`);
  throw new VisageError('E_BAD_OPTION', `${what}: ${problems.join('; ')}`, { issues: problems });
}

// A plain decimal number as people type it: "0.5", "-2", "1e-3". Not "", " ", "0x2", "1_000", "Infinity".
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A number from text (a CLI argument, a form field), strictly: Number("") is 0 and Number("0x2") is 2,
 * both of which silently turn a typo into a setting. Undefined stays undefined.
 */
export function strictNumber(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  const n = DECIMAL.test(t) ? Number(t) : Number.NaN;
  if (!Number.isFinite(n)) throw new VisageError('E_BAD_OPTION', `${what} must be a number, got "${text}"`);
  return n;
}

/** strictNumber that must also be an integer (≥ min when given). */
export function strictInteger(text: string | undefined, what: string, min?: number): number | undefined {
  const n = strictNumber(text, what);
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || (min !== undefined && n < min))
    throw new VisageError(
      'E_BAD_OPTION',
      `${what} must be an integer${min !== undefined ? ` ≥ ${min}` : ''}, got "${text}"`,
    );
  return n;
}

/** τ: a squared L2 distance between unit vectors, so within [0, 4]. */
export const ThresholdSchema = z.number().finite().min(0).max(4);
