/**
 * Row 17 (issue 28): the scrub of 10,000 objects (quick mode: 200) against a bare pass over the same
 * objects. The objects are written straight to the store and the catalog (as uploads would leave them);
 * then, rounds alternating, the service's scrub (`POST /api/v2/scrubs`, every object re-read and hashed,
 * followed until it ends) and the baseline: `ListObjectsV2` over the bucket and a `GetObject` of each
 * object, its body hashed, 8 at a time, with no budget. The scrub hashes within
 * STORAGE_SCRUB_MAX_BYTES_PER_SECOND (the bench sets it): the row reports its objects/s and MB/s hashed,
 * the baseline's, their ratio, and whether the hashing stayed within the budget. A scrub of a consistent
 * store must find nothing: a finding fails the row.
 */
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { expectJson, inParallel, request } from './client';
import { seedAssets } from './seed';
import { check, pairs, seconds, summary, type RowContext, type RowResult } from './rows';
import { KiB, MB, round } from './stats';

const POLL_MS = 200;
const BASELINE_WIDTH = 8;

interface ScrubRow {
  id: string;
  status: 'pending' | 'running' | 'completed' | 'failed';
  error: string | null;
  objects_listed: number;
  bytes_hashed: number;
  counts: Record<string, number>;
}

export async function rowScrub(ctx: RowContext): Promise<RowResult> {
  const { env, settings } = ctx;
  const count = settings.mode === 'quick' ? 200 : 10_000;
  const bytesEach = settings.mode === 'quick' ? 16 * KiB : 32 * KiB;
  const budget = env.config.scrub.maxBytesPerSecond;
  ctx.say(`row 17: writing ${count} objects of ${bytesEach} bytes; scrub budget ${round(budget / MB)} MB/s`);
  await seedAssets(ctx, count, bytesEach, 'bench-scrub');

  const scrubs: Array<{ s: number; objects: number; bytes: number }> = [];
  const passes: Array<{ s: number; objects: number; bytes: number }> = [];
  const { ratios } = await pairs(
    ctx,
    'row 17 objects/s',
    async () => {
      const run = await scrub(ctx);
      scrubs.push(run);
      return run.objects / run.s;
    },
    async () => {
      const run = await barePass(ctx);
      passes.push(run);
      return run.objects / run.s;
    },
  );
  const hashedMbS = scrubs.map((r) => r.bytes / MB / r.s);
  const withinBudget = scrubs.every((r) => r.bytes / r.s <= budget * 1.05);
  return {
    id: 17,
    title: `scrub of ${count} objects of ${bytesEach / KiB} KiB, every object hashed, within ${round(budget / MB)} MB/s`,
    service: 'POST /api/v2/scrubs {sample_percent: 100}, followed until it ends (catalog and bucket merged, each object hashed)',
    baseline: `ListObjectsV2 + GetObject of each object, its body hashed, ${BASELINE_WIDTH} at a time, no budget`,
    metrics: {
      objects_per_s: { unit: 'objects/s', service: summary(scrubs.map((r) => r.objects / r.s)), baseline: summary(passes.map((r) => r.objects / r.s)) },
      hashed_mb_s: { unit: 'MB/s', service: summary(hashedMbS), baseline: summary(passes.map((r) => r.bytes / MB / r.s)) },
      scrub_s: { unit: 's', service: summary(scrubs.map((r) => r.s)), baseline: summary(passes.map((r) => r.s)) },
    },
    ratio: { ...summary(ratios), of: 'objects_per_s' },
    targets: [check(`hashed MB/s <= the budget (${round(budget / MB)} MB/s)`, Math.max(...hashedMbS), withinBudget)],
    details: { objects: count, bytes_each: bytesEach, budget_bytes_per_s: budget, scrubs, passes },
  };
}

/** One scrub of every object, through the API as an operator would start it; answers its time and what it read. */
async function scrub(ctx: RowContext): Promise<{ s: number; objects: number; bytes: number }> {
  const { env } = ctx;
  const t0 = performance.now();
  const started = await expectJson<ScrubRow>(
    request(`${env.apiUrl}/api/v2/scrubs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: [Buffer.from(JSON.stringify({ sample_percent: 100, dry_run: false }))],
    }),
    202,
    'row 17 scrub',
  );
  for (;;) {
    const row = await expectJson<ScrubRow>(request(`${env.apiUrl}/api/v2/scrubs/${started.id}`), 200, 'row 17 scrub');
    if (row.status === 'failed') throw new Error(`row 17: the scrub failed: ${row.error}`);
    if (row.status === 'completed') {
      const s = seconds(t0);
      const found = Object.entries(row.counts).filter(([, n]) => n > 0);
      if (found.length) throw new Error(`row 17: the scrub of a consistent store found ${JSON.stringify(Object.fromEntries(found))}`);
      return { s, objects: row.objects_listed, bytes: row.bytes_hashed };
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** The baseline: every object listed, fetched and hashed, straight from the store. */
async function barePass(ctx: RowContext): Promise<{ s: number; objects: number; bytes: number }> {
  const { env } = ctx;
  const t0 = performance.now();
  let objects = 0;
  let bytes = 0;
  let token: string | undefined;
  do {
    const page = await env.s3.send(new ListObjectsV2Command({ Bucket: env.config.s3.bucket, ContinuationToken: token }));
    const keys = (page.Contents ?? []).map((o) => o.Key!);
    await inParallel(keys.length, BASELINE_WIDTH, async (i) => {
      const got = await env.s3.send(new GetObjectCommand({ Bucket: env.config.s3.bucket, Key: keys[i] }));
      const hash = createHash('sha256');
      for await (const chunk of got.Body as Readable) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
      hash.digest();
      objects++;
    });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return { s: seconds(t0), objects, bytes };
}
