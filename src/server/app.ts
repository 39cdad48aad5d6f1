/**
 * The HTTP service: fastify 5 with zod schemas (served as OpenAPI at /openapi.json, Swagger UI at
 * /docs), API keys, per-key rate limits, a bounded inference queue, Prometheus metrics and the web page.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { VisageError } from '../errors.js';
import { packageRoot, visageVersion } from '../paths.js';
import { authenticate, presentedKey } from './auth.js';
import { DEFAULT_LIMITS, type ServerContext, type ServerLimits } from './context.js';
import { FaceService } from './face-service.js';
import { GalleryRegistry } from './galleries.js';
import { toHttpError } from './http-errors.js';
import { ServiceMetrics } from './metrics.js';
import { BoundedQueue } from './queue.js';
import { registerFaceRoutes } from './routes/faces.js';
import { registerGalleryRoutes } from './routes/galleries.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerStyleRoutes } from './routes/style.js';
import { hashKey, ServiceDb } from './service-db.js';
import { StyleJobs } from './style-jobs.js';

export interface ServerOptions {
  /** Folder holding service.sqlite, galleries/ and jobs/. */
  dataDir: string;
  limits?: Partial<ServerLimits>;
  /** On first start (no key with this secret yet), create it as an admin key: VISAGE_API_KEY. */
  adminKey?: string;
  /** pino logging (default on, level info); false for tests. */
  logger?: boolean | { level: string; stream?: { write(line: string): void } };
}

export async function buildServer(
  opts: ServerOptions,
): Promise<{ app: FastifyInstance; ctx: ServerContext }> {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const db = new ServiceDb(opts.dataDir);
  if (opts.adminKey && !db.hasKey(opts.adminKey))
    db.createKey('admin', { secret: opts.adminKey, label: 'VISAGE_API_KEY' });
  const queue = new BoundedQueue(limits.concurrency, limits.maxQueued, limits.requestTimeoutMs);
  const faces = new FaceService(queue, { maxPixels: limits.maxPixels });
  const galleries = new GalleryRegistry(opts.dataDir, () => faces.encoder());
  const jobs = new StyleJobs(db, limits.maxStyleJobs, limits.maxPixels);
  let selfTest: Promise<void> | undefined;
  const ctx: ServerContext = {
    db,
    galleries,
    faces,
    jobs,
    limits,
    async ready() {
      const checks: Record<string, string> = { store: db.isOpen() ? 'ok' : 'closed' };
      // One real inference on face-api's bundled sample photo, once: models load and give a face.
      selfTest ??= (async () => {
        const [r] = await faces.detect([fs.readFileSync(samplePhoto())]);
        if (r.faces.length === 0) throw new VisageError('E_INTERNAL', 'self-test found no face');
      })();
      try {
        await selfTest;
        checks.models = 'ok';
      } catch (e) {
        selfTest = undefined;
        checks.models = e instanceof Error ? e.message : 'failed';
      }
      return { ok: Object.values(checks).every((v) => v === 'ok'), checks };
    },
  };

  const logger =
    opts.logger === false
      ? false
      : {
          level: typeof opts.logger === 'object' ? opts.logger.level : 'info',
          redact: ['req.headers'],
          ...(typeof opts.logger === 'object' && opts.logger.stream ? { stream: opts.logger.stream } : {}),
        };
  const app = Fastify({
    logger,
    // One line per request, written in onResponse below, instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: Math.ceil(limits.uploadBytes * 1.4) + 65536, // base64 JSON is 4/3 the bytes
    requestTimeout: limits.requestTimeoutMs,
    genReqId: () => crypto.randomUUID(),
    return503OnClosing: true,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toHttpError(err, req.id);
    if (status >= 500)
      req.log.error({ code: body.error.code, err: status === 500 ? err : undefined }, 'request failed');
    if (status === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', '1');
    void reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .send(
        toHttpError(new VisageError('E_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`), req.id)
          .body,
      );
  });
  app.removeContentTypeParser('text/plain'); // no route takes text: 415 rather than a confusing 400
  for (const type of [/^image\/.*/, 'application/octet-stream'])
    app.addContentTypeParser(type, { parseAs: 'buffer', bodyLimit: limits.uploadBytes }, (_req, body, done) =>
      done(null, body),
    );

  const metrics = new ServiceMetrics({
    queueDepth: () => queue.depth,
    facesEncoded: () => faces.facesEncoded,
    gallerySizes: () => galleries.sizes(),
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.latency.observe({ method: req.method, route }, reply.elapsedTime / 1000);
    // Route pattern, not the URL: no names or query values in the logs; never bodies or keys.
    req.log.info(
      {
        method: req.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
        key: req.apiKey?.id,
      },
      'request',
    );
  });

  await app.register(multipart, {
    limits: { fileSize: limits.uploadBytes, files: 8, fields: 32, fieldSize: 64 * 1024, parts: 40 },
    throwFileSizeLimit: true,
  });
  await app.register(rateLimit, {
    max: limits.rateMax,
    timeWindow: limits.rateWindowMs,
    enableDraftSpec: true, // RateLimit-Limit / -Remaining / -Reset and Retry-After
    allowList: (req) => !req.url.startsWith('/v1/'),
    keyGenerator: (req) => {
      const k = presentedKey(req);
      return k ? `key:${hashKey(k)}` : `ip:${req.ip}`;
    },
    errorResponseBuilder: (_req, c) =>
      Object.assign(new VisageError('E_RATE_LIMITED', `rate limit: ${c.max} requests per ${c.after}`), {
        statusCode: 429,
      }),
  });
  app.addHook('onRequest', async (req) => {
    if (req.url.startsWith('/v1/')) req.apiKey = authenticate(db, req);
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Visage',
        version: visageVersion(),
        description: 'Face verification, recognition and style transfer',
      },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } } },
      security: [{ apiKey: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(fastifyStatic, { root: path.join(packageRoot(), 'src', 'web'), prefix: '/' });

  registerHealthRoutes(app, ctx, metrics.registry);
  registerFaceRoutes(app, ctx);
  registerGalleryRoutes(app, ctx);
  registerStyleRoutes(app, ctx);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.addHook('onClose', async () => {
    await jobs.close();
    await faces.close();
    galleries.closeAll();
    db.close();
  });
  return { app, ctx };
}

/** A photo with one face that ships with @vladmandic/face-api (the readiness self-test). */
export function samplePhoto(): string {
  const pkg = createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json');
  return path.join(path.dirname(pkg), 'demo', 'sample1.jpg');
}
