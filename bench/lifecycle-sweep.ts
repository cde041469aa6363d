/**
 * A lifecycle sweep over 100,000 versions (issue 5), measured once, with the per-version path that
 * pruning takes (one DeleteObject and one transaction per version) beside it for a ratio:
 *
 *   node --import tsx bench/lifecycle-sweep.ts [--assets 1000] [--versions 100] [--baseline 2000] [--explain]
 *
 * Uses the servers the STORAGE_* environment names (PostgreSQL, S3, Temporal; nothing is started)
 * with a database, bucket and task queue of the run's own, removed at the end. The worker runs in
 * this process. Every version has a real (16-byte) object. Prints a Markdown table on stdout,
 * progress on stderr.
 *
 * Data: `assets` assets of `versions` versions each; version n of V stopped being current V - n days
 * ago (the last is current). One policy, expire_noncurrent_versions after 30 days keeping the 5 newest
 * noncurrent, with STORAGE_VERSION_RETENTION_DAYS=90 and STORAGE_MAX_VERSIONS=100 beside it: each
 * asset of 100 versions loses v1..v70.
 */
import { DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import os from 'node:os';
import { createPolicy } from '../lib/lifecycle/policies';
import { deleteVersionRow } from '../lib/assets/versions';
import { versionsBeyond } from '../lib/assets/store';
import { loadConfig } from '../lib/platform/config';
import { createDb, dropDatabase, ensureDatabase, migrateLatest, redactUrl } from '../lib/platform/db';
import { uuidv7 } from '../lib/platform/ids';
import { getRun, versionCandidatesQuery, type LifecycleRunRow } from '../lib/lifecycle/sweep';
import { startLifecycleRun } from '../lib/lifecycle/sweepRuns';
import { SYSTEM_ACTOR } from '../lib/auth/actor';
import { createLogger } from '../lib/platform/logger';
import { createS3Client, ensureBucket } from '../lib/platform/s3Client';
import { createTemporalClient, ensureSearchAttributes } from '../lib/platform/temporal';
import { createStorageWorker } from '../worker/createWorker';
import { mapLimit } from '../lib/platform/concurrency';
import { NO_AUDIT } from '../lib/audit/log';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const ASSETS = option('assets', 1000);
const VERSIONS = option('versions', 100);
const BASELINE = option('baseline', 2000);
const EXPLAIN = process.argv.includes('--explain');
const BODY = Buffer.from('0123456789abcdef');

const say = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const seconds = (ms: number) => Math.round(ms / 100) / 10;
const perSecond = (n: number, ms: number) => Math.round((n / ms) * 1000);

async function main() {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const suffix = uuidv7().slice(-12);
  const base = loadConfig();
  const url = new URL(base.database.url);
  url.pathname = `/storage_bench_lifecycle_${suffix}`;
  const config = loadConfig({
    ...process.env,
    STORAGE_DATABASE_URL: url.toString(),
    STORAGE_S3_BUCKET_NAME: `bench-lifecycle-${suffix}`,
    STORAGE_TEMPORAL_TASK_QUEUE: `bench-lifecycle-${suffix}`,
    STORAGE_VERSION_RETENTION_DAYS: '90',
    STORAGE_MAX_VERSIONS: '100',
    STORAGE_LOG_LEVEL: process.env.STORAGE_LOG_LEVEL ?? 'warn',
  });
  say(`database ${redactUrl(config.database.url)}, S3 ${config.s3.endpoint} bucket ${config.s3.bucket}, Temporal ${config.temporal.address}`);
  await ensureDatabase(config.database.url);
  const db = createDb(config.database.url, 10);
  const s3 = createS3Client(config.s3);
  const temporal = createTemporalClient(config.temporal);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const logger = createLogger(config.logLevel, { component: 'bench' });
  let worker: Awaited<ReturnType<typeof createStorageWorker>> | undefined;
  let running: Promise<void> | undefined;
  try {
    await migrateLatest(db);
    await ensureBucket(s3, config.s3.bucket);
    await ensureSearchAttributes(connection, config.temporal.namespace);
    say('bundling the workflows and starting the worker');
    worker = await createStorageWorker({ config, db, s3, logger, connection });
    running = worker.run();

    // Rows, set-based; then one object per version.
    let t = Date.now();
    const seed = async (prefix: string, assets: number, versions: number) => {
      await db.raw(
        `WITH a AS (
           INSERT INTO assets (id, name, content_type, size_bytes, checksum_sha256, version_count, last_version_number, created_at)
           SELECT gen_random_uuid(), ?::text || i, 'application/octet-stream', ?, repeat('0', 64), ?, ?, now() - interval '400 days'
             FROM generate_series(1, ?) AS i
           RETURNING id)
         INSERT INTO asset_versions (id, asset_id, version_number, object_key, size_bytes, content_type, checksum_sha256, created_at, superseded_at)
         SELECT vid, asset_id, n, 'assets/' || asset_id || '/' || vid, ?, 'application/octet-stream', repeat('0', 64), now() - interval '400 days',
                CASE WHEN n = ? THEN NULL ELSE now() - make_interval(days => ? - n) END
           FROM (SELECT gen_random_uuid() AS vid, a.id AS asset_id, n FROM a, generate_series(1, ?) AS n) AS s`,
        [prefix, BODY.length, versions, versions, assets, BODY.length, versions, versions, versions],
      );
    };
    await seed('bench/', ASSETS, VERSIONS);
    const baselineAssets = Math.max(1, Math.round(BASELINE / VERSIONS));
    await seed('baseline/', baselineAssets, VERSIONS);
    await db.raw(`UPDATE assets a SET current_version_id = v.id FROM asset_versions v WHERE v.asset_id = a.id AND v.superseded_at IS NULL`);
    await db.raw('ANALYZE');
    const keys: string[] = await db('asset_versions').pluck('object_key');
    say(`${keys.length} version rows in ${seconds(Date.now() - t)} s; putting their objects`);
    t = Date.now();
    let put = 0;
    await mapLimit(keys, 32, async (key) => {
      await s3.send(new PutObjectCommand({ Bucket: config.s3.bucket, Key: key, Body: BODY }));
      if (++put % 10_000 === 0) say(`${put} objects`);
    });
    const seedMs = Date.now() - t;
    say(`${keys.length} objects in ${seconds(seedMs)} s (${perSecond(keys.length, seedMs)}/s)`);

    // The baseline: pruning's way, per asset and per version, on its own assets.
    t = Date.now();
    let baselineRemoved = 0;
    const baselineIds: string[] = await db('assets').where('name', 'like', 'baseline/%').pluck('id');
    for (const assetId of baselineIds) {
      for (const version of await versionsBeyond(db, assetId, VERSIONS - 70)) {
        await s3.send(new DeleteObjectCommand({ Bucket: config.s3.bucket, Key: version.object_key }));
        if (await deleteVersionRow(db, version)) baselineRemoved++;
      }
    }
    const baselineMs = Date.now() - t;
    say(`baseline: ${baselineRemoved} versions removed one by one in ${seconds(baselineMs)} s`);

    const policy = await createPolicy(
      db,
      {
        name: 'bench',
        description: '',
        enabled: true,
        filter: { name_prefix: 'bench/' },
        rules: [{ action: 'expire_noncurrent_versions', noncurrent_days: 30, keep_latest: 5 }],
      },
      NO_AUDIT,
    );
    const evaluated = Number((await db('asset_versions').count({ n: '*' }))[0].n);
    const lc = { client: temporal.client, taskQueue: config.temporal.taskQueue, db };
    const sweep = async (dryRun: boolean): Promise<{ run: LifecycleRunRow; ms: number }> => {
      const started = Date.now();
      const run = await startLifecycleRun(lc, SYSTEM_ACTOR, { dryRun });
      await temporal.client.workflow.getHandle(run.workflow_id).result();
      return { run: await getRun(db, run.id), ms: Date.now() - started };
    };

    if (EXPLAIN) {
      const plan = (await getRun(db, (await sweep(true)).run.id)).plan!;
      const ids: string[] = await db('assets').orderBy('id').limit(1000).pluck('id');
      const query = versionCandidatesQuery(db, plan, new Date(), { from: ids[0], to: ids[ids.length - 1] }, 1000)!;
      const { rows } = await db.raw(`EXPLAIN (ANALYZE, BUFFERS) ${query.toString()}`);
      process.stderr.write(`${rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n')}\n`);
    }

    say(`dry run over ${evaluated} versions (policy ${policy.id})`);
    const dry = await sweep(true);
    say(`dry run: ${dry.run.versions_expired} would go, ${seconds(dry.ms)} s`);
    const real = await sweep(false);
    say(`sweep: ${real.run.versions_expired} removed, ${seconds(real.ms)} s`);
    const left = Number((await db('asset_versions').count({ n: '*' }))[0].n);
    const objectsLeft = await countObjects(s3, config.s3.bucket);

    const setRate = perSecond(real.run.versions_expired, real.ms);
    const baseRate = perSecond(baselineRemoved, baselineMs);
    const rows = [
      ['machine', `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), load average ${os.loadavg()[0].toFixed(1)} at the end`],
      ['versions in the catalog (evaluated by each sweep)', `${evaluated}`],
      ['dry run: versions evaluated', `${evaluated} in ${seconds(dry.ms)} s = ${perSecond(evaluated, dry.ms)}/s (${dry.run.versions_expired} chosen)`],
      ['sweep: versions evaluated', `${evaluated} in ${seconds(real.ms)} s = ${perSecond(evaluated, real.ms)}/s`],
      ['sweep: versions removed (object and row)', `${real.run.versions_expired} in ${seconds(real.ms)} s = ${setRate}/s`],
      ["per-version baseline (pruning's path): removed", `${baselineRemoved} in ${seconds(baselineMs)} s = ${baseRate}/s`],
      ['sweep / baseline, removals per second', `${(setRate / baseRate).toFixed(1)}x`],
      ['left after the sweep: rows, objects', `${left}, ${objectsLeft}`],
      ['dry run and sweep agree', `${dry.run.versions_expired === real.run.versions_expired && dry.run.bytes_freed === real.run.bytes_freed}`],
    ];
    process.stdout.write(`| measure | figure |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`);
  } finally {
    say('cleaning up');
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running?.catch(() => {});
    await emptyBucket(s3, config.s3.bucket).catch((err) => say(`could not empty the bucket: ${err}`));
    await s3.send(new DeleteBucketCommand({ Bucket: config.s3.bucket })).catch(() => {});
    await connection.close();
    await temporal.close();
    await db.destroy();
    await dropDatabase(config.database.url);
    s3.destroy();
  }
}

async function countObjects(s3: ReturnType<typeof createS3Client>, bucket: string): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    n += page.KeyCount ?? 0;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return n;
}

async function emptyBucket(s3: ReturnType<typeof createS3Client>, bucket: string): Promise<void> {
  for (;;) {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) return;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
