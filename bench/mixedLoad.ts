/**
 * Issue 17's mixed load: N clients, each looping for a while over a weighted pick of what users do
 * most (metadata GETs, small content GETs, small uploads, 8 MiB downloads), against one API or the
 * replicas' proxy. Every request is counted by kind, every failure by its cause, and every upload is
 * verified afterwards: its asset exists and its content hashes to what was sent. Used by bench rows 13
 * and 14 and by test/replicas.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { inParallel, multipartBody } from './client';
import { percentile, round } from './stats';

export const KINDS = ['metadata', 'content', 'upload', 'download'] as const;
export type Kind = (typeof KINDS)[number];

/** Percent of the picks (the issue's mix). */
export const ISSUE_MIX: Record<Kind, number> = { metadata: 60, content: 25, upload: 10, download: 5 };

export interface PreparedAssets {
  /** Assets whose metadata is read (several, so the catalog is not one hot row). */
  metadataIds: string[];
  contentId: string;
  contentBytes: number;
  downloadId: string;
  downloadBytes: number;
}

export interface MixedLoadOptions {
  url: string;
  /** Sent as `authorization: Bearer …` on every request: one token for all, or client i sends tokens[i % n]. */
  token: string | string[];
  clients: number;
  durationS: number;
  mix?: Record<Kind, number>;
  /** Bytes of each upload (the issue's small objects: 64 KiB). */
  uploadBytes?: number;
  /** A request with no answer by then is abandoned and counted as a timeout. */
  timeoutMs?: number;
  /** Bound on the requests of the whole run, whatever the duration. */
  maxRequests?: number;
  /** Stops the loops early once it resolves (the test ends the load when its restarts are done). */
  until?: Promise<unknown>;
  /** Called after each answered request (a test waits on the load's progress). */
  onAnswer?: (kind: Kind) => void;
}

export type ErrorCause = '5xx' | 'timeout' | 'connection' | 'unexpected 4xx' | 'wrong bytes';

export interface KindResult {
  ok: number;
  errors: number;
  per_s: number;
  p50_ms: number;
  p99_ms: number;
  bytes: number;
}

export interface UploadRecord {
  name: string;
  sha256: string;
  size: number;
  /** 201: the asset; 202: the upload to follow until it completes. */
  assetId?: string;
  uploadId?: string;
  startedAt: number;
}

export interface MixedLoadResult {
  clients: number;
  seconds: number;
  requests: number;
  kinds: Record<Kind, KindResult>;
  /** Failed requests by kind and cause. */
  errors: Record<Kind, Partial<Record<ErrorCause, number>>>;
  /** The distinct failures (ids taken out), each with how often it came. */
  error_samples: Record<string, number>;
  total_errors: number;
  /** Uploads answered 201 or 202: each must end as an asset with the bytes sent. */
  uploads: UploadRecord[];
  accepted_late: number;
  /** The uploads that failed, with what came instead (their sessions, if any opened, are not the load's to end). */
  refused_uploads: { name: string; answer: string }[];
}

export interface VerifyResult {
  verified: number;
  /** Uploads answered 2xx whose asset is missing, or holds other bytes, or never completed. */
  lost: { name: string; reason: string }[];
}

interface Answer {
  status: number;
  body: Buffer;
  bytes: number;
}

class RequestTimeout extends Error {}

/** One request; the body is kept only when `keep` (small JSON), otherwise only counted. */
function send(
  url: string,
  opts: { method?: string; headers: Record<string, string | number>; body?: Buffer[]; agent: http.Agent; timeoutMs: number; keep: boolean },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (opts.keep) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), bytes }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('answer cut off')));
    });
    req.on('error', reject);
    req.setTimeout(opts.timeoutMs, () => req.destroy(new RequestTimeout(`no answer within ${opts.timeoutMs} ms`)));
    for (const chunk of opts.body ?? []) req.write(chunk);
    req.end();
  });
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

function uploadBody(name: string, data: Buffer) {
  return multipartBody(data, { name }, name);
}

async function uploadOnce(url: string, token: string, data: Buffer, name: string, agent: http.Agent): Promise<string> {
  const body = uploadBody(name, data);
  const answer = await send(`${url}/api/v2/assets/upload`, {
    method: 'POST',
    headers: { ...auth(token), 'content-type': body.contentType, 'content-length': body.length },
    body: body.parts,
    agent,
    timeoutMs: 120_000,
    keep: true,
  });
  if (answer.status !== 201) throw new Error(`preparing ${name}: ${answer.status} ${answer.body.toString().slice(0, 300)}`);
  return JSON.parse(answer.body.toString()).id;
}

/** The assets the load reads: made once, before it starts. */
export async function prepareAssets(
  url: string,
  token: string,
  opts: { metadataAssets?: number; contentBytes?: number; downloadBytes?: number } = {},
): Promise<PreparedAssets> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  try {
    const contentBytes = opts.contentBytes ?? 64 * 1024;
    const downloadBytes = opts.downloadBytes ?? 8 * 1024 * 1024;
    const metadataIds: string[] = [];
    await inParallel(opts.metadataAssets ?? 20, 4, async (i) => {
      metadataIds.push(await uploadOnce(url, token, randomBytes(1024), `mixed-metadata-${i}.png`, agent));
    });
    const contentId = await uploadOnce(url, token, randomBytes(contentBytes), 'mixed-content.png', agent);
    const downloadId = await uploadOnce(url, token, randomBytes(downloadBytes), 'mixed-download.pdf', agent);
    return { metadataIds, contentId, contentBytes, downloadId, downloadBytes };
  } finally {
    agent.destroy();
  }
}

function picker(mix: Record<Kind, number>): () => Kind {
  const total = KINDS.reduce((n, k) => n + mix[k], 0);
  return () => {
    let r = Math.random() * total;
    for (const k of KINDS) {
      r -= mix[k];
      if (r < 0) return k;
    }
    return 'metadata';
  };
}

/** What a failure is, without what differs between two of the same (ids). */
function sampleOf(kind: Kind, what: string): string {
  return `${kind}: ${what.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>').slice(0, 200)}`;
}

export async function runMixedLoad(opts: MixedLoadOptions, prepared: PreparedAssets): Promise<MixedLoadResult> {
  const mix = opts.mix ?? ISSUE_MIX;
  const pick = picker(mix);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const maxRequests = opts.maxRequests ?? 5_000_000;
  const uploadBytes = opts.uploadBytes ?? 64 * 1024;
  // One socket per client at most: a client is one sequential user.
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.clients, maxFreeSockets: opts.clients });
  const tokens = ([] as string[]).concat(opts.token);
  const base = randomBytes(uploadBytes);
  const runId = randomBytes(4).toString('hex');

  const latencies = Object.fromEntries(KINDS.map((k) => [k, [] as number[]])) as Record<Kind, number[]>;
  const bytes = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  const errors = Object.fromEntries(KINDS.map((k) => [k, {}])) as MixedLoadResult['errors'];
  const samples: Record<string, number> = {};
  const uploads: UploadRecord[] = [];
  let acceptedLate = 0;
  const refused: MixedLoadResult['refused_uploads'] = [];
  let sent = 0;
  let uploadsSent = 0;
  let stopped = false;
  void opts.until?.then(() => (stopped = true));

  const fail = (kind: Kind, cause: ErrorCause, what: string) => {
    errors[kind][cause] = (errors[kind][cause] ?? 0) + 1;
    const key = sampleOf(kind, `${cause} ${what}`);
    samples[key] = (samples[key] ?? 0) + 1;
  };
  const expectStatus = (kind: Kind, answer: Answer, ok: number[]): boolean => {
    if (ok.includes(answer.status)) return true;
    const detail = answer.body.toString('utf8').slice(0, 300);
    fail(kind, answer.status >= 500 ? '5xx' : 'unexpected 4xx', `${answer.status} ${detail}`);
    return false;
  };

  const once = async (kind: Kind, headers: Record<string, string>) => {
    const t0 = performance.now();
    if (kind === 'upload') {
      const data = Buffer.from(base);
      const n = uploadsSent++;
      data.writeUInt32BE(n, 0);
      randomBytes(12).copy(data, 4);
      const name = `mixed-${runId}-${n}.png`;
      const body = uploadBody(name, data);
      const record: UploadRecord = { name, sha256: createHash('sha256').update(data).digest('hex'), size: data.length, startedAt: Date.now() };
      const answer = await send(`${opts.url}/api/v2/assets/upload`, {
        method: 'POST',
        headers: { ...headers, 'content-type': body.contentType, 'content-length': body.length },
        body: body.parts,
        agent,
        timeoutMs,
        keep: true,
      }).catch((err) => {
        refused.push({ name, answer: (err as Error).message });
        throw err;
      });
      if (!expectStatus(kind, answer, [201, 202])) return void refused.push({ name, answer: `${answer.status} ${answer.body.toString().slice(0, 300)}` });
      const json = JSON.parse(answer.body.toString());
      if (answer.status === 201) record.assetId = json.id;
      else {
        record.uploadId = json.upload_id;
        acceptedLate++;
      }
      uploads.push(record);
      bytes.upload += data.length;
    } else {
      const path =
        kind === 'metadata'
          ? `/api/v2/assets/${prepared.metadataIds[Math.floor(Math.random() * prepared.metadataIds.length)]}`
          : `/api/v2/assets/${kind === 'content' ? prepared.contentId : prepared.downloadId}/content`;
      const answer = await send(`${opts.url}${path}`, { headers, agent, timeoutMs, keep: kind === 'metadata' });
      if (!expectStatus(kind, answer, [200])) return;
      const expected = kind === 'content' ? prepared.contentBytes : kind === 'download' ? prepared.downloadBytes : undefined;
      if (expected !== undefined && answer.bytes !== expected) return fail(kind, 'wrong bytes', `${answer.bytes} of ${expected}`);
      bytes[kind] += answer.bytes;
    }
    latencies[kind].push(performance.now() - t0);
    opts.onAnswer?.(kind);
  };

  const started = performance.now();
  const deadline = started + opts.durationS * 1000;
  await Promise.all(
    Array.from({ length: opts.clients }, async (_, client) => {
      const headers = auth(tokens[client % tokens.length]);
      while (!stopped && performance.now() < deadline && sent < maxRequests) {
        sent++;
        const kind = pick();
        try {
          await once(kind, headers);
        } catch (err) {
          if (err instanceof RequestTimeout) fail(kind, 'timeout', err.message);
          else fail(kind, 'connection', (err as NodeJS.ErrnoException).code ?? (err as Error).message);
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const kinds = Object.fromEntries(
    KINDS.map((k) => {
      const errs = Object.values(errors[k]).reduce((n, c) => n + (c ?? 0), 0);
      return [
        k,
        {
          ok: latencies[k].length,
          errors: errs,
          per_s: round(latencies[k].length / seconds, 1),
          p50_ms: round(percentile(latencies[k], 50), 1),
          p99_ms: round(percentile(latencies[k], 99), 1),
          bytes: bytes[k],
        },
      ];
    }),
  ) as Record<Kind, KindResult>;
  return {
    clients: opts.clients,
    seconds: round(seconds, 2),
    requests: sent,
    kinds,
    errors,
    error_samples: samples,
    total_errors: KINDS.reduce((n, k) => n + kinds[k].errors, 0),
    uploads,
    accepted_late: acceptedLate,
    refused_uploads: refused,
  };
}

/**
 * Every upload answered 2xx ends as an asset holding the bytes sent: one answered 202 is followed
 * at its status URL until it completes (for up to `settleMs`), then its content is read and hashed.
 */
export async function verifyUploads(url: string, token: string, uploads: UploadRecord[], settleMs = 120_000): Promise<VerifyResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const headers = auth(token);
  const lost: VerifyResult['lost'] = [];
  let verified = 0;
  const deadline = Date.now() + settleMs;
  try {
    await inParallel(uploads.length, 16, async (i) => {
      const u = uploads[i];
      let assetId = u.assetId;
      try {
        while (!assetId) {
          const status = await send(`${url}/api/v2/uploads/${u.uploadId}`, { headers, agent, timeoutMs: 30_000, keep: true });
          const body = status.status === 200 ? JSON.parse(status.body.toString()) : undefined;
          if (body?.status === 'completed') assetId = body.asset_id;
          else if (!body || ['failed', 'aborted', 'expired'].includes(body.status)) {
            return void lost.push({ name: u.name, reason: `upload ${u.uploadId}: ${status.status} ${status.body.toString().slice(0, 200)}` });
          } else if (Date.now() > deadline) {
            return void lost.push({ name: u.name, reason: `upload ${u.uploadId} still ${body.status} after ${settleMs} ms` });
          } else await new Promise((r) => setTimeout(r, 250));
        }
        const meta = await send(`${url}/api/v2/assets/${assetId}`, { headers, agent, timeoutMs: 30_000, keep: true });
        if (meta.status !== 200) return void lost.push({ name: u.name, reason: `asset ${assetId}: ${meta.status}` });
        const content = await send(`${url}/api/v2/assets/${assetId}/content`, { headers, agent, timeoutMs: 30_000, keep: true });
        const sha256 = createHash('sha256').update(content.body).digest('hex');
        if (content.status !== 200 || sha256 !== u.sha256) {
          return void lost.push({
            name: u.name,
            reason: `asset ${assetId}: content ${content.status}, ${content.bytes} bytes, sha256 ${sha256} != ${u.sha256}`,
          });
        }
        verified++;
      } catch (err) {
        lost.push({ name: u.name, reason: `verifying: ${(err as Error).message}` });
      }
    });
  } finally {
    agent.destroy();
  }
  return { verified, lost };
}

/** One line per kind, for the progress output. */
export function describeMixed(r: MixedLoadResult): string {
  const kinds = KINDS.map(
    (k) => `${k} ${r.kinds[k].ok} ok (${r.kinds[k].per_s}/s, p50 ${r.kinds[k].p50_ms} ms, p99 ${r.kinds[k].p99_ms} ms, ${r.kinds[k].errors} errors)`,
  );
  return `${r.clients} clients, ${r.seconds} s, ${r.requests} requests: ${kinds.join('; ')}; ${r.accepted_late} uploads answered 202`;
}
