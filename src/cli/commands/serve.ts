import path from 'node:path';
import type { Command } from 'commander';
import { VisageError } from '../../errors.js';
import { serve } from '../../server/serve.js';
import { ROLES, ServiceDb, type Role } from '../../server/service-db.js';
import { emit } from '../output.js';
import { parseNumber } from './faces.js';

const DEFAULT_DATA = './visage-data';

/** `visage serve` and `visage keys …`: the HTTP service and its API keys. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('HTTP API (OpenAPI at /openapi.json, Swagger UI at /docs) and the web page at /')
    .option('--port <n>', 'TCP port (0: any free one)', '8080')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--data <dir>', 'folder for galleries, API keys and job results', DEFAULT_DATA)
    .option('--upload-limit <mb>', 'largest upload in MB', '10')
    .option('--rate-limit <n>', 'requests per API key per minute', '600')
    .option('--queue <n>', 'inference requests that may wait before 503', '64')
    .action(
      async (o: {
        port: string;
        host: string;
        data: string;
        uploadLimit: string;
        rateLimit: string;
        queue: string;
      }) => {
        const port = parseNumber(o.port, '--port', (v) => Number.isInteger(v) && v >= 0 && v < 65536)!;
        const mb = parseNumber(o.uploadLimit, '--upload-limit', (v) => v > 0)!;
        const rateMax = parseNumber(o.rateLimit, '--rate-limit', (v) => Number.isInteger(v) && v >= 1)!;
        const maxQueued = parseNumber(o.queue, '--queue', (v) => Number.isInteger(v) && v >= 0)!;
        const { url } = await serve({
          host: o.host,
          port,
          dataDir: path.resolve(o.data),
          adminKey: process.env.VISAGE_API_KEY || undefined,
          limits: { uploadBytes: Math.round(mb * 1024 * 1024), rateMax, maxQueued },
        });
        // The one line scripts (and tests) wait for.
        process.stdout.write(`visage serve: listening on ${url}\n`);
        await new Promise(() => undefined); // until a signal closes the server
      },
    );

  const keys = program.command('keys').description('API keys of a `visage serve` data folder');
  const withData = (c: Command) => c.option('--data <dir>', 'the service data folder', DEFAULT_DATA);
  const open = (dir: string) => new ServiceDb(path.resolve(dir));

  withData(keys.command('create').description('make a key (shown once)'))
    .requiredOption('--role <role>', 'admin | write | read')
    .option('--gallery <name>', 'limit the key to one gallery')
    .option('--label <text>', 'a note to recognise the key by')
    .action((o: { data: string; role: string; gallery?: string; label?: string }) => {
      if (!ROLES.includes(o.role as Role))
        throw new VisageError('E_BAD_OPTION', `--role must be admin, write or read, got ${o.role}`);
      const db = open(o.data);
      try {
        const k = db.createKey(o.role as Role, { gallery: o.gallery, label: o.label });
        emit(
          k,
          () =>
            `${k.key}\n(id ${k.id}, role ${k.role}${k.gallery ? `, gallery ${k.gallery}` : ''}; the key is not shown again)`,
        );
      } finally {
        db.close();
      }
    });

  withData(keys.command('list').description('keys (ids and roles, never the secrets)')).action(
    (o: { data: string }) => {
      const db = open(o.data);
      try {
        const list = db.listKeys();
        emit(list, () =>
          list
            .map(
              (k) =>
                `${k.id}  ${k.role.padEnd(5)}  ${k.gallery ?? '*'}  ${k.revokedAt ? 'revoked' : 'live'}  ${k.label ?? ''}`,
            )
            .join('\n'),
        );
      } finally {
        db.close();
      }
    },
  );

  withData(keys.command('revoke').description('revoke a key by id').argument('<id>')).action(
    (id: string, o: { data: string }) => {
      const db = open(o.data);
      try {
        db.revokeKey(id);
        emit({ id, revoked: true }, () => `revoked ${id}`);
      } finally {
        db.close();
      }
    },
  );
}
