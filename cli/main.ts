/**
 * The `storage` command: the Storage Service from a terminal. Its exit codes are one table for every
 * command (EXIT in cli/context.ts, shown by `storage --help`).
 */
import { Command, CommanderError, Option } from 'commander';
import { assetCommands } from './assets';
import { auditCommand } from './audit';
import { DEFAULT_API_URL, EXIT, EXIT_CODES_HELP, exitCodeOf, example, messageOf } from './context';
import { downloadCommand } from './download';
import { printable } from './fileNames';
import { eventsCommand } from './events';
import { grantCommands } from './grants';
import { manageCommands } from './manage';
import { policiesCommand } from './policies';
import { folderCommands } from './sync';
import { runCommands } from './runs';
import { scrubCommand } from './scrub';
import { tokenCommand } from './token';
import { uploadCommand } from './upload';
import { uploadsCommand } from './uploads';
import { usageCommands } from './usage';

function program(): Command {
  const root = new Command('storage')
    .description('The Storage Service of the D&D Character Creator system, from a terminal.')
    .addOption(new Option('--api <url>', 'the API').env('STORAGE_API_URL').default(DEFAULT_API_URL))
    .addOption(new Option('--token <jwt>', 'the bearer token (storage token mints one for development)').env('STORAGE_TOKEN'))
    .option('--json', "print the API's JSON, for scripts")
    .showHelpAfterError('(storage --help, or storage <command> --help, shows the usage and an example)')
    .addHelpText('after', example('STORAGE_TOKEN=$(storage token --sub alice) storage upload maps/dungeon.png --tags maps'))
    .addHelpText('after', EXIT_CODES_HELP);
  for (const command of [
    uploadCommand(),
    downloadCommand(),
    ...folderCommands(),
    ...assetCommands(),
    ...manageCommands(),
    ...grantCommands(),
    uploadsCommand(),
    ...usageCommands(),
    policiesCommand(),
    ...runCommands(),
    scrubCommand(),
    eventsCommand(),
    auditCommand(),
    tokenCommand(),
  ])
    root.addCommand(command);
  // Usage errors exit 2 (commander's default is 1), in every subcommand.
  const exitOverride = (c: Command) => {
    c.exitOverride();
    c.commands.forEach(exitOverride);
  };
  exitOverride(root);
  return root;
}

async function main(): Promise<number> {
  try {
    await program().parseAsync(process.argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    process.stderr.write(`storage: ${printable(messageOf(err))}\n`);
    return exitCodeOf(err);
  }
}

// `storage ls | head`: the reader has gone, so the rest is not wanted; that is no failure.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(EXIT.ok);
});

main().then((code) => {
  process.exitCode = code;
});
