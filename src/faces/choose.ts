/**
 * Which face stands for a photo when it holds several (verify, enroll, the evaluations): the subject a
 * photographer framed is large and near the centre; a bystander at the edge can be as large.
 *
 * - `largest`: the largest box (face-api's users' usual rule, and Visage's before).
 * - `prominent`: box area × (1 − r)^CENTRE_POWER, r the distance of the box centre from the image centre,
 *   over the half-diagonal (0 at the centre, 1 in a corner). One face: that face, whatever the rule.
 */
import { VisageError } from '../errors.js';
import type { FaceBox } from './types.js';

export type FaceRule = 'largest' | 'prominent';
export const FACE_RULES: readonly FaceRule[] = ['largest', 'prominent'];
/**
 * The detector score the evaluations accept for a photo that has no face at the usual 0.5, before they
 * fall back to a centred crop: small, blurred or turned faces often score 0.3–0.5 (in the celeba_299 study,
 * 10 of the 14 photos without a face at 0.5 had one at 0.3; docs/results/accuracy.md). Not for the user verbs: a dog or a painting can score
 * 0.3–0.45 too, and there E_NO_FACE is the honest answer.
 */
export const SECOND_CHANCE_SCORE = 0.3;

/** The rule Visage uses unless told otherwise. */
export const DEFAULT_FACE_RULE: FaceRule = 'largest';

/** How strongly `prominent` favours the centre (a plain choice, not tuned). */
export const CENTRE_POWER = 2;

function centrality(box: FaceBox, width: number, height: number): number {
  const dx = (box.x + box.width / 2 - width / 2) / (width / 2);
  const dy = (box.y + box.height / 2 - height / 2) / (height / 2);
  return Math.max(0, 1 - Math.hypot(dx, dy) / Math.SQRT2);
}

/** The weight a rule gives a face (larger wins). */
export function faceWeight(
  box: FaceBox,
  image: { width: number; height: number },
  rule: FaceRule,
  power = CENTRE_POWER,
): number {
  const area = box.width * box.height;
  if (rule === 'largest') return area;
  return area * centrality(box, image.width, image.height) ** power;
}

/** Index of the face the rule picks; -1 for none. */
export function chooseFace(
  faces: ReadonlyArray<{ box: FaceBox }>,
  image: { width: number; height: number },
  rule: FaceRule = DEFAULT_FACE_RULE,
  power = CENTRE_POWER,
): number {
  if (!FACE_RULES.includes(rule))
    throw new VisageError('E_BAD_OPTION', `unknown face rule "${String(rule)}"`);
  let best = -1;
  let bestW = -Infinity;
  for (let i = 0; i < faces.length; i++) {
    const w = faceWeight(faces[i].box, image, rule, power);
    if (w > bestW) {
      best = i;
      bestW = w;
    }
  }
  return best;
}
