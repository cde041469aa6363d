/**
 * A revoked grant ends at once (issue 23): a former grantee's upload session of a new version is
 * refused on its next request, whatever it is (a part, a presigned part URL, complete, its status, a
 * tus PATCH or HEAD), and by the run's commit itself, so a revocation that lands while a body streams
 * or while the run finishes still wins. Each interleaving is made on purpose: a body the test sends
 * in pieces (revoked between them, once the API has counted the first), or the finish held at S3 by
 * a proxy in front of the worker (revoked while it is held). After each, the asset holds the owner's
 * bytes only, the session has ended with a reason that says why, nothing of it is left in the
 * bucket, the owner's usage is back where it was, and an audit row records the refusal. The owner, a
 * service, an admin and a grantee whose grant stays are never affected.
 */
import { assetKeyPrefix } from '../lib/assets/keys';
import { bytesOf, sha256 } from './support/assets';
import { tokenFor } from './support/auth';
import { objectKeys, settled, uniqueMarker } from './support/catalog';
import { openMultipartKeys } from './support/chunked';
import { useTestService } from './support/context';
import { call, expectProblem, inPieces, type JsonAnswer } from './support/http';
import { waitUntil } from './support/processes';
import { startS3Proxy, type ProxiedRequest, type S3Proxy } from './support/s3Proxy';

let proxy: S3Proxy;
type Caller = 'alice' | 'service' | 'admin';
const as = {} as Record<Caller, string>;
// Each test's grantees are users of its own: refusals of one user fold into one audit row a minute.
// Dave reaches assets by name only, bob through his group only.
let dave: { sub: string; token: string };
let bob: { token: string };

const ctx = useTestService({}, { worker: false });
beforeAll(async () => {
  // The worker reaches S3 through the proxy, which passes everything on until a test holds the finish.
  proxy = await startS3Proxy(ctx.config.s3.endpoint);
  await ctx.startWorker({ s3Endpoint: proxy.url });
  Object.assign(as, {
    alice: await tokenFor({ sub: 'alice' }),
    service: await tokenFor({ sub: 'campaign-service', roles: ['storage:service'] }),
    admin: await tokenFor({ sub: 'root', roles: ['storage:admin'] }),
  });
});
beforeEach(async () => {
  const sub = uniqueMarker('dave');
  dave = { sub, token: await tokenFor({ sub }) };
  bob = { token: await tokenFor({ sub: uniqueMarker('bob'), groups: ['party'] }) };
});
afterEach(() => {
  proxy.release();
});
afterAll(async () => {
  await proxy?.close();
});

const url = (path: string) => `${ctx.baseUrl}/api/v2${path}`;
const SIZE = 64 * 1024;
const HALF = SIZE / 2;

/** A new asset of alice's, with bytes of her own, shared by `grants`. */
async function sharedAsset(grants: Array<{ subject: string; access: 'read' | 'write' }>): Promise<{ id: string; checksum: string }> {
  const bytes = bytesOf(1024);
  const body = new FormData();
  body.append('name', uniqueMarker('shared'));
  body.append('file', new Blob([bytes]), 'alice.bin');
  const made = await settled(ctx.baseUrl, await call(url('/assets/upload'), { method: 'POST', body, as: as.alice }), 'asset');
  await share(made.body.id, grants);
  return { id: made.body.id, checksum: sha256(bytes) };
}

function share(assetId: string, grants: Array<{ subject: string; access: 'read' | 'write' }>) {
  return call(url(`/assets/${assetId}/grants`), { method: 'PUT', json: grants, as: as.alice }).then((res) => {
    expect(res.status).toBe(200);
  });
}

const revoke = (assetId: string) => share(assetId, []);

/** What the asset holds and what its owner is charged: a refused upload must leave all of it as it was. */
async function holdings(assetId: string) {
  const prefix = assetKeyPrefix(assetId);
  return {
    asset: await ctx.db('assets').where({ id: assetId }).first('current_version_id', 'version_count', 'checksum_sha256', 'size_bytes'),
    versions: await ctx.db('asset_versions').where({ asset_id: assetId }).orderBy('version_number').select('id', 'checksum_sha256'),
    usage: await ctx.db('owner_usage').where({ owner_id: 'alice' }).first('bytes_stored', 'assets', 'versions', 'reserved_bytes', 'reserved_assets'),
    objects: await objectKeys(ctx, prefix),
    multipart: await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, prefix),
  };
}
type Holdings = Awaited<ReturnType<typeof holdings>>;

/** A chunked session of a new version of `assetId`, one part of SIZE bytes, opened as `token`. */
async function openSession(assetId: string, token: string): Promise<string> {
  const opened = await call(url('/uploads'), { method: 'POST', json: { name: 'v.bin', size_bytes: SIZE, asset_id: assetId }, as: token });
  expect(opened.status).toBe(201);
  return opened.body.id;
}

function putPart(id: string, bytes: Buffer, token: string) {
  return call(url(`/uploads/${id}/parts/1`), { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' }, as: token });
}

const complete = (id: string, token: string) => call(url(`/uploads/${id}/complete`), { method: 'POST', as: token });

/**
 * The session ended for its lost access: its run ended (`status`), its row says why, the asset and
 * the owner's usage are as `before`, and the audit log holds each of `rows` about it.
 */
async function expectEndedByRevocation(
  uploadId: string,
  assetId: string,
  before: Holdings,
  status: 'aborted' | 'failed',
  rows: Array<{ action: string; outcome: string }>,
) {
  const ended = await ctx.temporal.client.workflow.getHandle(`upload-${uploadId}`).result();
  expect(ended.status).toBe(status);
  expect(await ctx.db('upload_sessions').where({ id: uploadId }).first('status', 'error')).toEqual({ status, error: expect.stringMatching(/revoked/) });
  expect(await holdings(assetId)).toEqual(before);
  // Refusals of requests are folded and written a moment after their answer.
  for (const row of rows) {
    await waitUntil(
      `audit row ${row.action} ${row.outcome}`,
      async () =>
        ctx
          .db('audit_log')
          .where({ upload_id: uploadId, ...row })
          .first('id'),
      10_000,
      100,
    );
  }
}

/** Until the API has counted `atLeast` more uploaded bytes than `from`: the body is streaming past the checks. */
async function untilCounted(from: number, atLeast: number): Promise<void> {
  await waitUntil('the API to stream the first piece', async () => (await bytesUploaded()) >= from + atLeast, 30_000, 20);
}

async function bytesUploaded(): Promise<number> {
  const text = await (await fetch(`${ctx.baseUrl}/metrics`)).text();
  return Number(/^storage_bytes_uploaded_total (\d+)/m.exec(text)?.[1] ?? 0);
}

/**
 * Holds the worker's next CompleteMultipartUpload: a chunked or tus finish stops just before it
 * assembles. Answers what waits until it is held.
 */
function holdTheFinish(): () => Promise<void> {
  const heldBefore = proxy.held();
  proxy.hold((r: ProxiedRequest) => r.method === 'POST' && r.path.includes('uploadId='));
  return async () => {
    await waitUntil('the finish to be held at S3', async () => proxy.held() > heldBefore, 60_000, 50);
  };
}

describe('a chunked session of a new version, its write grant revoked', () => {
  it('before a part: the part is 404, and the session is aborted with nothing of it left', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const id = await openSession(asset.id, dave.token);
    await revoke(asset.id);
    expectProblem(await putPart(id, bytesOf(SIZE), dave.token), 404);
    await expectEndedByRevocation(id, asset.id, before, 'aborted', [
      { action: 'upload.part', outcome: '404' },
      { action: 'upload.discard', outcome: 'aborted' },
    ]);
    // The refusal is for good: the grant given back does not bring the session back.
    await share(asset.id, [{ subject: `user:${dave.sub}`, access: 'write' }]);
    expect((await complete(id, dave.token)).status).toBe(409);
    expect(await holdings(asset.id)).toEqual(before);
  });

  it('during a part: the part that ends after the revocation is 404, and no byte of it is kept', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const id = await openSession(asset.id, dave.token);
    const bytes = bytesOf(SIZE);
    const counted = await bytesUploaded();
    const part = inPieces(url(`/uploads/${id}/parts/1`), 'PUT', {
      authorization: `Bearer ${dave.token}`,
      'content-type': 'application/octet-stream',
      'content-length': String(SIZE),
    });
    await part.write(bytes.subarray(0, HALF));
    await untilCounted(counted, HALF);
    await revoke(asset.id);
    const answer = await part.end(bytes.subarray(HALF));
    expectProblem(answer, 404);
    expectProblem(await complete(id, dave.token), 404);
    await expectEndedByRevocation(id, asset.id, before, 'aborted', [
      { action: 'upload.part', outcome: '404' },
      { action: 'upload.discard', outcome: 'aborted' },
    ]);
  });

  it('before complete: complete is 404, and the parts sent are gone', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const id = await openSession(asset.id, dave.token);
    expect((await putPart(id, bytesOf(SIZE), dave.token)).status).toBe(200);
    await revoke(asset.id);
    expectProblem(await complete(id, dave.token), 404);
    await expectEndedByRevocation(id, asset.id, before, 'aborted', [
      { action: 'upload.complete', outcome: '404' },
      { action: 'upload.discard', outcome: 'aborted' },
    ]);
  });

  it('during the finish, a grant to a group: the commit refuses in its transaction, and the run fails for good', async () => {
    const asset = await sharedAsset([{ subject: 'group:party', access: 'write' }]);
    const before = await holdings(asset.id);
    const id = await openSession(asset.id, bob.token);
    expect((await putPart(id, bytesOf(SIZE), bob.token)).status).toBe(200);
    const untilHeld = holdTheFinish();
    const completing = complete(id, bob.token);
    await untilHeld();
    await revoke(asset.id);
    proxy.release();
    expectProblem(await completing, 404);
    await expectEndedByRevocation(id, asset.id, before, 'failed', [
      { action: 'upload.commit', outcome: 'access_revoked' },
      { action: 'upload.complete', outcome: '404' },
    ]);
  });

  it('ended by the grant change itself: with no request of the grantee, the run drops its parts and the reservation is back; the owner\u2019s session stays', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const id = await openSession(asset.id, dave.token);
    expect((await putPart(id, bytesOf(SIZE), dave.token)).status).toBe(200);
    const owners = await openSession(asset.id, as.alice);
    await revoke(asset.id);
    // Ended in the change's own transaction: its answer has come, and the row already says so.
    expect(await ctx.db('upload_sessions').where({ id }).first('status')).toEqual({ status: expect.stringMatching(/^(failed|aborted)$/) });
    await waitUntil('the run to drop the parts', async () => (await ctx.db('upload_sessions').where({ id }).first('status')).status === 'aborted', 15_000, 50);
    const usage = await ctx.db('owner_usage').where({ owner_id: 'alice' }).first('reserved_bytes');
    expect(usage.reserved_bytes).toBe(before.usage.reserved_bytes + SIZE);
    expect(await ctx.db('upload_sessions').where({ id: owners }).first('status')).toEqual({ status: 'open' });
    expect(await call(url(`/uploads/${owners}`), { method: 'DELETE', as: as.alice })).toMatchObject({ status: 204 });
    await expectEndedByRevocation(id, asset.id, before, 'aborted', [{ action: 'upload.discard', outcome: 'aborted' }]);
    expectProblem(await putPart(id, bytesOf(SIZE), dave.token), 404);
  });

  it('downgraded to read: the next part is 403, and the session is aborted', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const id = await openSession(asset.id, dave.token);
    await share(asset.id, [{ subject: `user:${dave.sub}`, access: 'read' }]);
    expectProblem(await putPart(id, bytesOf(SIZE), dave.token), 403);
    await expectEndedByRevocation(id, asset.id, before, 'aborted', [
      { action: 'upload.part', outcome: '403' },
      { action: 'upload.discard', outcome: 'aborted' },
    ]);
    expect((await call(url(`/assets/${asset.id}`), { as: dave.token })).status).toBe(200);
  });

  it('downgraded to read during the finish: the commit refuses, and complete is 403', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const id = await openSession(asset.id, dave.token);
    expect((await putPart(id, bytesOf(SIZE), dave.token)).status).toBe(200);
    const untilHeld = holdTheFinish();
    const completing = complete(id, dave.token);
    await untilHeld();
    await share(asset.id, [{ subject: `user:${dave.sub}`, access: 'read' }]);
    proxy.release();
    expectProblem(await completing, 403);
    await expectEndedByRevocation(id, asset.id, before, 'failed', [
      { action: 'upload.commit', outcome: 'access_revoked' },
      { action: 'upload.complete', outcome: '403' },
    ]);
  });

  it('the presigned part URL route is 404 once revoked, and the session is aborted', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const id = await openSession(asset.id, dave.token);
    await revoke(asset.id);
    expectProblem(await call(url(`/uploads/${id}/parts/1/url`), { method: 'POST', as: dave.token }), 404);
    await expectEndedByRevocation(id, asset.id, before, 'aborted', [
      { action: 'upload.part_url', outcome: '404' },
      { action: 'upload.discard', outcome: 'aborted' },
    ]);
  });

  it('GET /uploads/{id} is 404, as the asset is, and the session is aborted; an admin still sees why it ended', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const id = await openSession(asset.id, dave.token);
    await revoke(asset.id);
    expectProblem(await call(url(`/uploads/${id}`), { as: dave.token }), 404);
    await expectEndedByRevocation(id, asset.id, before, 'aborted', [{ action: 'upload.discard', outcome: 'aborted' }]);
    const seen = await call(url(`/uploads/${id}`), { as: as.admin });
    expect(seen.body).toMatchObject({ status: 'aborted', error: expect.stringMatching(/revoked/) });
  });
});

describe('a tus upload of a new version, its write grant revoked', () => {
  const tus = (token: string, more: Record<string, string> = {}) => ({ 'tus-resumable': '1.0.0', authorization: `Bearer ${token}`, ...more });
  const b64 = (text: string) => Buffer.from(text).toString('base64');

  async function createTus(assetId: string, token: string): Promise<string> {
    const res = await fetch(url('/tus'), {
      method: 'POST',
      headers: tus(token, { 'upload-length': String(SIZE), 'upload-metadata': `filename ${b64('v.bin')},asset_id ${b64(assetId)}` }),
    });
    expect(res.status).toBe(201);
    return res.headers.get('location')!.split('/').pop()!;
  }

  const patch = (id: string, body: Buffer, token: string) =>
    fetch(url(`/tus/${id}`), {
      method: 'PATCH',
      headers: tus(token, { 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }),
      body,
    });

  it('PATCH after the revocation is 404', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const id = await createTus(asset.id, dave.token);
    await revoke(asset.id);
    expect((await patch(id, bytesOf(SIZE), dave.token)).status).toBe(404);
    await expectEndedByRevocation(id, asset.id, before, 'aborted', [
      { action: 'upload.part', outcome: '404' },
      { action: 'upload.discard', outcome: 'aborted' },
    ]);
  });

  it('HEAD after the revocation is 404', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const id = await createTus(asset.id, dave.token);
    await revoke(asset.id);
    expect((await fetch(url(`/tus/${id}`), { method: 'HEAD', headers: tus(dave.token) })).status).toBe(404);
    await expectEndedByRevocation(id, asset.id, before, 'aborted', [{ action: 'upload.discard', outcome: 'aborted' }]);
  });

  it('a PATCH streaming while the grant is revoked is 404, and none of it is kept', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const id = await createTus(asset.id, dave.token);
    const bytes = bytesOf(SIZE);
    const counted = await bytesUploaded();
    const body = inPieces(url(`/tus/${id}`), 'PATCH', {
      ...tus(dave.token, { 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }),
      'content-length': String(SIZE),
    });
    await body.write(bytes.subarray(0, HALF));
    await untilCounted(counted, HALF);
    await revoke(asset.id);
    expect((await body.end(bytes.subarray(HALF))).status).toBe(404);
    // The bytes that ended after the revocation moved no offset.
    expect(await ctx.db('tus_uploads').where({ upload_id: id }).first('offset_bytes', 'part_count')).toEqual({ offset_bytes: 0, part_count: 0 });
    await expectEndedByRevocation(id, asset.id, before, 'aborted', [
      { action: 'upload.part', outcome: '404' },
      { action: 'upload.discard', outcome: 'aborted' },
    ]);
  });

  it('during the finish of the last PATCH: the commit refuses, and the PATCH is 404', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const id = await createTus(asset.id, dave.token);
    const untilHeld = holdTheFinish();
    const last = patch(id, bytesOf(SIZE), dave.token);
    await untilHeld();
    await revoke(asset.id);
    proxy.release();
    expect((await last).status).toBe(404);
    await expectEndedByRevocation(id, asset.id, before, 'failed', [{ action: 'upload.commit', outcome: 'access_revoked' }]);
  });
});

describe('a grant revoked while a session opens', () => {
  /**
   * Holds the asset's row from the test's own connection, as a change of the asset would: the
   * revocation sent next queues behind it, and the session's insert behind the revocation.
   */
  async function holdAssetRow(assetId: string): Promise<() => Promise<void>> {
    const trx = await ctx.db.transaction();
    await trx('assets').where({ id: assetId }).forUpdate().first('id');
    return async () => {
      await trx.commit();
    };
  }

  /** Until a statement of this file's database that `pattern` matches waits for a lock. */
  async function untilWaiting(what: string, pattern: RegExp): Promise<void> {
    await waitUntil(
      what,
      async () => {
        const waiting: Array<{ query: string }> = await ctx
          .db('pg_stat_activity')
          .whereRaw('datname = current_database()')
          .where({ wait_event_type: 'Lock' })
          .select('query');
        return waiting.some((w) => pattern.test(w.query));
      },
      30_000,
      20,
    );
  }

  /**
   * The revocation commits between the API's check (which still finds the grant) and the insert of
   * the session's row, which waits for it on the asset's row: `open` sends the request that opens.
   */
  async function revokedWhileOpening(assetId: string, grants: Array<{ subject: string; access: 'read' | 'write' }>, open: () => Promise<{ status: number }>) {
    const release = await holdAssetRow(assetId);
    const changing = share(assetId, grants);
    await untilWaiting('the grants change to wait on the asset row', /^update "assets"/i);
    const opening = open();
    await untilWaiting("the session's insert to wait on the asset row", /for share/i);
    await release();
    await changing;
    return opening;
  }

  it('a chunked session: the insert finds the grant gone, under the asset lock it takes; 404, no session, nothing reserved', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const answer = await revokedWhileOpening(asset.id, [], () =>
      call(url('/uploads'), { method: 'POST', json: { name: 'v.bin', size_bytes: SIZE, asset_id: asset.id }, as: dave.token }),
    );
    expectProblem(answer as JsonAnswer, 404);
    expect(await ctx.db('upload_sessions').where({ asset_id: asset.id }).select('id', 'status')).toEqual([]);
    expect(await holdings(asset.id)).toEqual(before);
  });

  it('a tus upload, downgraded to read meanwhile: 403, no session', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const metadata = `filename ${Buffer.from('v.bin').toString('base64')},asset_id ${Buffer.from(asset.id).toString('base64')}`;
    const answer = await revokedWhileOpening(asset.id, [{ subject: `user:${dave.sub}`, access: 'read' }], () =>
      fetch(url('/tus'), {
        method: 'POST',
        headers: { 'tus-resumable': '1.0.0', authorization: `Bearer ${dave.token}`, 'upload-length': String(SIZE), 'upload-metadata': metadata },
      }),
    );
    expect(answer.status).toBe(403);
    expect(await ctx.db('upload_sessions').where({ asset_id: asset.id }).select('id', 'status')).toEqual([]);
    expect(await holdings(asset.id)).toEqual(before);
  });
});

describe('a simple upload of a new version', () => {
  it('revoked while its body streams: the commit refuses it, the answer is 404, and the staged file is gone', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const before = await holdings(asset.id);
    const boundary = `revoked-${uniqueMarker()}`;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="v.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    const bytes = bytesOf(SIZE);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const counted = await bytesUploaded();
    const form = inPieces(url(`/assets/${asset.id}/versions`), 'POST', {
      authorization: `Bearer ${dave.token}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(head.length + bytes.length + tail.length),
    });
    await form.write(Buffer.concat([head, bytes.subarray(0, HALF)]));
    await untilCounted(counted, 1);
    await revoke(asset.id);
    expectProblem(await form.end(Buffer.concat([bytes.subarray(HALF), tail])), 404);
    const session = await ctx.db('upload_sessions').where({ asset_id: asset.id, kind: 'simple' }).first('id');
    await expectEndedByRevocation(session.id, asset.id, before, 'failed', [{ action: 'upload.commit', outcome: 'access_revoked' }]);
  });
});

describe('a permanent deletion under way', () => {
  it('the asset is not restored (409): no grant change, session or commit takes its row while its rows go, and it ends gone', async () => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    // The deletion holds at its listing of the asset's objects: hidden, its rows still there.
    const heldBefore = proxy.held();
    proxy.hold((r) => r.method === 'GET' && r.path.includes('list-type=2') && r.path.includes(asset.id));
    const deleting = call(url(`/assets/${asset.id}?permanent=true`), { method: 'DELETE', as: as.alice });
    await waitUntil('the deletion to be held at S3', async () => proxy.held() > heldBefore, 60_000, 50);
    expectProblem(await call(url(`/assets/${asset.id}/restore`), { method: 'POST', as: as.alice }), 409);
    expect(await ctx.db('assets').where({ id: asset.id }).first('is_deleted')).toEqual({ is_deleted: true });
    // Hidden it stays: nothing that would take its row before its sessions' is let through.
    expectProblem(await call(url(`/assets/${asset.id}/grants`), { method: 'PUT', json: [], as: as.alice }), 404);
    expect((await call(url('/uploads'), { method: 'POST', json: { name: 'v.bin', size_bytes: SIZE, asset_id: asset.id }, as: dave.token })).status).toBe(404);
    proxy.release();
    expect([204, 202]).toContain((await deleting).status);
    await waitUntil('the asset rows to go', async () => !(await ctx.db('assets').where({ id: asset.id }).first('id')), 60_000, 50);
    expect(await objectKeys(ctx, assetKeyPrefix(asset.id))).toEqual([]);
  });
});

describe('who is never affected', () => {
  it('a grantee whose grant stays completes, though the run knows nothing of their groups; the answer shows them only their own grant', async () => {
    const asset = await sharedAsset([
      { subject: 'group:party', access: 'write' },
      { subject: `user:${dave.sub}`, access: 'read' },
    ]);
    const id = await openSession(asset.id, bob.token);
    const bytes = bytesOf(SIZE);
    expect((await putPart(id, bytes, bob.token)).status).toBe(200);
    // Another grant changes meanwhile: not the one the session was opened by.
    await share(asset.id, [
      { subject: 'group:party', access: 'write' },
      { subject: `user:${dave.sub}`, access: 'write' },
    ]);
    const done = await complete(id, bob.token);
    expect(done.status).toBe(200);
    expect(done.body.asset).toMatchObject({ checksum_sha256: sha256(bytes), grants: [{ subject: 'group:party', access: 'write' }] });
  });

  it.each(['alice', 'service', 'admin'] as const)('%s: a session lasts through every grant change, during the finish too', async (who) => {
    const asset = await sharedAsset([{ subject: `user:${dave.sub}`, access: 'write' }]);
    const id = await openSession(asset.id, as[who]);
    const bytes = bytesOf(SIZE);
    await revoke(asset.id);
    expect((await putPart(id, bytes, as[who])).status).toBe(200);
    const untilHeld = holdTheFinish();
    const completing = complete(id, as[who]);
    await untilHeld();
    await share(asset.id, [{ subject: `user:${dave.sub}`, access: 'read' }]);
    proxy.release();
    const done = await completing;
    expect(done.status).toBe(200);
    expect(done.body.asset).toMatchObject({ id: asset.id, checksum_sha256: sha256(bytes), version_count: 2 });
  });
});
