/**
 * Images arrive three ways — multipart file fields, a raw image/* body, or base64 strings in JSON — and
 * leave as bytes per field name, with the other fields as plain values for the route's zod schema.
 * Never a URL or a server path: fetching those would be an SSRF hole.
 */
import type { FastifyRequest } from 'fastify';
import { VisageError } from '../errors.js';

export interface RequestInputs {
  files: Map<string, Buffer[]>;
  fields: Record<string, unknown>;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function decodeBase64(field: string, s: string): Buffer {
  const body = s.replace(/^data:[^;,]*;base64,/, '').replace(/\s+/g, '');
  if (!BASE64.test(body)) throw new VisageError('E_BAD_INPUT', `field '${field}' is not base64`, { field });
  return Buffer.from(body, 'base64');
}

function push(m: Map<string, Buffer[]>, k: string, b: Buffer): void {
  const list = m.get(k);
  if (list) list.push(b);
  else m.set(k, [b]);
}

/** `imageFields`: the field names that hold images (a JSON string there is base64). */
export async function readInputs(
  req: FastifyRequest,
  imageFields: readonly string[],
): Promise<RequestInputs> {
  const files = new Map<string, Buffer[]>();
  const fields: Record<string, unknown> = {};
  if (req.isMultipart()) {
    for await (const part of req.parts()) {
      if (part.type === 'file') push(files, part.fieldname, await part.toBuffer());
      else fields[part.fieldname] = part.value;
    }
  } else if (Buffer.isBuffer(req.body)) {
    push(files, imageFields[0], req.body);
  } else if (req.body && typeof req.body === 'object' && !Array.isArray(req.body)) {
    for (const [k, v] of Object.entries(req.body as Record<string, unknown>)) {
      if (!imageFields.includes(k)) fields[k] = v;
      else if (typeof v === 'string') push(files, k, decodeBase64(k, v));
      else if (Array.isArray(v) && v.every((x) => typeof x === 'string'))
        for (const x of v) push(files, k, decodeBase64(k, x));
      else
        throw new VisageError('E_BAD_INPUT', `field '${k}' must be a base64 string (or a list of them)`, {
          field: k,
        });
    }
  } else if (req.body !== undefined && req.body !== null) {
    throw new VisageError('E_BAD_INPUT', 'the body must be multipart/form-data, an image, or a JSON object');
  }
  return { files, fields };
}

/** Exactly one image in `field`, else E_BAD_INPUT naming the field. */
export function oneImage(inputs: RequestInputs, field: string): Buffer {
  const list = inputs.files.get(field);
  if (!list || list.length === 0)
    throw new VisageError('E_BAD_INPUT', `an image is needed in field '${field}'`, { field });
  if (list.length > 1)
    throw new VisageError('E_BAD_INPUT', `one image expected in field '${field}', got ${list.length}`, {
      field,
    });
  if (list[0].length === 0)
    throw new VisageError('E_EMPTY_FILE', `the image in field '${field}' is empty`, { field });
  return list[0];
}
