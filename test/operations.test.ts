/**
 * One operation model (issue 27): every asynchronous start of the API answers 202 with Location (its
 * operation) and Retry-After, and one client loop, `followOperation`, drives each of them through
 * GET /api/v2/operations/{id} to its end with the same status enum and a link to its result. Beside it:
 * cancelling, another caller's operation (404), Prefer: wait, and the safe defaults (an empty lifecycle
 * POST and a restore without dry_run: false change nothing).
 */
import { uuidv7 } from '../lib/platform/ids';
import { bytesOf, postForm } from './support/assets';
import { PART, putPart } from './support/chunked';
import { useTestService } from './support/context';
import { TEST_ADMIN, tokenFor } from './support/auth';
import { call, expectProblem, type JsonAnswer } from './support/http';
import { createPolicyRow, seedAssets } from './support/lifecycle';
import { waitUntil } from './support/processes';
import { readBackup, startBackup, type BackupClient } from '../lib/backups/backupRuns';
import { DeleteObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { createBackupActivities } from '../activities/backups/backup';
import { beginJob, failJob, insertBackup, summaryKeyFor } from '../lib/backups/catalog';
import { EMPTY_BACKUP_PROGRESS, type BackupState } from '../workflows/backups/definitions';
import { CANCELLED } from '../workflows/shared/failures';
import { backupClientOf, seedCatalog } from './support/backups';

const ctx = useTestService({ STORAGE_UPLOAD_WAIT_SECONDS: '30' });

const STATUSES = ['running', 'succeeded', 'failed', 'cancelled'];
const url = (path: string) => `${ctx.baseUrl}${path}`;
const preferNow = { prefer: 'wait=0' };

interface Operation {
  id: string;
  kind: string;
  status: string;
  done: boolean;
  progress: Record<string, unknown> | null;
  error: Record<string, unknown> | null;
  resource: string;
  result: string | null;
  workflow_id: string;
}

/** A start's 202: Location is its operation, Retry-After small, the body names the same operation. */
function accepted(res: JsonAnswer): string {
  expect(res.status).toBe(202);
  const location = res.headers.get('location')!;
  expect(location).toMatch(/^\/api\/v2\/operations\/[a-z-]+-[0-9a-f-]{36}$/);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(2);
  expect(res.body).toMatchObject({ operation_id: location.split('/').pop(), operation_url: location });
  return location;
}

/** The one client loop: reads the operation at `location`, honouring Retry-After, until it is done. */
async function followOperation(location: string, as?: string): Promise<Operation> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const res = await call(url(location), as ? { as } : {});
    expect(res.status).toBe(200);
    const op = res.body as Operation;
    expect(STATUSES).toContain(op.status);
    expect(op.done).toBe(op.status !== 'running');
    expect(op.id).toBe(location.split('/').pop());
    expect(op.workflow_id).toBe(op.id);
    if (op.done) return op;
    expect(Date.now()).toBeLessThan(deadline);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
  }
}

/** Follows the operation to `succeeded`, and checks its links: its resource, and its result when it has one. */
async function succeeds(location: string, kind: string, result: 'resource' | RegExp | null): Promise<Operation> {
  const op = await followOperation(location);
  expect(op).toMatchObject({ kind, status: 'succeeded', done: true, error: null });
  if (result === null) expect(op.result).toBeNull();
  else if (result === 'resource') expect(op.result).toBe(op.resource);
  else expect(op.result).toMatch(result);
  if (op.result) expect((await call(url(op.result))).status).toBe(200);
  return op;
}

async function newAsset(name: string): Promise<string> {
  const res = await postForm(url('/api/v2/assets/upload'), bytesOf(300), { name });
  expect(res.status).toBe(201);
  return res.body.id;
}

describe('one client loop drives every asynchronous operation', () => {
  it('simple upload, complete, new version, version restore, permanent delete, backup, restore, lifecycle run and event all end succeeded through /operations', async () => {
    // A simple upload answered 202 (Prefer: wait=0): its result is the version it made.
    const form = new FormData();
    form.append('name', 'ops.bin');
    form.append('file', new Blob([bytesOf(400)]), 'ops.bin');
    const simple = await call(url('/api/v2/assets/upload'), { method: 'POST', body: form, headers: preferNow });
    expect(simple.headers.get('preference-applied')).toBe('wait=0');
    const upload = await succeeds(accepted(simple), 'upload', /^\/api\/v2\/assets\/[0-9a-f-]{36}\/versions\/[0-9a-f-]{36}$/);
    expect(upload.resource).toBe(`/api/v2/uploads/${simple.body.upload_id}`);
    // /api/v2/assets/{asset}/versions/{version}
    const [, , , , assetId, , firstVersionId] = upload.result!.split('/');

    // complete of a chunked session.
    const size = 1000;
    const session = await call(url('/api/v2/uploads'), { method: 'POST', json: { name: 'chunked.bin', size_bytes: size, part_size_bytes: PART } });
    expect(session.status).toBe(201);
    expect((await putPart(ctx.baseUrl, session.body.id, 1, bytesOf(size))).status).toBe(200);
    const complete = await call(url(`/api/v2/uploads/${session.body.id}/complete`), { method: 'POST', headers: preferNow });
    await succeeds(accepted(complete), 'upload', new RegExp(`^/api/v2/assets/[0-9a-f-]{36}/versions/[0-9a-f-]{36}$`));

    // A new version.
    const versionForm = new FormData();
    versionForm.append('file', new Blob([bytesOf(500)]), 'v2.bin');
    const version = await call(url(`/api/v2/assets/${assetId}/versions`), { method: 'POST', body: versionForm, headers: preferNow });
    await succeeds(accepted(version), 'upload', new RegExp(`^/api/v2/assets/${assetId}/versions/`));

    // A version restored as the new current one (a copy, an upload too).
    const copy = await call(url(`/api/v2/assets/${assetId}/versions/${firstVersionId}/restore`), { method: 'POST', headers: preferNow });
    await succeeds(accepted(copy), 'upload', new RegExp(`^/api/v2/assets/${assetId}/versions/`));

    // A backup, then a real restore of it.
    const backup = await call(url('/api/v2/backups'), { method: 'POST', json: {} });
    const backupOp = await succeeds(accepted(backup), 'backup', 'resource');
    expect(backupOp.resource).toBe(`/api/v2/backups/${backup.body.id}`);
    expect(backupOp.progress).toMatchObject({ objects_total: expect.any(Number), bytes_done: expect.any(Number) });
    const restore = await call(url(`/api/v2/backups/${backup.body.id}/restore`), { method: 'POST', json: { dry_run: false } });
    expect(restore.body.dry_run).toBe(false);
    const restoreOp = await succeeds(accepted(restore), 'restore', 'resource');
    expect(restoreOp.resource).toBe(`/api/v2/restores/${restore.body.id}`);

    // A lifecycle run.
    const run = await call(url('/api/v2/lifecycle/runs'), { method: 'POST', json: { dry_run: true } });
    const runOp = await succeeds(accepted(run), 'lifecycle_run', 'resource');
    expect(runOp.resource).toBe(`/api/v2/lifecycle/runs/${run.body.id}`);

    // An event that starts work (a backup on request).
    const event = { specversion: '1.0', id: `evt-${uuidv7()}`, source: 'character-service', type: 'service.backup.requested', data: { label: 'by event' } };
    const received = await call(url('/api/v2/events'), { method: 'POST', json: event, headers: { 'content-type': 'application/cloudevents+json' } });
    expect(received.body.workflow_id).toBe(received.body.operation_id);
    await succeeds(accepted(received), 'backup', 'resource');

    // A permanent delete: it makes nothing, and its asset is gone.
    const deleted = await call(url(`/api/v2/assets/${assetId}?permanent=true`), { method: 'DELETE', headers: preferNow });
    expect(deleted.body.workflow_id).toBe(`delete-asset-${assetId}`);
    const deletion = await succeeds(accepted(deleted), 'asset_deletion', null);
    expect(deletion.resource).toBe(`/api/v2/assets/${assetId}`);
    expectProblem(await call(url(deletion.resource)), 404);
  }, 300_000);
});

describe('cancel', () => {
  it('an open upload is cancelled (aborted); cancelling it again, or an ended operation, is 409', async () => {
    const session = await call(url('/api/v2/uploads'), { method: 'POST', json: { name: 'cancelled.bin', size_bytes: 1000, part_size_bytes: PART } });
    expect(session.status).toBe(201);
    const location = `/api/v2/operations/upload-${session.body.id}`;
    expect((await call(url(location))).body).toMatchObject({ status: 'running', done: false, result: null });
    const cancelled = await call(url(`${location}:cancel`), { method: 'POST' });
    expect(cancelled.status).toBe(202);
    expect(cancelled.headers.get('location')).toBe(location);
    const op = await followOperation(location);
    expect(op).toMatchObject({ kind: 'upload', status: 'cancelled', done: true, result: null, error: { status: 409 } });
    expect((await call(url(`/api/v2/uploads/${session.body.id}`))).body.status).toBe('aborted');
    const again = await call(url(`${location}:cancel`), { method: 'POST' });
    expectProblem(again, 409);
    expect(again.body.detail).toMatch(/ended \(cancelled\)/);
  });

  it('a backup is cancelled: its row ends failed as cancelled, the operation reads cancelled, and it cannot be restored', async () => {
    await seedCatalog(ctx, 12);
    // A step per blob, so that it is still copying when the cancel comes.
    const row = await startBackup(backupClientOf(ctx), TEST_ADMIN, { tuning: { batchSize: 1, stepBudgetMs: 0 } });
    const location = `/api/v2/operations/${row.workflow_id}`;
    const cancelled = await call(url(`${location}:cancel`), { method: 'POST' });
    expect(cancelled.status).toBe(202);
    expect(cancelled.headers.get('location')).toBe(location);
    const op = await followOperation(location);
    expect(op).toMatchObject({ kind: 'backup', status: 'cancelled', done: true, result: null, error: { status: 409 } });
    expect((await call(url(`/api/v2/backups/${row.id}`))).body).toMatchObject({ status: 'failed', error: 'cancelled' });
    // The row ends as the failure handler's last step; the workflow ends just after it, cancelled.
    const handle = ctx.temporal.client.workflow.getHandle(row.workflow_id);
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expectProblem(await call(url(`/api/v2/backups/${row.id}/restore`), { method: 'POST', json: { dry_run: false } }), 409);
    expectProblem(await call(url(`${location}:cancel`), { method: 'POST' }), 409);
  });

  it("a cancelled backup's run says failed before its row does: it reads running until the row says cancelled", async () => {
    const id = await insertBackup(ctx.db, { scope: { include_all_versions: false }, trigger: 'api', retentionDays: 1, actor: TEST_ADMIN });
    await beginJob(ctx.db, id, 'backup');
    // The run's state as its failure handler sets it before its last activity writes the row; `onQuery`
    // runs while the run is asked, after the row was read.
    const failing: BackupState = { status: 'failed', phase: 'copy', progress: EMPTY_BACKUP_PROGRESS, error: CANCELLED };
    let onQuery = async () => {};
    const real = backupClientOf(ctx);
    const asked = {
      ...real,
      client: {
        connection: { withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn() },
        workflow: {
          getHandle: () => ({
            query: async () => {
              await onQuery();
              return failing;
            },
          }),
        },
      },
    } as unknown as BackupClient;
    expect(await readBackup(asked, id)).toMatchObject({ status: 'running', error: null, completed_at: null });
    // The row ends while the run is asked: the end is the row's.
    onQuery = () => failJob(ctx.db, id, CANCELLED);
    expect(await readBackup(asked, id)).toMatchObject({ status: 'failed', error: CANCELLED, completed_at: expect.any(String) });
  });

  it('a backup cancelled while its completion step runs stays cancelled: the step, ending late, neither completes its row nor leaves a summary', async () => {
    await seedCatalog(ctx, 2);
    const started = await call(url('/api/v2/backups'), { method: 'POST', json: {} });
    expect((await followOperation(accepted(started))).status).toBe('succeeded');
    const id: string = started.body.id;
    const copied = (await call(url(`/api/v2/backups/${id}`))).body.progress;
    const summary = { Bucket: ctx.config.s3.backupBucket, Key: summaryKeyFor(id) };
    // Back to where its completion step starts: every blob copied, no summary yet.
    await ctx.db('backup_jobs').where({ id }).update({ status: 'running', error: null });
    await ctx.s3.send(new DeleteObjectCommand(summary));
    const late = await ctx.db.transaction(async (trx) => {
      await trx('backup_jobs').where({ id }).forUpdate().first();
      const step = createBackupActivities(ctx).completeBackup({ backupId: id, progress: copied });
      const outcome = step.then(
        () => 'completed',
        (err: Error) => err.message,
      );
      // The step has written its summary and waits for the row: the cancel's failure handler gets there first.
      await waitUntil('the step to write its summary', async () =>
        ctx.s3.send(new HeadObjectCommand(summary)).then(
          () => true,
          () => false,
        ),
      );
      await trx('backup_jobs').where({ id }).update({ status: 'failed', error: 'cancelled' });
      // Wrapped: returned bare, the transaction would wait for the step, which waits for it.
      return { outcome };
    });
    expect(await late.outcome).toMatch(/failed \(cancelled\) before it could be completed/);
    expect((await call(url(`/api/v2/backups/${id}`))).body).toMatchObject({ status: 'failed', error: 'cancelled' });
    expect((await call(url(`/api/v2/operations/backup-${id}`))).body).toMatchObject({ status: 'cancelled', done: true, result: null });
    await expect(ctx.s3.send(new HeadObjectCommand(summary))).rejects.toThrow();
  });

  it('a restore, a lifecycle run or a deletion cannot be cancelled: 409 says so', async () => {
    const run = await call(url('/api/v2/lifecycle/runs'), { method: 'POST', json: {} });
    const location = accepted(run);
    const refused = await call(url(`${location}:cancel`), { method: 'POST' });
    expectProblem(refused, 409);
    // Refused as a kind that cannot be cancelled, or (had it ended already) as ended.
    expect(refused.body.detail).toMatch(/cannot be cancelled|has ended/);
    expect((await followOperation(location)).status).toBe('succeeded');
  });
});

describe('access', () => {
  it("another user's operation is 404, as is an unknown or malformed id; an admin's backup is not a user's to read", async () => {
    const alice = await tokenFor({ sub: `alice-${uuidv7()}` });
    const bob = await tokenFor({ sub: `bob-${uuidv7()}` });
    const form = new FormData();
    form.append('file', new Blob([bytesOf(200)]), 'alice.bin');
    const mine = await call(url('/api/v2/assets/upload'), { method: 'POST', body: form, as: alice, headers: preferNow });
    const location = accepted(mine);
    expect((await followOperation(location, alice)).status).toBe('succeeded');
    expectProblem(await call(url(location), { as: bob }), 404);
    expectProblem(await call(url(`${location}:cancel`), { method: 'POST', as: bob }), 404);
    expectProblem(await call(url(`/api/v2/operations/upload-${uuidv7()}`), { as: alice }), 404);
    expectProblem(await call(url('/api/v2/operations/nothing-here'), { as: alice }), 404);
    const backup = await call(url('/api/v2/backups'), { method: 'POST', json: {} });
    expectProblem(await call(url(accepted(backup)), { as: alice }), 404);
    await followOperation(accepted(backup));
  });
});

describe('access to a deletion', () => {
  it("a permanent deletion's operation is 404 to a caller who may read its asset but not delete it, as to a stranger", async () => {
    const aliceSub = `alice-${uuidv7()}`;
    const bobSub = `bob-${uuidv7()}`;
    const alice = await tokenFor({ sub: aliceSub });
    const bob = await tokenFor({ sub: bobSub });
    const form = new FormData();
    form.append('file', new Blob([bytesOf(200)]), 'shared.bin');
    const made = await call(url('/api/v2/assets/upload'), { method: 'POST', body: form, as: alice });
    expect(made.status).toBe(201);
    const id: string = made.body.id;
    expect((await call(url(`/api/v2/assets/${id}/grants`), { method: 'PUT', json: [{ subject: `user:${bobSub}`, access: 'write' }], as: alice })).status).toBe(
      200,
    );
    // A deletion under way (on a queue no worker takes, so that it stays under way while the asset is there).
    const handle = await ctx.temporal.client.workflow.start('deleteAssetWorkflow', {
      workflowId: `delete-asset-${id}`,
      taskQueue: `no-worker-${uuidv7()}`,
      args: [{ assetId: id }],
    });
    try {
      const location = `/api/v2/operations/delete-asset-${id}`;
      expect((await call(url(location), { as: alice })).body).toMatchObject({ kind: 'asset_deletion', status: 'running' });
      // Bob may write the asset, not delete it: the deletion is not his to see, whether there is one or not.
      expectProblem(await call(url(location), { as: bob }), 404);
      expectProblem(await call(url(`${location}:cancel`), { method: 'POST', as: bob }), 404);
      expectProblem(await call(url(`/api/v2/operations/delete-asset-${uuidv7()}`), { as: bob }), 404);
    } finally {
      await handle.terminate();
    }
  });
});

describe('Prefer: wait', () => {
  it('an upload waits for its commit and answers 201; a run ends within the wait and answers 200 with the run as it ended', async () => {
    const form = new FormData();
    form.append('file', new Blob([bytesOf(200)]), 'waited.bin');
    const waited = await call(url('/api/v2/assets/upload'), { method: 'POST', body: form, headers: { prefer: 'wait=60' } });
    expect(waited.status).toBe(201);
    expect(waited.headers.get('preference-applied')).toBe('wait=60');

    const run = await call(url('/api/v2/lifecycle/runs'), { method: 'POST', json: {}, headers: { prefer: 'wait=60' } });
    expect(run.status).toBe(200);
    expect(run.headers.get('preference-applied')).toBe('wait=60');
    expect(run.body).toMatchObject({ status: 'completed', dry_run: true, operation_id: `lifecycle-${run.body.id}` });

    // Capped at the request timeout.
    const capped = await call(url('/api/v2/lifecycle/runs'), { method: 'POST', json: {}, headers: { prefer: 'wait=999999' } });
    expect(capped.headers.get('preference-applied')).toBe(`wait=${Math.floor(ctx.config.http.requestTimeoutMs / 1000)}`);

    // Without Prefer: as before, a 202 at once.
    accepted(await call(url('/api/v2/lifecycle/runs'), { method: 'POST', json: {} }));
  });
});

describe('safe defaults', () => {
  it('an empty POST /lifecycle/runs is a dry run: it counts what it would purge and deletes nothing', async () => {
    const [trashed] = await seedAssets(ctx, [{ name: `trashed-${uuidv7()}.png`, deletedDaysAgo: 40 }]);
    const policy = await createPolicyRow(ctx, { name: `purge ${uuidv7()}`, rules: [{ action: 'purge_deleted', days: 30 }] });
    const run = await call(url('/api/v2/lifecycle/runs'), { method: 'POST' });
    expect({ status: run.status, body: run.body }).toMatchObject({ status: 202, body: { dry_run: true } });
    await succeeds(accepted(run), 'lifecycle_run', 'resource');
    const ended = await call(url(`/api/v2/lifecycle/runs/${run.body.id}`));
    expect(ended.body).toMatchObject({ status: 'completed', dry_run: true });
    expect(ended.body.counts.assets_purged).toBeGreaterThanOrEqual(1);
    expect(await ctx.db('assets').where({ id: trashed.id }).first()).toMatchObject({ id: trashed.id, is_deleted: true });
    expect((await call(url(`/api/v2/policies/${policy}`), { method: 'DELETE' })).status).toBe(204);
  });

  it('a restore without dry_run: false is a dry run: it counts what it would restore and writes no asset', async () => {
    const assetId = await newAsset('restorable.bin');
    const backup = await call(url('/api/v2/backups'), { method: 'POST', json: { asset_ids: [assetId] }, headers: { prefer: 'wait=60' } });
    expect(backup.status).toBe(200);
    expect(backup.body.status).toBe('completed');
    const deleted = await call(url(`/api/v2/assets/${assetId}?permanent=true`), { method: 'DELETE', headers: { prefer: 'wait=60' } });
    expect(deleted.status).toBe(204);
    expect(deleted.headers.get('preference-applied')).toBe('wait=60');

    const restore = await call(url(`/api/v2/backups/${backup.body.id}/restore`), { method: 'POST', json: {} });
    expect(restore.body.dry_run).toBe(true);
    await succeeds(accepted(restore), 'restore', 'resource');
    const ended = (await call(url(`/api/v2/restores/${restore.body.id}`))).body;
    expect(ended).toMatchObject({
      status: 'completed',
      dry_run: true,
      progress: { assets_total: 1, assets_restored: 0, versions_restored: 0, objects_copied: 0 },
    });
    expect(await ctx.db('assets').where({ id: assetId }).first()).toBeUndefined();
    expectProblem(await call(url(`/api/v2/assets/${assetId}`)), 404);

    // The same with dry_run: false brings it back.
    const real = await call(url(`/api/v2/backups/${backup.body.id}/restore`), { method: 'POST', json: { dry_run: false }, headers: { prefer: 'wait=60' } });
    expect(real.status).toBe(200);
    expect(real.body).toMatchObject({ status: 'completed', dry_run: false, progress: { assets_restored: 1 } });
    await waitUntil('the restored asset', async () => (await call(url(`/api/v2/assets/${assetId}`))).status === 200);
  });
});
