/** backup create / ls / import, restore-backup, lifecycle run: start a run, and with --wait follow its operation live. */
import { Command, Option } from 'commander';
import { cancelOperation, followOperation, operationIdOf, type Operation } from '../client';
import { bytes, CliError, contextOf, counted, example, list, table, unwrap, type Ctx } from './context';
import { lifecycleItemsCommand, runItemsOf, sayRunItems } from './lifecycleItems';
import { progressOf } from './progress';

interface Live {
  status: 'pending' | 'running' | 'completed' | 'failed';
  error: string | null;
}

/**
 * Follows the operation a start answered (`operation_url`, GET /operations/{id}, honouring its
 * Retry-After) until it is done, moving a bar with `doneOf` of its live progress; answers the run's
 * own resource as it ended (`read`).
 */
export async function follow<T extends Live>(
  ctx: Ctx,
  label: string,
  operationUrl: string,
  read: () => Promise<T>,
  doneOf?: (progress: Record<string, number>) => { done: number; total: number },
  unit: 'bytes' | 'count' = 'bytes',
): Promise<T> {
  const progress = progressOf(ctx.interactive && Boolean(doneOf), unit);
  const bar = progress.bar(label, 1);
  try {
    await followOperation(ctx.client, operationUrl, {
      onUpdate: (op) => {
        if (!doneOf || !op.progress) return;
        const { done, total } = doneOf(op.progress as Record<string, number>);
        bar.update(op.status === 'succeeded' ? Math.max(total, 1) : done, total);
      },
    });
    return await read();
  } finally {
    progress.stop();
  }
}

export function ended(ctx: Ctx, what: string, run: Live & { id: string }, line: string): void {
  if (run.status === 'failed') throw new CliError(`${what} ${run.id} failed: ${run.error ?? 'no reason given'}`);
  ctx.say(line);
}

export function runCommands(): Command[] {
  const backup = new Command('backup').description('backups of the catalog and the bytes').addHelpText('after', example('storage backup create --wait'));
  backup
    .command('create')
    .description('take a backup of every asset (or of --asset ids)')
    .option('--label <label>', 'a label to find it by')
    .option('--asset <id>', 'only these assets (repeatable)', list)
    .option('--all-versions', 'every version, not only the current ones')
    .option('--wait', 'follow it to the end, with a bar of the bytes done')
    .addHelpText('after', example('storage backup create --all-versions --wait'))
    .action(async (opts: { label?: string; asset?: string[]; allVersions?: boolean; wait?: boolean }, command: Command) => {
      const ctx = contextOf(command);
      const started = await unwrap(
        ctx.client.POST('/api/v2/backups', { body: { label: opts.label, asset_ids: opts.asset, include_all_versions: Boolean(opts.allVersions) } }),
      );
      let run: Omit<typeof started, 'operation_id' | 'operation_url'> = started;
      if (opts.wait) {
        const id = started.id;
        run = await follow(
          ctx,
          `backup ${id.slice(-8)}`,
          started.operation_url,
          () => unwrap(ctx.client.GET('/api/v2/backups/{id}', { params: { path: { id } } })),
          (p) => ({ done: p.bytes_done, total: p.bytes_total }),
        );
      }
      if (ctx.json) ctx.printJson(run);
      const p = run.progress;
      ended(
        ctx,
        'backup',
        run,
        `backup ${run.id} ${run.status}${run.status === 'completed' ? `: ${counted(p.objects_done, 'object')}, ${bytes(p.bytes_done)} (${bytes(p.bytes_copied)} copied)` : ''}`,
      );
    });
  backup
    .command('ls')
    .description('the backups, newest first')
    .addHelpText('after', example('storage backup ls --json'))
    .action(async (_opts, command: Command) => {
      const ctx = contextOf(command);
      const page = await unwrap(ctx.client.GET('/api/v2/backups', {}));
      if (ctx.json) return ctx.printJson(page);
      const rows = page.items.map((b) => [
        b.id,
        b.status,
        b.label ?? '',
        `${b.progress.objects_done}/${b.progress.objects_total}`,
        bytes(b.progress.bytes_done),
        b.created_at,
        // When a restore drill last proved it restorable: a backup never proven may not restore.
        b.verified_restore_at ?? 'never',
      ]);
      ctx.say(table(rows, ['ID', 'STATUS', 'LABEL', 'OBJECTS', 'BYTES', 'CREATED', 'VERIFIED RESTORE']));
    });

  backup
    .command('import')
    .description("register the backup bucket's backups the catalog does not know (after the catalog was lost: docs/recovery.md)")
    .addHelpText('after', example('storage backup import && storage backup ls'))
    .action(async (_opts, command: Command) => {
      const ctx = contextOf(command);
      const result = await unwrap(ctx.client.POST('/api/v2/backups/import', { body: {} }));
      if (ctx.json) ctx.printJson(result);
      for (const b of result.imported)
        ctx.say(`imported ${b.id} ${b.label ?? ''} (${counted(b.counts?.assets ?? 0, 'asset')}, ${bytes(b.counts?.bytes ?? 0)}, completed ${b.completed_at})`);
      for (const r of result.refused) ctx.warn(`refused ${r.backup_id}: ${r.error}`);
      ctx.say(`${result.imported.length} imported, ${result.known.length} known already, ${result.refused.length} refused`);
      if (result.refused.length) throw new CliError(`${counted(result.refused.length, 'manifest')} of the backup bucket could not be imported`);
    });

  const restoreBackup = new Command('restore-backup')
    .description('restore assets from a completed backup')
    .argument('<backup>', 'the backup id')
    .addOption(new Option('--mode <mode>', 'missing: only what is gone; overwrite: also what changed').choices(['missing', 'overwrite']).default('missing'))
    .option('--asset <id...>', 'only these assets')
    .option('--dry-run', 'count what it would restore, write nothing')
    .option('--wait', 'follow it to the end, with a bar of the assets done')
    .addHelpText('after', example('storage restore-backup 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69 --asset 0193a5c2-8b1f-7d20-a3c4-5e6f7a8b9c0d --wait'))
    .action(async (backupId: string, opts: { mode: 'missing' | 'overwrite'; asset?: string[]; dryRun?: boolean; wait?: boolean }, command: Command) => {
      const ctx = contextOf(command);
      const started = await unwrap(
        ctx.client.POST('/api/v2/backups/{id}/restore', {
          params: { path: { id: backupId } },
          body: { mode: opts.mode, asset_ids: opts.asset, dry_run: Boolean(opts.dryRun) },
        }),
      );
      let run: Omit<typeof started, 'operation_id' | 'operation_url'> = started;
      if (opts.wait) {
        const id = started.id;
        run = await follow(
          ctx,
          `restore ${id.slice(-8)}`,
          started.operation_url,
          () => unwrap(ctx.client.GET('/api/v2/restores/{id}', { params: { path: { id } } })),
          (p) => ({ done: p.assets_done, total: p.assets_total }),
          'count',
        );
      }
      if (ctx.json) ctx.printJson(run);
      const p = run.progress;
      ended(
        ctx,
        'restore',
        run,
        `restore ${run.id} ${run.status}: ${p.assets_restored} restored, ${p.assets_skipped} skipped, ${p.assets_failed} failed of ${p.assets_total} (${counted(p.versions_restored, 'version row')} and ${counted(p.objects_copied, 'object')} written back)`,
      );
    });

  const lifecycle = new Command('lifecycle').description('lifecycle sweeps').addHelpText('after', example('storage lifecycle run --dry-run --wait'));
  lifecycle
    .command('run')
    .description('run the policies now (one with --policy), and print what it did or would do')
    .option('--policy <id>', 'only this policy')
    .option('--dry-run', 'count and list what it would remove, change nothing')
    .option('--wait', 'wait for the counts (and, in a dry run, the list)')
    .addHelpText('after', example('storage lifecycle run --policy 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69 --dry-run --wait'))
    .action(async (opts: { policy?: string; dryRun?: boolean; wait?: boolean }, command: Command) => {
      const ctx = contextOf(command);
      const started = await unwrap(ctx.client.POST('/api/v2/lifecycle/runs', { body: { policy_id: opts.policy, dry_run: Boolean(opts.dryRun) } }));
      let run: Omit<typeof started, 'operation_id' | 'operation_url'> = started;
      if (opts.wait) {
        const id = started.id;
        run = await follow(ctx, 'lifecycle', started.operation_url, () => unwrap(ctx.client.GET('/api/v2/lifecycle/runs/{id}', { params: { path: { id } } })));
      }
      // A dry run followed to its end lists what it would remove, not only how much.
      const items = opts.wait && run.dry_run && run.status === 'completed' ? await runItemsOf(ctx, run.id) : undefined;
      if (ctx.json) ctx.printJson(items ? { ...run, items } : run);
      const c = run.counts;
      ended(
        ctx,
        'lifecycle run',
        run,
        `lifecycle run ${run.id} ${run.status}${run.dry_run ? ' (dry run)' : ''}: versions_expired=${c.versions_expired} assets_expired=${c.assets_expired} assets_purged=${c.assets_purged} uploads_aborted=${c.uploads_aborted} bytes_freed=${c.bytes_freed}`,
      );
      if (items) sayRunItems(ctx, items);
    });

  lifecycle.addCommand(lifecycleItemsCommand());

  const operation = new Command('operation')
    .description('an asynchronous piece of work (upload-…, backup-…, restore-…, lifecycle-…, delete-asset-…, scrub-…): read, follow or cancel it')
    .addHelpText('after', example('storage operation wait backup-0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69'));
  const said = (ctx: Ctx, op: Operation) => {
    if (ctx.json) return ctx.printJson(op);
    ctx.say(`${op.id} ${op.kind} ${op.status}${op.result ? ` ${op.result}` : ''}${op.error ? `: ${op.error.detail}` : ''}`);
  };
  operation
    .command('show')
    .description('the operation now')
    .argument('<id>', 'its id, or its URL (Location, operation_url)')
    .action(async (id: string, _opts, command: Command) => {
      const ctx = contextOf(command);
      said(ctx, await unwrap(ctx.client.GET('/api/v2/operations/{id}', { params: { path: { id: operationIdOf(id) } } })));
    });
  operation
    .command('wait')
    .description('follow it to its end (honouring Retry-After); fails unless it succeeded')
    .argument('<id>', 'its id, or its URL')
    .action(async (id: string, _opts, command: Command) => {
      const ctx = contextOf(command);
      const op = await followOperation(ctx.client, id);
      said(ctx, op);
      if (op.status !== 'succeeded') throw new CliError(`${op.id} ${op.status}: ${op.error?.detail ?? 'no reason given'}`);
    });
  operation
    .command('cancel')
    .description('cancel it (an upload, a backup); other kinds, or one that has ended, are refused')
    .argument('<id>', 'its id, or its URL')
    .action(async (id: string, _opts, command: Command) => {
      const ctx = contextOf(command);
      said(ctx, await cancelOperation(ctx.client, id));
    });

  return [backup, restoreBackup, drillCommand(), lifecycle, operation];
}

/** storage drill: a restore drill of the newest completed backup (or --backup), followed with --wait; exits 1 when it failed. */
function drillCommand(): Command {
  return new Command('drill')
    .description('restore a random sample of a backup into a scratch prefix and check every byte (a restore drill)')
    .option('--backup <id>', 'the backup to drill (default: the newest completed one)')
    .option('--wait', 'follow it to the end, with a bar of the assets checked')
    .addHelpText('after', example('storage drill --wait'))
    .action(async (opts: { backup?: string; wait?: boolean }, command: Command) => {
      const ctx = contextOf(command);
      const started = await unwrap(ctx.client.POST('/api/v2/restore-drills', { body: { backup_id: opts.backup } }));
      let drill: Omit<typeof started, 'operation_id' | 'operation_url'> = started;
      if (opts.wait) {
        const id = started.id;
        await followOperation(ctx.client, started.operation_url, {});
        drill = await unwrap(ctx.client.GET('/api/v2/restore-drills/{id}', { params: { path: { id } } }));
      }
      if (ctx.json) ctx.printJson(drill);
      for (const f of drill.failures) ctx.warn(`asset ${f.asset_id}${f.version_id ? ` version ${f.version_id}` : ''}: ${f.reason}`);
      if (drill.status === 'failed') throw new CliError(`restore drill ${drill.id} of backup ${drill.backup_id} failed: ${drill.error ?? 'no reason given'}`);
      ctx.say(
        `restore drill ${drill.id} of backup ${drill.backup_id} ${drill.status}: ${drill.assets_checked}/${counted(drill.assets_total, 'asset')}, ${bytes(drill.bytes_checked)} checked`,
      );
    });
}
