/** Liveness, readiness (models + store + a self-test inference), what the server runs, and /metrics. */
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import fs from 'node:fs';
import { loadCalibration, shippedCalibrationFile, userCalibrationFile } from '../../faces/calibration.js';
import { visageVersion } from '../../paths.js';
import type { ServerContext } from '../context.js';

export function registerHealthRoutes(app: FastifyInstance, ctx: ServerContext, registry: Registry): void {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));

  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    const r = await ctx.ready();
    return reply.code(r.ok ? 200 : 503).send(r);
  });

  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    return reply.header('content-type', registry.contentType).send(await registry.metrics());
  });

  app.get(
    '/v1/info',
    { schema: { summary: 'models, embedding size and the active threshold', tags: ['service'] } },
    async () => {
      const encoder = await ctx.faces.encoder();
      const policy = await ctx.faces.visage.policy();
      return {
        version: visageVersion(),
        model: encoder.id,
        dim: encoder.dim,
        detector: 'ssd-mobilenetv1 + 68 landmarks (face-api weights)',
        threshold: policy.threshold,
        metric: policy.metric,
        calibration: calibratedOn(encoder.id),
        confidence: policy.confidence ? 'logistic' : null,
        limits: {
          uploadBytes: ctx.limits.uploadBytes,
          rateLimit: { max: ctx.limits.rateMax, windowMs: ctx.limits.rateWindowMs },
          maxQueued: ctx.limits.maxQueued,
          maxPixels: ctx.limits.maxPixels,
        },
        galleries: ctx.galleries.names(),
      };
    },
  );
}

/** What the active τ was calibrated on (the user's file overrides the shipped one, as in Visage.policy). */
function calibratedOn(model: string): unknown {
  let on: unknown = null;
  for (const f of [shippedCalibrationFile(), userCalibrationFile()]) {
    if (!fs.existsSync(f)) continue;
    const entry = loadCalibration(f).policies[model] as { calibratedOn?: unknown } | undefined;
    if (entry) on = entry.calibratedOn ?? null;
  }
  return on;
}
