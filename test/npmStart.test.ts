/**
 * `npm start` survives a crashed child (issue 23): scripts/dev.ts runs as a process of its own, on
 * ports, a database and a data folder of its own (never npm start's), and starts its own Temporal dev
 * server, SeaweedFS and Redis. The worker is SIGKILLed and must come back and poll; then the API,
 * which must come back and answer; the rest of the stack stays up. Ctrl-C (SIGINT) must then leave
 * none of the processes it started, checked by pid.
 */
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../scripts/stack';
import { alive, startDevStack, type DevStack } from './support/devStack';
import { waitUntil } from './support/processes';

let stack: DevStack | undefined;
// A failed run still leaves nothing: the runner is stopped as Ctrl-C would, then whatever it named is killed.
afterAll(() => stack?.stop(), 120_000);

it('starts the worker and the API again when either is killed, keeps the stack up, and leaves no process of its own after Ctrl-C', async () => {
  stack = await startDevStack({
    STORAGE_AUTH_JWKS_URL: process.env.STORAGE_AUTH_JWKS_URL,
    STORAGE_AUTH_ISSUER: process.env.STORAGE_AUTH_ISSUER,
    STORAGE_AUTH_AUDIENCE: process.env.STORAGE_AUTH_AUDIENCE,
    STORAGE_URL_SIGNING_KEYS: process.env.STORAGE_URL_SIGNING_KEYS,
  });
  const { api, temporal: temporalAt } = stack.ports;
  const { child, output, pids, taskQueue } = stack;
  const running = () => {
    if (child.exitCode !== null) throw new Error(`npm start exited (${child.exitCode}):\n${output().slice(-5000)}`);
    return true;
  };
  await waitUntil('npm start to be ready', async () => running() && /^\[start\] ready$/m.test(output()), 300_000, 250);
  const [temporalPid] = pids('Temporal');
  const [seaweedPid] = pids('SeaweedFS');
  const [redisPid] = pids('Redis');
  expect([temporalPid, seaweedPid, redisPid].every((pid) => pid > 0 && alive(pid))).toBe(true);

  const connection = await Connection.connect({ address: `127.0.0.1:${temporalAt}` });
  const pollingPids = async () => {
    const { pollers } = await connection.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    return (pollers ?? []).map((p) => Number(String(p.identity).split('@')[0]));
  };
  const ready = async () => (await fetch(`http://127.0.0.1:${api}/health/ready`).catch(() => undefined))?.status === 200;
  try {
    // The worker, SIGKILLed: a new one is started and polls.
    const [firstWorker] = pids('worker');
    await waitUntil('the worker to poll', async () => running() && (await pollingPids()).includes(firstWorker), 120_000, 250);
    process.kill(firstWorker, 'SIGKILL');
    const secondWorker = await waitUntil('a new worker', async () => running() && pids('worker')[1], 60_000, 100);
    await waitUntil('the new worker to poll', async () => running() && (await pollingPids()).includes(secondWorker), 180_000, 250);
    expect(output()).toMatch(new RegExp(`worker \\(pid ${firstWorker}\\) exited \\(SIGKILL\\); starting it again in 1 s`));

    // The API, likewise: a new one answers on the same port.
    const [firstApi] = pids('api');
    process.kill(firstApi, 'SIGKILL');
    const secondApi = await waitUntil('a new API', async () => running() && pids('api')[1], 60_000, 100);
    await waitUntil('the new API to answer', async () => running() && ready(), 120_000, 250);
    expect(alive(secondApi)).toBe(true);
    // Nothing else went: the servers are the ones started first, and still there.
    expect([temporalPid, seaweedPid, redisPid].map(alive)).toEqual([true, true, true]);
  } finally {
    await connection.close();
  }

  // Ctrl-C: every process it started is gone once it has exited.
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  expect(await exited).toBe(0);
  const started = { Temporal: pids('Temporal'), SeaweedFS: pids('SeaweedFS'), Redis: pids('Redis'), worker: pids('worker'), api: pids('api') };
  const left = Object.entries(started).flatMap(([name, list]) =>
    list.filter(alive).map((pid) => `${name} ${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`),
  );
  expect(left).toEqual([]);
  expect(started).toMatchObject({ Temporal: [temporalPid], SeaweedFS: [seaweedPid], Redis: [redisPid] });
}, 600_000);

it("the compose file's supervisor does the same: it restarts the API and the worker", () => {
  const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8').replace(/\$\{[^}]*\}/g, 'x'));
  expect({ api: compose.services.api.restart, worker: compose.services.worker.restart }).toEqual({ api: 'unless-stopped', worker: 'unless-stopped' });
});
