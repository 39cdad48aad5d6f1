/**
 * Loads @vladmandic/face-api (a devDependency, used only by tests as the reference implementation) on
 * the same tfjs engine as ours: its node-wasm build requires @tensorflow/tfjs, which resolves to the
 * same tfjs-core instance, so both run on the backend initEngine() selected.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { faceApiModelDir } from '../../src/faces/models/faceapi-weights.js';

const require = createRequire(import.meta.url);

let loaded: Promise<any> | undefined;

/** face-api with its SSD, 68-landmark and recognition nets loaded from disk. */
export function loadFaceApi(): Promise<any> {
  loaded ??= (async () => {
    const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
    const dir = faceApiModelDir();
    await faceapi.nets.ssdMobilenetv1.loadFromDisk(dir);
    await faceapi.nets.faceLandmark68Net.loadFromDisk(dir);
    await faceapi.nets.faceRecognitionNet.loadFromDisk(dir);
    return faceapi;
  })();
  return loaded;
}

/** face-api's demo photos (shipped in the npm package). */
export function faceApiSample(n: number): string {
  return path.join(path.dirname(faceApiModelDir()), 'demo', `sample${n}.jpg`);
}
