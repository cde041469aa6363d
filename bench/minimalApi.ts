/**
 * Baseline of row 4: the least an Express handler can do to answer GET /api/v2/assets/{id}: the same
 * one-row catalog query as the service (lib/catalog/assets.ts findAsset, through the same knex
 * pool of STORAGE_DATABASE_POOL_MAX connections), answered as JSON. No validation, no request log,
 * no problem+json. Run as a process of its own, like the API: `node --import tsx bench/minimalApi.ts`
 * with the service's STORAGE_* variables and BENCH_PORT.
 */
import express from 'express';
import { findAsset } from '../lib/catalog/assets';
import { loadConfigOrExit } from '../lib/config';
import { createDb } from '../lib/db';

const config = loadConfigOrExit();
const db = createDb(config.database.url, config.database.poolMax);
const app = express();
app.disable('x-powered-by');
app.set('etag', false);

app.get('/api/v2/assets/:id', async (req, res) => {
  const row = await findAsset(db, req.params.id);
  if (!row) {
    res.status(404).end();
    return;
  }
  res.json(row);
});
app.get('/health', (_req, res) => {
  res.json({ status: 'ok' });
});

const port = Number(process.env.BENCH_PORT ?? 0);
const server = app.listen(port, '127.0.0.1', () => {
  process.stdout.write(`minimal api listening on ${JSON.stringify(server.address())}\n`);
});

const stop = async () => {
  server.close();
  server.closeAllConnections();
  await db.destroy();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
