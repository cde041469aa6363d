/** `storage usage` (what an owner stores, against their quota) and `storage quota` (an owner's quota: read, or set by admins). */
import { Command, InvalidArgumentError } from 'commander';
import { bytes, contextOf, example, unwrap } from './context';

const limit = (n: number | null, unit: (n: number) => string = String) => (n === null ? 'unlimited' : unit(n));

/** A limit to set: a whole number, or `default` (the service's default limit). */
function limitValue(value: string): number | 'default' {
  if (value === 'default') return value;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number or "default", got "${value}"`);
  return n;
}

export function usageCommands(): Command[] {
  const usage = new Command('usage')
    .description('what you store (or, for admins, --owner), what open uploads reserve, and the quota in force')
    .option('--owner <sub>', "admins: another owner's usage")
    .addHelpText('after', example('storage usage'))
    .action(async (opts: { owner?: string }, command: Command) => {
      const ctx = contextOf(command);
      const u = await unwrap(ctx.client.GET('/api/v2/usage', { params: { query: { owner_id: opts.owner } } }));
      if (ctx.json) return ctx.printJson(u);
      ctx.say(
        [
          `owner: ${u.owner_id}`,
          `stored: ${bytes(u.bytes_stored)} of ${limit(u.quota.bytes, bytes)}`,
          `assets: ${u.assets} of ${limit(u.quota.assets)} (${u.versions} versions)`,
          `reserved by open uploads: ${bytes(u.reserved_bytes)}`,
        ].join('\n'),
      );
    });

  const quota = new Command('quota')
    .description("an owner's quota, and with --bytes or --assets, set it (admins)")
    .argument('<owner>', "the owner's sub")
    .option('--bytes <n>', 'the bytes they may store ("default": the service default)', limitValue)
    .option('--assets <n>', 'the assets they may have ("default": the service default)', limitValue)
    .addHelpText('after', example('storage quota alice --bytes 10737418240'))
    .action(async (owner: string, opts: { bytes?: number | 'default'; assets?: number | 'default' }, command: Command) => {
      const ctx = contextOf(command);
      const q =
        opts.bytes === undefined && opts.assets === undefined
          ? await unwrap(ctx.client.GET('/api/v2/quotas/{owner_id}', { params: { path: { owner_id: owner } } }))
          : await unwrap(
              ctx.client.PATCH('/api/v2/quotas/{owner_id}', {
                params: { path: { owner_id: owner } },
                headers: { 'Content-Type': 'application/merge-patch+json' },
                // In a merge patch a null goes back to the default.
                body: { bytes: opts.bytes === 'default' ? null : opts.bytes, assets: opts.assets === 'default' ? null : opts.assets },
              }),
            );
      if (ctx.json) return ctx.printJson(q);
      const source = (override: number | null) => (override === null ? ' (the default)' : '');
      ctx.say(
        [`owner: ${q.owner_id}`, `bytes: ${limit(q.quota.bytes, bytes)}${source(q.bytes)}`, `assets: ${limit(q.quota.assets)}${source(q.assets)}`].join('\n'),
      );
    });

  return [usage, quota];
}
