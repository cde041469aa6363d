/**
 * `storage download <id>`: the bytes of one version (the current one unless --version), resumed
 * with Range when the output file is partly there, and checked against the version's SHA-256 at
 * the end (exit 1 and the file removed on a mismatch, so that a run again starts clean).
 */
import { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { problemOf } from '../client';
import { bytes, CliError, contextOf, example, unwrap } from './context';
import { sha256OfFile } from './files';
import { progressOf } from './progress';

export function downloadCommand(): Command {
  return new Command('download')
    .description("download an asset's bytes, resuming a partial file, checking the SHA-256")
    .argument('<id>', 'the asset id')
    .option('--version <versionId>', 'a version other than the current one')
    .option('-o, --output <file>', "where to write (default: the asset's name, in this folder)")
    .addHelpText('after', example('storage download 0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69 -o portrait.png'))
    .action(async (id: string, opts: { version?: string; output?: string }, command: Command) => {
      const ctx = contextOf(command);
      const asset = await unwrap(ctx.client.GET('/api/v2/assets/{id}', { params: { path: { id } } }));
      const versionId = opts.version ?? asset.current_version_id;
      if (!versionId) throw new CliError(`asset ${id} has no content yet`);
      const version = await unwrap(ctx.client.GET('/api/v2/assets/{id}/versions/{versionId}', { params: { path: { id, versionId } } }));
      const output = opts.output ?? path.basename(asset.name);
      const have = fs.existsSync(output) ? fs.statSync(output).size : 0;
      let start = have < version.size_bytes ? have : 0;
      const progress = progressOf(ctx.interactive);
      const bar = progress.bar(path.basename(output), version.size_bytes);
      try {
        if (have !== version.size_bytes) {
          const { response } = await ctx.client.GET('/api/v2/assets/{id}/versions/{versionId}/content', {
            params: { path: { id, versionId } },
            parseAs: 'stream',
            headers: start > 0 ? { range: `bytes=${start}-`, 'if-range': `"${version.checksum_sha256}"` } : {},
          });
          if (!response.ok) throw problemOf(response, await response.json().catch(() => undefined));
          // A 200 to a Range request: the server sends it all, so the file is written anew.
          if (response.status !== 206) start = 0;
          bar.update(start);
          const counter = new Transform({
            transform(chunk: Buffer, _enc, done) {
              bar.increment(chunk.length);
              done(null, chunk);
            },
          });
          await pipeline(
            Readable.fromWeb(response.body as import('node:stream/web').ReadableStream),
            counter,
            fs.createWriteStream(output, start > 0 ? { flags: 'a' } : {}),
          );
        } else {
          bar.update(have);
        }
      } finally {
        progress.stop();
      }
      const checksum = await sha256OfFile(output);
      const summary = {
        asset_id: id,
        version_id: versionId,
        file: output,
        size_bytes: version.size_bytes,
        resumed_from: start,
        checksum_sha256: checksum,
        verified: checksum === version.checksum_sha256,
      };
      if (!summary.verified) {
        fs.rmSync(output, { force: true });
        if (ctx.json) ctx.printJson(summary);
        throw new CliError(`${output}: SHA-256 ${checksum} differs from the version's ${version.checksum_sha256}; the file was removed`);
      }
      if (ctx.json) ctx.printJson(summary);
      ctx.say(`${output} (${bytes(version.size_bytes)}${start > 0 ? `, resumed at ${bytes(start)}` : ''}), SHA-256 verified`);
    });
}
