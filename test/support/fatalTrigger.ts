/**
 * Preloaded into an API process by test/fatal.test.ts only (`node --import`), never by the service:
 * a request with the header X-Test-Fatal throws (`exception`) or rejects (`rejection`) once its body
 * has been read, in a callback of its own that nothing catches, as a stream's unhandled error did.
 */
import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';

subscribe('http.server.request.start', (message) => {
  const { request } = message as { request: IncomingMessage };
  const kind = request.headers['x-test-fatal'];
  if (!kind) return;
  request.on('data', () => {});
  request.on('end', () => {
    const err = new Error(`${kind} made by test/support/fatalTrigger.ts`);
    if (kind === 'rejection') void Promise.reject(err);
    else throw err;
  });
});
