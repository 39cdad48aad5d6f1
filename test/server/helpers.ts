import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ServerLimits } from '../../src/server/context.js';
import { buildServer } from '../../src/server/app.js';
import { dataDir, repoRoot } from '../helpers/data.js';

export const ADMIN = 'test-admin-key-0123456789';
export const photo = (...p: string[]) =>
  fs.readFileSync(path.join(dataDir('faces', 'face_recognition_examples'), ...p));
export const sample = (n: number) =>
  fs.readFileSync(path.join(repoRoot, 'node_modules', '@vladmandic', 'face-api', 'demo', `sample${n}.jpg`));
export const picture = (name: string) => fs.readFileSync(path.join(dataDir('images'), name));

/** An in-process server on 127.0.0.1 with an ephemeral port and a temp --data folder. */
export async function startServer(limits: Partial<ServerLimits> = {}, log?: { write(line: string): void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-serve-'));
  const logger = log ? { level: 'info', stream: log } : false;
  const { app, ctx } = await buildServer({ dataDir: dir, adminKey: ADMIN, logger, limits });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    dir,
    ctx,
    async close() {
      await app.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Call {
  key?: string | null;
  files?: Record<string, Buffer | Buffer[]>;
  fields?: Record<string, string>;
  json?: unknown;
  raw?: { body: Buffer | string; type: string };
  headers?: Record<string, string>;
}

/** One HTTP request; the JSON body (or text) comes back with the status and headers. */
export async function call(base: string, method: string, url: string, c: Call = {}) {
  const headers: Record<string, string> = { ...c.headers };
  const key = c.key === undefined ? ADMIN : c.key;
  if (key !== null) headers['x-api-key'] = key;
  let body: BodyInit | undefined;
  if (c.files || c.fields) {
    const form = new FormData();
    for (const [k, v] of Object.entries(c.fields ?? {})) form.append(k, v);
    for (const [k, v] of Object.entries(c.files ?? {}))
      for (const b of Array.isArray(v) ? v : [v]) form.append(k, new Blob([new Uint8Array(b)]), `${k}.jpg`);
    body = form;
  } else if (c.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = typeof c.json === 'string' ? c.json : JSON.stringify(c.json);
  } else if (c.raw) {
    headers['content-type'] = c.raw.type;
    body = typeof c.raw.body === 'string' ? c.raw.body : new Uint8Array(c.raw.body);
  }
  const res = await fetch(base + url, { method, headers, body });
  const text = await res.text();
  let data: any;
  try {
    data = JSON.parse(text);
  } catch {
    data = text;
  }
  return { status: res.status, headers: res.headers, data };
}
