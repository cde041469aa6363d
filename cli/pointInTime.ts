/**
 * `storage restore --as-of TIME [--tag T | --owner O | --group G | --asset ID...] [--apply] [--wait]`:
 * a restore to a point in time (POST /api/v2/restores), a dry run unless --apply; with --wait it is
 * followed to its end and printed asset by asset (where each one's bytes came from).
 */
import { Command, Option } from 'commander';
import { followOperation } from '../client';
import { CliError, contextOf, counted, example, table, unwrap, type Ctx } from './context';

export interface PointInTimeOptions {
  asOf: string;
  tag?: string;
  owner?: string;
  group?: string;
  asset?: string[];
  apply?: boolean;
  wait?: boolean;
}

/** The options `storage restore` takes for a restore to a point in time. */
export function withPointInTimeOptions(command: Command): Command {
  return command
    .addOption(new Option('--as-of <time>', 'restore to a point in time: each asset back to the bytes it had then (RFC 3339, e.g. 2026-12-07T19:00:00Z)'))
    .option('--tag <tag>', 'with --as-of: the assets carrying this tag')
    .option('--owner <sub>', 'with --as-of: the assets of this owner')
    .option('--group <name>', 'with --as-of: the assets shared with this group (a campaign)')
    .option('--asset <id...>', 'with --as-of: these assets')
    .option('--apply', 'with --as-of: do it (without it, a dry run lists what it would do and writes nothing)')
    .option('--wait', 'with --as-of: follow it to its end and print each asset')
    .addHelpText(
      'after',
      example(
        'storage restore --as-of 2026-12-07T19:00:00Z --group campaign-42 --wait && storage restore --as-of 2026-12-07T19:00:00Z --group campaign-42 --apply --wait',
      ),
    );
}

export async function pointInTimeRestore(command: Command, opts: PointInTimeOptions): Promise<void> {
  const ctx = contextOf(command);
  const body = { as_of: opts.asOf, tag: opts.tag, owner_id: opts.owner, group: opts.group, asset_ids: opts.asset, dry_run: !opts.apply };
  const started = await unwrap(ctx.client.POST('/api/v2/restores', { body }));
  const id = started.id;
  const read = () => unwrap(ctx.client.GET('/api/v2/restores/{id}', { params: { path: { id } } }));
  const run = opts.wait ? (await followOperation(ctx.client, started.operation_url), await read()) : started;
  if (ctx.json) ctx.printJson(run);
  if (!opts.wait) return void (ctx.json ? undefined : ctx.say(`restore ${id} started${opts.apply ? '' : ' (dry run)'}: storage operation wait restore-${id}`));
  if (run.status === 'failed') throw new CliError(`restore ${id} failed: ${run.error ?? 'no reason given'}`);
  if (!ctx.json) say(ctx, run);
}

function say(ctx: Ctx, run: { id: string; scope?: unknown; items?: Item[]; items_next?: string | null; sources?: Record<string, number>; status: string }) {
  const rows = (run.items ?? []).map((i) => [
    i.asset_id,
    i.status,
    i.source ?? '',
    i.sha256?.slice(0, 12) ?? '',
    i.source_backup_id ?? i.source_version_id ?? '',
    i.reason ?? '',
  ]);
  ctx.say(table(rows, ['ASSET', 'STATUS', 'SOURCE', 'SHA256', 'FROM', 'REASON']));
  const s = run.sources ?? {};
  ctx.say(
    `restore ${run.id} ${run.status}: ${s.version ?? 0} from versions, ${s.backup ?? 0} from backups, ${s.unchanged ?? 0} unchanged, ${s.skipped ?? 0} skipped`,
  );
  if (run.items_next) ctx.say(`the first ${counted(run.items?.length ?? 0, 'asset')}; the rest: GET ${run.items_next}`);
}

interface Item {
  asset_id: string;
  status: string;
  source: string | null;
  sha256: string | null;
  source_version_id: string | null;
  source_backup_id: string | null;
  reason: string | null;
}
