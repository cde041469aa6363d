/**
 * `storage events tail`: the feed from a cursor, oldest first, or from now on (--since now), or its
 * newest events (--last N), of one subject (--subject); --follow keeps polling it, and waits out an
 * API it cannot reach (a restart) instead of ending.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Unavailable } from '../client';
import { contextOf, example, messageOf, positiveInt, unwrap, type Ctx } from './context';

const POLL_MS = 1000;
// Waits while the API cannot be reached: 0.5 s doubling to 10 s, again after every success.
const FIRST_WAIT_MS = 500;
const LONGEST_WAIT_MS = 10_000;

interface TailOptions {
  cursor?: string;
  after?: string;
  since?: 'now' | string;
  last?: number;
  subject?: string;
  limit: number;
  follow?: boolean;
}

/** `now`, or a time Date reads (ISO 8601), sent as ISO 8601 in UTC. */
function sinceValue(value: string): string {
  if (value === 'now') return value;
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new InvalidArgumentError(`expected now or a time such as 2026-12-07T18:00:00Z, got "${value}"`);
  return new Date(time).toISOString();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The API unreachable (fetch's failure, its cause the socket's error) or unavailable past the client's own retries: worth waiting out while following. */
function unreachable(err: unknown): boolean {
  return err instanceof Unavailable || (err instanceof TypeError && err.cause instanceof Error);
}

type Page = { items: Array<{ sequence: number; time: string; type: string; subject: string }>; next_cursor: string | null };

export function eventsCommand(): Command {
  const events = new Command('events').description('the event feed').addHelpText('after', example('storage events tail --follow'));
  events
    .command('tail')
    .description('print events from a cursor (default: the start of the feed), one a line')
    .option('--cursor <cursor>', 'start after this cursor (a next_cursor printed with --json)')
    // The name of before the feed took `cursor` as every list does; still read.
    .addOption(new Option('--after <cursor>').hideHelp())
    .option('--since <time>', 'now: only events from now on; or a time (ISO 8601): events after it', sinceValue)
    .option('--last <n>', 'only the n newest events (then, with --follow, what comes)', positiveInt)
    .option('--subject <id>', "only this subject's events (an asset id)")
    .option('--limit <n>', 'events per request', positiveInt, 100)
    .option('--follow', 'keep polling for new events until interrupted (waiting out an API it cannot reach)')
    .addHelpText('after', example('storage events tail --since now --subject 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69 --follow --json'))
    .action(async (opts: TailOptions, command: Command) => {
      if (opts.since === 'now' && opts.last !== undefined) command.error('give --since now or --last, not both', { exitCode: 2 });
      const ctx = contextOf(command);
      const filter = { subject: opts.subject, created_after: opts.since === 'now' ? undefined : opts.since };
      const read = (query: { cursor?: string; limit?: number; last?: number }): Promise<Page> =>
        withReconnects(ctx, Boolean(opts.follow), () => unwrap(ctx.client.GET('/api/v2/events', { params: { query: { ...filter, ...query } } })));
      let cursor = opts.cursor ?? opts.after;
      if (opts.since === 'now') cursor = (await read({ cursor, last: 1 })).next_cursor ?? cursor;
      else if (opts.last !== undefined) {
        const page = await read({ cursor, last: opts.last });
        print(ctx, page);
        cursor = page.next_cursor ?? cursor;
        if (!opts.follow) return next(ctx, cursor);
      }
      for (;;) {
        const page = await read({ cursor, limit: opts.limit });
        print(ctx, page);
        cursor = page.next_cursor ?? cursor;
        if (page.items.length === opts.limit) continue;
        if (!opts.follow) return next(ctx, cursor);
        await sleep(POLL_MS);
      }
    });
  return events;
}

function print(ctx: Ctx, page: Page): void {
  for (const event of page.items) {
    // One JSON object a line with --json, so that a follower's output streams into jq.
    if (ctx.json) process.stdout.write(`${JSON.stringify(event)}\n`);
    else ctx.say(`${event.sequence}\t${event.time}\t${event.type}\t${event.subject}`);
  }
}

function next(ctx: Ctx, cursor: string | undefined): void {
  if (!ctx.json && cursor) ctx.warn(`next: storage events tail --cursor ${cursor}`);
}

/** `call`, and while following, again after a wait each time the API cannot be reached (bounded waits, no bound on their number). */
async function withReconnects<T>(ctx: Ctx, following: boolean, call: () => Promise<T>): Promise<T> {
  for (let wait = FIRST_WAIT_MS; ; wait = Math.min(wait * 2, LONGEST_WAIT_MS)) {
    try {
      return await call();
    } catch (err) {
      if (!following || !unreachable(err)) throw err;
      ctx.warn(`storage: the API cannot be reached (${messageOf(err)}); trying again in ${(wait / 1000).toFixed(1)} s`);
      await sleep(wait);
    }
  }
}
