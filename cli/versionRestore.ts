/** `storage versions restore <id> <version_id>`: an old version's bytes copied (on the server) into a new current version. */
import { Command } from 'commander';
import { followOperation } from '../client';
import { CliError, contextOf, example, unwrap } from './context';

export function versionRestoreCommand(): Command {
  return new Command('restore')
    .description('make an old version current again: its bytes are copied into a new version (the versions between are kept)')
    .argument('<id>', 'the asset id')
    .argument('<version_id>', 'the version to bring back (storage versions <id> lists them)')
    .addHelpText('after', example('storage versions restore 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69 0193a5c2-8b1f-7d20-a3c4-5e6f7a8b9c0d'))
    .action(async (id: string, versionId: string, _opts, command: Command) => {
      const ctx = contextOf(command);
      const started = await unwrap(ctx.client.POST('/api/v2/assets/{id}/versions/{version_id}/restore', { params: { path: { id, version_id: versionId } } }));
      let current;
      if ('version_number' in started) current = started;
      else {
        // 202: the copy outlasted the server's wait; it goes on in its run, followed here to its end.
        const op = await followOperation(ctx.client, started.operation_url);
        if (op.status !== 'succeeded') throw new CliError(`the restore of version ${versionId} ended ${op.status}: ${op.error?.detail ?? 'no reason given'}`);
        [current] = (await unwrap(ctx.client.GET('/api/v2/assets/{id}/versions', { params: { path: { id }, query: { limit: 1 } } }))).items;
      }
      if (ctx.json) return ctx.printJson(current);
      ctx.say(`${id}: version ${current.version_number} (${current.id}) is now current, a copy of ${versionId}`);
    });
}
