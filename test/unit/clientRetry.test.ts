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
});
