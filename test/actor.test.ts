/**
 * Runs carry their actor: a run a request starts has the caller in its input and as its StorageActor
 * search attribute, so an operator finds a user's runs in the Temporal UI; what schedules start (and
 * what those runs start) acts for `system`. Each test has subjects of its own: the server's
 * visibility store keeps the runs of every earlier test run.
 */
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { TypedSearchAttributes, defaultPayloadConverter } from '@temporalio/common';
import { uuidv7 } from '../lib/platform/ids';
import { StorageOperationAttribute } from '../lib/platform/temporal';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { useTestService } from './support/context';
import { tokenFor } from './support/auth';
import { call } from './support/http';
import { bytesOf } from './support/assets';
import { createPolicyRow, seedAssets } from './support/lifecycle';
import { waitUntil } from './support/processes';
import { ensureBackupSchedule, ensureLifecycleSchedule } from '../worker/schedules';

const ctx = useTestService();

const subject = (name: string) => `${name}-${uuidv7().slice(-12)}`;

interface ListedRun {
  workflowId: string;
  type: string;
  attributes: Record<string, unknown>;
}

async function listRuns(query: string): Promise<ListedRun[]> {
  const runs: ListedRun[] = [];
  for await (const run of ctx.temporal.client.workflow.list({ query })) {
    const attributes = Object.fromEntries(run.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]));
    runs.push({ workflowId: run.workflowId, type: run.type, attributes });
  }
  return runs;
}

/** Visibility lags the runs: waits until the query lists every one of `workflowIds`. */
async function runsActingFor(sub: string, workflowIds: string[]): Promise<ListedRun[]> {
  return waitUntil(`runs of ${sub} in visibility`, async () => {
    const runs = await listRuns(`StorageActor = '${sub}'`);
    const listed = new Set(runs.map((r) => r.workflowId));
    return workflowIds.every((id) => listed.has(id)) && runs;
  });
}

async function inputOf(workflowId: string): Promise<Record<string, unknown>> {
  const history = await ctx.temporal.client.workflow.getHandle(workflowId).fetchHistory();
  const payload = history.events![0].workflowExecutionStartedEventAttributes!.input!.payloads![0];
  return defaultPayloadConverter.fromPayload(payload);
}

async function attributesOf(workflowId: string): Promise<Record<string, unknown>> {
  const description = await ctx.temporal.client.workflow.getHandle(workflowId).describe();
  return Object.fromEntries(description.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]));
}

const settled = (workflowId: string) =>
  ctx.temporal.client.workflow
    .getHandle(workflowId)
    .result()
    .catch(() => undefined);

describe('a run a request starts', () => {
  it("acts for the caller: an upload's input and its StorageActor name them", async () => {
    const alice = subject('alice');
    const form = new FormData();
    form.append('file', new Blob([bytesOf(1000)]), 'alice.bin');
    const uploaded = await call(`${ctx.baseUrl}/api/v2/assets/upload`, { method: 'POST', body: form, as: await tokenFor({ sub: alice }) });
    expect(uploaded.status).toBe(201);

    const session = await ctx.db('upload_sessions').where({ result_asset_id: uploaded.body.id }).first();
    const workflowId = uploadWorkflowId(session.id);
    expect(await runsActingFor(alice, [workflowId])).toMatchObject([
      { workflowId, type: 'uploadWorkflow', attributes: { AssetId: uploaded.body.id, StorageOperation: 'upload', StorageActor: alice } },
    ]);
    expect((await inputOf(workflowId)).actor).toEqual({ sub: alice, roles: [] });
  });

  it('acts for the admin: a lifecycle run and the purges it starts, a backup, its restore, a permanent deletion', async () => {
    const admin = subject('ops');
    const as = await tokenFor({ sub: admin, roles: ['storage:admin'] });
    const [trashed] = await seedAssets(ctx, [{ name: 'trashed.png', deletedDaysAgo: 40 }]);
    await createPolicyRow(ctx, { name: `purge for ${admin}`, rules: [{ action: 'purge_deleted', days: 30 }] });

    const lifecycle = await call(`${ctx.baseUrl}/api/v2/lifecycle/runs`, { method: 'POST', json: { dry_run: false }, as });
    expect(lifecycle.status).toBe(202);
    await settled(lifecycle.body.workflow_id);
    const backup = await call(`${ctx.baseUrl}/api/v2/backups`, { method: 'POST', json: {}, as });
    expect(backup.status).toBe(202);
    await settled(backup.body.workflow_id);
    const restore = await call(`${ctx.baseUrl}/api/v2/backups/${backup.body.id}/restore`, { method: 'POST', json: { dry_run: false }, as });
    expect(restore.status).toBe(202);
    await settled(restore.body.workflow_id);
    const form = new FormData();
    form.append('file', new Blob([bytesOf(1000)]), 'doomed.bin');
    const doomed = (await call(`${ctx.baseUrl}/api/v2/assets/upload`, { method: 'POST', body: form, as })).body;
    const deleted = await call(`${ctx.baseUrl}/api/v2/assets/${doomed.id}?permanent=true`, { method: 'DELETE', as });
    expect([202, 204]).toContain(deleted.status);

    const purge = `delete-asset-${trashed.id}`;
    const deletion = `delete-asset-${doomed.id}`;
    const started = [lifecycle.body.workflow_id, backup.body.workflow_id, restore.body.workflow_id, purge, deletion];
    const runs = await runsActingFor(admin, started);
    const operationOf = (workflowId: string) => runs.find((r) => r.workflowId === workflowId)?.attributes.StorageOperation;
    expect(started.map(operationOf)).toEqual(['lifecycle', 'backup', 'restore', 'delete', 'delete']);
    for (const workflowId of started) expect((await inputOf(workflowId)).actor).toEqual({ sub: admin, roles: ['storage:admin'] });
  });

  it("acts for the service that sent an event: the backup it asks for is the service's", async () => {
    const service = subject('campaigns');
    const event = { specversion: '1.0', id: `evt-${service}`, source: 'campaign-service', type: 'service.backup.requested', data: {} };
    const res = await call(`${ctx.baseUrl}/api/v2/events`, {
      method: 'POST',
      json: event,
      headers: { 'content-type': 'application/cloudevents+json' },
      as: await tokenFor({ sub: service, roles: ['storage:service'] }),
    });
    expect(res.status).toBe(202);
    await settled(res.body.workflow_id);
    const [run] = await runsActingFor(service, [res.body.workflow_id]);
    expect(run).toMatchObject({ type: 'backupWorkflow', attributes: { StorageOperation: 'backup', StorageActor: service } });
  });
});

describe('a run a schedule starts', () => {
  it('acts for the system, and so do the runs it starts; a schedule made before runs had actors is updated', async () => {
    const client = ctx.temporal.client;
    const taskQueue = ctx.config.temporal.taskQueue;
    const lifecycleScheduleId = subject('storage-lifecycle-actor');
    const backupScheduleId = subject('storage-backup-actor');
    // As ensureLifecycleSchedule made it before runs had actors: current in all else.
    await client.schedule.create({
      scheduleId: lifecycleScheduleId,
      spec: { cronExpressions: [ctx.config.lifecycle.cron] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      action: {
        type: 'startWorkflow',
        workflowType: 'scheduledLifecycleWorkflow',
        workflowId: `lifecycle-scheduled-${lifecycleScheduleId}`,
        taskQueue,
        args: [],
        memo: { cron: ctx.config.lifecycle.cron },
        typedSearchAttributes: new TypedSearchAttributes([{ key: StorageOperationAttribute, value: 'lifecycle' }]),
      },
    });
    try {
      expect(await ensureLifecycleSchedule(client, { scheduleId: lifecycleScheduleId, cron: ctx.config.lifecycle.cron, taskQueue })).toBe('updated');
      expect(await ensureBackupSchedule(client, { enabled: true, scheduleId: backupScheduleId, cron: ctx.config.backups.cron, taskQueue })).toBe('created');

      await client.schedule.getHandle(lifecycleScheduleId).trigger();
      const run = await waitUntil('the scheduled sweep', () => ctx.db('lifecycle_runs').where({ trigger: 'schedule', status: 'completed' }).first(), 30_000);
      await client.schedule.getHandle(backupScheduleId).trigger();
      const backup = await waitUntil(
        'the scheduled backup',
        () => ctx.db('backup_jobs').where({ kind: 'backup', trigger: 'schedule', status: 'completed' }).first(),
        60_000,
      );
      const scheduledBackup = (await client.workflow.getHandle(backup.workflow_id).describe()).parentExecution!.workflowId!;
      await settled(scheduledBackup);

      const sweepParent = (await client.workflow.getHandle(run.workflow_id).describe()).parentExecution!.workflowId!;
      const started = [sweepParent, run.workflow_id, scheduledBackup, backup.workflow_id, `backup-retention-${backup.id}`];
      for (const workflowId of started) expect(await attributesOf(workflowId)).toMatchObject({ StorageActor: 'system' });
      for (const workflowId of [run.workflow_id, backup.workflow_id])
        expect((await inputOf(workflowId)).actor).toEqual({ sub: 'system', roles: ['storage:admin'] });
      await waitUntil(
        'the scheduled sweep listed as the system',
        async () => (await listRuns(`StorageActor = 'system' AND WorkflowId = '${run.workflow_id}'`)).length === 1,
      );
    } finally {
      for (const id of [lifecycleScheduleId, backupScheduleId]) await client.schedule.getHandle(id).delete();
    }
  });
});
