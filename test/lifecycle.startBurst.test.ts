/**
 * POST /lifecycle/runs holds a database connection while Temporal starts its run's workflow (the row
 * is committed with the start: lib/lifecycle/sweepRuns.ts). A burst of them while Temporal hangs must
 * not take every connection of the API's pool: the rest of the API keeps answering meanwhile.
 */
import { buildApp } from '../api/app';
import { createServiceDb } from '../lib/platform/db';
import { createTemporalClient } from '../lib/platform/temporal';
import { serve, useTestService } from './support/context';
import { call, type JsonAnswer } from './support/http';
import { waitUntil } from './support/processes';
import { startTcpProxy } from './support/tcpProxy';

const ctx = useTestService();

it('a burst of lifecycle starts while Temporal hangs leaves the pool to the rest of the API: a read answers while the starts still wait', async () => {
  const target = ctx.config.temporal.address.split(':');
  const proxy = await startTcpProxy(Number(target[1]), target[0]);
  const temporal = createTemporalClient({ ...ctx.config.temporal, address: `127.0.0.1:${proxy.port}` });
  const db = createServiceDb(ctx.config.database);
  const api = await serve(buildApp({ config: ctx.config, db, s3: ctx.s3, temporal, logger: ctx.logger }));
  try {
    proxy.stall();
    const answered: JsonAnswer[] = [];
    const starts = Array.from({ length: ctx.config.database.poolMax + 2 }, () =>
      call(`${api.baseUrl}/api/v2/lifecycle/runs`, { method: 'POST', json: { dry_run: true } }).then((answer) => {
        answered.push(answer);
        return answer;
      }),
    );
    // Starts hold their run's start lock while Temporal does not answer.
    await waitUntil('starts to wait on Temporal', async () => {
      const { rows } = await ctx.db.raw(
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      );
      return rows[0].n >= 1;
    });
    const read = await call(`${api.baseUrl}/api/v2/assets?limit=1`);
    // Starts refused at once for being too many are fine; none held should have ended (at Temporal's deadline) first.
    const endedFirst = answered.filter((a) => !/already starting/.test(JSON.stringify(a.body))).map((a) => a.status);
    expect({ read: read.status, startsEndedBeforeTheRead: endedFirst }).toEqual({ read: 200, startsEndedBeforeTheRead: [] });
    proxy.up();
    await Promise.all(starts);
  } finally {
    proxy.up();
    await api.close();
    await temporal.close();
    await db.destroy();
    await proxy.close();
  }
}, 60_000);
