/**
 * API keys on every /v1 route: X-API-Key or Authorization: Bearer. No key or an unknown/revoked one →
 * 401 before the body is read; a key whose role or gallery scope does not allow the call → 403.
 */
import type { FastifyRequest } from 'fastify';
import { VisageError } from '../errors.js';
import type { ApiKey, Role, ServiceDb } from './service-db.js';

const RANK: Record<Role, number> = { read: 1, write: 2, admin: 3 };

declare module 'fastify' {
  interface FastifyRequest {
    apiKey?: ApiKey;
  }
}

export function presentedKey(req: FastifyRequest): string | undefined {
  const x = req.headers['x-api-key'];
  if (typeof x === 'string' && x) return x;
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim() || undefined;
  return undefined;
}

export function authenticate(db: ServiceDb, req: FastifyRequest): ApiKey {
  const secret = presentedKey(req);
  if (!secret)
    throw new VisageError('E_UNAUTHORIZED', 'an API key is needed (X-API-Key or Authorization: Bearer)');
  const key = db.findKey(secret);
  if (!key) throw new VisageError('E_UNAUTHORIZED', 'unknown or revoked API key');
  return key;
}

/** The calling key, checked for at least `role` and, when the call touches one, for `gallery`. */
export function authorize(req: FastifyRequest, role: Role, gallery?: string): ApiKey {
  const key = req.apiKey;
  if (!key) throw new VisageError('E_UNAUTHORIZED', 'an API key is needed');
  if (RANK[key.role] < RANK[role])
    throw new VisageError('E_FORBIDDEN', `this needs a ${role} key; this key is ${key.role}`, {
      role: key.role,
    });
  if (key.gallery !== null && key.role !== 'admin' && gallery !== undefined && gallery !== key.gallery)
    throw new VisageError('E_FORBIDDEN', `this key may only use gallery '${key.gallery}'`, {
      gallery: key.gallery,
    });
  if (key.gallery !== null && gallery === undefined && role === 'admin')
    throw new VisageError('E_FORBIDDEN', 'a gallery-scoped key cannot do this');
  return key;
}
