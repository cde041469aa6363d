/**
 * Helpers for the catalog and download tests: following list cursors, posting versions, reading the
 * bucket and the outbox. Every test file shares the run's database, so lists are always scoped (by a
 * unique name prefix or tag) to what the test itself created.
 */
import { waitUntil } from './processes';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import type { Agent } from 'node:http';
import { postForm, uploadAsset, type UploadFields } from './assets';
import type { TestContext } from './context';
import { openMultipartKeys } from './chunked';
import { call, type JsonAnswer } from './http';

/** A short marker unique to one test, safe in names and tags (no LIKE wildcards). */
export function uniqueMarker(label = 't'): string {
  return `${label}-${randomBytes(6).toString('hex')}`;
}

export function listUrl(baseUrl: string, query: Record<string, string | string[] | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    for (const v of ([] as string[]).concat(value)) params.append(key, v);
  }
  const qs = params.toString();
  return `${baseUrl}/api/v2/assets${qs ? `?${qs}` : ''}`;
}

/** One page of GET /api/v2/assets; fails the test on anything but 200. */
export async function listPage(
  baseUrl: string,
  query: Record<string, string | string[] | undefined> = {},
): Promise<{ items: any[]; next_cursor: string | null }> {
  const res = await call(listUrl(baseUrl, query));
  if (res.status !== 200) throw new Error(`GET ${listUrl(baseUrl, query)}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Every item of a list, following next_cursor (with a guard against a cursor that never ends). */
export async function listAll(baseUrl: string, query: Record<string, string | string[] | undefined> = {}, maxPages = 100): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const body = await listPage(baseUrl, { ...query, cursor });
    items.push(...body.items);
    if (!body.next_cursor) return items;
    cursor = body.next_cursor;
  }
  throw new Error(`the list did not end within ${maxPages} pages`);
}

export function postVersion(
  baseUrl: string,
  assetId: string,
  file: Buffer,
  fields: UploadFields = {},
  filename = 'file.bin',
  fileType?: string,
): Promise<JsonAnswer> {
  return postForm(`${baseUrl}/api/v2/assets/${assetId}/versions`, file, fields, filename, fileType);
}

/**
 * The outcome of an upload that may have answered 202 (finalizing outlasted the API's wait, which
 * happens on a loaded machine): follows `status_url` until the session ends, then reads what it made.
 * Answers `{ status: 201, body: Asset | Version }` as the upload would have, or throws with the answer.
 */
export async function settled(baseUrl: string, res: JsonAnswer, made: 'asset' | 'version', timeoutMs = 120_000): Promise<JsonAnswer> {
  if (res.status === 201) return res;
  const session = await settledSession(baseUrl, res, timeoutMs);
  const { asset_id: assetId, version_id: versionId } = session;
  const read = await call(made === 'asset' ? `${baseUrl}/api/v2/assets/${assetId}` : `${baseUrl}/api/v2/assets/${assetId}/versions/${versionId}`);
  if (read.status !== 200) throw new Error(`reading what upload ${res.body.upload_id} made: ${read.status} ${JSON.stringify(read.body)}`);
  return { status: 201, headers: read.headers, body: read.body };
}

/** Follows a 202's status_url until the session ends; answers the completed session, or throws. */
export async function settledSession(baseUrl: string, res: JsonAnswer, timeoutMs = 120_000): Promise<any> {
  if (res.status !== 202) throw new Error(`upload answered ${res.status}: ${JSON.stringify(res.body)}`);
  const session = await waitUntil(
    `upload ${res.body.upload_id} to end`,
    async () => {
      const read = await call(`${baseUrl}${res.body.status_url}`);
      return (read.status !== 200 || ['completed', 'failed', 'aborted', 'expired'].includes(read.body.status)) && read;
    },
    timeoutMs,
    250,
  );
  if (session.status !== 200 || session.body.status !== 'completed') {
    throw new Error(`upload ${res.body.upload_id} did not complete: ${session.status} ${JSON.stringify(session.body)}`);
  }
  return session.body;
}

/** POST /versions, waiting out a 202; throws unless a version was made. */
export async function addVersion(baseUrl: string, assetId: string, file: Buffer, fields: UploadFields = {}, filename = 'file.bin'): Promise<JsonAnswer> {
  return settled(baseUrl, await postVersion(baseUrl, assetId, file, fields, filename), 'version');
}

/** POST /assets/upload, waiting out a 202; throws unless an asset was made. */
export async function addAsset(baseUrl: string, file: Buffer, fields: UploadFields = {}, filename = 'file.bin'): Promise<JsonAnswer> {
  return settled(baseUrl, await uploadAsset(baseUrl, file, fields, filename), 'asset');
}

/** Every key under `prefix` in `bucket`, sorted. */
export async function keysOf(ctx: TestContext, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await ctx.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/** Every key under `prefix` in the context's asset bucket, sorted. */
export function objectKeys(ctx: TestContext, prefix: string): Promise<string[]> {
  return keysOf(ctx, ctx.config.s3.bucket, prefix);
}

export interface OutboxRow {
  sequence: number;
  type: string;
  subject: string;
  data: Record<string, unknown>;
}

/** The outbox events about one asset, oldest first. */
export async function outboxEvents(ctx: TestContext, assetId: string): Promise<OutboxRow[]> {
  const rows = await ctx.db('outbox_events').where({ subject: assetId }).orderBy('sequence', 'asc').select('sequence', 'type', 'subject', 'data');
  return rows.map((r) => ({ ...r, sequence: Number(r.sequence) }));
}

/** The HTTP agent the context's S3 client sends through (the SDK creates it on the first request). */
export function s3Agent(ctx: TestContext): Agent {
  const handler = ctx.s3.config.requestHandler as unknown as { config?: { httpAgent?: Agent } };
  const agent = handler.config?.httpAgent;
  if (!agent) throw new Error('the S3 client has no HTTP agent yet: send a request first');
  return agent;
}

/** Sockets the agent has lent to requests still in progress (free keep-alive sockets not counted). */
export function socketsInUse(agent: Agent): number {
  return Object.values(agent.sockets).reduce((sum, list) => sum + (list?.length ?? 0), 0);
}

/** What a refused request must leave as it was: rows, objects, open multipart uploads. */
export async function footprintOf(ctx: TestContext) {
  const count = async (table: string) => Number((await ctx.db(table).count({ n: '*' }))[0].n);
  return {
    sessions: await count('upload_sessions'),
    assets: await count('assets'),
    versions: await count('asset_versions'),
    policies: await count('lifecycle_policies'),
    objects: await keysOf(ctx, ctx.config.s3.bucket),
    multipart: await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, ''),
  };
}
