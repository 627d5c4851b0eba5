import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a database that a test can cut and restore, to simulate the
 * database going away without touching the real server (shared by every test run).
 * - 'reset': open connections are destroyed and new ones refused (a crashed or
 *   restarted database, a firewall sending RST).
 * - 'blackhole': connections are accepted but nothing is forwarded either way (a
 *   silent network partition: the hardest case, where only timeouts help).
 */
export interface TcpProxy {
  port: number;
  cut(mode?: 'reset' | 'blackhole'): void;
  restore(): void;
  close(): Promise<void>;
  /** Connections opened through the proxy since it started. */
  connections: number;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  let state: 'open' | 'reset' | 'blackhole' = 'open';
  const pairs = new Set<[Socket, Socket]>();
  const held = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((client) => {
    connections++;
    client.on('error', () => {});
    if (state === 'reset') return void client.resetAndDestroy();
    if (state === 'blackhole') {
      held.add(client);
      client.on('close', () => held.delete(client));
      client.resume(); // swallow
      return;
    }
    const upstream = connect(targetPort, targetHost);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (chunk) => {
        if (state === 'open') to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    const done = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', done);
    upstream.on('close', done);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    get connections() {
      return connections;
    },
    cut(mode = 'reset') {
      state = mode;
      if (mode === 'reset') {
        for (const [client, upstream] of pairs) {
          client.resetAndDestroy();
          upstream.destroy();
        }
        pairs.clear();
      }
      // blackhole: open pairs stay up but forward nothing (see forward()).
    },
    restore() {
      // Connections that lived through a partition are desynchronised (bytes were
      // dropped): end them, as a real network would after TCP retransmission gave up.
      if (state === 'blackhole') {
        for (const [client, upstream] of pairs) {
          client.resetAndDestroy();
          upstream.destroy();
        }
        pairs.clear();
        for (const s of held) s.resetAndDestroy();
        held.clear();
      }
      state = 'open';
    },
    async close() {
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
