/** `storage audit`: the audit log (admins), newest first, with its filters. */
import { Command } from 'commander';
import { contextOf, example, positiveInt, table, unwrap } from './context';

export function auditCommand(): Command {
  return new Command('audit')
    .description('the audit log, newest first: every change and every refusal (admins)')
    .option('--actor <sub>', "a token's sub, or system")
    .option('--action <action>', 'such as asset.delete')
    .option('--subject <id>', 'an asset, version, upload, policy, backup or restore id')
    .option('--outcome <outcome>', 'an HTTP status such as 403, or a result such as completed')
    .option('--request-id <id>', "a request's X-Request-Id, or a run's workflow id")
    .option('--since <time>', 'rows after this time (ISO 8601)')
    .option('--until <time>', 'rows before this time (ISO 8601)')
    .option('--limit <n>', 'at most this many', positiveInt)
    .option('--cursor <cursor>', 'the next page, from a previous next_cursor')
    .addHelpText('after', example('storage audit --subject 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69'))
    .action(
      async (
        opts: {
          actor?: string;
          action?: string;
          subject?: string;
          outcome?: string;
          requestId?: string;
          since?: string;
          until?: string;
          limit?: number;
          cursor?: string;
        },
        command: Command,
      ) => {
        const ctx = contextOf(command);
        const page = await unwrap(
          ctx.client.GET('/api/v2/audit', {
            params: {
              query: {
                actor: opts.actor,
                action: opts.action,
                subject: opts.subject,
                outcome: opts.outcome,
                request_id: opts.requestId,
                created_after: opts.since,
                created_before: opts.until,
                limit: opts.limit,
                cursor: opts.cursor,
              },
            },
          }),
        );
        if (ctx.json) return ctx.printJson(page);
        const rows = page.items.map((e) => [
          e.at,
          e.actor?.sub ?? '-',
          e.action,
          Object.values(e.subjects).join(',') || '-',
          e.count > 1 ? `${e.outcome} x${e.count}` : e.outcome,
        ]);
        ctx.say(rows.length ? table(rows, ['AT', 'ACTOR', 'ACTION', 'SUBJECTS', 'OUTCOME']) : 'no entries');
        if (page.next_cursor) ctx.warn(`more: storage audit --cursor ${page.next_cursor}`);
      },
    );
}
