/** `storage token`: a development token, as `npm run token` mints it (scripts/token.ts), for `npm start`. */
import { Command, Option } from 'commander';
import { ROLES } from '../lib/auth/actor';
import { CliError, contextOf, example, list, positiveInt } from './context';

export function tokenCommand(): Command {
  return new Command('token')
    .description("mint a development token, signed with the development secret that `npm start` uses (run it in the service's folder)")
    .requiredOption('--sub <subject>', 'whom the token is for')
    .option('--group <name>', 'a group (repeatable)', list, [])
    .addOption(new Option('--role <role...>', 'a role').choices(Object.values<string>(ROLES)).default([]))
    .option('--expires-in <seconds>', 'how long it works', positiveInt, 86_400)
    .addHelpText('after', example('export STORAGE_TOKEN=$(storage token --sub alice --group campaign-42)'))
    .action(async (opts: { sub: string; group: string[]; role: string[]; expiresIn: number }, command: Command) => {
      const ctx = contextOf(command);
      // Loaded here, not at the top: they bring the service's configuration (zod) and Temporal's client, which every other command would wait for at its start.
      const [{ configWithDevSecrets }, { mintDevToken }] = await Promise.all([import('../scripts/devSecrets'), import('../lib/auth/devTokens')]);
      const { config, usesDevSecret } = configWithDevSecrets();
      if (!usesDevSecret)
        throw new CliError('tokens are minted here only with the development secret (STORAGE_AUTH_JWT_SECRET); this configuration verifies another key');
      const token = await mintDevToken(config.auth, { sub: opts.sub, groups: opts.group, roles: opts.role, expiresIn: opts.expiresIn });
      if (ctx.json) return ctx.printJson({ token, sub: opts.sub, groups: opts.group, roles: opts.role, expires_in: opts.expiresIn });
      process.stdout.write(`${token}\n`);
    });
}
