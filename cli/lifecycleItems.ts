/** What a dry lifecycle run would remove (GET /lifecycle/runs/{id}/items): `lifecycle run --dry-run --wait` lists it, `lifecycle items <run>` too. */
import { Command } from 'commander';
import { bytes, contextOf, example, table, unwrap, type Ctx } from './context';

type RunItem = { action: string; asset_id: string | null; version_id: string | null; upload_id: string | null; size_bytes: number | null };

const PAGE = 1000;

/** Every item of the run, page after page. */
export async function runItemsOf(ctx: Ctx, runId: string): Promise<RunItem[]> {
  const items: RunItem[] = [];
  let cursor: string | undefined;
  do {
    const page = await unwrap(ctx.client.GET('/api/v2/lifecycle/runs/{id}/items', { params: { path: { id: runId }, query: { limit: PAGE, cursor } } }));
    items.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return items;
}

/** One line an item: what it would do, to what, and the bytes it would free. */
export function sayRunItems(ctx: Ctx, items: RunItem[]): void {
  if (!items.length) return ctx.say('nothing to remove');
  const rows = items.map((i) => [i.action, i.asset_id ?? '', i.version_id ?? i.upload_id ?? '', i.size_bytes === null ? '' : bytes(i.size_bytes)]);
  ctx.say(table(rows, ['ACTION', 'ASSET', 'VERSION / UPLOAD', 'SIZE']));
}

export function lifecycleItemsCommand(): Command {
  return new Command('items')
    .description('what a dry run would remove: each version, asset and upload session')
    .argument('<run>', 'the run id')
    .addHelpText('after', example('storage lifecycle items 0190c6d2-4b00-7822-8b33-2c3d4e5f6071'))
    .action(async (runId: string, _opts, command: Command) => {
      const ctx = contextOf(command);
      const items = await runItemsOf(ctx, runId);
      if (ctx.json) return ctx.printJson({ items });
      sayRunItems(ctx, items);
    });
}
