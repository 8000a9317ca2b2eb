/**
 * Dev broker: aedes in-process, MQTT over TCP and optionally WebSocket. For demos and local work;
 * production deployments bring mosquitto (see docs/mqtt.md).
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { ConfigError } from '@edge-dmp/core';

export interface BrokerOptions {
  /** TCP port (default 1883; 0 picks a free one). */
  port?: number;
  /** WebSocket port; off when unset. */
  wsPort?: number;
  /** Listen address (default 127.0.0.1; use 0.0.0.0 to serve the LAN). */
  host?: string;
  /** aedes persistence; reuse one across restarts to keep sessions (tests of broker restarts). */
  persistence?: AedesOptions['persistence'];
}

export interface DevBroker {
  readonly port: number;
  readonly wsPort: number | null;
  readonly aedes: Aedes;
  /** The session/retained store; pass it to the next startBroker to keep sessions across a restart. */
  readonly persistence: AedesOptions['persistence'];
  /** Connected clients right now. */
  clients(): number;
  /** Stops listening and drops every connection at once (no graceful goodbye, like a crash). */
  close(): Promise<void>;
}

function checkPort(field: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 65535)) {
    throw new ConfigError({ field, expected: 'an integer port in [0, 65535]', received: v });
  }
}

function listen(server: Server | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new ConfigError({
          field: 'port',
          expected: 'a free port',
          received: `${host}:${port} (${e.code ?? e.message})`,
        }),
      ),
    );
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * Starts an aedes broker.
 * @example
 * const b = await startBroker({ port: 0 });
 * console.log(`mqtt://127.0.0.1:${b.port}`);
 * await b.close();
 */
export async function startBroker(opts: BrokerOptions = {}): Promise<DevBroker> {
  checkPort('port', opts.port);
  checkPort('wsPort', opts.wsPort);
  const host = opts.host ?? '127.0.0.1';
  const aedes = await Aedes.createBroker(opts.persistence ? { persistence: opts.persistence } : {});
  const sockets = new Set<Socket>();
  const tcp = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    aedes.handle(s);
  });
  let http: HttpServer | null = null;
  let wss: WebSocketServer | null = null;
  try {
    const port = await listen(tcp, opts.port ?? 1883, host);
    let wsPort: number | null = null;
    if (opts.wsPort !== undefined) {
      http = createHttpServer();
      wss = new WebSocketServer({ server: http });
      wss.on('connection', (ws, req) => aedes.handle(createWebSocketStream(ws), req));
      wsPort = await listen(http, opts.wsPort, host);
    }
    return {
      port,
      wsPort,
      aedes,
      persistence: (aedes as unknown as { persistence: AedesOptions['persistence'] }).persistence,
      clients: () => aedes.connectedClients,
      async close() {
        for (const s of sockets) s.destroy();
        wss?.clients.forEach((c) => c.terminate());
        await Promise.all([
          new Promise<void>((r) => tcp.close(() => r())),
          http ? new Promise<void>((r) => http!.close(() => r())) : Promise.resolve(),
        ]);
        await new Promise<void>((r) => aedes.close(() => r()));
      },
    };
  } catch (e) {
    tcp.close();
    http?.close();
    await new Promise<void>((r) => aedes.close(() => r()));
    throw e;
  }
}
