/** Start the service; SIGTERM / SIGINT drain in-flight requests and close the stores. */
import { buildServer, type ServerOptions } from './app.js';

export async function serve(
  opts: ServerOptions & { host: string; port: number },
): Promise<{ url: string; close(): Promise<void> }> {
  const { app } = await buildServer(opts);
  const url = await app.listen({ host: opts.host, port: opts.port });
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= app.close());
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.once(sig, () => {
      app.log.info({ signal: sig }, 'draining');
      void close().then(() => process.exit(0));
    });
  return { url, close };
}
