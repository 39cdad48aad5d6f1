/** A run's images: identities split into training and validation, decoded (and with --detect, aligned). */
import type { RgbImage } from '../../image/index.js';
import { FaceImageSource, scanIdentityFolders, splitByIdentity, type AlignFn } from '../data/index.js';
import type { TrainSettings } from './settings.js';

export type RunSplit = ReturnType<typeof splitByIdentity>;

/** The identities of the data folder split as the settings say (−1 validation identities = 20 %, at least 2). */
export function splitRun(s: TrainSettings): RunSplit {
  const dataset = scanIdentityFolders(s.data);
  const valCount =
    s.valIdentities === -1 ? Math.max(2, Math.round(dataset.identities.length * 0.2)) : s.valIdentities;
  return splitByIdentity(dataset, { valIdentities: valCount, seed: s.seed });
}

/** Face alignment for detect mode: the largest detected face, aligned at the training size. */
async function detectAligner(size: number): Promise<{ align: AlignFn; close: () => Promise<void> }> {
  const { FacePipeline } = await import('../../faces/pipeline.js');
  const { alignFace } = await import('../../faces/align.js');
  const pipeline = new FacePipeline();
  const align: AlignFn = async (img: RgbImage) => {
    const faces = await pipeline.detect(img);
    if (faces.length === 0) return null;
    const face = faces.reduce((a, b) => (b.box.width * b.box.height > a.box.width * a.box.height ? b : a));
    return alignFace(img, face, { size }).chip;
  };
  return { align, close: () => pipeline.dispose() };
}

export interface RunImages {
  train: FaceImageSource;
  /** None without validation identities. */
  val: FaceImageSource | null;
  /** Images used whole (fitted) because no face was found in them. */
  fallbacks: number;
}

/** Decodes every image of the split at the network's input size (aligning faces with --detect). */
export async function loadImages(
  s: TrainSettings,
  split: RunSplit,
  size: number,
  channels: 1 | 3,
  onLoad: ((done: number, total: number) => void) | undefined,
  log: (msg: string) => void,
): Promise<RunImages> {
  const aligner = s.detect ? await detectAligner(size) : undefined;
  try {
    const total = split.train.identities
      .concat(split.val.identities)
      .reduce((n, id) => n + id.files.length, 0);
    let loaded = 0;
    const onProgress = () => onLoad?.(++loaded, total);
    const srcOpts = { size, channels, align: aligner?.align, fit: s.fit, onProgress };
    const train = await FaceImageSource.load(split.train.identities, srcOpts);
    const val = split.val.identities.length
      ? await FaceImageSource.load(split.val.identities, srcOpts)
      : null;
    const fallbacks = train.stats.fallbacks + (val?.stats.fallbacks ?? 0);
    if (s.detect)
      log(`faces aligned: ${total - fallbacks} of ${total} (no face found, centre crop used: ${fallbacks})`);
    return { train, val, fallbacks };
  } finally {
    await aligner?.close();
  }
}
