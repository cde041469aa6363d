/**
 * `npm run token -- --sub alice [--group campaign-42 ...] [--role storage:admin ...] [--expires-in 3600]`:
 * prints a token signed with the development secret (the one `npm start` uses).
 */
import { parseArgs } from 'node:util';
import { ROLES } from '../lib/auth/actor';
import { mintDevToken } from '../lib/auth/devTokens';
import { configWithDevSecrets } from './devSecrets';

const USAGE = 'usage: npm run token -- --sub <subject> [--group <name> ...] [--role storage:admin|storage:service ...] [--expires-in <seconds>]';

const HELP = `Mints a token signed with the development secret (the one \`npm start\` uses), for curl and the storage CLI.

${USAGE}

  --sub <subject>         whom the token is for (required)
  --group <name>          a group of its groups claim (repeatable)
  --role <role>           storage:admin or storage:service (repeatable)
  --expires-in <seconds>  how long it works (default 86400)

Example:
  $ export TOKEN=$(npm run -s token -- --sub alice --group campaign-42)
`;

function argsOf() {
  try {
    return parseArgs({
      options: {
        help: { type: 'boolean', short: 'h', default: false },
        sub: { type: 'string' },
        group: { type: 'string', multiple: true, default: [] },
        role: { type: 'string', multiple: true, default: [] },
        'expires-in': { type: 'string', default: '86400' },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exit(64); // EX_USAGE
  }
}

async function main() {
  const values = argsOf();
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const known = Object.values<string>(ROLES);
  const unknown = values.role.filter((r) => !known.includes(r));
  const expiresIn = Number(values['expires-in']);
  if (!values.sub || unknown.length || !Number.isInteger(expiresIn) || expiresIn <= 0) {
    process.stderr.write(`${unknown.length ? `unknown role ${unknown.join(', ')}\n` : ''}${USAGE}\n`);
    process.exit(64); // EX_USAGE
  }
  const { config, usesDevSecret } = configWithDevSecrets();
  if (!usesDevSecret) {
    process.stderr.write('tokens are minted here only with the development secret (STORAGE_AUTH_JWT_SECRET); this configuration verifies another key\n');
    process.exit(78); // EX_CONFIG
  }
  process.stdout.write(`${await mintDevToken(config.auth, { sub: values.sub, groups: values.group, roles: values.role, expiresIn })}\n`);
}

main().catch((err) => {
  process.stderr.write(`token: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
