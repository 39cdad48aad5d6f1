/**
 * The calibration file: per embedding model, the default threshold τ and the fitted confidence model,
 * plus a record of what they were measured on. Written by the calibration run, read at start-up.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { VisageError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { DEFAULT_POLICIES, type ThresholdPolicy } from './compare.js';

export const CALIBRATION_VERSION = 1;

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

const PolicyEntrySchema = z.object({
  metric: z.literal('squared-l2'),
  threshold: finite.refine((t) => t >= 0 && t <= 4, 'squared-L2 threshold must be in [0, 4]'),
  confidence: z
    .object({
      a: finite.refine((a) => a < 0, 'slope a must be negative (confidence falls with distance)'),
      b: finite,
    })
    .optional(),
  /** Provenance: free-form but typed where the calibration run knows the figure. */
  calibratedOn: z
    .object({
      dataset: z.string(),
      pairs: z.number().int().nonnegative(),
      date: z.string(),
      /** How τ was chosen, e.g. 'best-accuracy' or 'far=1e-3'. */
      criterion: z.string().optional(),
      accuracy: finite.optional(),
      eer: finite.optional(),
      auc: finite.optional(),
      /** k-fold over identities: FAR / FRR of the criterion's τ on people it was not chosen on. */
      heldOut: z
        .object({ folds: z.number().int(), far: finite, frr: finite, people: z.number().int() })
        .optional(),
    })
    .optional(),
});

export const CalibrationFileSchema = z.object({
  version: z.literal(CALIBRATION_VERSION),
  policies: z.record(z.string().min(1), PolicyEntrySchema),
});

export type CalibrationEntry = z.infer<typeof PolicyEntrySchema>;
/** A calibration file (models/calibration.json): per model id, τ and the confidence curve. */
export type CalibrationFile = z.infer<typeof CalibrationFileSchema>;

/** Read and validate a calibration file. Missing → E_FILE_NOT_FOUND; malformed → E_BAD_INPUT naming the field. */
export function loadCalibration(file: string): CalibrationFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new VisageError('E_FILE_NOT_FOUND', `calibration file not found: ${file}`, { file });
    }
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new VisageError(
      'E_BAD_INPUT',
      `calibration file ${file} is not valid JSON: ${(e as Error).message}`,
      {
        file,
      },
    );
  }
  return parseCalibration(json, file);
}

export function parseCalibration(json: unknown, file = '<calibration>'): CalibrationFile {
  const r = CalibrationFileSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue.path.length ? issue.path.join('.') : '(root)';
    throw new VisageError('E_BAD_INPUT', `calibration file ${file}: ${where}: ${issue.message}`, {
      file,
      path: issue.path.map(String),
      issues: r.error.issues.length,
    });
  }
  return r.data;
}

/** Write atomically (temp file + rename) so a crash never leaves a half-written calibration. */
export function saveCalibration(file: string, cal: CalibrationFile): void {
  const valid = parseCalibration(cal, file);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(valid, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

/** Add or replace one model's entry, returning a new object (the input is not modified). */
export function withPolicy(
  cal: CalibrationFile | undefined,
  model: string,
  entry: CalibrationEntry,
): CalibrationFile {
  return {
    version: CALIBRATION_VERSION,
    policies: { ...(cal?.policies ?? {}), [model]: entry },
  };
}

/**
 * The policy for `model`: the calibration file's entry if it has one, else the built-in default.
 * A model with neither → E_BAD_MODEL (guessing a threshold for an unknown embedding space is never right).
 */
export function policyFor(model: string, cal?: CalibrationFile): ThresholdPolicy {
  const entry = cal?.policies[model];
  if (entry) {
    const p: ThresholdPolicy = { model, metric: entry.metric, threshold: entry.threshold };
    if (entry.confidence) p.confidence = { a: entry.confidence.a, b: entry.confidence.b };
    return p;
  }
  const d = DEFAULT_POLICIES[model];
  if (d) return { ...d };
  throw new VisageError('E_BAD_MODEL', `no threshold policy for model '${model}': run a calibration first`, {
    model,
    known: [...new Set([...Object.keys(cal?.policies ?? {}), ...Object.keys(DEFAULT_POLICIES)])],
  });
}

/** Where `visage calibrate` saves by default: the user's config, never the installed package. */
export function userCalibrationFile(): string {
  const base = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'visage', 'calibration.json');
}

/** The calibration shipped with the package (made by `visage calibrate`, see README). */
export function shippedCalibrationFile(): string {
  return path.join(packageRoot(), 'models', 'calibration.json');
}

/** The shipped calibration overlaid with the user's own (`visage calibrate`), or null when neither exists. */
export function defaultCalibration(): CalibrationFile | null {
  const files = [shippedCalibrationFile(), userCalibrationFile()].filter((f) => fs.existsSync(f));
  return files.length
    ? { version: 1, policies: Object.assign({}, ...files.map((f) => loadCalibration(f).policies)) }
    : null;
}
