/** Liveness, readiness (models + store + a self-test inference), what the server runs, and /metrics. */
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
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
        calibration: (policy as { calibratedOn?: unknown }).calibratedOn ?? null,
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
