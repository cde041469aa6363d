/** The commands over assets: ls, info, versions (and versions restore), rm, restore, url. */
import { Command, Option } from 'commander';
import { printable } from './fileNames';
import { bytes, CliError, contextOf, duration, example, EXIT, list, counted, positiveInt, table, unwrap } from './context';
import { confirm } from './confirm';
import { pointInTimeRestore, withPointInTimeOptions, type PointInTimeOptions } from './pointInTime';
import { versionRestoreCommand } from './versionRestore';

const idArg = (c: Command) => c.argument('<id>', 'the asset id');

export function assetCommands(): Command[] {
  const ls = new Command('ls')
    .description('list assets, newest first')
    .option('--name-prefix <prefix>', 'names starting with this')
    .option('--content-type <type>', 'exactly this type, or a family such as image/*')
    .option('--tag <tag>', 'carrying this tag (repeatable: all must match)', list)
    .option('--created-after <time>', 'ISO 8601')
    .option('--created-before <time>', 'ISO 8601')
    .option('--include-deleted', 'soft-deleted ones too')
    .addOption(new Option('--sort <order>', 'the order').choices(['created_at', '-created_at', 'name']))
    .option('--limit <n>', 'at most this many (1..1000)', positiveInt)
    .option('--cursor <cursor>', 'the next page, from a previous next_cursor')
    .addHelpText('after', example('storage ls --tag maps --content-type image/*'))
    .action(async (opts, command: Command) => {
      const ctx = contextOf(command);
      const page = await unwrap(
        ctx.client.GET('/api/v2/assets', {
          params: {
            query: {
              name_prefix: opts.namePrefix,
              content_type: opts.contentType,
              tag: opts.tag,
              created_after: opts.createdAfter,
              created_before: opts.createdBefore,
              include_deleted: opts.includeDeleted ? 'true' : undefined,
              sort: opts.sort,
              limit: opts.limit,
              cursor: opts.cursor,
            },
          },
        }),
      );
      if (ctx.json) return ctx.printJson(page);
      const rows = page.items.map((a) => [
        a.id,
        a.name,
        bytes(a.size_bytes),
        a.content_type,
        String(a.version_count),
        a.tags.join(','),
        a.is_deleted ? 'deleted' : a.updated_at,
      ]);
      if (rows.length) ctx.say(table(rows, ['ID', 'NAME', 'SIZE', 'TYPE', 'VERSIONS', 'TAGS', 'UPDATED'], [1, 3, 5]));
      if (page.next_cursor) ctx.warn(`more: storage ls --cursor ${page.next_cursor}`);
    });

  const info = idArg(new Command('info').description("an asset's metadata"))
    .option('--include-deleted', 'also when soft-deleted')
    .addHelpText('after', example('storage info 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69'))
    .action(async (id: string, opts: { includeDeleted?: boolean }, command: Command) => {
      const ctx = contextOf(command);
      const asset = await unwrap(
        ctx.client.GET('/api/v2/assets/{id}', { params: { path: { id }, query: opts.includeDeleted ? { include_deleted: 'true' } : {} } }),
      );
      if (ctx.json) return ctx.printJson(asset);
      for (const [key, value] of Object.entries(asset))
        ctx.say(`${key}: ${typeof value === 'object' && value !== null ? JSON.stringify(value) : printable(String(value), /$^/)}`);
    });

  const versions = idArg(new Command('versions').description("an asset's versions, newest first"))
    .option('--limit <n>', 'at most this many', positiveInt)
    .addHelpText('after', example('storage versions 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69'))
    .action(async (id: string, opts: { limit?: number }, command: Command) => {
      const ctx = contextOf(command);
      const page = await unwrap(ctx.client.GET('/api/v2/assets/{id}/versions', { params: { path: { id }, query: { limit: opts.limit } } }));
      if (ctx.json) return ctx.printJson(page);
      const rows = page.items.map((v) => [String(v.version_number), v.id, bytes(v.size_bytes), v.is_current ? 'current' : '', v.checksum_sha256, v.created_at]);
      ctx.say(table(rows, ['#', 'ID', 'SIZE', '', 'SHA-256', 'CREATED'], [4]));
    })
    .addCommand(versionRestoreCommand());

  const rm = idArg(new Command('rm').description('delete an asset (soft: restore undoes it)'))
    .option('--permanent', "delete every version's bytes and rows, for good (asks first on a terminal)")
    .option('--yes', 'with --permanent: do not ask (needed when stdin is no terminal, as in a script)')
    .addHelpText('after', example('storage rm 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69'))
    .action(async (id: string, opts: { permanent?: boolean; yes?: boolean }, command: Command) => {
      const ctx = contextOf(command);
      if (opts.permanent && !opts.yes) {
        // A script has no one to answer: it says --yes, or nothing is deleted.
        if (!process.stdin.isTTY) throw new CliError('rm --permanent cannot be undone: give --yes to confirm it when stdin is no terminal', EXIT.usage);
        const asset = await unwrap(ctx.client.GET('/api/v2/assets/{id}', { params: { path: { id }, query: { include_deleted: 'true' } } }));
        const what = `${counted(asset.version_count, 'version')}, ${bytes(asset.size_bytes)}`;
        if (!(await confirm(printable(`Delete ${id} (${asset.name}: ${what}) for good? It cannot be undone.`, /$^/)))) throw new CliError(`${id} not deleted`);
      }
      const answer = await unwrap(ctx.client.DELETE('/api/v2/assets/{id}', { params: { path: { id }, query: opts.permanent ? { permanent: 'true' } : {} } }));
      const workflowId = answer && typeof answer === 'object' && 'workflow_id' in answer ? answer.workflow_id : null;
      if (ctx.json) return ctx.printJson({ id, deleted: opts.permanent ? 'permanent' : 'soft', workflow_id: workflowId });
      ctx.say(
        opts.permanent ? `${id} deleted for good${workflowId ? ` (finishing in ${workflowId})` : ''}` : `${id} deleted (storage restore ${id} undoes it)`,
      );
    });

  const restore = withPointInTimeOptions(
    new Command('restore')
      .description('undo a soft delete; with --as-of, restore assets to a point in time')
      .argument('[id]', 'the asset id (of a soft delete)'),
  )
    .addHelpText('after', example('storage restore 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69'))
    .action(async (id: string | undefined, opts: PointInTimeOptions, command: Command) => {
      if (opts.asOf !== undefined) return pointInTimeRestore(command, id ? { ...opts, asset: [...(opts.asset ?? []), id] } : opts);
      if (!id) command.error('give the asset id, or --as-of with a filter', { exitCode: 2 });
      const ctx = contextOf(command);
      const asset = await unwrap(ctx.client.POST('/api/v2/assets/{id}/restore', { params: { path: { id } } }));
      if (ctx.json) return ctx.printJson(asset);
      ctx.say(`${asset.id} restored (${asset.name})`);
    });

  const url = idArg(new Command('url').description("a signed URL of the asset's content, for a browser or curl, no token needed"))
    .option('--expires <duration>', 'how long it works: 90s, 15m, 1h, 7d', duration, 3600)
    .option('--version <versionId>', 'a version other than the current one')
    .option('--download [filename]', 'served as an attachment (under this name)')
    .addHelpText('after', example('storage url 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69 --expires 15m'))
    .action(async (id: string, opts: { expires: number; version?: string; download?: true | string }, command: Command) => {
      const ctx = contextOf(command);
      const answer = await unwrap(
        ctx.client.POST('/api/v2/assets/{id}/url', {
          params: { path: { id } },
          body: { expires_in: opts.expires, version_id: opts.version, download: opts.download },
        }),
      );
      const absolute = new URL(answer.url, `${ctx.api}/`).toString();
      if (ctx.json) return ctx.printJson({ ...answer, url: absolute });
      ctx.say(absolute);
    });

  return [ls, info, versions, rm, restore, url];
}
