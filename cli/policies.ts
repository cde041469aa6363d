/** `storage policies [id]`: the lifecycle policies (admins), or one of them whole. */
import { Command } from 'commander';
import { contextOf, example, positiveInt, table, unwrap } from './context';

type Rule = { action: string; [setting: string]: unknown };

/** `expire_noncurrent_versions(noncurrent_days=30, keep_latest=2)` */
function ruleText(rule: Rule): string {
  const { action, ...settings } = rule;
  return `${action}(${Object.entries(settings)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ')})`;
}

export function policiesCommand(): Command {
  return new Command('policies')
    .description('the lifecycle policies, oldest first; with an id, that policy whole (admins)')
    .argument('[id]', 'a policy id')
    .option('--limit <n>', 'at most this many', positiveInt)
    .option('--cursor <cursor>', 'the next page, from a previous next_cursor')
    .addHelpText('after', example('storage policies'))
    .action(async (id: string | undefined, opts: { limit?: number; cursor?: string }, command: Command) => {
      const ctx = contextOf(command);
      if (id) {
        const policy = await unwrap(ctx.client.GET('/api/v2/policies/{id}', { params: { path: { id } } }));
        if (ctx.json) return ctx.printJson(policy);
        ctx.say(
          [
            `${policy.id} ${policy.name}${policy.enabled ? '' : ' (disabled)'}`,
            ...(policy.description ? [policy.description] : []),
            `filter: ${JSON.stringify(policy.filter)}`,
            ...policy.rules.map((r) => `rule: ${ruleText(r)}`),
          ].join('\n'),
        );
        return;
      }
      const page = await unwrap(ctx.client.GET('/api/v2/policies', { params: { query: { limit: opts.limit, cursor: opts.cursor } } }));
      if (ctx.json) return ctx.printJson(page);
      const rows = page.items.map((p) => [p.id, p.name, p.enabled ? 'yes' : 'no', p.rules.map(ruleText).join('; ')]);
      ctx.say(rows.length ? table(rows, ['ID', 'NAME', 'ENABLED', 'RULES']) : 'no policies');
      if (page.next_cursor) ctx.warn(`more: storage policies --cursor ${page.next_cursor}`);
    });
}
