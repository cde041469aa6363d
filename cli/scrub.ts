/** storage scrub: start a scrub of the store (admins), optionally a dry run or of a given share, and with --wait follow it to its counts. */
import { Command, InvalidArgumentError } from 'commander';
import { MIN_SAMPLE_PERCENT } from '../lib/platform/scrubSample';
import { bytes, contextOf, example, unwrap } from './context';
import { ended, follow } from './runs';

/** `5%`, `5` or `12.5%`: a share of at least MIN_SAMPLE_PERCENT (what the scrub row holds) and at most 100. */
export function sharePercent(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(value);
  const n = m ? Number(m[1]) : NaN;
  if (!(n >= MIN_SAMPLE_PERCENT && n <= 100))
    throw new InvalidArgumentError(`expected a share of at least ${MIN_SAMPLE_PERCENT}% and at most 100%, such as 5%, got "${value}"`);
  return n;
}

export function scrubCommand(): Command {
  return new Command('scrub')
    .description('reconcile the asset bucket with the catalog, repair from backups, check the backup bucket (admins)')
    .option('--dry-run', 'count what it finds, change nothing')
    .option('--sample <share>', 'the share of objects re-read and hashed (default: the service configuration)', sharePercent)
    .option('--wait', 'follow it to the end and print its findings')
    .addHelpText('after', example('storage scrub --dry-run --sample 5% --wait'))
    .action(async (opts: { dryRun?: boolean; sample?: number; wait?: boolean }, command: Command) => {
      const ctx = contextOf(command);
      const started = await unwrap(ctx.client.POST('/api/v2/scrubs', { body: { dry_run: Boolean(opts.dryRun), sample_percent: opts.sample } }));
      let run: Omit<typeof started, 'operation_id' | 'operation_url'> = started;
      if (opts.wait) {
        const id = started.id;
        run = await follow(ctx, `scrub ${id.slice(-8)}`, started.operation_url, () =>
          unwrap(ctx.client.GET('/api/v2/scrubs/{id}', { params: { path: { id } } })),
        );
      }
      if (ctx.json) ctx.printJson(run);
      if (!opts.wait) {
        ctx.say(`scrub ${run.id} started (storage operation wait ${started.operation_id})`);
        return;
      }
      const counts = Object.entries(run.counts)
        .map(([kind, n]) => `${kind}=${n}`)
        .join(' ');
      ended(
        ctx,
        'scrub',
        run,
        `scrub ${run.id} ${run.status}${run.dry_run ? ' (dry run)' : ''}: ${counts}; repaired=${run.repaired} unrepairable=${run.unrepairable}, ${bytes(run.bytes_hashed)} hashed`,
      );
    });
}
