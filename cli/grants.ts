/** Who may read or change an asset besides its owner: share (grant, or revoke with --revoke) and grants (list). */
import { Command, Option } from 'commander';
import type { StorageClient } from '../client';
import { contextOf, EXIT, example, table, unwrap } from './context';

type Grant = { subject: string; access: 'read' | 'write' };

// A few writers changing the same asset at once; past that, the user is told rather than kept waiting.
const SHARE_ATTEMPTS = 5;

/**
 * The asset's grants changed by `change`, written back under If-Match with the ETag they were read
 * with: a change made in between (a revocation, above all) is read again and kept, never written over.
 */
async function changeGrants(client: StorageClient, id: string, change: (grants: Grant[]) => Grant[]) {
  for (let attempt = 1; ; attempt++) {
    const read = await client.GET('/api/v2/assets/{id}', { params: { path: { id } } });
    const asset = await unwrap(Promise.resolve(read));
    const etag = read.response.headers.get('etag');
    if (!etag) throw new Error(`the server answered asset ${id} without an ETag: its grants cannot be changed safely`);
    const written = await client.PUT('/api/v2/assets/{id}/grants', { params: { path: { id } }, headers: { 'If-Match': etag }, body: change(asset.grants) });
    if (written.response.status !== 412 || attempt === SHARE_ATTEMPTS) return unwrap(Promise.resolve(written));
  }
}

export function grantCommands(): Command[] {
  const share = new Command('share')
    .description('grant a group (or a user) read or write access, keeping the other grants; --revoke takes it away')
    .argument('<id>', 'the asset id')
    .option('--group <name>', "a group of the tokens' groups claim")
    .option('--user <sub>', "a user's subject")
    .addOption(new Option('--access <level>', 'what they may do').choices(['read', 'write']).default('read'))
    .addOption(new Option('--revoke', 'take their grant away instead').conflicts('access'))
    .addHelpText('after', example('storage share 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69 --group campaign-42 --access read'))
    .action(async (id: string, opts: { group?: string; user?: string; access: Grant['access']; revoke?: boolean }, command: Command) => {
      if (Boolean(opts.group) === Boolean(opts.user)) command.error('give one of --group or --user', { exitCode: EXIT.usage });
      const ctx = contextOf(command);
      const subject = opts.group ? `group:${opts.group}` : `user:${opts.user}`;
      const others = (grants: Grant[]) => grants.filter((g) => g.subject !== subject);
      const answer = await changeGrants(ctx.client, id, opts.revoke ? others : (grants) => [...others(grants), { subject, access: opts.access }]);
      if (ctx.json) return ctx.printJson(answer);
      ctx.say(answer.grants.length ? answer.grants.map((g) => `${g.subject}: ${g.access}`).join('\n') : `${id} is shared with no one`);
    });

  const grants = new Command('grants')
    .description("an asset's grants: who besides its owner may read or change it (the owner, services and admins)")
    .argument('<id>', 'the asset id')
    .addHelpText('after', example('storage grants 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69'))
    .action(async (id: string, _opts, command: Command) => {
      const ctx = contextOf(command);
      const answer = await unwrap(ctx.client.GET('/api/v2/assets/{id}/grants', { params: { path: { id } } }));
      if (ctx.json) return ctx.printJson(answer);
      if (!answer.grants.length) return ctx.say(`${id} is shared with no one`);
      ctx.say(
        table(
          answer.grants.map((g) => [g.subject, g.access]),
          ['SUBJECT', 'ACCESS'],
        ),
      );
    });

  return [share, grants];
}
