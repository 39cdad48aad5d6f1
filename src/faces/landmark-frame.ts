/**
 * Where face-api's landmark net usually sees a face in its 112×112 input, as the square that dlib's mean
 * face (the alignment template's unit square, see align.ts) occupies there: top-left corner (x, y) and
 * side, in [0, 1] of the input. Median over the 67 faces of the shared colour sets' first 4 photos per
 * person, from detector boxes: `PER_IDENTITY=4 node scripts/landmark-frame.mjs` on five_celebrity_faces,
 * faceapi_bbt and face_recognition_examples (rotation there: −0.4°).
 */
export const LANDMARK_FRAME = { x: 0.165, y: 0.17, side: 0.732 } as const;
