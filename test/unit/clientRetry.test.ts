import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { retryAfterMs, retryingFetch } from '../../client/retry';

/** A server on a loopback port of its own that answers with `answers` in turn (the last one from then on). */
async function serveAnswers(answers: Array<{ status: number; headers?: Record<string, string> }>) {
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      bodies.push(body);
      const answer = answers[Math.min(bodies.length - 1, answers.length - 1)];
      res.writeHead(answer.status, answer.headers).end(String(answer.status));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, bodies, close: () => new Promise((resolve) => server.close(resolve)) };
}

describe('the typed client’s retries (client/retry.ts)', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });

  it('tries a 429 and a 503 again, after Retry-After, sending the body each time, until an answer of another status', async () => {
    const server = await serveAnswers([{ status: 429, headers: { 'retry-after': '0' } }, { status: 503 }, { status: 201 }]);
    try {
      const onRetry = jest.fn();
      const send = retryingFetch(fetch, { baseDelayMs: 1, onRetry });
      const res = await send(new Request(server.url, { method: 'POST', body: 'payload' }));
      expect(res.status).toBe(201);
      expect(server.bodies).toEqual(['payload', 'payload', 'payload']);
      expect(onRetry.mock.calls.map(([info]) => [info.status, info.attempt])).toEqual([
        [429, 1],
        [503, 2],
      ]);
      expect(onRetry.mock.calls[0][0].delayMs).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('gives up after its retries and answers the last 503; does not retry other errors', async () => {
    const busy = await serveAnswers([{ status: 503, headers: { 'retry-after': '0' } }]);
    const refusing = await serveAnswers([{ status: 500 }]);
    try {
      expect((await retryingFetch(fetch, { retries: 2 })(new Request(busy.url))).status).toBe(503);
      expect(busy.bodies).toHaveLength(3);
      expect((await retryingFetch(fetch, { retries: 2 })(new Request(refusing.url))).status).toBe(500);
      expect(refusing.bodies).toHaveLength(1);
    } finally {
      await busy.close();
      await refusing.close();
    }
  });

  it('waits no longer than maxDelayMs, whatever Retry-After says', async () => {
    const server = await serveAnswers([{ status: 429, headers: { 'retry-after': '3600' } }, { status: 200 }]);
    try {
      const onRetry = jest.fn();
      expect((await retryingFetch(fetch, { maxDelayMs: 5, onRetry })(new Request(server.url))).status).toBe(200);
      expect(onRetry.mock.calls[0][0].delayMs).toBe(5);
    } finally {
      await server.close();
    }
  });

  it('tries a request with an Idempotency-Key again after a 500, a 502, a 504, a 409 with Retry-After, and a dropped connection; each attempt sends the same key', async () => {
    const keys: Array<string | undefined> = [];
    let n = 0;
    const server = http.createServer((req, res) => {
      keys.push(req.headers['idempotency-key'] as string | undefined);
      req.resume();
      req.on('end', () => {
        n++;
        // The second attempt's connection drops before any answer.
        if (n === 2) {
          req.socket.destroy();
          return;
        }
        const status = [500, 0, 502, 504, 409, 201][n - 1];
        res.writeHead(status, status === 409 ? { 'retry-after': '0' } : {}).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const onRetry = jest.fn();
      const send = retryingFetch(fetch, { baseDelayMs: 1, onRetry });
      const res = await send(new Request(url, { method: 'POST', body: 'payload', headers: { 'idempotency-key': '"k-1"' } }));
      expect(res.status).toBe(201);
      expect(keys).toEqual(Array(6).fill('"k-1"'));
      expect(onRetry.mock.calls.map(([info]) => info.status)).toEqual([500, 0, 502, 504, 409]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('without an Idempotency-Key, a dropped connection is not tried again', async () => {
    let attempts = 0;
    const server = http.createServer((req) => {
      attempts++;
      req.socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      await expect(retryingFetch(fetch, { baseDelayMs: 1 })(new Request(url, { method: 'POST', body: 'x' }))).rejects.toThrow();
      expect(attempts).toBe(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
