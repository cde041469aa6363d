/**
 * Row 12 (issue 17): GET of a small version's content (64 KiB) under 200 connections, the service
 * (from its content cache with STORAGE_REDIS_URL) against GetObject of the same object on the store,
 * through a presigned URL hammered the same way.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createHash, randomBytes } from 'node:crypto';
import { getVersion } from '../lib/assets/versions';
import { expectJson, keepAliveAgent, multipartBody, postMultipart, request } from './client';
import { cannon, check, summary, type CannonRound, type RowContext, type RowResult, type RowOps } from './rows';
import { round } from './stats';

const CONNECTIONS = 200;

/** Content hits and misses the API has counted so far (storage_cache_requests_total). */
async function contentCounts(apiUrl: string): Promise<{ hit: number; miss: number; bypass: number }> {
  const text = (await request(`${apiUrl}/metrics`, { timeoutMs: 10_000 })).body.toString();
  const of = (result: string) => Number(new RegExp(`^storage_cache_requests_total\\{cache="content",result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { hit: of('hit'), miss: of('miss'), bypass: of('bypass') };
}

export async function rowSmallContent(ctx: RowContext): Promise<RowResult> {
  const { env, settings } = ctx;
  const connections = settings.mode === 'quick' ? settings.getConnections : CONNECTIONS;
  const bytes = randomBytes(settings.smallBytes);
  const agent = keepAliveAgent(1);
  const asset = await expectJson(
    postMultipart(`${env.apiUrl}/api/v2/assets/upload`, multipartBody(bytes, { name: 'bench-small-content.png', content_type: 'image/png' }), agent),
    201,
    'row 12 asset',
  );
  agent.destroy();
  const version = await getVersion(env.db, asset.id, asset.current_version_id);
  const serviceUrl = `${env.apiUrl}/api/v2/assets/${asset.id}/content`;
  const storeUrl = await getSignedUrl(env.s3, new GetObjectCommand({ Bucket: env.config.s3.bucket, Key: version.object_key }), { expiresIn: 3600 });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  for (const [url, headers] of [
    [serviceUrl, undefined],
    [storeUrl, {}],
  ] as const) {
    const res = await request(url, headers ? { headers } : {});
    if (res.status !== 200 || createHash('sha256').update(res.body).digest('hex') !== sha256) throw new Error(`GET ${url.split('?')[0]}: ${res.status}`);
  }

  const warmConnections = Math.min(100, connections);
  const warm = [await cannon(serviceUrl, warmConnections, settings.getWarmupS), await cannon(storeUrl, warmConnections, settings.getWarmupS, {})];
  const before = await contentCounts(env.apiUrl);
  const service: CannonRound[] = [];
  const store: CannonRound[] = [];
  for (let r = 0; r < settings.rounds; r++) {
    service.push(await cannon(serviceUrl, connections, settings.getDurationS));
    store.push(await cannon(storeUrl, connections, settings.getDurationS, {}));
    ctx.say(
      `row 12 GET 64 KiB content round ${r + 1}/${settings.rounds}: service ${round(service[r].requests_per_s)} req/s p99 ${service[r].p99_ms} ms, ` +
        `GetObject ${round(store[r].requests_per_s)} req/s p99 ${store[r].p99_ms} ms`,
    );
  }
  const after = await contentCounts(env.apiUrl);
  const failures = [...service, ...store].reduce((n, x) => n + x.non2xx + x.errors + x.timeouts, 0);
  if (failures > 0) throw new Error(`row 12: ${failures} GETs did not answer 200`);
  const ratio = summary(
    service.map((x, i) => x.requests_per_s / store[i].requests_per_s),
    3,
  );
  const hits = after.hit - before.hit;
  const asked = hits + after.miss - before.miss + after.bypass - before.bypass;
  return {
    id: 12,
    title: `GET of ${settings.smallBytes / 1024} KiB content, ${connections} connections, ${settings.getDurationS} s (autocannon)`,
    service: 'GET /api/v2/assets/{id}/content',
    baseline: 'GetObject of the same object on the store (a presigned URL)',
    metrics: {
      requests_per_s: { unit: 'req/s', service: summary(service.map((x) => x.requests_per_s)), baseline: summary(store.map((x) => x.requests_per_s)) },
      p99_ms: { unit: 'ms', service: summary(service.map((x) => x.p99_ms)), baseline: summary(store.map((x) => x.p99_ms)) },
      p50_ms: { unit: 'ms', service: summary(service.map((x) => x.p50_ms)), baseline: summary(store.map((x) => x.p50_ms)) },
    },
    ratio: { ...ratio, of: 'requests_per_s' },
    targets: [check('throughput ratio >= 1.0 (cached)', ratio.median, ratio.median >= 1)],
    details: {
      cache: env.config.cache.enabled ? 'on (STORAGE_REDIS_URL)' : 'off: no STORAGE_REDIS_URL, every GET streams from S3',
      content_cache_hit_ratio: asked ? round(hits / asked, 3) : 0,
      rounds: { service, baseline: store },
      ops: {
        unit: 'request',
        counts: {
          api: [warm[0], ...service].reduce((n, x) => n + x.ok + x.non2xx, 0),
        },
      } satisfies RowOps,
    },
  };
}
