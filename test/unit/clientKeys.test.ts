/**
 * The typed client's Idempotency-Key (client/index.ts): one per change the server deduplicates, so
 * that its retries after a 5xx or a dropped connection are safe. tus's routes take none (their
 * offsets make a PATCH safe to repeat; api/middleware/idempotency.ts): a key there would have the
 * client retry a creation the server carries out again, leaving a second upload behind.
 */
import { createStorageClient } from '../../client';

function recordingClient() {
  const sent: Request[] = [];
  const fetch = async (request: Request) => {
    sent.push(request);
    return new Response('{}', { status: 201, headers: { 'content-type': 'application/json' } });
  };
  return { client: createStorageClient({ baseUrl: 'http://127.0.0.1:1', token: 't', fetch: fetch as typeof globalThis.fetch }), sent };
}

describe('the typed client’s Idempotency-Key', () => {
  it('goes with a change, kept by the caller when given', async () => {
    const { client, sent } = recordingClient();
    await client.PUT('/api/v2/assets/{id}', { params: { path: { id: 'a' } }, body: { name: 'n.bin' } } as never);
    await client.DELETE('/api/v2/assets/{id}', { params: { path: { id: 'a' }, query: {} }, headers: { 'idempotency-key': 'mine' } } as never);
    await client.GET('/api/v2/assets/{id}', { params: { path: { id: 'a' } } } as never);
    expect(sent.map((r) => r.headers.get('idempotency-key'))).toEqual([expect.stringMatching(/^"[0-9a-f-]{36}"$/), 'mine', null]);
  });

  it('is not sent to tus, which takes none', async () => {
    const { client, sent } = recordingClient();
    await client.POST('/api/v2/tus', { headers: { 'tus-resumable': '1.0.0', 'upload-length': '10' } } as never);
    await client.DELETE('/api/v2/tus/{id}', { params: { path: { id: 'u' } }, headers: { 'tus-resumable': '1.0.0' } } as never);
    expect(sent.map((r) => r.headers.get('idempotency-key'))).toEqual([null, null]);
  });
});
