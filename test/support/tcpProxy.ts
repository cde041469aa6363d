import net from 'node:net';

/**
 * A loopback TCP proxy standing between a client and a server, to play the server's faults:
 * `stall()` keeps connections open but passes no bytes (a hung server), `down()` resets every
 * connection and refuses new ones (a dead server), `downOnRequest(pattern)` goes down when a client
 * sends a request whose first bytes match (a server that dies at a chosen step), `cutAfter(n)`
 * goes down once the server has sent `n` more bytes (a server that dies mid-answer), `holdAfter(n)`
 * passes `n` more bytes of the server's and then holds the rest, which lose nothing and go on at
 * `up()` (a client held mid-transfer), `up()` restores normal service.
 */
export interface TcpProxy {
  port: number;
  /** Connections refused while down: each is one attempt the client made. */
  readonly refused: number;
  stall(): void;
  holdAfter(bytes: number): void;
  down(): void;
  downOnRequest(pattern: RegExp): void;
  cutAfter(bytes: number): void;
  up(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  let mode: 'up' | 'stall' | 'down' = 'up';
  let refused = 0;
  let trigger: RegExp | undefined;
  // Bytes the server may still send before the proxy goes down (or holds the rest, `holding`).
  let budget: number | undefined;
  let holding = false;
  const held: Array<{ server: net.Socket; client: net.Socket; rest: Buffer }> = [];
  const pairs = new Set<{ client: net.Socket; server: net.Socket }>();

  const proxy = net.createServer((client) => {
    if (mode === 'down') {
      refused++;
      client.resetAndDestroy();
      return;
    }
    const server = net.connect(targetPort, targetHost);
    const pair = { client, server };
    pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk) => {
        if (mode === 'up') to.write(chunk);
      });
    client.on('data', (chunk: Buffer) => {
      if (trigger?.test(chunk.toString('latin1', 0, 200))) {
        trigger = undefined;
        goDown();
      }
    });
    forward(client, server);
    server.on('data', (chunk: Buffer) => {
      if (mode !== 'up') return;
      if (budget === undefined || chunk.length <= budget) {
        if (budget !== undefined) budget -= chunk.length;
        client.write(chunk);
        return;
      }
      const last = chunk.subarray(0, budget);
      budget = undefined;
      if (holding) {
        client.write(last);
        server.pause();
        held.push({ server, client, rest: chunk.subarray(last.length) });
        mode = 'stall';
        return;
      }
      // Nothing more passes; what was written is flushed before the reset.
      mode = 'stall';
      client.write(last, goDown);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on('close', end).on('error', end);
    server.on('close', end).on('error', end);
  });
  function goDown() {
    mode = 'down';
    for (const { client, server } of pairs) {
      client.resetAndDestroy();
      server.destroy();
    }
    pairs.clear();
  }
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as net.AddressInfo;

  return {
    port,
    get refused() {
      return refused;
    },
    stall: () => {
      mode = 'stall';
    },
    holdAfter: (bytes) => {
      budget = bytes;
      holding = true;
    },
    down: goDown,
    downOnRequest: (pattern) => {
      trigger = pattern;
    },
    cutAfter: (bytes) => {
      budget = bytes;
    },
    up: () => {
      trigger = undefined;
      budget = undefined;
      holding = false;
      mode = 'up';
      for (const { server, client, rest } of held.splice(0)) {
        client.write(rest);
        server.resume();
      }
    },
    close: async () => {
      for (const { client, server } of pairs) {
        client.destroy();
        server.destroy();
      }
      await new Promise((resolve) => proxy.close(resolve));
    },
  };
}
