/**
 * The operations the clients draw, and how each is sent. A client's schedule is a list of specs drawn
 * from its own stream (kind, slot, a number to pick a version with, a size, a flag): the same seed
 * draws the same specs; which asset a slot names at that moment, and the answers, are the run's.
 */
import { randomBytes } from 'node:crypto';
import { requestIdOf, sha256, type OpContext } from './client';
import type { Entry } from './history';
import { send, noteOf, type Answer } from './http';
import type { Rng } from './rng';
import { chunkedUpload, tusUpload } from './uploads';

export const OP_WEIGHTS = {
  simple: 18,
  chunked: 7,
  tus: 6,
  versionRestore: 6,
  rename: 10,
  grant: 8,
  softDelete: 6,
  restore: 6,
  permanentDelete: 2,
  lifecycle: 3,
  read: 10,
};
export type OpKind = keyof typeof OP_WEIGHTS;

export interface OpSpec {
  kind: OpKind;
  slot: number;
  pick: number;
  size: number;
  flag: boolean;
}

const KiB = 1024;
const PART = 5 * KiB * KiB;

export function nextSpec(rng: Rng, slots: number): OpSpec {
  const kind = rng.weighted(OP_WEIGHTS);
  const slot = rng.int(0, slots - 1);
  const pick = rng.int(0, 2 ** 30);
  const flag = rng.chance(0.5);
  // One chunked upload in ten spans two parts (5 MiB and a tail); the rest are small, to keep 2 cores busy with many operations rather than bytes.
  const size = kind === 'chunked' && rng.chance(0.1) ? PART + rng.int(1, 64 * KiB) : rng.int(1, kind === 'tus' ? 300 * KiB : 64 * KiB);
  return { kind, slot, pick, size, flag };
}

/** Sends one spec; an operation on a slot with no asset becomes the upload of a new one. */
export async function runOperation(spec: OpSpec, ctx: OpContext): Promise<Entry | undefined> {
  const assetId = ctx.world.slotAssets[spec.slot];
  if (spec.kind === 'lifecycle') return lifecycleRun(spec, ctx);
  if (!assetId || spec.kind === 'simple' || spec.kind === 'chunked' || spec.kind === 'tus') return upload(spec, ctx, assetId);
  const entry = ctx.history.begin({
    client: ctx.client,
    index: ctx.index,
    kind: spec.kind,
    slot: spec.slot,
    assetId,
    replica: ctx.replica,
    requestId: requestIdOf(ctx),
  });
  const answer = await ASSET_OPERATIONS[spec.kind](spec, ctx, entry, assetId);
  ctx.history.end(entry, answer.status, noteOf(answer));
  if (spec.kind === 'permanentDelete' && entry.outcome !== 'refused' && ctx.world.slotAssets[spec.slot] === assetId)
    ctx.world.slotAssets[spec.slot] = undefined;
  if (spec.kind === 'versionRestore' && entry.upload) afterUpload(ctx, entry, answer, assetId);
  return entry;
}

type AssetOperation = (spec: OpSpec, ctx: OpContext, entry: Entry, assetId: string) => Promise<Answer>;

const ASSET_OPERATIONS: Record<Exclude<OpKind, 'simple' | 'chunked' | 'tus' | 'lifecycle'>, AssetOperation> = {
  rename: (_spec, ctx, entry, id) => {
    entry.value = `name-${ctx.client}-${ctx.index}`;
    return send(`${ctx.baseUrl}/api/v2/assets/${id}`, ctx.ownerToken, entry.requestId!, { method: 'PUT', json: { name: entry.value } });
  },
  grant: (spec, ctx, entry, id) => {
    // Half of them revoke everything; the rest give the reader read or write.
    const grants = spec.flag ? [] : [{ subject: `user:${ctx.reader}`, access: spec.pick % 2 ? 'write' : 'read' }];
    entry.value = JSON.stringify(grants);
    return send(`${ctx.baseUrl}/api/v2/assets/${id}/grants`, ctx.ownerToken, entry.requestId!, { method: 'PUT', json: grants });
  },
  softDelete: (_spec, ctx, entry, id) => {
    entry.value = 'deleted';
    return send(`${ctx.baseUrl}/api/v2/assets/${id}`, ctx.ownerToken, entry.requestId!, { method: 'DELETE' });
  },
  restore: (_spec, ctx, entry, id) => {
    entry.value = 'live';
    return send(`${ctx.baseUrl}/api/v2/assets/${id}/restore`, ctx.ownerToken, entry.requestId!, { method: 'POST' });
  },
  permanentDelete: (_spec, ctx, entry, id) => send(`${ctx.baseUrl}/api/v2/assets/${id}?permanent=true`, ctx.ownerToken, entry.requestId!, { method: 'DELETE' }),
  read: (_spec, ctx, entry, id) => send(`${ctx.baseUrl}/api/v2/assets/${id}`, ctx.ownerToken, entry.requestId!),
  versionRestore: async (spec, ctx, entry, id) => {
    const known = ctx.world.versions.get(id) ?? [];
    const source = known[spec.pick % Math.max(1, known.length)];
    if (!source?.versionId) return { status: 0, body: undefined, error: 'no acknowledged version to restore yet' };
    entry.upload = { sha256: source.sha256, size: source.size };
    entry.note = `from ${source.versionId}`;
    return send(`${ctx.baseUrl}/api/v2/assets/${id}/versions/${source.versionId}/restore`, ctx.ownerToken, entry.requestId!, { method: 'POST' });
  },
};

async function lifecycleRun(spec: OpSpec, ctx: OpContext): Promise<Entry> {
  const entry = ctx.history.begin({
    client: ctx.client,
    index: ctx.index,
    kind: 'lifecycle',
    replica: ctx.replica,
    requestId: requestIdOf(ctx),
    value: spec.flag ? 'dry' : 'real',
  });
  const answer = await send(`${ctx.baseUrl}/api/v2/lifecycle/runs`, ctx.adminToken, entry.requestId!, { method: 'POST', json: { dry_run: spec.flag } });
  if (answer.status === 202) entry.note = `run ${answer.body?.id}`;
  return ctx.history.end(entry, answer.status, noteOf(answer) ?? entry.note);
}

async function upload(spec: OpSpec, ctx: OpContext, assetId: string | undefined): Promise<Entry> {
  const kind = spec.kind === 'chunked' || spec.kind === 'tus' ? spec.kind : 'simple';
  const bytes = randomBytes(spec.size);
  const entry = ctx.history.begin({
    client: ctx.client,
    index: ctx.index,
    kind: assetId ? `${kind}Version` : `${kind}Create`,
    slot: spec.slot,
    assetId,
    replica: ctx.replica,
    requestId: requestIdOf(ctx),
    upload: { sha256: sha256(bytes), size: bytes.length, name: `${kind}-${ctx.client}-${ctx.index}` },
  });
  const answer =
    kind === 'chunked' ? await chunkedUpload(ctx, entry, bytes) : kind === 'tus' ? await tusUpload(ctx, entry, bytes) : await simpleUpload(ctx, entry, bytes);
  ctx.history.end(entry, answer.status, noteOf(answer));
  afterUpload(ctx, entry, answer, assetId);
  return entry;
}

function simpleUpload(ctx: OpContext, entry: Entry, bytes: Buffer): Promise<Answer> {
  const form = new FormData();
  form.append('name', entry.upload!.name!);
  form.append('checksum_sha256', entry.upload!.sha256);
  form.append('file', new Blob([bytes]), 'file.bin');
  const url = entry.assetId ? `${ctx.baseUrl}/api/v2/assets/${entry.assetId}/versions` : `${ctx.baseUrl}/api/v2/assets/upload`;
  return send(url, ctx.ownerToken, entry.requestId!, { method: 'POST', body: form });
}

/** Reads the ids an upload's answer gives (201: the asset or version; 202: the upload, resolved when quiet). */
function afterUpload(ctx: OpContext, entry: Entry, answer: Answer, assetId: string | undefined): void {
  const facts = entry.upload!;
  const body = answer.body ?? {};
  if (answer.status === 202) facts.uploadId = body.upload_id;
  if (answer.status === 200 || answer.status === 201) {
    const version = body.version ?? (body.version_number !== undefined ? body : undefined);
    facts.versionId = version?.id ?? body.current_version_id ?? facts.versionId;
    facts.assetId = version?.asset_id ?? body.asset?.id ?? body.id ?? assetId;
    facts.uploadId = body.upload?.id ?? facts.uploadId;
  }
  if (entry.outcome !== 'ok' || !facts.assetId) return;
  entry.assetId = facts.assetId;
  if (facts.versionId) ctx.world.noteVersion(facts.assetId, facts);
  if (!assetId && ctx.world.slotAssets[entry.slot!] === undefined) ctx.world.slotAssets[entry.slot!] = facts.assetId;
}
