/**
 * Overload is told as such: when every pooled database connection stays busy for the pool's whole
 * wait, the request is answered 503 with Retry-After (a client may try again), not a 500.
 */
import type { Knex } from 'knex';
import { buildApp } from '../api/app';
import { createDb, type Db } from '../lib/platform/db';
import { uuidv7 } from '../lib/platform/ids';
import { useTestService, serve, type ServedApp } from './support/context';
import { call, expectProblem } from './support/http';

let db: Db;
let served: ServedApp | undefined;
let baseUrl: string;

// Declared before the service: hooks run in the order they are declared, so this runs before it stops.
afterAll(async () => {
  await served?.close();
  await db?.destroy();
});
const ctx = useTestService({}, { worker: false });
beforeAll(async () => {
  // One connection, and a short wait for it.
  db = createDb(ctx.config.database.url, 1, 300);
  const app = buildApp({ config: ctx.config, db, s3: ctx.s3, temporal: ctx.temporal, logger: ctx.logger });
  served = await serve(app);
  baseUrl = served.baseUrl;
});

it('answers 503 with Retry-After while no database connection comes free', async () => {
  const held: Knex.Transaction = await db.transaction();
  try {
    const res = await call(`${baseUrl}/api/v2/assets/${uuidv7()}`);
    expectProblem(res, 503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.body.detail).toMatch(/overloaded/);
  } finally {
    await held.rollback();
  }
  // Once the connection is free again, the same request is answered as usual.
  expectProblem(await call(`${baseUrl}/api/v2/assets/${uuidv7()}`), 404);
});
