/** The console's admin views follow a run with pollUntil (console/src/views/admin/poll.ts): bounded, stoppable. */
import { isFinal, pollUntil } from '../../console/src/views/admin/poll';

const statuses = (...list: string[]) => {
  let at = 0;
  const load = jest.fn(async () => ({ status: list[Math.min(at++, list.length - 1)] }));
  return load;
};

it('reads until the status is final, and answers that reading', async () => {
  const load = statuses('pending', 'running', 'completed');
  const seen: string[] = [];
  const end = await pollUntil(load, (r) => isFinal(r.status), new AbortController().signal, {
    intervalMs: 0,
    onUpdate: (r) => seen.push(r.status),
  });
  expect(end).toEqual({ end: 'final', data: { status: 'completed' }, tries: 3 });
  expect(seen).toEqual(['pending', 'running', 'completed']);
});

it('gives up after maxTries readings of a run that does not end', async () => {
  const load = statuses('running');
  const end = await pollUntil(load, (r) => isFinal(r.status), new AbortController().signal, { intervalMs: 0, maxTries: 4 });
  expect(end).toEqual({ end: 'gave-up', data: { status: 'running' }, tries: 4 });
  expect(load).toHaveBeenCalledTimes(4);
});

it('stops reading once its signal aborts (the view unmounted), even while it waits', async () => {
  const controller = new AbortController();
  const load = jest.fn(async () => ({ status: 'running' }));
  const polling = pollUntil(load, (r) => isFinal(r.status), controller.signal, {
    intervalMs: 60_000,
    onUpdate: () => controller.abort(),
  });
  await expect(polling).resolves.toEqual({ end: 'aborted', tries: 1 });
  expect(load).toHaveBeenCalledTimes(1);
});

it('rejects with the error of a failed reading, and reads no more', async () => {
  const load = jest.fn(async () => {
    throw new Error('403');
  });
  await expect(pollUntil(load, () => false, new AbortController().signal, { intervalMs: 0 })).rejects.toThrow('403');
  expect(load).toHaveBeenCalledTimes(1);
});

it('takes completed, failed, passed and cancelled as final', () => {
  expect(['pending', 'running', 'completed', 'failed', 'passed', 'cancelled', undefined].map(isFinal)).toEqual([false, false, true, true, true, true, false]);
});
