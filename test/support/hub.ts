import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  id: string;
  type: string;
  subject: string;
  contentType: string | undefined;
  body: Record<string, unknown>;
}

/**
 * The Message Hub stand-in: answers 503 to its first `refuse` deliveries and `status` to every one
 * after `refuseWith(status)` (until `refuseWith(null)`), records the rest; `stop()` closes its port,
 * `start()` opens the same port again.
 */
export async function startHub(refuse = 0) {
  const received: Received[] = [];
  let refused = 0;
  let refusal: number | null = null;
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      if (refusal !== null || refused < refuse) {
        refused++;
        res.writeHead(refusal ?? 503).end();
        return;
      }
      const body = JSON.parse(text);
      received.push({ id: body.id, type: body.type, subject: body.subject, contentType: req.headers['content-type'], body });
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/events`,
    received,
    refused: () => refused,
    refuseWith: (status: number | null) => {
      refusal = status;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    start: () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
  };
}
