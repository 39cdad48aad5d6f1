/** Galleries, people and faces: enroll (idempotent), list, rename, merge, remove, export / import. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { VisageError } from '../../errors.js';
import { authorize } from '../auth.js';
import type { ServerContext } from '../context.js';
import { checkGalleryName } from '../galleries.js';
import { oneImage, readInputs } from '../inputs.js';
import { FaceParams, formInt, GalleryParams, imageBodyNote, parseFields, PersonParams } from '../schemas.js';

const EnrollFields = z.object({
  faces: z.enum(['largest', 'all', 'error']).default('error'),
  face: formInt(0, 1000).optional(),
  externalId: z.string().min(1).max(200).optional(),
});
const Page = z.object({ limit: formInt(1, 1000).default(100), offset: formInt(0, 1e9).default(0) });
const Rename = z.object({ name: z.string().min(1).max(200) });
const Merge = z.object({ from: z.string().min(1).max(200), into: z.string().min(1).max(200) });
const ExportFile = z.object({
  format: z.literal('visage-gallery'),
  version: z.literal(1),
  gallery: z.string(),
  model: z.string(),
  dim: z.number().int().positive(),
  people: z.array(z.object({ name: z.string(), embeddings: z.array(z.string()) })),
});

const f32ToB64 = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
const b64ToF32 = (s: string) => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(new Uint8Array(b).buffer, 0, Math.floor(b.length / 4));
};

export function registerGalleryRoutes(fastify: FastifyInstance, ctx: ServerContext): void {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['galleries'];

  app.get('/v1/galleries', { schema: { tags, summary: 'galleries this key may see' } }, async (req) => {
    const key = authorize(req, 'read');
    const names = ctx.galleries.names().filter((n) => key.gallery === null || key.gallery === n);
    return {
      galleries: await Promise.all(
        names.map(async (n) => ({ name: n, ...stats(await ctx.galleries.get(n)) })),
      ),
    };
  });

  app.get('/v1/galleries/:gallery', { schema: { tags, params: GalleryParams } }, async (req) => {
    authorize(req, 'read', req.params.gallery);
    return { name: req.params.gallery, ...stats(await ctx.galleries.get(req.params.gallery)) };
  });

  app.delete('/v1/galleries/:gallery', { schema: { tags, params: GalleryParams } }, async (req, reply) => {
    authorize(req, 'admin', req.params.gallery);
    await ctx.galleries.remove(req.params.gallery);
    return reply.code(204).send();
  });

  app.get(
    '/v1/galleries/:gallery/people',
    { schema: { tags, params: GalleryParams, querystring: Page } },
    async (req) => {
      authorize(req, 'read', req.params.gallery);
      const all = (await ctx.galleries.get(req.params.gallery)).listPeople();
      const { limit, offset } = req.query;
      const people = all
        .slice(offset, offset + limit)
        .map((p) => ({ name: p.name, faces: p.embeddings, createdAt: p.createdAt, updatedAt: p.updatedAt }));
      return {
        people,
        total: all.length,
        limit,
        offset,
        next: offset + limit < all.length ? offset + limit : null,
      };
    },
  );

  app.get('/v1/galleries/:gallery/people/:name', { schema: { tags, params: PersonParams } }, async (req) => {
    authorize(req, 'read', req.params.gallery);
    const g = await ctx.galleries.get(req.params.gallery);
    const faces = g.embeddingsOf(req.params.name).map((e) => ({ faceId: e.embeddingId }));
    return { name: req.params.name.normalize('NFC').trim(), faces };
  });

  app.post(
    '/v1/galleries/:gallery/people/:name/faces',
    {
      schema: {
        tags,
        summary:
          'enroll one photo (field image); several faces → 422 E_MANY_FACES unless face=N or faces=largest|all',
        description: `${imageBodyNote} An Idempotency-Key header (or externalId field) makes retries store one face.`,
        params: PersonParams,
        querystring: EnrollFields,
      },
    },
    async (req, reply) => {
      const { gallery, name } = req.params;
      authorize(req, 'write', gallery);
      checkGalleryName(gallery);
      const inputs = await readInputs(req, ['image']);
      const f = parseFields(EnrollFields, { ...(req.query as object), ...inputs.fields });
      const image = oneImage(inputs, 'image');
      const header = req.headers['idempotency-key'];
      const idem = typeof header === 'string' && header ? header : f.externalId;
      const existing = ctx.galleries.exists(gallery) ? await ctx.galleries.get(gallery) : undefined;
      const r = await ctx.faces.enroll(
        { existing, open: () => ctx.galleries.openOrCreate(gallery) },
        name,
        image,
        {
          faces: f.faces,
          face: f.face,
          idempotency: idem ? `${req.apiKey!.id}:${idem}` : undefined,
        },
      );
      return reply.code(r.replayed ? 200 : 201).send({ gallery, ...r });
    },
  );

  app.patch(
    '/v1/galleries/:gallery/people/:name',
    { schema: { tags, summary: 'rename', params: PersonParams, body: Rename } },
    async (req) => {
      authorize(req, 'write', req.params.gallery);
      const g = await ctx.galleries.get(req.params.gallery);
      const to = req.body.name.normalize('NFC').trim();
      g.embeddingsOf(req.params.name); // E_UNKNOWN_PERSON first
      if (g.listPeople().some((p) => p.name === to) && to !== req.params.name.normalize('NFC').trim())
        throw new VisageError('E_NAME_TAKEN', `someone is already called '${to}'`, { name: to });
      g.renamePerson(req.params.name, to);
      return { name: to };
    },
  );

  app.post(
    '/v1/galleries/:gallery/merge',
    {
      schema: {
        tags,
        summary: 'move every face of one person to another',
        params: GalleryParams,
        body: Merge,
      },
    },
    async (req) => {
      authorize(req, 'write', req.params.gallery);
      return (await ctx.galleries.get(req.params.gallery)).mergePeople(req.body.from, req.body.into);
    },
  );

  app.delete(
    '/v1/galleries/:gallery/people/:name',
    { schema: { tags, params: PersonParams } },
    async (req) => {
      authorize(req, 'write', req.params.gallery);
      const r = (await ctx.galleries.get(req.params.gallery)).removePerson(req.params.name);
      return { name: r.name, removedFaces: r.embeddings };
    },
  );

  app.delete(
    '/v1/galleries/:gallery/people/:name/faces/:faceId',
    { schema: { tags, params: FaceParams } },
    async (req, reply) => {
      authorize(req, 'write', req.params.gallery);
      (await ctx.galleries.get(req.params.gallery)).removeEmbedding(req.params.name, req.params.faceId);
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/galleries/:gallery/export',
    { schema: { tags, summary: 'names + embeddings, to import elsewhere', params: GalleryParams } },
    async (req) => {
      authorize(req, 'read', req.params.gallery);
      const g = await ctx.galleries.get(req.params.gallery);
      return {
        format: 'visage-gallery' as const,
        version: 1 as const,
        gallery: req.params.gallery,
        model: g.model,
        dim: g.dim,
        people: g
          .listPeople()
          .map((p) => ({ name: p.name, embeddings: g.embeddingsOf(p.name).map((e) => f32ToB64(e.vector)) })),
      };
    },
  );

  app.post(
    '/v1/galleries/import',
    { schema: { tags, summary: 'import an export (model id checked)', body: ExportFile } },
    async (req, reply) => {
      const body = req.body;
      authorize(req, 'write', body.gallery);
      checkGalleryName(body.gallery);
      const enc = await ctx.faces.encoder();
      if (body.model !== enc.id || body.dim !== enc.dim)
        throw new VisageError(
          'E_MODEL_MISMATCH',
          `the export holds '${body.model}' (${body.dim}-D) embeddings; this server uses '${enc.id}' (${enc.dim}-D)`,
          {
            model: body.model,
            serverModel: enc.id,
          },
        );
      const g = await ctx.galleries.openOrCreate(body.gallery);
      const people = body.people.filter((p) => p.embeddings.length > 0);
      g.enrollMany(
        people.map((p) => ({ name: p.name, embeddings: p.embeddings.map(b64ToF32), source: 'import' })),
      );
      return reply.code(201).send({
        gallery: body.gallery,
        people: people.length,
        faces: people.reduce((n, p) => n + p.embeddings.length, 0),
      });
    },
  );
}

function stats(g: { stats(): { model: string; dim: number; people: number; embeddings: number } }) {
  const s = g.stats();
  return { model: s.model, dim: s.dim, people: s.people, faces: s.embeddings };
}
