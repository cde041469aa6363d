/**
 * Issue 26, finding 13: the tables that grew for ever lose their ended rows past their retention, on
 * the lifecycle sweep's run of the global settings, in bounded batches: ended upload sessions,
 * delivered (or parked) outbox events, ended lifecycle runs, removed backups, ended restores and restore drills. A row
 * something still needs stays: a session whose run is still going, a backup whose manifest is kept or
 * that a kept restore names, a run or a job that has not ended, an event not delivered yet.
 */
import { uuidv7 } from '../lib/platform/ids';
import { startTestService, type TestContext } from './support/context';
import { daysAgo, runSweep } from './support/lifecycle';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService({
    STORAGE_UPLOAD_SESSION_RETENTION_DAYS: '30',
    STORAGE_OUTBOX_RETENTION_DAYS: '30',
    STORAGE_LIFECYCLE_RUN_RETENTION_DAYS: '30',
    STORAGE_BACKUP_JOB_RETENTION_DAYS: '30',
    STORAGE_RESTORE_DRILL_RETENTION_DAYS: '30',
  });
});
afterAll(async () => {
  await ctx?.stop();
});

function sessionRow(status: string, endedDaysAgo: number, workflowId = `upload-${uuidv7()}`) {
  const at = daysAgo(endedDaysAgo);
  return {
    id: uuidv7(),
    kind: 'chunked',
    status,
    name: `${status}.bin`,
    content_type: 'application/octet-stream',
    size_bytes: 10,
    object_key: `staging/${uuidv7()}`,
    workflow_id: workflowId,
    created_at: daysAgo(endedDaysAgo + 1),
    updated_at: at,
  };
}

function eventRow(fields: { delivered?: number; parked?: number; time: number }) {
  return {
    id: uuidv7(),
    type: 'storage.asset.updated',
    source: 'storage-service',
    subject: `subject-${uuidv7()}`,
    data: JSON.stringify({}),
    time: daysAgo(fields.time),
    delivered_at: fields.delivered === undefined ? null : daysAgo(fields.delivered),
    parked_at: fields.parked === undefined ? null : daysAgo(fields.parked),
    last_error: fields.parked === undefined ? null : 'the hub answered 400',
  };
}

function runRow(status: string, endedDaysAgo: number | null, createdDaysAgo: number) {
  const id = uuidv7();
  return {
    id,
    trigger: 'schedule',
    status,
    workflow_id: `lifecycle-${id}`,
    phase: status === 'completed' ? 'done' : 'uploads',
    created_at: daysAgo(createdDaysAgo),
    completed_at: endedDaysAgo === null ? null : daysAgo(endedDaysAgo),
  };
}

function jobRow(
  kind: 'backup' | 'restore',
  status: string,
  fields: { completed?: number; removed?: number; backupId?: string; created: number; manifestKey?: string },
) {
  const id = uuidv7();
  return {
    id,
    kind,
    status,
    backup_id: fields.backupId ?? null,
    mode: kind === 'restore' ? 'missing' : null,
    workflow_id: `${kind}-${id}`,
    created_at: daysAgo(fields.created),
    completed_at: fields.completed === undefined ? null : daysAgo(fields.completed),
    removed_at: fields.removed === undefined ? null : daysAgo(fields.removed),
    manifest_key: fields.manifestKey ?? null,
  };
}

it('the sweep deletes ended rows past their retention, in batches, and keeps every row something still needs', async () => {
  // A session that ended long ago but whose run is still going (no worker polls its queue).
  const runningWorkflowId = `upload-retention-running-${uuidv7()}`;
  await ctx.temporal.client.workflow.start('uploadWorkflow', { workflowId: runningWorkflowId, taskQueue: `nobody-${uuidv7()}`, args: [] });
  const sessions = {
    old: ['completed', 'aborted', 'expired', 'failed'].map((status) => sessionRow(status, 40)),
    recent: sessionRow('completed', 5),
    open: sessionRow('open', 40),
    completing: sessionRow('completing', 40),
    runStillGoing: sessionRow('completed', 40, runningWorkflowId),
  };
  const events = {
    // More than one batch of them.
    delivered: Array.from({ length: 1200 }, () => eventRow({ time: 41, delivered: 40 })),
    parked: eventRow({ time: 41, parked: 40 }),
    recent: eventRow({ time: 41, delivered: 5 }),
    undelivered: eventRow({ time: 41 }),
  };
  const runs = { old: runRow('completed', 40, 41), failed: runRow('failed', 40, 41), recent: runRow('completed', 5, 6), running: runRow('running', null, 41) };
  const removedBackup = jobRow('backup', 'completed', { completed: 60, removed: 40, created: 61 });
  const keptBackup = jobRow('backup', 'completed', { completed: 60, created: 61 });
  const removedButRestored = jobRow('backup', 'completed', { completed: 60, removed: 40, created: 61 });
  // Removed, but its manifest's deletion has not succeeded yet: retention retries it from this row.
  const removedManifestPending = jobRow('backup', 'completed', { completed: 60, removed: 40, created: 61, manifestKey: 'manifests/pending.jsonl' });
  const restores = {
    old: jobRow('restore', 'completed', { completed: 40, backupId: keptBackup.id, created: 41 }),
    oldFailed: jobRow('restore', 'failed', { completed: 40, backupId: keptBackup.id, created: 41 }),
    recent: jobRow('restore', 'completed', { completed: 5, backupId: removedButRestored.id, created: 6 }),
    running: jobRow('restore', 'running', { backupId: keptBackup.id, created: 41 }),
  };
  const drillRow = (status: string, completedDaysAgo: number | null, backupId: string | null) => {
    const id = uuidv7();
    const completed = completedDaysAgo === null ? null : daysAgo(completedDaysAgo);
    return { id, status, backup_id: backupId, trigger: 'schedule', workflow_id: `restore-drill-${id}`, created_at: daysAgo(41), completed_at: completed };
  };
  // A drill of a backup table retention removes: the drill's history outlives its backup's row.
  const drills = {
    old: drillRow('passed', 40, keptBackup.id),
    oldFailed: drillRow('failed', 40, null),
    recent: drillRow('passed', 5, removedBackup.id),
    running: drillRow('running', null, keptBackup.id),
  };
  try {
    await ctx.db('upload_sessions').insert([...sessions.old, sessions.recent, sessions.open, sessions.completing, sessions.runStillGoing]);
    await ctx.db('upload_parts').insert({ upload_id: sessions.old[0].id, part_number: 1, size_bytes: 10, etag: '"e"' });
    await ctx.db.batchInsert('outbox_events', [...events.delivered, events.parked, events.recent, events.undelivered], 500);
    await ctx.db('lifecycle_runs').insert(Object.values(runs));
    // A dry run's items (issue 29) go with their run.
    const itemOf = (runId: string) => ({ run_id: runId, action: 'expire_asset', item_id: uuidv7(), asset_id: null, size_bytes: null });
    await ctx.db('lifecycle_run_items').insert([itemOf(runs.old.id), itemOf(runs.failed.id), itemOf(runs.recent.id)]);
    await ctx.db('backup_jobs').insert([removedBackup, keptBackup, removedButRestored, removedManifestPending]);
    await ctx.db('backup_jobs').insert(Object.values(restores));
    await ctx.db('restore_items').insert({ restore_id: restores.old.id, asset_id: uuidv7(), status: 'restored' });
    await ctx.db('restore_drills').insert(Object.values(drills));
    // Idempotency keys live 24 hours, whatever the days configured above (api/middleware/idempotency.ts).
    const keyRow = (key: string, hoursAgo: number) => ({
      subject: 'test-admin',
      key,
      fingerprint: 'f',
      attempt: uuidv7(),
      created_at: new Date(Date.now() - hoursAgo * 3_600_000),
    });
    await ctx.db('idempotency_keys').insert([keyRow('old-key', 25), keyRow('recent-key', 23)]);

    const sweep = await runSweep(ctx);
    expect(sweep.status).toBe('completed');

    const ids = async (table: string, column = 'id') => new Set(await ctx.db(table).pluck(column));
    const sessionIds = await ids('upload_sessions');
    for (const gone of sessions.old) expect(sessionIds.has(gone.id)).toBe(false);
    for (const kept of [sessions.recent, sessions.open, sessions.completing, sessions.runStillGoing]) expect(sessionIds.has(kept.id)).toBe(true);
    expect(await ctx.db('upload_parts').where({ upload_id: sessions.old[0].id })).toEqual([]);

    const eventIds = await ids('outbox_events');
    expect(eventIds).toEqual(new Set([events.recent.id, events.undelivered.id]));

    const runIds = await ids('lifecycle_runs');
    expect(runIds).toEqual(new Set([runs.recent.id, runs.running.id, sweep.id]));
    expect(await ctx.db('lifecycle_run_items').whereIn('run_id', [runs.old.id, runs.failed.id, runs.recent.id]).pluck('run_id')).toEqual([runs.recent.id]);

    const jobIds = await ids('backup_jobs');
    expect(jobIds).toEqual(new Set([keptBackup.id, removedButRestored.id, removedManifestPending.id, restores.recent.id, restores.running.id]));
    expect(await ctx.db('restore_items').where({ restore_id: restores.old.id })).toEqual([]);
    expect(await ctx.db('idempotency_keys').pluck('key')).toEqual(['recent-key']);
    expect(await ctx.db('restore_drills').orderBy('status').select('id', 'backup_id')).toEqual([
      { id: drills.recent.id, backup_id: null },
      { id: drills.running.id, backup_id: keptBackup.id },
    ]);
  } finally {
    await ctx.temporal.client.workflow
      .getHandle(runningWorkflowId)
      .terminate('test over')
      .catch(() => {});
  }
});

it('a dry run deletes nothing', async () => {
  const old = sessionRow('completed', 40);
  await ctx.db('upload_sessions').insert(old);
  const event = eventRow({ time: 41, delivered: 40 });
  await ctx.db('outbox_events').insert(event);
  await runSweep(ctx, { dryRun: true });
  expect(await ctx.db('upload_sessions').where({ id: old.id }).first()).toBeDefined();
  expect(await ctx.db('outbox_events').where({ id: event.id }).first()).toBeDefined();
});
