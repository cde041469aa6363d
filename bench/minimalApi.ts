/**
 * The least an Express process can do, as a yardstick for the service:
 * - row 4's baseline, GET /api/v2/assets/{id}: the same one-row catalog query as the service
 *   (lib/assets/assets.ts findAsset, through the same knex pool of STORAGE_DATABASE_POOL_MAX
 *   connections), answered as JSON. No validation, no request log, no problem+json.
 * - row 1's reference, GET /object?key={key}: GetObject with the service's S3 client configuration,
 *   piped to the response. No catalog, no headers beyond the length: what any API that streams the
 *   bytes itself must pay at least.
 * Run as a process of its own, like the API and as the API is (bench/env.ts): `node --import tsx
 * bench/minimalApi.ts`, or from the --compiled build, with the service's STORAGE_* variables and BENCH_PORT.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import express from 'express';
import type { Readable } from 'node:stream';
import { findAsset } from '../lib/assets/store';
import { loadConfigOrExit } from '../lib/platform/config';
import { createDb } from '../lib/platform/db';
import { createS3Client } from '../lib/platform/s3Client';

const config = loadConfigOrExit();
const db = createDb(config.database.url, config.database.poolMax);
const s3 = createS3Client(config.s3);
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
app.get('/object', async (req, res) => {
  const object = await s3.send(new GetObjectCommand({ Bucket: config.s3.bucket, Key: String(req.query.key) }));
  res.setHeader('Content-Length', String(object.ContentLength));
  (object.Body as Readable).pipe(res);
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
