/** `storage events tail`: the feed from a cursor, oldest first; --follow keeps polling it. */
import { Command, Option } from 'commander';
import { contextOf, example, positiveInt, unwrap } from './context';

const POLL_MS = 1000;

export function eventsCommand(): Command {
  const events = new Command('events').description('the event feed').addHelpText('after', example('storage events tail --follow'));
  events
    .command('tail')
    .description('print events from a cursor (default: the start of the feed), one a line')
    .option('--cursor <cursor>', 'start after this cursor (a next_cursor printed with --json)')
    // The name of before the feed took `cursor` as every list does; still read.
    .addOption(new Option('--after <cursor>').hideHelp())
    .option('--limit <n>', 'events per request', positiveInt, 100)
    .option('--follow', 'keep polling for new events until interrupted')
    .addHelpText('after', example('storage events tail --follow --json'))
    .action(async (opts: { cursor?: string; after?: string; limit: number; follow?: boolean }, command: Command) => {
      const ctx = contextOf(command);
      let cursor = opts.cursor ?? opts.after;
      for (;;) {
        const page = await unwrap(ctx.client.GET('/api/v2/events', { params: { query: { cursor, limit: opts.limit } } }));
        for (const event of page.items) {
          // One JSON object a line with --json, so that a follower's output streams into jq.
          if (ctx.json) process.stdout.write(`${JSON.stringify(event)}\n`);
          else ctx.say(`${event.sequence}\t${event.time}\t${event.type}\t${event.subject}`);
        }
        cursor = page.next_cursor ?? cursor;
        if (page.items.length === opts.limit) continue;
        if (!opts.follow) {
          if (!ctx.json && cursor) ctx.warn(`next: storage events tail --cursor ${cursor}`);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    });
  return events;
}
