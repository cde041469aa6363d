/** The two multi-request uploads as a client sends them: chunked (open, parts, complete) and tus (tus-js-client). */
import * as tus from 'tus-js-client';
import type { Entry } from './history';
import { send, type Answer } from './http';
import { requestIdOf, type OpContext } from './client';

/** Every session the clients opened, so that the quiet phase can end the ones a failure left open (as a client would). */
export const openedSessions = new Set<string>();

export async function chunkedUpload(ctx: OpContext, entry: Entry, bytes: Buffer): Promise<Answer> {
  const token = ctx.ownerToken;
  const body = {
    name: entry.upload!.name!,
    size_bytes: bytes.length,
    checksum_sha256: entry.upload!.sha256,
    part_size_bytes: ctx.partSize,
    ...(entry.assetId ? { asset_id: entry.assetId } : {}),
  };
  const opened = await send(`${ctx.baseUrl}/api/v2/uploads`, token, requestIdOf(ctx, '-open'), { method: 'POST', json: body });
  if (opened.status !== 201) return opened;
  const id: string = opened.body.id;
  entry.upload!.uploadId = id;
  openedSessions.add(id);
  for (let n = 1; (n - 1) * ctx.partSize < bytes.length; n++) {
    const part = bytes.subarray((n - 1) * ctx.partSize, n * ctx.partSize);
    const put = await send(`${ctx.baseUrl}/api/v2/uploads/${id}/parts/${n}`, token, requestIdOf(ctx, `-p${n}`), {
      method: 'PUT',
      body: part,
      headers: { 'content-type': 'application/octet-stream' },
    });
    if (put.status !== 200) return abandon(ctx, id, put);
  }
  return send(`${ctx.baseUrl}/api/v2/uploads/${id}/complete`, token, entry.requestId!, { method: 'POST' });
}

/** A failed part: the client gives the session up (the quiet phase retries the abort if this one fails). */
async function abandon(ctx: OpContext, id: string, failed: Answer): Promise<Answer> {
  await send(`${ctx.baseUrl}/api/v2/uploads/${id}`, ctx.ownerToken, requestIdOf(ctx, '-abort'), { method: 'DELETE' });
  return failed;
}

/**
 * tus-js-client with two retries (it resumes from the server's offset, on whichever replica answers);
 * once it reports success, the session's status says whether the version is committed (201 here) or
 * still completing (202 here, resolved when quiet).
 */
export async function tusUpload(ctx: OpContext, entry: Entry, bytes: Buffer): Promise<Answer> {
  const metadata: Record<string, string> = { filename: entry.upload!.name!, checksum_sha256: entry.upload!.sha256 };
  if (entry.assetId) metadata.asset_id = entry.assetId;
  let uploadUrl: string | undefined;
  const outcome = await new Promise<Answer>((resolve) => {
    const upload = new tus.Upload(bytes, {
      endpoint: `${ctx.baseUrl}/api/v2/tus`,
      chunkSize: 128 * 1024,
      retryDelays: [250, 1000],
      headers: { authorization: `Bearer ${ctx.ownerToken}`, 'x-request-id': entry.requestId! },
      metadata,
      onUploadUrlAvailable: () => {
        uploadUrl = upload.url ?? undefined;
        if (uploadUrl) openedSessions.add(uploadUrl.split('/').pop()!);
      },
      onSuccess: () => resolve({ status: 204, body: undefined }),
      onError: (error) =>
        resolve({ status: (error as tus.DetailedError).originalResponse?.getStatus() ?? 0, body: undefined, error: String(error).slice(0, 200) }),
    });
    upload.start();
  });
  if (!uploadUrl) return outcome;
  const id = uploadUrl.split('/').pop()!;
  entry.upload!.uploadId = id;
  if (outcome.status !== 204) return outcome;
  const status = await send(`${ctx.baseUrl}/api/v2/uploads/${id}`, ctx.ownerToken, requestIdOf(ctx, '-status'));
  if (status.status !== 200) return { status: 202, body: { upload_id: id } };
  if (status.body.status === 'completed') return { status: 201, body: { version: { id: status.body.version_id, asset_id: status.body.asset_id } } };
  if (status.body.status === 'completing' || status.body.status === 'open') return { status: 202, body: { upload_id: id } };
  return { status: 500, body: status.body, error: `tus reported success but the session is ${status.body.status}: ${status.body.error}` };
}
