/** zod pieces shared by the routes. Form fields arrive as strings: the schema turns "false" into false. */
import { z } from 'zod';

export const formInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
export const formBool = z.union([z.boolean(), z.stringbool()]);
export const GalleryParams = z.object({ gallery: z.string().min(1).max(64) });
export const PersonParams = GalleryParams.extend({ name: z.string().min(1).max(200) });
export const FaceParams = PersonParams.extend({ faceId: z.coerce.number().int().min(1) });

/** Parse fields (query merged with form/JSON fields) or fail with E_BAD_INPUT naming the field. */
export function parseFields<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const i = r.error.issues[0];
  throw Object.assign(new Error(`${i.path.join('.') || 'body'}: ${i.message}`), {
    validation: r.error.issues,
    statusCode: 400,
  });
}

export const imageBodyNote =
  'Images: multipart file fields, a raw image/* body (single-image routes), or base64 strings in JSON.';
