// Where one style-transfer iteration's onnxruntime time goes: builds the iteration graph of
// src/style/onnx-objective.ts (default taps and costs, jittered content, gradient) for a network and size,
// runs it with onnxruntime's profiler on VISAGE_THREADS (default every core) intra-op threads, and prints
// the share of each op type over the timed runs. Usage (after npm run build):
//   node scripts/profile-style.mjs inception|vgg19 SIZE [RUNS]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';

const dist = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'dist', 'src');
const { initEngine } = await import(path.join(dist, 'engine', 'backend.js'));
const { envThreads } = await import(path.join(dist, 'config.js'));
const { encodeModel } = await import(path.join(dist, 'engine', 'onnx', 'proto.js'));
const { loadInceptionV3 } = await import(path.join(dist, 'style', 'nets', 'inception-v3.js'));
const { randomVgg19 } = await import(path.join(dist, 'style', 'nets', 'vgg19.js'));
const { buildObjectiveModel } = await import(path.join(dist, 'style', 'onnx-objective.js'));

const [which = 'inception', sizeArg = '256', runsArg = '3'] = process.argv.slice(2);
const size = Number(sizeArg);
const runs = Number(runsArg);
await initEngine();
const net = which === 'vgg19' ? randomVgg19(1) : loadInceptionV3({});
const model = buildObjectiveModel(net, {
  height: size,
  width: size,
  contentLayer: net.defaultContentLayer,
  styleLayers: Object.keys(net.defaultStyleLayers),
  smoothing: false,
  tv: true,
  content: 'image',
  gradient: true,
});
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-profile-'));
const threads = envThreads();
const session = await ort.InferenceSession.create(encodeModel(model), {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
  executionMode: 'sequential',
  enableProfiling: true,
  profileFilePrefix: path.join(dir, 'profile'),
  logSeverityLevel: 3,
});
const feeds = {};
for (const i of model.inputs) {
  const n = i.dims.reduce((a, b) => a * b, 1);
  feeds[i.name] = new ort.Tensor(
    'float32',
    Float32Array.from({ length: n }, () => Math.random() * 255),
    i.dims,
  );
}
await session.run(feeds); // warm-up, not counted
const wall = [];
for (let k = 0; k < runs; k++) {
  const t = performance.now();
  await session.run(feeds);
  wall.push(performance.now() - t);
}
session.endProfiling();
const file = fs.readdirSync(dir).map((f) => path.join(dir, f))[0];
const events = JSON.parse(fs.readFileSync(file, 'utf8'));
fs.rmSync(dir, { recursive: true, force: true });
const runStarts = events.filter((e) => e.name === 'model_run').map((e) => e.ts);
const firstTimed = runStarts.sort((a, b) => a - b)[1];
const byOp = new Map();
let total = 0;
for (const e of events)
  if (e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= firstTimed) {
    byOp.set(e.args.op_name, (byOp.get(e.args.op_name) ?? 0) + e.dur);
    total += e.dur;
  }
const ms = (us) => (us / 1000 / runs).toFixed(0);
console.log(
  `${net.name} ${size}×${size}, ${threads} thread(s): ${wall.map((w) => w.toFixed(0)).join(', ')} ms per run; ` +
    `kernel time ${ms(total)} ms per run, by op type:`,
);
for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 12))
  console.log(`  ${op.padEnd(16)} ${ms(us).padStart(6)} ms  ${((100 * us) / total).toFixed(1)} %`);
console.log(
  `load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
process.exit(0);
