/**
 * Rows 9 and 10: the `storage` command (the real bin, a child process, as a user runs it) against
 * the AWS SDK doing the same from the same file: `storage upload` of 256 MiB (a chunked session,
 * 8 MiB parts, 4 in flight, the file's SHA-256 computed first) vs lib-storage's Upload with the same
 * part size and queue; `storage download -o` (the SHA-256 checked at the end) vs GetObject into a file.
 * The CLI's figures include its start (tsx) and its hashing: that is what a user waits for.
 */
import { DeleteObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { getVersion } from '../lib/assets/versions';
import { authHeaders } from './client';
import { MiB } from './stats';
import { mbPerS, pairs, seconds, summary, type RowContext, type RowResult } from './rows';

const STORAGE_BIN = path.join(__dirname, '..', 'cli', 'storage.cjs');
const CLI_PARTS_IN_FLIGHT = 4;
const CLI_PART_BYTES = 8 * MiB;

function cliOf(ctx: RowContext, dir: string) {
  const env = {
    ...process.env,
    STORAGE_API_URL: ctx.env.apiUrl,
    STORAGE_TOKEN: authHeaders().authorization?.replace(/^Bearer /, ''),
    XDG_CACHE_HOME: path.join(dir, 'cache'),
  };
  return async (args: string[]) => {
    const { stdout } = await promisify(execFile)(process.execPath, [STORAGE_BIN, ...args, '--json'], { env, maxBuffer: 16 * MiB });
    return JSON.parse(stdout);
  };
}

function setUp(ctx: RowContext) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cli-'));
  const file = path.join(dir, 'bench-cli.bin');
  fs.writeFileSync(file, ctx.data);
  return { dir, file, storage: cliOf(ctx, dir), done: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

async function deleteKey(ctx: RowContext, Key: string) {
  await ctx.env.s3.send(new DeleteObjectCommand({ Bucket: ctx.env.config.s3.bucket, Key })).catch(() => {});
}

/** Row 9: storage upload vs lib-storage Upload of the same file. */
export async function rowCliUpload(ctx: RowContext): Promise<RowResult> {
  const { env, data } = ctx;
  const { file, storage, done } = setUp(ctx);
  try {
    const viaCli = async () => {
      const started = performance.now();
      const summary = await storage(['upload', file, '--threshold', '1']);
      const s = seconds(started);
      if (summary.method !== 'chunked' || summary.asset.size_bytes !== data.length) throw new Error(`storage upload: ${JSON.stringify(summary).slice(0, 300)}`);
      await storage(['rm', summary.asset.id, '--permanent']);
      return mbPerS(data.length, s);
    };
    const viaSdk = async (r: number) => {
      const Key = `bench-baseline/cli-upload-${r}-${Date.now()}`;
      const started = performance.now();
      await new Upload({
        client: env.s3,
        params: { Bucket: env.config.s3.bucket, Key, Body: fs.createReadStream(file) },
        partSize: CLI_PART_BYTES,
        queueSize: CLI_PARTS_IN_FLIGHT,
      }).done();
      const s = seconds(started);
      await deleteKey(ctx, Key);
      return mbPerS(data.length, s);
    };
    await viaCli();
    await viaSdk(-1);
    const { service, baseline, ratios } = await pairs(ctx, 'row 10 CLI upload', viaCli, viaSdk);
    const ratio = summary(ratios, 3);
    return {
      id: 10,
      title: `storage upload ${data.length / MiB} MiB (chunked, ${CLI_PART_BYTES / MiB} MiB parts, ${CLI_PARTS_IN_FLIGHT} in flight)`,
      service: 'npx storage upload <file> --threshold 1 --json (chunked at every size), from its start to its exit',
      baseline: `lib-storage Upload of the same file, ${CLI_PART_BYTES / MiB} MiB parts, queue ${CLI_PARTS_IN_FLIGHT}`,
      metrics: { throughput_mb_s: { unit: 'MB/s', service: summary(service), baseline: summary(baseline) } },
      ratio: { ...ratio, of: 'throughput_mb_s' },
      targets: [],
    };
  } finally {
    done();
  }
}

/** Row 10: storage download -o vs GetObject of the same object into a file. */
export async function rowCliDownload(ctx: RowContext): Promise<RowResult> {
  const { env, data } = ctx;
  const { dir, file, storage, done } = setUp(ctx);
  try {
    const uploaded = await storage(['upload', file, '--threshold', '1']);
    const key = (await getVersion(env.db, uploaded.asset.id, uploaded.asset.current_version_id))!.object_key;
    const out = path.join(dir, 'out.bin');
    const viaCli = async () => {
      fs.rmSync(out, { force: true });
      const started = performance.now();
      const got = await storage(['download', uploaded.asset.id, '-o', out]);
      const s = seconds(started);
      if (!got.verified || got.size_bytes !== data.length) throw new Error(`storage download: ${JSON.stringify(got)}`);
      return mbPerS(data.length, s);
    };
    const viaSdk = async () => {
      fs.rmSync(out, { force: true });
      const started = performance.now();
      const object = await env.s3.send(new GetObjectCommand({ Bucket: env.config.s3.bucket, Key: key }));
      await pipeline(object.Body as Readable, fs.createWriteStream(out));
      const s = seconds(started);
      if (fs.statSync(out).size !== data.length) throw new Error(`GetObject: ${fs.statSync(out).size} of ${data.length} bytes`);
      return mbPerS(data.length, s);
    };
    await viaCli();
    await viaSdk();
    const { service, baseline, ratios } = await pairs(ctx, 'row 11 CLI download', viaCli, viaSdk);
    await storage(['rm', uploaded.asset.id, '--permanent']);
    const ratio = summary(ratios, 3);
    return {
      id: 11,
      title: `storage download ${data.length / MiB} MiB to a file`,
      service: 'npx storage download <id> -o <file> --json (SHA-256 checked), from its start to its exit',
      baseline: 'GetObject of the same object, piped into a file',
      metrics: { throughput_mb_s: { unit: 'MB/s', service: summary(service), baseline: summary(baseline) } },
      ratio: { ...ratio, of: 'throughput_mb_s' },
      targets: [],
    };
  } finally {
    done();
  }
}
