/** Style transfer jobs: create (202), state, progress as server-sent events, the PNG, cancel. */
import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { VisageError } from '../../errors.js';
import { authorize } from '../auth.js';
import type { ServerContext } from '../context.js';
import { oneImage, readInputs } from '../inputs.js';
import { formBool, formInt, parseFields } from '../schemas.js';

const StyleFields = z.object({
  size: formInt(32, 1024).default(256),
  iterations: formInt(1, 1000).default(150),
  styleWeight: z.coerce.number().min(0).optional(),
  contentWeight: z.coerce.number().min(0).optional(),
  preserveColors: formBool.default(false),
});
const JobParams = z.object({ id: z.string().uuid() });

export function registerStyleRoutes(fastify: FastifyInstance, ctx: ServerContext): void {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['style'];
  const own = (req: { apiKey?: { id: string; role: string } }, id: string) => {
    const job = ctx.jobs.get(id);
    if (req.apiKey!.role !== 'admin' && job.keyId !== req.apiKey!.id)
      throw new VisageError('E_UNKNOWN_JOB', `no job ${id}`, { id });
    return job;
  };

  app.post(
    '/v1/style',
    {
      schema: {
        tags,
        summary: 'content + one or more style images (fields content, style) → 202 with a job id',
        querystring: StyleFields,
      },
    },
    async (req, reply) => {
      const key = authorize(req, 'write');
      const inputs = await readInputs(req, ['content', 'style']);
      const o = parseFields(StyleFields, { ...(req.query as object), ...inputs.fields });
      const styles = inputs.files.get('style') ?? [];
      if (styles.length === 0 || styles.some((s) => s.length === 0))
        throw new VisageError('E_BAD_INPUT', "at least one non-empty style image is needed (field 'style')");
      const id = ctx.jobs.create(key.id, oneImage(inputs, 'content'), styles, o);
      return reply.code(202).header('location', `/v1/jobs/${id}`).send({ id, state: 'queued' });
    },
  );

  app.get('/v1/jobs/:id', { schema: { tags, params: JobParams } }, async (req) => {
    authorize(req, 'read');
    const j = own(req, req.params.id);
    return {
      id: j.id,
      state: j.state,
      error: j.error,
      createdAt: j.createdAt,
      finishedAt: j.finishedAt,
      progress: j.progress,
    };
  });

  app.get(
    '/v1/jobs/:id/events',
    { schema: { tags, summary: 'server-sent events: step, J, ETA, state', params: JobParams } },
    async (req, reply) => {
      authorize(req, 'read');
      const j = own(req, req.params.id);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      const send = (e: object) => res.write(`data: ${JSON.stringify(e)}\n\n`);
      send(j.progress);
      const final = (s: string) => s === 'done' || s === 'failed' || s === 'cancelled';
      if (final(j.state)) return void res.end();
      const off = ctx.jobs.subscribe(j.id, (e) => {
        send(e);
        if (final(e.state)) {
          off();
          res.end();
        }
      });
      req.raw.on('close', off);
    },
  );

  app.get(
    '/v1/jobs/:id/result',
    { schema: { tags, summary: 'the PNG of a finished job', params: JobParams } },
    async (req, reply) => {
      authorize(req, 'read');
      const j = own(req, req.params.id);
      if (j.state !== 'done')
        throw new VisageError('E_JOB_STATE', `job is ${j.state}${j.error ? `: ${j.error}` : ''}`, {
          state: j.state,
        });
      return reply.type('image/png').send(fs.createReadStream(ctx.db.jobResultFile(j.id)));
    },
  );

  app.delete(
    '/v1/jobs/:id',
    { schema: { tags, summary: 'cancel', params: JobParams } },
    async (req, reply) => {
      authorize(req, 'write');
      own(req, req.params.id);
      ctx.jobs.cancel(req.params.id);
      return reply.code(202).send({ id: req.params.id, state: 'cancelling' });
    },
  );
}
