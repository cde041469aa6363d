/** The bound on simple uploads in flight in one API (lib/limits/pendingUploads.ts). */
import { createPendingUploads, pendingUploadsOf } from '../../lib/limits/pendingUploads';

it('takes up to its bound, refuses the next, and takes again once one is given back (once)', () => {
  const pending = createPendingUploads(2);
  const first = pending.take();
  const second = pending.take();
  expect(first && second).toBeTruthy();
  expect(pending.take()).toBeUndefined();
  first!.release();
  first!.release();
  const third = pending.take();
  expect(third).toBeTruthy();
  expect(pending.take()).toBeUndefined();
});

it('keeps one bound per API', () => {
  const api = {};
  expect(pendingUploadsOf(api, 1)).toBe(pendingUploadsOf(api, 1));
  expect(pendingUploadsOf(api, 1).take()).toBeTruthy();
  expect(pendingUploadsOf(api, 1).take()).toBeUndefined();
  expect(pendingUploadsOf({}, 1).take()).toBeTruthy();
});
