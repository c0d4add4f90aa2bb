import { connect, createServer, Socket } from 'node:net';

/**
 * A TCP proxy in the test process, in front of a PostgreSQL server, that can
 * make the connections going through it half-open (fault scenario 15): they
 * stop forwarding in both directions, and neither side is closed, as after a
 * network partition or a dropped NAT entry. Neither end's kernel sees
 * anything wrong, so TCP keepalive cannot help: only timeouts can.
 */
export interface TcpProxy {
  /** `url` with its host and port replaced by the proxy's. */
  readonly url: string;
  /**
   * Stops forwarding on every connection open now, without closing it; later
   * connections are forwarded as usual. Returns how many were frozen.
   */
  freeze(): number;
  /** Frozen connections that their client has closed since (dropped, detected). */
  closedByClient(): number;
  /** Connections opened through the proxy so far. */
  opened(): number;
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  readonly server: Socket;
  frozen: boolean;
  clientClosed: boolean;
}

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const targetPort = Number(target.port || 5432);
  const targetHost = target.hostname || '127.0.0.1';
  const pairs = new Set<Pair>();
  let opened = 0;

  const proxy = createServer((client) => {
    opened += 1;
    const server = connect(targetPort, targetHost);
    const pair: Pair = { client, server, frozen: false, clientClosed: false };
    pairs.add(pair);
    const forward = (from: Socket, to: Socket) => {
      from.on('data', (chunk: Buffer) => {
        if (!pair.frozen) {
          to.write(chunk);
        }
      });
      from.on('end', () => {
        if (!pair.frozen) {
          to.end();
        }
      });
    };
    forward(client, server);
    forward(server, client);
    client.on('error', () => undefined);
    server.on('error', () => undefined);
    client.on('close', () => {
      pair.clientClosed = true;
      if (!pair.frozen) {
        server.destroy();
        pairs.delete(pair);
      }
    });
    server.on('close', () => {
      if (!pair.frozen) {
        client.destroy();
        pairs.delete(pair);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    proxy.once('error', reject);
    proxy.listen(0, '127.0.0.1', () => resolve());
  });
  const address = proxy.address();
  if (typeof address !== 'object' || address === null) {
    throw new Error('the proxy has no address');
  }
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(address.port);

  return {
    url: url.toString(),
    freeze() {
      let count = 0;
      for (const pair of pairs) {
        if (!pair.frozen && !pair.clientClosed) {
          pair.frozen = true;
          count += 1;
        }
      }
      return count;
    },
    closedByClient() {
      return [...pairs].filter((pair) => pair.frozen && pair.clientClosed)
        .length;
    },
    opened: () => opened,
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.server.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
