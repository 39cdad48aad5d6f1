/**
 * `visage bench serve`: N concurrent clients on loopback against an in-process server whose gallery holds
 * `people` synthetic people (random unit embeddings inserted directly: search cost depends only on n × dim),
 * for identify and then enroll, with the library's per-image time for the same work measured in the same run
 * (FaceService without HTTP: the same pipeline and gallery search the route calls). Bounded by a request
 * count and a time limit per phase; listens on 127.0.0.1 only.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gaussianPaired as gaussian, mulberry32, randomUnitVector } from '../util/random.js';
import { buildServer, samplePhoto } from './app.js';

export interface ServeBenchOptions {
  clients?: number;
  /** Requests per phase at most. */
  requests?: number;
  /** Seconds per phase at most. */
  seconds?: number;
  people?: number;
  log?: (m: string) => void;
}

export interface PhaseResult {
  op: 'identify' | 'enroll';
  requests: number;
  ok: number;
  /** 429 / 503: allowed under overload. */
  refused: number;
  /** Anything else that was not 2xx (must be 0). */
  errors: number;
  seconds: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number };
  /** Wall time per successful image through HTTP, and the library's for the same call without HTTP. */
  servicePerImageMs: number;
  libraryPerImageMs: number;
  ratio: number;
  /** /healthz latency probed every 100 ms during the phase: how long the event loop is held by inference. */
  healthzMs: { p50: number; max: number };
}

export interface ServeBenchResult {
  clients: number;
  people: number;
  image: string;
  phases: PhaseResult[];
  /** Every 2xx enroll found in the gallery afterwards. */
  enrollsPresent: boolean;
}

const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;

export async function benchServe(o: ServeBenchOptions = {}): Promise<ServeBenchResult> {
  const clients = o.clients ?? 4;
  const maxRequests = o.requests ?? 100;
  const seconds = o.seconds ?? 30;
  const people = o.people ?? 10_000;
  const log = o.log ?? (() => undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-bench-serve-'));
  const key = 'bench-admin-key';
  const { app, ctx } = await buildServer({
    dataDir: dir,
    adminKey: key,
    logger: false,
    limits: { rateMax: 1e9, maxQueued: clients * 2 },
  });
  try {
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const image = fs.readFileSync(samplePhoto());
    log(`gallery of ${people} synthetic people…`);
    const enc = await ctx.faces.encoder();
    const g = await ctx.galleries.openOrCreate('bench');
    const normal = gaussian(mulberry32(1));
    g.enrollMany(
      Array.from({ length: people }, (_, i) => ({
        name: `synthetic-${i}`,
        embeddings: [randomUnitVector(normal, enc.dim)],
      })),
    );
    await ctx.ready(); // models loaded, warm

    const library = async (op: PhaseResult['op']) => {
      const n = 3;
      await (op === 'identify' ? ctx.faces.identify(g, image, 3) : Promise.resolve()); // warm the encoder
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        if (op === 'identify') await ctx.faces.identify(g, image, 3);
        else
          await ctx.faces.enroll({ existing: g, open: async () => g }, `library-${i}`, image, {
            faces: 'largest',
          });
      }
      return (performance.now() - t0) / n;
    };

    const phases: PhaseResult[] = [];
    const enrolled: string[] = [];
    for (const op of ['identify', 'enroll'] as const) {
      const libraryPerImageMs = await library(op);
      log(`${op}: ${clients} clients, ≤ ${maxRequests} requests, ≤ ${seconds} s…`);
      const lat: number[] = [];
      let sent = 0;
      let ok = 0;
      let refused = 0;
      let errors = 0;
      const t0 = performance.now();
      const deadline = t0 + seconds * 1000;
      const client = async () => {
        while (sent < maxRequests && performance.now() < deadline) {
          const i = sent++;
          const form = new FormData();
          form.append('image', new Blob([new Uint8Array(image)]), 'photo.jpg');
          const target =
            op === 'identify'
              ? `${url}/v1/identify?gallery=bench&top=3`
              : `${url}/v1/galleries/bench/people/client-${i}/faces?faces=largest`;
          const s = performance.now();
          const r = await fetch(target, { method: 'POST', headers: { 'x-api-key': key }, body: form }).catch(
            () => undefined,
          );
          await r?.arrayBuffer();
          lat.push(performance.now() - s);
          if (r && r.status < 300) {
            ok++;
            if (op === 'enroll') enrolled.push(`client-${i}`);
          } else if (r && (r.status === 429 || r.status === 503)) refused++;
          else errors++;
        }
      };
      const probes: number[] = [];
      let probing = true;
      const probe = (async () => {
        while (probing) {
          const s = performance.now();
          await fetch(`${url}/healthz`).then((r) => r.arrayBuffer());
          probes.push(performance.now() - s);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      await Promise.all(Array.from({ length: clients }, client));
      probing = false;
      await probe;
      probes.sort((a, b) => a - b);
      const wall = (performance.now() - t0) / 1000;
      lat.sort((a, b) => a - b);
      const servicePerImageMs = ok ? (wall * 1000) / ok : NaN;
      phases.push({
        op,
        requests: lat.length,
        ok,
        refused,
        errors,
        seconds: wall,
        requestsPerSecond: lat.length / wall,
        latencyMs: { p50: pct(lat, 50), p95: pct(lat, 95), p99: pct(lat, 99) },
        servicePerImageMs,
        libraryPerImageMs,
        ratio: servicePerImageMs / libraryPerImageMs,
        healthzMs: { p50: pct(probes, 50), max: probes[probes.length - 1] ?? NaN },
      });
    }
    const names = new Set(g.listPeople().map((p) => p.name));
    return {
      clients,
      people,
      image: 'face-api demo/sample1.jpg (3 faces)',
      phases,
      enrollsPresent: enrolled.every((n) => names.has(n)),
    };
  } finally {
    await app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatServeBench(r: ServeBenchResult): string {
  const f = (v: number) => v.toFixed(1);
  return [
    `bench serve: ${r.clients} clients on 127.0.0.1, gallery of ${r.people} synthetic people, image ${r.image}`,
    ...r.phases.map(
      (p) =>
        `${p.op.padEnd(8)} ${p.requests} req in ${f(p.seconds)} s = ${f(p.requestsPerSecond)} req/s; p50 ${f(p.latencyMs.p50)} ms, p95 ${f(p.latencyMs.p95)} ms, p99 ${f(p.latencyMs.p99)} ms; ` +
        `ok ${p.ok}, 429/503 ${p.refused}, errors ${p.errors}; per image ${f(p.servicePerImageMs)} ms vs library ${f(p.libraryPerImageMs)} ms → ×${p.ratio.toFixed(2)}; ` +
        `/healthz p50 ${f(p.healthzMs.p50)} ms, max ${f(p.healthzMs.max)} ms`,
    ),
    `every 2xx enroll in the gallery afterwards: ${r.enrollsPresent ? 'yes' : 'NO'}`,
  ].join('\n');
}
