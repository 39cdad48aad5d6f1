import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { Visage, type FaceMatch } from '../../api.js';
import { VisageError } from '../../errors.js';
import { drawBox, drawText, measureText } from '../../image/draw.js';
import { writeImage } from '../../image/encode.js';
import { cloneImage } from '../../image/rgb.js';
import { dependencyDir } from '../../paths.js';
import { emit, note } from '../output.js';
import { box, parseNumber } from './faces.js';
import { decodeImage } from '../../image/decode.js';
import { releaseDefaultStyleNetwork, stylize } from '../../style/index.js';
import { generatedStyleImage } from '../../style/sample-style.js';

/** The sample photos shipped inside @vladmandic/face-api (MIT): our demo needs nothing else. */
export function sampleFaces(): string[] {
  const dir = dependencyDir('@vladmandic/face-api');
  const files = dir ? [1, 2, 3, 4, 5, 6].map((i) => path.join(dir, 'demo', `sample${i}.jpg`)) : [];
  if (files.length === 0 || !files.every((f) => fs.existsSync(f))) {
    throw new VisageError(
      'E_MODEL_NOT_FOUND',
      'the sample photos of @vladmandic/face-api are missing: run npm ci',
    );
  }
  return files;
}

const COLOURS: Array<[number, number, number]> = [
  [230, 25, 75],
  [60, 180, 75],
  [255, 225, 25],
  [0, 130, 200],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
];

export interface FaceDemoResult {
  enrolled: Array<{ name: string; from: string; box: string }>;
  identified: Array<{
    image: string;
    output: string;
    faces: Array<{ match: FaceMatch | null; box: string }>;
  }>;
  verify: {
    a: string;
    b: string;
    same: boolean;
    distance: number;
    threshold: number;
    confidence: number | null;
  };
}

/**
 * The faces half of the demo: one-shot enrollment of every face in the first sample photo, identification
 * of every face in the other five (annotated copies written to `outDir`), and one verification.
 */
export async function faceDemo(outDir: string): Promise<FaceDemoResult> {
  const [first, ...rest] = sampleFaces();
  fs.mkdirSync(outDir, { recursive: true });
  const galleryFile = path.join(outDir, 'demo-gallery.sqlite');
  for (const f of [galleryFile, `${galleryFile}-wal`, `${galleryFile}-shm`]) fs.rmSync(f, { force: true });
  const v = new Visage({ gallery: galleryFile });
  try {
    const img = await v.load(first);
    const faces = await v.pipeline.embedAll(img);
    const gallery = await v.gallery();
    const enrolled: FaceDemoResult['enrolled'] = [];
    faces.forEach((f, i) => {
      const name = `person-${i + 1}`;
      gallery.enroll(name, [f.embedding], { source: `${path.basename(first)}#${i}` });
      enrolled.push({ name, from: path.basename(first), box: box(f.face.box) });
    });
    note(`enrolled ${enrolled.length} people from one photo each: ${path.basename(first)}`);
    const identified: FaceDemoResult['identified'] = [];
    for (const file of [first, ...rest]) {
      const photo = await v.load(file);
      const r = await v.identify(photo, { top: 1 });
      const canvas = cloneImage(photo);
      const thick = Math.max(2, Math.round(canvas.width / 400));
      const scale = Math.max(2, Math.round(canvas.width / 320));
      for (const f of r.faces) {
        const idx = f.match ? enrolled.findIndex((e) => e.name === f.match!.name) : -1;
        const colour =
          idx < 0 ? ([200, 200, 200] as [number, number, number]) : COLOURS[idx % COLOURS.length];
        drawBox(canvas, f.box, colour, thick);
        const label = f.match ? `${f.match.name} d=${f.match.distance.toFixed(2)}` : 'unknown';
        // Keep the label inside the picture, above the box when there is room.
        const size = measureText(label, scale);
        const x = Math.max(0, Math.min(Math.round(f.box.x), canvas.width - size.width - 2));
        const y = Math.max(0, Math.round(f.box.y) - size.height - 2 * scale);
        drawText(canvas, x, y, label, colour, scale, { background: [0, 0, 0] });
      }
      const output = path.join(outDir, `identify-${path.basename(file, '.jpg')}.jpg`);
      await writeImage(output, canvas);
      identified.push({
        image: path.basename(file),
        output,
        faces: r.faces.map((f) => ({ match: f.match, box: box(f.box) })),
      });
    }
    const vr = await v.verify(first, rest[0]);
    return {
      enrolled,
      identified,
      verify: {
        a: path.basename(first),
        b: path.basename(rest[0]),
        same: vr.same,
        distance: vr.distance,
        threshold: vr.threshold,
        confidence: vr.confidence,
      },
    };
  } finally {
    await v.close();
  }
}

export interface StyleDemoResult {
  content: string;
  style: string;
  output: string;
  styleReduction: number;
  seconds: number;
}

/**
 * The style half of the demo: a sample photo painted in the style of a generated brush-stroke image
 * (no painting ships in our dependencies), at a small size so the demo stays short.
 */
export async function styleDemo(outDir: string, size: number, iterations: number): Promise<StyleDemoResult> {
  const content = sampleFaces()[2];
  const styleImg = generatedStyleImage(256);
  fs.mkdirSync(outDir, { recursive: true });
  const stylePath = path.join(outDir, 'style-generated.png');
  await writeImage(stylePath, styleImg);
  const r = await stylize(await decodeImage(content), [styleImg], { size, iterations });
  releaseDefaultStyleNetwork();
  const output = path.join(outDir, 'stylised-sample3.png');
  await writeImage(output, r.image);
  return {
    content: path.basename(content),
    style: stylePath,
    output,
    styleReduction: r.stats.styleReduction,
    seconds: r.stats.seconds,
  };
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'run the main jobs on bundled sample photos: enroll, identify, verify (annotated images written)',
    )
    .option('-o, --out <dir>', 'where to write the results', 'visage-demo')
    .option('--style-size <px>', 'long side of the stylised image', '192')
    .option('--style-iterations <n>', 'style transfer steps', '80')
    .option('--no-style', 'skip the style transfer part')
    .action(async (o: { out: string; styleSize: string; styleIterations: string; style: boolean }) => {
      const faces = await faceDemo(o.out);
      const styleSize = parseNumber(o.styleSize, '--style-size', (n) => Number.isInteger(n) && n >= 32)!;
      const styleIterations = parseNumber(
        o.styleIterations,
        '--style-iterations',
        (n) => Number.isInteger(n) && n >= 1,
      )!;
      if (o.style) note(`style transfer: ${styleIterations} steps at ${styleSize} px…`);
      const style = o.style ? await styleDemo(o.out, styleSize, styleIterations) : undefined;
      emit({ faces, style }, () =>
        [
          `faces: enrolled ${faces.enrolled.map((e) => e.name).join(', ')} from ${faces.enrolled[0]?.from}`,
          ...faces.identified.map(
            (i) =>
              `  ${i.image}: ${i.faces.map((f) => f.match?.name ?? 'unknown').join(', ') || 'no face'} → ${i.output}`,
          ),
          `  verify ${faces.verify.a} vs ${faces.verify.b} (largest faces): ${faces.verify.same ? 'same person' : 'different people'}, d = ${faces.verify.distance.toFixed(3)} (τ = ${faces.verify.threshold.toFixed(3)})`,
          ...(style
            ? [
                `style: ${style.content} painted like ${style.style} → ${style.output} (J_style ${style.styleReduction.toFixed(1)}× lower, ${style.seconds.toFixed(0)} s)`,
              ]
            : []),
        ].join('\n'),
      );
    });
}
