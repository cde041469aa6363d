/** Changing an asset in place: mv (rename), tag, meta, through PATCH /assets/{id} (a JSON merge patch). */
import { Command } from 'commander';
import type { StorageClient } from '../client';
import { CliError, contextOf, EXIT, example, list, unwrap, type Ctx } from './context';

const MERGE_PATCH = { 'Content-Type': 'application/merge-patch+json' };
type AssetPatch = { name?: string; tags?: string[] | null; metadata?: Record<string, string | null> | null };

// A few writers changing the same asset at once; past that, the user is told rather than kept waiting.
const ATTEMPTS = 5;

function patchAsset(client: StorageClient, id: string, body: AssetPatch, ifMatch?: string) {
  return client.PATCH('/api/v2/assets/{id}', { params: { path: { id } }, headers: { ...MERGE_PATCH, ...(ifMatch ? { 'If-Match': ifMatch } : {}) }, body });
}

/**
 * A change computed from the asset as read (its tags, for --add and --remove), written under If-Match
 * with the ETag it was read with: a change made in between is read again and kept, never written over.
 */
async function readModifyWrite(ctx: Ctx, id: string, change: (asset: { tags: string[] }) => AssetPatch) {
  for (let attempt = 1; ; attempt++) {
    const read = await ctx.client.GET('/api/v2/assets/{id}', { params: { path: { id } } });
    const asset = await unwrap(Promise.resolve(read));
    const etag = read.response.headers.get('etag');
    if (!etag) throw new CliError(`the server answered asset ${id} without an ETag: it cannot be changed safely`);
    const written = await patchAsset(ctx.client, id, change(asset), etag);
    if (written.response.status !== 412 || attempt === ATTEMPTS) return unwrap(Promise.resolve(written));
  }
}

export function manageCommands(): Command[] {
  const mv = new Command('mv')
    .description('rename an asset')
    .argument('<id>', 'the asset id')
    .argument('<name>', 'its new name')
    .addHelpText('after', example('storage mv 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69 "dungeon level 2.png"'))
    .action(async (id: string, name: string, _opts, command: Command) => {
      const ctx = contextOf(command);
      const asset = await unwrap(patchAsset(ctx.client, id, { name }));
      if (ctx.json) return ctx.printJson(asset);
      ctx.say(`${asset.id} is now ${asset.name}`);
    });

  const tag = new Command('tag')
    .description("change an asset's tags: add and remove some, or --set them all")
    .argument('<id>', 'the asset id')
    .option('--add <tags>', 'tags to add (repeatable, or comma-separated)', list)
    .option('--remove <tags>', 'tags to remove (repeatable, or comma-separated)', list)
    .option('--set <tags>', 'these tags and no other ("" for none)', list)
    .addHelpText('after', example('storage tag 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69 --add maps,campaign-42 --remove draft'))
    .action(async (id: string, opts: { add?: string[]; remove?: string[]; set?: string[] }, command: Command) => {
      const changes = Boolean(opts.add || opts.remove);
      if (changes === Boolean(opts.set)) command.error('give --add and/or --remove, or --set', { exitCode: EXIT.usage });
      const ctx = contextOf(command);
      const asset = opts.set
        ? await unwrap(patchAsset(ctx.client, id, { tags: [...new Set(opts.set)] }))
        : await readModifyWrite(ctx, id, (now) => {
            const removed = new Set(opts.remove);
            return { tags: [...new Set([...now.tags, ...(opts.add ?? [])])].filter((t) => !removed.has(t)) };
          });
      if (ctx.json) return ctx.printJson(asset);
      ctx.say(`${asset.id} tags: ${asset.tags.join(', ') || '(none)'}`);
    });

  const meta = new Command('meta')
    .description("change an asset's metadata: set keys, remove others; the rest is kept")
    .argument('<id>', 'the asset id')
    .argument('[key=value...]', 'keys to set')
    .option('--unset <key>', 'a key to remove (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .addHelpText('after', example('storage meta 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69 campaign=42 level=2 --unset draft'))
    .action(async (id: string, pairs: string[], opts: { unset?: string[] }, command: Command) => {
      const metadata: Record<string, string | null> = {};
      for (const pair of pairs) {
        const eq = pair.indexOf('=');
        if (eq <= 0) command.error(`expected key=value, got "${pair}"`, { exitCode: EXIT.usage });
        metadata[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      for (const key of opts.unset ?? []) {
        if (key in metadata) command.error(`"${key}" is both set and unset`, { exitCode: EXIT.usage });
        metadata[key] = null;
      }
      if (!Object.keys(metadata).length) command.error('give key=value pairs to set, or --unset keys', { exitCode: EXIT.usage });
      const ctx = contextOf(command);
      // The merge patch changes only the keys named, on the server: no read before, nothing written over.
      const asset = await unwrap(patchAsset(ctx.client, id, { metadata }));
      if (ctx.json) return ctx.printJson(asset);
      const entries = Object.entries(asset.metadata);
      ctx.say(entries.length ? entries.map(([k, v]) => `${k}=${v}`).join('\n') : `${asset.id} has no metadata`);
    });

  return [mv, tag, meta];
}
