/** Gallery-free verbs (detect, embed, verify) and identify against one gallery. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { VisageError } from '../../errors.js';
import { authorize } from '../auth.js';
import type { ServerContext } from '../context.js';
import { oneImage, readInputs, type RequestInputs } from '../inputs.js';
import { formInt, imageBodyNote, parseFields } from '../schemas.js';

function allImages(inputs: RequestInputs): Buffer[] {
  const list = [...(inputs.files.get('image') ?? []), ...(inputs.files.get('images') ?? [])];
  if (list.length === 0)
    throw new VisageError('E_BAD_INPUT', "at least one image is needed (field 'image' or 'images')");
  list.forEach((b, i) => {
    if (b.length === 0) throw new VisageError('E_EMPTY_FILE', `image ${i} is empty`, { index: i });
  });
  return list;
}

const VerifyFields = z.object({ faceA: formInt(0, 1000).optional(), faceB: formInt(0, 1000).optional() });
const IdentifyQuery = z.object({ gallery: z.string().min(1).max(64), top: formInt(1, 100).default(3) });

export function registerFaceRoutes(fastify: FastifyInstance, ctx: ServerContext): void {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['faces'];

  app.post(
    '/v1/detect',
    { schema: { tags, summary: 'faces and boxes in one or more images', description: imageBodyNote } },
    async (req) => {
      authorize(req, 'read');
      const inputs = await readInputs(req, ['image', 'images']);
      return { images: await ctx.faces.detect(allImages(inputs)) };
    },
  );

  app.post(
    '/v1/embed',
    {
      schema: {
        tags,
        summary: 'every face with its embedding, for one or more images',
        description: imageBodyNote,
      },
    },
    async (req) => {
      authorize(req, 'read');
      const inputs = await readInputs(req, ['image', 'images']);
      return { images: await ctx.faces.embed(allImages(inputs)) };
    },
  );

  app.post(
    '/v1/verify',
    {
      schema: {
        tags,
        summary: '1:1 — are the faces in images a and b the same person?',
        description: imageBodyNote,
        querystring: VerifyFields,
      },
    },
    async (req) => {
      authorize(req, 'read');
      const inputs = await readInputs(req, ['a', 'b']);
      const f = parseFields(VerifyFields, { ...(req.query as object), ...inputs.fields });
      return ctx.faces.verify(oneImage(inputs, 'a'), oneImage(inputs, 'b'), f.faceA, f.faceB);
    },
  );

  app.post(
    '/v1/identify',
    {
      schema: {
        tags,
        summary: '1:K — who is every face in the image (match null = unknown)',
        description: imageBodyNote,
        querystring: IdentifyQuery,
      },
    },
    async (req) => {
      const q = req.query;
      authorize(req, 'read', q.gallery);
      const gallery = await ctx.galleries.get(q.gallery);
      const inputs = await readInputs(req, ['image']);
      return { gallery: q.gallery, ...(await ctx.faces.identify(gallery, oneImage(inputs, 'image'), q.top)) };
    },
  );
}
