/**
 * Issue 26: an audit row written after the answer (a folded refusal, a change a workflow makes) is not
 * lost when its first write fails (a pool exhausted, a statement cancelled): it is written again,
 * a bounded number of times. Here the write waits on a lock the test holds on audit_log, and the test
 * cancels it (pg_cancel_backend: a real failure of that statement), then lets go of the lock.
 */
import pg from 'pg';
import { useTestService } from './support/context';
import { call } from './support/http';
import { waitUntil } from './support/processes';
import { uuidv7 } from '../lib/platform/ids';

const ctx = useTestService();

/** The backends whose statement on audit_log waits for a lock (asked outside the lock's transaction, whose view of pg_stat_activity is a snapshot). */
async function waitingAuditWrites(): Promise<number[]> {
  const { rows } = await ctx.db.raw(
    `SELECT pid FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query ILIKE '%audit_log%'`,
  );
  return rows.map((r: { pid: number }) => r.pid);
}

/** Runs `request` while audit_log is locked, fails the audit write it makes once, then lets go of the lock. */
async function withFirstAuditWriteFailed(request: () => Promise<unknown>): Promise<void> {
  const locker = new pg.Client({ connectionString: ctx.config.database.url });
  await locker.connect();
  try {
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE audit_log IN EXCLUSIVE MODE');
    await request();
    const [pid] = await waitUntil('the audit write to wait for the lock', async () => {
      const pids = await waitingAuditWrites();
      return pids.length > 0 && pids;
    });
    await ctx.db.raw('SELECT pg_cancel_backend(?)', [pid]);
    await waitUntil('the cancelled write to fail', async () => !(await waitingAuditWrites()).includes(pid));
    await locker.query('COMMIT');
  } finally {
    await locker.end();
  }
}

test('a folded refusal whose first write failed is written again', async () => {
  const missing = uuidv7();
  await withFirstAuditWriteFailed(async () => {
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${missing}`)).status).toBe(404);
  });
  const row = await waitUntil(
    'the refusal written',
    async () => ctx.db('audit_log').where({ action: 'asset.read', outcome: '404', asset_id: missing }).first(),
    60_000,
    500,
  );
  expect(Number(row.count)).toBe(1);
}, 120_000);

test('a row written after the answer (an accepted upload session) whose first write failed is written again', async () => {
  let uploadId = '';
  await withFirstAuditWriteFailed(async () => {
    const opened = await call(`${ctx.baseUrl}/api/v2/uploads`, { method: 'POST', json: { name: 'audited.bin', size_bytes: 1000 } });
    expect(opened.status).toBe(201);
    uploadId = opened.body.id;
  });
  const row = await waitUntil(
    'the row written',
    async () => ctx.db('audit_log').where({ action: 'upload.open', outcome: '201', upload_id: uploadId }).first(),
    60_000,
    500,
  );
  expect(row).toMatchObject({ action: 'upload.open' });
}, 120_000);
