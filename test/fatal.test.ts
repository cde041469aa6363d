/**
 * The API's last resort (issue 23): an exception nothing caught, or a rejection nothing handled, in a
 * request's own callbacks is written as one `fatal` log line naming the request's X-Request-Id, and
 * the process exits 1 for its supervisor to restart it. The API runs as a process of its own, with
 * test/support/fatalTrigger.ts preloaded to make the failure (no route of the service can).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { freePorts } from '../scripts/stack';
import { testConfig } from './support/context';
import { envFor, waitUntil } from './support/processes';

const ROOT = path.resolve(__dirname, '..');

function startApi(port: number) {
  const env = envFor(testConfig(), { STORAGE_PORT: String(port), STORAGE_LOG_LEVEL: 'error' });
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', './test/support/fatalTrigger.ts', 'api/server.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', () => {});
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  return { child, exited, stdout: () => stdout };
}

it.each([
  ['exception', 'uncaught exception'],
  ['rejection', 'unhandled rejection'],
])('an uncaught %s is one fatal line with the request id, then exit 1', async (kind, msg) => {
  const [port] = await freePorts(1);
  const api = startApi(port);
  try {
    await waitUntil('the API to listen', async () => (await fetch(`http://127.0.0.1:${port}/health/live`).catch(() => undefined))?.ok);
    const requestId = `fatal-${kind}-${port}`;
    // The answer may or may not leave before the process ends: what counts is the line and the exit.
    await fetch(`http://127.0.0.1:${port}/health/live`, { method: 'POST', body: 'x', headers: { 'x-test-fatal': kind, 'x-request-id': requestId } }).catch(
      () => undefined,
    );
    expect(await api.exited).toBe(1);
    const lines = api
      .stdout()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.filter((line) => line.level === 'fatal')).toEqual([
      expect.objectContaining({
        msg,
        request_id: requestId,
        component: 'api',
        err: expect.objectContaining({ message: `${kind} made by test/support/fatalTrigger.ts` }),
      }),
    ]);
  } finally {
    api.child.kill('SIGKILL');
  }
});
