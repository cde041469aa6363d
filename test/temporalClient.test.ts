/**
 * The API's Temporal connection retries a failed call after a backoff. Closing the connection while
 * a retry waits must end that call with its error: the SDK's own retry would make its next call on
 * the closed channel from a timer, throw "Channel has been shut down" where nothing catches it, and
 * leave the call unanswered.
 */
import { Connection } from '@temporalio/client';
import { loadConfig } from '../lib/platform/config';
import { stoppableRetries } from '../lib/platform/grpcRetries';
import { waitUntil } from './support/processes';
import { startTcpProxy, type TcpProxy } from './support/tcpProxy';

let proxy: TcpProxy;
beforeAll(async () => {
  const [, port] = loadConfig().temporal.address.split(':');
  proxy = await startTcpProxy(Number(port));
});
afterAll(async () => {
  await proxy?.close();
});

it('a connection closed while a call waits to retry ends that call with its error', async () => {
  const retries = stoppableRetries();
  const connection = await Connection.connect({ address: `127.0.0.1:${proxy.port}`, interceptors: [retries.interceptor] });
  await connection.workflowService.getSystemInfo({});

  proxy.down();
  const pending = connection.workflowService.getSystemInfo({}).then(
    () => undefined,
    (err: unknown) => err,
  );
  await waitUntil('a failed call to wait for its retry', async () => retries.waiting > 0, 10_000);

  await retries.stop();
  expect(retries.waiting).toBe(0);
  await connection.close();
  expect(await pending).toMatchObject({ code: 14 }); // UNAVAILABLE: the server went away
}, 20_000);
