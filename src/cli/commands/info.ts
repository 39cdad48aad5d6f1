import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { envThreads } from '../../config.js';
import { engineInfo } from '../../engine/backend.js';
import { activeEngine, engineFallbackReason, inferenceThreads } from '../../engine/inference/index.js';
import { dependencyDir, dependencyVersion, visageVersion } from '../../paths.js';
import { emit } from '../output.js';

/** Model files Visage loads from npm packages (nothing is downloaded). */
export function findModelFiles(): Array<{ model: string; path: string; found: boolean; bytes: number }> {
  const faceApi = dependencyDir('@vladmandic/face-api');
  const nsfw = dependencyDir('nsfwjs');
  const candidates: Array<[string, string | null]> = [
    ['ssd-mobilenetv1 (face detector)', faceApi && path.join(faceApi, 'model', 'ssd_mobilenetv1_model.bin')],
    ['face-landmark-68', faceApi && path.join(faceApi, 'model', 'face_landmark_68_model.bin')],
    ['dlib-resnet34 (face encoder)', faceApi && path.join(faceApi, 'model', 'face_recognition_model.bin')],
    ['inception-v3 (style features)', nsfw && path.join(nsfw, 'dist', 'models', 'inception_v3')],
  ];
  return candidates.map(([model, p]) => {
    const found = p !== null && fs.existsSync(p);
    let bytes = 0;
    if (found) {
      const st = fs.statSync(p);
      bytes = st.isDirectory()
        ? fs.readdirSync(p).reduce((s, f) => s + fs.statSync(path.join(p, f)).size, 0)
        : st.size;
    }
    return { model, path: p ?? '(package not installed)', found, bytes };
  });
}

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('show versions, the tensor backend, threads, SIMD and the model files found')
    .action(async () => {
      const engine = await engineInfo();
      const inference = await activeEngine();
      const info = {
        engine: inference,
        engineRequested: process.env.VISAGE_ENGINE ?? 'onnx',
        engineFallback: engineFallbackReason() ?? null,
        onnxruntime: dependencyVersion('onnxruntime-node'),
        onnxThreads: inferenceThreads(),
        visage: visageVersion(),
        node: process.versions.node,
        tfjs: engine.tfjsVersion,
        sharp: dependencyVersion('sharp'),
        betterSqlite3: dependencyVersion('better-sqlite3'),
        backend: engine.backend,
        simd: engine.simd,
        wasmMultithread: engine.wasmMultithread,
        threads: envThreads(),
        models: findModelFiles(),
      };
      emit(info, () =>
        [
          `visage ${info.visage} (node ${info.node})`,
          `engine ${info.engine}` +
            (info.engine === 'onnx'
              ? ` (onnxruntime-node ${info.onnxruntime}, ${info.onnxThreads} intra-op thread(s))`
              : info.engineFallback
                ? ` (fallback: ${info.engineFallback})`
                : ' (VISAGE_ENGINE=tfjs)'),
          `tfjs ${info.tfjs}, backend ${info.backend}, SIMD ${info.simd ? 'yes' : 'no'}, worker threads ${info.threads}` +
            (info.backend === 'wasm'
              ? ' (one engine per worker; wasm pthreads are unavailable in Node)'
              : ''),
          `sharp ${info.sharp}, better-sqlite3 ${info.betterSqlite3}`,
          'models:',
          ...info.models.map(
            (m) =>
              `  ${m.found ? 'ok     ' : 'MISSING'} ${m.model.padEnd(32)} ${m.path}${m.found ? ` (${(m.bytes / 1e6).toFixed(1)} MB)` : ''}`,
          ),
        ].join('\n'),
      );
    });
}
