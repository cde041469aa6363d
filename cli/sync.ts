/**
 * `storage sync <folder>` and `storage pull <folder>`: a folder kept as assets, for a DM with a folder
 * of handouts. A file is the asset named --prefix + its path in the folder (with `/`), owned by the
 * caller and, with --tag, carrying those tags; the prefix is the folder's name and a slash unless
 * given. A file and its asset are the same when their SHA-256 is: sync uploads a new file as a new
 * asset and a changed one as a new version of its asset (through `storage upload`, with its bars and
 * its resume), and starts nothing for the rest. pull downloads what is missing or different (through
 * `storage download`, so a file that differs locally is replaced only with --force).
 */
import { Command, Option } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import type { components } from '../client/schema';
import { downloadCommand } from './download';
import { bytes, CliError, contextOf, EXIT, example, exitCodeOf, list, messageOf, positiveInt, unwrap, type Ctx, type GlobalOptions } from './context';
import { localNameOf } from './fileNames';
import { sha256OfFile } from './files';
import { syncLockFileOf } from './resumeState';
import { takeRunLock } from './runLock';
import { uploadCommand, type UploadSummary } from './upload';

type Asset = components['schemas']['Asset'];

interface FolderOptions {
  tag?: string[];
  prefix?: string;
  dryRun?: boolean;
}

const ACTIONS = ['new', 'changed', 'unchanged', 'delete', 'refused', 'failed'] as const;

/** One line of the plan: what is done (or would be) for one file or asset; `failed` replaces what was planned when it failed. */
interface Step {
  action: (typeof ACTIONS)[number];
  name: string;
  file: string | null;
  asset_id: string | null;
  size_bytes: number;
  checksum_sha256: string | null;
  reason?: string;
  /** A changed file's asset's ETag when they were compared: its version is made only while that holds (If-Match). */
  if_match?: string;
}

// The part file `storage download` (so pull) writes beside its target until the bytes are verified,
// `<file>.part`: a file of the folder named so is taken for one, and not synced.
const DOWNLOAD_PART = /\.part$/;

function prefixOf(folder: string, prefix: string | undefined): string {
  return prefix ?? `${path.basename(path.resolve(folder))}/`;
}

/** The token's subject: the owner of what the caller uploads. A service or an admin lists everyone's assets, so the list is cut to these. */
function subjectOf(command: Command): string {
  const token = command.optsWithGlobals<GlobalOptions>().token;
  if (!token) throw new CliError('no token: give --token or STORAGE_TOKEN (storage token mints one for development)', EXIT.denied);
  try {
    const sub = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')).sub;
    if (typeof sub === 'string' && sub) return sub;
  } catch {
    // Not a JWT: said below.
  }
  throw new CliError('the token names no subject (sub), so its assets cannot be told from the others', EXIT.usage);
}

/** The caller's live assets under the prefix (with the tags), by name. */
async function assetsOf(ctx: Ctx, owner: string, prefix: string, tags: string[]): Promise<Map<string, Asset[]>> {
  const byName = new Map<string, Asset[]>();
  let cursor: string | undefined;
  do {
    const page = await unwrap(
      ctx.client.GET('/api/v2/assets', {
        params: { query: { name_prefix: prefix || undefined, tag: tags.length ? tags : undefined, sort: 'name', limit: 1000, cursor } },
      }),
    );
    for (const asset of page.items) {
      if (asset.owner_id !== owner || !asset.name.startsWith(prefix)) continue;
      byName.set(asset.name, [...(byName.get(asset.name) ?? []), asset]);
    }
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return byName;
}

/** The folder's files, by their path in it with `/`: hidden files and folders, links and download parts are left out. */
function filesOf(folder: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string, rel: string[]) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.startsWith('.')) continue;
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file, [...rel, entry.name]);
      else if (entry.isFile() && !DOWNLOAD_PART.test(entry.name)) files.set([...rel, entry.name].join('/'), file);
    }
  };
  const stat = fs.statSync(folder, { throwIfNoEntry: false });
  if (!stat?.isDirectory()) throw new CliError(`${folder} is not a folder`, EXIT.usage);
  walk(folder, []);
  return files;
}

/** A context for one `storage upload` or `storage download` of a sync: its JSON summary comes back here, its lines are not printed. */
function innerContext(ctx: Ctx, summaries: unknown[]): (command: Command) => Ctx {
  return () => ({ ...ctx, json: true, say: () => undefined, printJson: (value) => summaries.push(value) });
}

/** Runs one of the CLI's own commands with `args`, answering the JSON summary it printed. */
async function run(command: Command, args: string[], summaries: unknown[]): Promise<unknown> {
  command.exitOverride();
  await command.parseAsync(args, { from: 'user' });
  return summaries.pop();
}

/** Runs `step` (unless a dry run); a step that fails is marked so, the others go on. */
async function attempt(step: Step, failures: Map<Step, unknown>, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    failures.set(step, err);
    step.action = 'failed';
    step.reason = messageOf(err);
  }
}

function lineOf(step: Step, dryRun: boolean): string {
  const what = step.action === 'delete' && !dryRun ? 'deleted' : step.action;
  const size = step.action === 'new' || step.action === 'changed' ? ` (${bytes(step.size_bytes)})` : '';
  return `${what.padEnd(9)} ${step.name}${step.asset_id ? ` ${step.asset_id}` : ''}${size}${step.reason ? `: ${step.reason}` : ''}`;
}

/** Prints the plan (or what was done), and fails when a step failed (with its exit code) or was refused (2). */
function report(ctx: Ctx, steps: Step[], extra: { dry_run: boolean; bytes_sent?: number; bytes_received?: number }, failures: Map<Step, unknown>): void {
  const counts = Object.fromEntries(ACTIONS.map((a) => [a, steps.filter((s) => s.action === a).length])) as Record<Step['action'], number>;
  if (ctx.json) ctx.printJson({ ...extra, counts, steps });
  else {
    for (const step of steps) if (step.action !== 'unchanged') ctx.say(lineOf(step, extra.dry_run));
    const others = (['delete', 'refused', 'failed'] as const).filter((a) => counts[a]).map((a) => `, ${counts[a]} ${a === 'delete' ? 'deleted' : a}`);
    const moved = extra.bytes_sent !== undefined ? `${bytes(extra.bytes_sent)} sent` : `${bytes(extra.bytes_received ?? 0)} received`;
    ctx.say(`${extra.dry_run ? 'would be: ' : ''}${counts.new} new, ${counts.changed} changed, ${counts.unchanged} unchanged${others.join('')}; ${moved}`);
  }
  const [failed] = failures;
  if (failed) throw new CliError(`${failures.size} failed: ${failed[0].name}: ${failed[0].reason}`, exitCodeOf(failed[1]));
  const refused = steps.find((s) => s.action === 'refused');
  if (refused) throw new CliError(`${counts.refused} refused: ${refused.name}: ${refused.reason}`, EXIT.usage);
}

/** The asset as it is now, and its ETag: what a changed file is compared with and uploaded over, under If-Match. */
async function currentOf(ctx: Ctx, id: string): Promise<{ asset: Asset; etag: string | undefined }> {
  const answer = ctx.client.GET('/api/v2/assets/{id}', { params: { path: { id } } });
  const asset = await unwrap(answer);
  return { asset, etag: (await answer).response.headers.get('etag') ?? undefined };
}

async function planSync(ctx: Ctx, folder: string, byName: Map<string, Asset[]>, prefix: string, del: boolean): Promise<Step[]> {
  const files = filesOf(folder);
  const steps: Step[] = [];
  for (const [rel, file] of files) {
    const name = prefix + rel;
    const size = fs.statSync(file).size;
    const checksum = await sha256OfFile(file);
    const assets = byName.get(name) ?? [];
    const base = { name, file, size_bytes: size, checksum_sha256: checksum };
    if (assets.length > 1)
      steps.push({ ...base, action: 'refused', asset_id: null, reason: `${assets.length} assets have this name; rename or delete all but one` });
    else if (!assets.length) steps.push({ ...base, action: 'new', asset_id: null });
    else if (assets[0].checksum_sha256 === checksum && assets[0].size_bytes === size) steps.push({ ...base, action: 'unchanged', asset_id: assets[0].id });
    else {
      // Compared again with the asset as its ETag names it: a version another writer makes after this is not replaced unseen.
      const { asset, etag } = await currentOf(ctx, assets[0].id);
      const same = asset.checksum_sha256 === checksum && asset.size_bytes === size;
      steps.push({ ...base, action: same ? 'unchanged' : 'changed', asset_id: asset.id, ...(same || !etag ? {} : { if_match: etag }) });
    }
  }
  if (del) {
    for (const [name, assets] of byName) {
      const rel = name.slice(prefix.length);
      if (files.has(rel)) continue;
      // A file sync leaves out (hidden, a .part, behind a link) is not gone: its asset stays.
      if (fs.lstatSync(path.join(folder, ...rel.split('/')), { throwIfNoEntry: false })) continue;
      for (const a of assets) steps.push({ action: 'delete', name, file: null, asset_id: a.id, size_bytes: a.size_bytes, checksum_sha256: a.checksum_sha256 });
    }
  }
  return steps;
}

function syncCommand(): Command {
  return new Command('sync')
    .description('upload what is new or changed in a folder (SHA-256 compared): a new file as a new asset, a changed one as a new version')
    .argument('<folder>', 'the folder: each file is the asset named --prefix + its path in it')
    .option('--prefix <prefix>', "the names' prefix (default: the folder's name and a slash, e.g. handouts/)")
    .option('--tag <tag>', 'only assets with this tag, and new ones get it (repeatable, or comma-separated)', list)
    .option('--delete', 'soft-delete the assets whose file is gone (storage restore undoes it)')
    .option('--dry-run', 'print the plan, change nothing')
    .addOption(new Option('--limit-rate <MiB/s>', "cap a chunked upload's send rate (as upload's)").argParser(positiveInt))
    .addHelpText('after', example('storage sync handouts/ --tag campaign-42 --delete --dry-run'))
    .action(async (folder: string, opts: FolderOptions & { delete?: boolean; limitRate?: number }, command: Command) => {
      const ctx = contextOf(command);
      const prefix = prefixOf(folder, opts.prefix);
      const tags = opts.tag ?? [];
      // Without a prefix or a tag, every asset of the caller would be in the folder's scope, and deleted with it.
      if (opts.delete && !prefix && !tags.length)
        throw new CliError('--delete with an empty --prefix needs a --tag: it would delete all your other assets', EXIT.usage);
      const owner = subjectOf(command);
      // Another sync of the folder would plan the first's new files as new too (two assets of one name), or resume its upload under it.
      const release = opts.dryRun ? () => undefined : takeRunLock(syncLockFileOf(folder), `sync of ${folder}`);
      try {
        const steps = await planSync(ctx, folder, await assetsOf(ctx, owner, prefix, tags), prefix, Boolean(opts.delete));
        const failures = new Map<Step, unknown>();
        let sent = 0;
        for (const step of opts.dryRun ? [] : steps) {
          if (step.action === 'new' || step.action === 'changed') {
            await attempt(step, failures, async () => {
              const summaries: unknown[] = [];
              const args = [
                step.file!,
                ...(step.asset_id
                  ? [`--asset=${step.asset_id}`, ...(step.if_match ? [`--if-match=${step.if_match}`] : [])]
                  : [`--name=${step.name}`, ...(tags.length ? [`--tags=${tags.join(',')}`] : [])]),
                ...(opts.limitRate ? [`--limit-rate=${opts.limitRate}`] : []),
              ];
              const summary = (await run(uploadCommand(innerContext(ctx, summaries)), args, summaries)) as UploadSummary;
              sent += summary.bytes_sent;
              step.asset_id = summary.asset.id;
            });
          } else if (step.action === 'delete') {
            await attempt(step, failures, async () => {
              await unwrap(ctx.client.DELETE('/api/v2/assets/{id}', { params: { path: { id: step.asset_id! } } }));
            });
          }
        }
        report(ctx, steps, { dry_run: Boolean(opts.dryRun), bytes_sent: sent }, failures);
      } finally {
        release();
      }
    });
}

/** Where pull writes an asset: its name less the prefix, each part a plain file name (as `storage download` requires of a name). */
function localPathOf(folder: string, relative: string): { file: string } | { refused: string } {
  const parts = relative.split('/');
  for (const part of parts) {
    const local = localNameOf(part);
    if ('refused' in local) return { refused: `not written as a file: ${local.refused}` };
    if (local.name !== part) return { refused: 'not written as a file: it holds a backslash' };
  }
  return linkOnTheWay(folder, parts) ?? { file: path.join(folder, ...parts) };
}

/**
 * Why a file of the folder at `parts` would land elsewhere: a folder on its way that is a link (sync
 * does not follow one either, so its files are no asset's) or a file. Asked again just before the
 * write, as the folder may change meanwhile.
 */
function linkOnTheWay(folder: string, parts: string[]): { refused: string } | undefined {
  for (let i = 1; i < parts.length; i++) {
    const stat = fs.lstatSync(path.join(folder, ...parts.slice(0, i)), { throwIfNoEntry: false });
    if (!stat) return undefined;
    const dir = parts.slice(0, i).join('/');
    if (stat.isSymbolicLink()) return { refused: `not written: ${dir} is a link, and pull writes only inside the folder` };
    if (!stat.isDirectory()) return { refused: `not written: ${dir} is not a folder` };
  }
  return undefined;
}

async function planPull(folder: string, byName: Map<string, Asset[]>, prefix: string, force: boolean): Promise<Step[]> {
  const steps: Step[] = [];
  for (const [name, assets] of byName) {
    const asset = assets[0];
    const base = { name, asset_id: asset.id, size_bytes: asset.size_bytes, checksum_sha256: asset.checksum_sha256 };
    const local = localPathOf(folder, name.slice(prefix.length));
    if (assets.length > 1) steps.push({ ...base, action: 'refused', file: null, asset_id: null, reason: `${assets.length} assets have this name` });
    else if ('refused' in local) steps.push({ ...base, action: 'refused', file: null, reason: local.refused });
    else if (!asset.current_version_id) steps.push({ ...base, action: 'refused', file: local.file, reason: 'the asset has no content yet' });
    else {
      const stat = fs.lstatSync(local.file, { throwIfNoEntry: false });
      if (!stat) steps.push({ ...base, action: 'new', file: local.file });
      else if (stat.isFile() && stat.size === asset.size_bytes && (await sha256OfFile(local.file)) === asset.checksum_sha256)
        steps.push({ ...base, action: 'unchanged', file: local.file });
      else if (force && stat.isFile()) steps.push({ ...base, action: 'changed', file: local.file });
      else
        steps.push({ ...base, action: 'refused', file: local.file, reason: stat.isFile() ? 'the local file differs; --force replaces it' : 'not a file here' });
    }
  }
  return steps;
}

function pullCommand(): Command {
  return new Command('pull')
    .description('download what is missing or different in a folder (SHA-256 compared); a file that differs is replaced only with --force')
    .argument('<folder>', 'the folder: the asset named --prefix + a path is written to that path in it')
    .option('--prefix <prefix>', "the names' prefix (default: the folder's name and a slash, e.g. handouts/)")
    .option('--tag <tag>', 'only assets with this tag (repeatable, or comma-separated)', list)
    .option('--force', 'replace local files that differ')
    .option('--dry-run', 'print the plan, change nothing')
    .addHelpText('after', example('storage pull handouts/ --tag campaign-42'))
    .action(async (folder: string, opts: FolderOptions & { force?: boolean }, command: Command) => {
      const ctx = contextOf(command);
      const prefix = prefixOf(folder, opts.prefix);
      const owner = subjectOf(command);
      const steps = await planPull(folder, await assetsOf(ctx, owner, prefix, opts.tag ?? []), prefix, Boolean(opts.force));
      const failures = new Map<Step, unknown>();
      let received = 0;
      for (const step of opts.dryRun ? [] : steps) {
        if (step.action !== 'new' && step.action !== 'changed') continue;
        await attempt(step, failures, async () => {
          const onTheWay = linkOnTheWay(folder, path.relative(folder, step.file!).split(path.sep));
          if (onTheWay) throw new CliError(onTheWay.refused, EXIT.usage);
          fs.mkdirSync(path.dirname(step.file!), { recursive: true });
          const summaries: unknown[] = [];
          const args = [step.asset_id!, `--output=${step.file}`, ...(step.action === 'changed' ? ['--force'] : [])];
          const summary = (await run(downloadCommand(innerContext(ctx, summaries)), args, summaries)) as { size_bytes: number; resumed_from: number };
          received += summary.size_bytes - summary.resumed_from;
        });
      }
      report(ctx, steps, { dry_run: Boolean(opts.dryRun), bytes_received: received }, failures);
    });
}

export function folderCommands(): Command[] {
  return [syncCommand(), pullCommand()];
}
