import type { Command } from 'commander';
import { Visage, type VisageOptions } from '../../api.js';
import { VisageError } from '../../errors.js';
import { strictNumber } from '../../options.js';
import { emit, note } from '../output.js';

interface FaceCliOptions {
  gallery?: string;
  model?: string;
  flip?: boolean;
  jitter?: string;
  threshold?: string;
  calibration?: string;
}

/** Options every face verb shares, so they read the same in every command's --help. */
export function withFaceOptions(cmd: Command, gallery: boolean): Command {
  if (gallery)
    cmd.option('-g, --gallery <file>', 'gallery file (default: $VISAGE_GALLERY or ./visage-gallery.sqlite)');
  cmd.option(
    '-m, --model <dir>',
    'encoder: a Visage model folder from `visage train` (default: dlib ResNet-34)',
  );
  return withFlipOptions(cmd)
    .option(
      '--threshold <d>',
      'decision threshold τ on the squared L2 distance (default: calibrated per model)',
    )
    .option('--calibration <file>', 'calibration file with per-model τ and confidence');
}

/**
 * --flip / --no-flip (neither leaves the default: on for dlib and for a model trained with --val-flip) and
 * --jitter N.
 */
export function withFlipOptions(cmd: Command): Command {
  return cmd
    .option(
      '--flip',
      'test-time augmentation: also encode the mirror image and average (default: on for dlib and for a model trained with --val-flip)',
    )
    .option('--no-flip', "no test-time flip (dlib: face-api's plain descriptor)")
    .option(
      '--jitter <n>',
      'jitter averaging: also encode N slightly perturbed chips of each face and average (default: 4 for dlib, 0 for a trained model; 0 = off)',
    );
}

/** --jitter's value, checked (a whole number 0–64). */
export function parseJitter(v: string | undefined): number | undefined {
  return parseNumber(v, '--jitter', (n) => Number.isInteger(n) && n >= 0 && n <= 64);
}

/** A number option, strictly (see strictNumber: "" and "0x2" are refused), then checked by `check`. */
export function parseNumber(
  v: string | undefined,
  what: string,
  check: (n: number) => boolean = Number.isFinite,
): number | undefined {
  const n = strictNumber(v, what);
  if (n === undefined) return undefined;
  if (!check(n)) throw new VisageError('E_BAD_OPTION', `${what} is out of range: "${v}"`);
  return n;
}

export function visageFrom(o: FaceCliOptions): Visage {
  const opts: VisageOptions = {
    gallery: o.gallery,
    model: o.model,
    flip: o.flip,
    jitter: parseJitter(o.jitter),
    threshold: parseNumber(o.threshold, '--threshold', (n) => n >= 0 && n <= 4),
    calibration: o.calibration,
  };
  return new Visage(opts);
}

/** Run a verb with a Visage instance that is always closed. */
async function withVisage<T>(o: FaceCliOptions, fn: (v: Visage) => Promise<T>): Promise<T> {
  const v = visageFrom(o);
  try {
    return await fn(v);
  } finally {
    await v.close();
  }
}

const fmt = (d: number | null) => (d === null ? '-' : d.toFixed(4));
const pct = (p: number | null) => (p === null ? 'n/a' : `${(100 * p).toFixed(1)}%`);

export function registerFaces(program: Command): void {
  withFaceOptions(
    program
      .command('verify')
      .description('1:1 — are the faces in two photos the same person?')
      .argument('<imageA>')
      .argument('<imageB>')
      .option('--face <n>', 'face index in BOTH images (default: the largest face)')
      .option('--face-a <n>', 'face index in image A')
      .option('--face-b <n>', 'face index in image B'),
    false,
  ).action(
    async (a: string, b: string, o: FaceCliOptions & { face?: string; faceA?: string; faceB?: string }) => {
      const idx = (v: string | undefined) => parseNumber(v, '--face', (n) => Number.isInteger(n) && n >= 0);
      const r = await withVisage(o, (v) =>
        v.verify(a, b, { faceA: idx(o.faceA ?? o.face), faceB: idx(o.faceB ?? o.face) }),
      );
      for (const n of r.notes) note(n);
      emit(r, () =>
        [
          `${r.same ? 'SAME person' : 'DIFFERENT people'}: d = ${fmt(r.distance)} ${r.same ? '≤' : '>'} τ = ${fmt(r.threshold)}, confidence ${pct(r.confidence)}`,
          ...r.faces.map(
            (f) =>
              `  ${f.image}: face #${f.index} of ${f.found} at ${box(f.box)} (score ${f.score.toFixed(2)})`,
          ),
        ].join('\n'),
      );
    },
  );

  withFaceOptions(
    program
      .command('enroll')
      .description('one-shot enrollment: add a person to the gallery from one photo (or more)')
      .argument('<name>')
      .argument('<images...>'),
    true,
  ).action(async (name: string, images: string[], o: FaceCliOptions) => {
    const r = await withVisage(o, (v) => v.enroll(name, images));
    for (const n of r.notes) note(n);
    emit(
      r,
      () => `${r.created ? 'enrolled' : 'updated'} ${r.name}: +${r.added} embedding(s), ${r.total} in total`,
    );
  });

  withFaceOptions(
    program
      .command('identify')
      .description('1:K — who is each face in the photo (or "unknown")?')
      .argument('<image>')
      .option('-k, --top <k>', 'best matches to list per face', '3'),
    true,
  ).action(async (image: string, o: FaceCliOptions & { top: string }) => {
    const top = parseNumber(o.top, '--top', (n) => Number.isInteger(n) && n >= 1)!;
    const r = await withVisage(o, (v) => v.identify(image, { top }));
    emit(r, () =>
      r.faces.length === 0
        ? `${image}: no face found`
        : r.faces
            .map(
              (f) =>
                `face #${f.index} at ${box(f.box)}: ` +
                (f.match
                  ? `${f.match.name} (d = ${fmt(f.match.distance)}, confidence ${pct(f.match.confidence)})`
                  : 'unknown (nobody within τ)') +
                `\n    nearest: ${f.matches.map((m) => `${m.name} ${fmt(m.distance)}`).join(', ')}`,
            )
            .join('\n'),
    );
  });

  withFaceOptions(
    program
      .command('embed')
      .description('face embeddings as JSON (every face of every image)')
      .argument('<images...>'),
    false,
  ).action(async (images: string[], o: FaceCliOptions) => {
    const r = await withVisage(o, (v) => v.embed(images));
    // Embeddings are data: always JSON, whatever --json says.
    process.stdout.write(
      JSON.stringify(r, (_k, v) => (v instanceof Float32Array ? Array.from(v) : v), 2) + '\n',
    );
  });

  const people = program.command('people').description('list, remove or rename the people in a gallery');
  const galleryOpt = (c: Command) =>
    c
      .option('-g, --gallery <file>', 'gallery file (default: $VISAGE_GALLERY or ./visage-gallery.sqlite)')
      .option('-m, --model <dir>', 'encoder model folder the gallery was made with');
  galleryOpt(people.command('list').description('everyone enrolled, with embedding counts')).action(
    async (o: FaceCliOptions) => {
      const list = await withVisage(o, (v) => v.listPeople());
      emit(list, () =>
        list.length === 0
          ? '(gallery is empty)'
          : list.map((p) => `${p.name}\t${p.embeddings} embedding(s)\tupdated ${p.updatedAt}`).join('\n'),
      );
    },
  );
  galleryOpt(
    people.command('remove').description('delete a person and their embeddings').argument('<name>'),
  ).action(async (name: string, o: FaceCliOptions) => {
    const r = await withVisage(o, (v) => v.removePerson(name));
    emit(r, () => `removed ${r.name} (${r.embeddings} embedding(s))`);
  });
  galleryOpt(
    people.command('rename').description('rename a person').argument('<from>').argument('<to>'),
  ).action(async (from: string, to: string, o: FaceCliOptions) => {
    await withVisage(o, (v) => v.renamePerson(from, to));
    emit({ from, to }, () => `renamed ${from} → ${to}`);
  });
}

export function box(b: { x: number; y: number; width: number; height: number }): string {
  return `[${Math.round(b.x)},${Math.round(b.y)} ${Math.round(b.width)}×${Math.round(b.height)}]`;
}
