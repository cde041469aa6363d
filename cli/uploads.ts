/** `storage uploads ls` and `storage uploads abort <id>`: chunked upload sessions, found and ended. */
import { Command, Option } from 'commander';
import { bytes, contextOf, example, positiveInt, table, unwrap } from './context';

export function uploadsCommand(): Command {
  const uploads = new Command('uploads')
    .description('chunked upload sessions: list them, abort one (its parts are dropped, its reservation freed)')
    .addHelpText('after', example('storage uploads ls --status open'));
  uploads
    .command('ls')
    .description("upload sessions, yours (services and admins: every owner's, or --owner's)")
    .addOption(new Option('--status <status>', 'only these').choices(['open', 'completing', 'completed', 'failed', 'aborted', 'expired']))
    .option('--owner <sub>', "services and admins: one owner's")
    .option('--limit <n>', 'at most this many', positiveInt)
    .option('--cursor <cursor>', 'the next page, from a previous next_cursor')
    .addHelpText('after', example('storage uploads ls --status open'))
    .action(async (opts: { status?: 'open'; owner?: string; limit?: number; cursor?: string }, command: Command) => {
      const ctx = contextOf(command);
      const page = await unwrap(
        ctx.client.GET('/api/v2/uploads', { params: { query: { status: opts.status, owner_id: opts.owner, limit: opts.limit, cursor: opts.cursor } } }),
      );
      if (ctx.json) return ctx.printJson(page);
      const rows = page.items.map((u) => [u.id, u.status, u.name, `${bytes(u.bytes_received)}/${bytes(u.size_bytes)}`, u.expires_at]);
      ctx.say(rows.length ? table(rows, ['ID', 'STATUS', 'NAME', 'RECEIVED', 'EXPIRES']) : 'no upload sessions');
      if (page.next_cursor) ctx.warn(`more: storage uploads ls --cursor ${page.next_cursor}`);
    });
  uploads
    .command('abort')
    .description('abort an upload session: it ends, its parts are dropped')
    .argument('<upload_id>', 'the session id (storage uploads ls, or an upload --json)')
    .addHelpText('after', example('storage uploads abort 0190c6d2-6b00-7a11-8b22-3c4d5e6f7081'))
    .action(async (id: string, _opts, command: Command) => {
      const ctx = contextOf(command);
      await unwrap(ctx.client.DELETE('/api/v2/uploads/{id}', { params: { path: { id } } }));
      const session = await unwrap(ctx.client.GET('/api/v2/uploads/{id}', { params: { path: { id } } }));
      if (ctx.json) return ctx.printJson(session);
      ctx.say(`upload ${id} ${session.status}`);
    });
  return uploads;
}
