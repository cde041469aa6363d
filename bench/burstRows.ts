/**
 * Row 16 (issue 26): a burst of 1,000 concurrent 64 KiB simple uploads from one service (quick mode:
 * 100), all sent at once to an API of its own on the default upload settings (STORAGE_MAX_PENDING_UPLOADS,
 * STORAGE_UPLOAD_WAIT_SECONDS; the run's API waits 300 s for its large uploads), with the bench's rate
 * limits (budgets and streams no row reaches: the burst meets the admission, not a caller's 429s). The client
 * is the project's own (client/retry.ts): a 429 or a 503 is sent again after its Retry-After, a bounded
 * number of times, as a user's service built on it would. Every logical upload must end 201, its
 * SHA-256 read back from its content, and no upload session may be left open once the burst is over.
 *
 * Not a paired row: the figures are absolute (see BENCHMARKS.md for the machine's state). It runs only
 * when named (--rows 16).
 */
import { createHash, randomBytes } from 'node:crypto';
import { retryingSend } from '../client/retry';
import { ROLES } from '../lib/auth/actor';
import { mintDevToken } from '../lib/auth/devTokens';
import { freePorts } from '../scripts/stack';
import { inParallel } from './client';
import { check, seconds, summary, type RowContext, type RowOps, type RowResult } from './rows';
import { percentile, round } from './stats';

// The client's bound: 400 tries again, each after the server's Retry-After (2 s for a full admission):
// 13 minutes at least, for the last of 1,000 uploads on a loaded 2-core machine.
const RETRIES = 400;
const MAX_DELAY_MS = 30_000;
const READ_BACK_CONCURRENCY = 16;
const OWNER = 'bench-burst-owner';
// The run's settings the burst's API goes without: it takes the service's defaults for them.
const DEFAULTS = ['STORAGE_UPLOAD_WAIT_SECONDS', 'STORAGE_MAX_PENDING_UPLOADS', 'STORAGE_REQUEST_TIMEOUT_MS'];
const READY_WITHIN_MS = 120_000;

/** Until the API answers /health/ready, within READY_WITHIN_MS. */
async function waitUntilReady(apiUrl: string): Promise<void> {
  const until = Date.now() + READY_WITHIN_MS;
  while (Date.now() < until) {
    const ready = await fetch(`${apiUrl}/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`row 16: the burst's API did not answer /health/ready within ${READY_WITHIN_MS} ms`);
}

interface Sent {
  status: number;
  ms: number;
  /** A 503's problem detail, ids left out: the admission's (before the body), or another (a run not taken in time, no database connection). */
  refusal?: string;
}

const ADMISSION = /body was not read/;
function refusalOf(body: string): string {
  let detail = body;
  try {
    detail = String((JSON.parse(body) as { detail?: unknown }).detail ?? body);
  } catch {
    // Not problem+json (a proxy's page): the body itself says what it was.
  }
  return detail.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '…').slice(0, 100);
}

interface LogicalUpload {
  status: number;
  ms: number;
  attempts: number;
  assetId?: string;
  checksum?: string;
  error?: string;
}

/** One logical upload through the retrying client; every request it sends is recorded in `sent`. */
async function uploadOnce(url: string, token: string, file: Buffer, i: number, sent: Sent[]): Promise<LogicalUpload> {
  let attempts = 0;
  const timedFetch: typeof fetch = async (input, init) => {
    attempts++;
    const t0 = performance.now();
    const res = await fetch(input, init);
    // The answer's time to its last byte (a problem+json or an asset: small).
    const body = await res.text();
    sent.push({ status: res.status, ms: performance.now() - t0, refusal: res.status === 503 ? refusalOf(body) : undefined });
    return new Response(body, { status: res.status, headers: res.headers });
  };
  const send = retryingSend(timedFetch, { retries: RETRIES, maxDelayMs: MAX_DELAY_MS });
  const form = new FormData();
  form.append('owner_id', OWNER);
  form.append('file', new Blob([file], { type: 'application/octet-stream' }), `burst-${i}.bin`);
  const t0 = performance.now();
  try {
    const res = await send(() => new Request(url, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form }));
    const text = await res.text();
    const ms = performance.now() - t0;
    if (res.status !== 201) return { status: res.status, ms, attempts, error: text.slice(0, 200) };
    const asset = JSON.parse(text) as { id: string; checksum_sha256: string };
    return { status: 201, ms, attempts, assetId: asset.id, checksum: asset.checksum_sha256 };
  } catch (err) {
    return { status: 0, ms: performance.now() - t0, attempts, error: describeError(err) };
  }
}

/** fetch's own message ("fetch failed") says nothing: what failed under it is its cause. */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as (Error & { code?: string }) | undefined;
  return cause ? `${err.message}: ${cause.code ?? cause.name} ${cause.message}` : err.message;
}

/** How many of the stored uploads read back whole: their content hashes to what was sent, as does their checksum_sha256. */
async function readBack(apiUrl: string, token: string, files: Buffer[], uploads: LogicalUpload[]): Promise<number> {
  let whole = 0;
  await inParallel(uploads.length, READ_BACK_CONCURRENCY, async (i) => {
    const u = uploads[i];
    if (!u.assetId) return;
    const res = await fetch(`${apiUrl}/api/v2/assets/${u.assetId}/content`, { headers: { authorization: `Bearer ${token}` } });
    const got = createHash('sha256')
      .update(Buffer.from(await res.arrayBuffer()))
      .digest('hex');
    const sentHash = createHash('sha256').update(files[i]).digest('hex');
    if (res.status === 200 && got === sentHash && u.checksum === sentHash) whole++;
  });
  return whole;
}

function tally(values: Array<number | string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[String(v)] = (counts[String(v)] ?? 0) + 1;
  return counts;
}

export async function rowBurst(ctx: RowContext): Promise<RowResult> {
  const { env, settings } = ctx;
  const count = settings.mode === 'quick' ? 100 : 1000;
  const token = await mintDevToken(env.config.auth, { sub: 'bench-burst-service', roles: [ROLES.service] });
  const files = Array.from({ length: count }, () => randomBytes(settings.smallBytes));
  const [port] = await freePorts(1);
  const api = env.startReplica('api', 'api-burst', port, DEFAULTS);
  const apiUrl = `http://127.0.0.1:${port}`;
  await waitUntilReady(apiUrl);
  const url = `${apiUrl}/api/v2/assets/upload`;
  const since = new Date();
  const sent: Sent[] = [];

  ctx.say(`row 16: ${count} uploads of ${settings.smallBytes / 1024} KiB at once`);
  const started = performance.now();
  const uploads = await Promise.all(files.map((file, i) => uploadOnce(url, token, file, i, sent)));
  const burstS = seconds(started);
  // Right after the last answer: a session still open now is one the burst left.
  const openLeft = Number((await env.db('upload_sessions').whereIn('status', ['pending', 'open', 'completing']).count({ n: '*' }))[0].n);
  const sessionsMade = Number((await env.db('upload_sessions').where('created_at', '>=', since).count({ n: '*' }))[0].n);
  const whole = await readBack(apiUrl, token, files, uploads);
  await api.stop();

  const stored = uploads.filter((u) => u.status === 201);
  const failed = count - stored.length;
  const refusals = sent.filter((s) => s.status === 503 || s.status === 429);
  const firstError = uploads.find((u) => u.error)?.error;
  const figures = {
    uploads: count,
    stored: stored.length,
    failed,
    final_statuses: tally(uploads.map((u) => u.status)),
    requests: sent.length,
    requests_by_status: tally(sent.map((s) => s.status)),
    retried_503: sent.filter((s) => s.status === 503).length,
    retried_503_admission: sent.filter((s) => s.refusal && ADMISSION.test(s.refusal)).length,
    retried_503_other: sent.filter((s) => s.refusal && !ADMISSION.test(s.refusal)).length,
    other_503s: tally(sent.filter((s) => s.refusal && !ADMISSION.test(s.refusal)).map((s) => s.refusal!)),
    retried_429: sent.filter((s) => s.status === 429).length,
    attempts_per_upload: {
      p50: percentile(
        uploads.map((u) => u.attempts),
        50,
      ),
      max: Math.max(...uploads.map((u) => u.attempts)),
    },
    burst_s: round(burstS, 1),
    sessions_made: sessionsMade,
    sessions_open_after: openLeft,
    read_back_whole: whole,
    first_error: firstError ?? null,
    errors: tally(uploads.filter((u) => u.error).map((u) => u.error!)),
  };
  ctx.say(`row 16: ${JSON.stringify(figures)}`);
  const ms = (values: number[], p: number) => summary([percentile(values, p)], 0);
  return {
    id: 16,
    title: `a burst of ${count} concurrent ${settings.smallBytes / 1024} KiB simple uploads from one service, retried after Retry-After`,
    service: 'POST /api/v2/assets/upload, all at once, each sent again after a 429 or 503 (client/retry.ts) until its 201',
    baseline: 'none',
    metrics: {
      uploads_per_s: { unit: 'uploads/s', service: summary([stored.length / burstS]) },
      upload_p50_ms: {
        unit: 'ms',
        service: ms(
          stored.map((u) => u.ms),
          50,
        ),
      },
      upload_p99_ms: {
        unit: 'ms',
        service: ms(
          stored.map((u) => u.ms),
          99,
        ),
      },
      admitted_request_p50_ms: {
        unit: 'ms',
        service: ms(
          sent.filter((s) => s.status === 201).map((s) => s.ms),
          50,
        ),
      },
      admitted_request_p99_ms: {
        unit: 'ms',
        service: ms(
          sent.filter((s) => s.status === 201).map((s) => s.ms),
          99,
        ),
      },
      refusal_p50_ms: {
        unit: 'ms',
        service: ms(
          refusals.map((s) => s.ms),
          50,
        ),
      },
      refusal_p99_ms: {
        unit: 'ms',
        service: ms(
          refusals.map((s) => s.ms),
          99,
        ),
      },
      retried: { unit: 'requests', service: summary([refusals.length], 0) },
      failed: { unit: 'uploads', service: summary([failed], 0) },
      sessions_open_after: { unit: 'sessions', service: summary([openLeft], 0) },
    },
    targets: [
      check('0 failed after retries', failed, failed === 0),
      check('0 sessions left open', openLeft, openLeft === 0),
      check(`every SHA-256 read back (${count})`, whole, whole === count),
    ],
    details: {
      ...figures,
      // The burst's API is a process the CPU table does not name: its CPU counts under "everything else".
      ops: {
        unit: 'upload',
        counts: Object.fromEntries(['worker', 'temporal', 'seaweedfs', 'postgres (run db)'].map((k) => [k, count])),
      } satisfies RowOps,
    },
  };
}
