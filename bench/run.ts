/**
 * `npm run bench` (issue 4): the data path and the API measured against raw S3 and a minimal
 * handler, side by side, in one run. Prints a Markdown table of medians and ratios on stdout (progress
 * goes to stderr) and writes the figures as JSON under bench/results/.
 *
 *   npm run bench                      the sizes (about 10 minutes on 2 cores)
 *   npm run bench -- --quick           every measurement on small sizes (under a minute)
 *   options: --rounds N (>= 5 unless --quick), --rows 1,2,4 (row 6 needs 1 and 2; rows 10 and 11, the
 *            storage command against the AWS SDK, run only when named: --rows 10,11; so do 13 and
 *            14, the mixed load of 1,000 clients and the same through two replicas: --rows 13,14; and 15,
 *            the recovery of 1,000 assets and 1 GB from the backup bucket alone, only when named; and 16,
 *            a burst of 1,000 concurrent 64 KiB uploads from one service, only when named: --rows 16;
 *            17, the scrub of 10,000 objects against a bare ListObjectsV2 + GetObject pass, runs first;
 *            18 and 19, the web console's first load and its table of 1,000 assets in Chromium, only
 *            when named: --rows 18,19),
 *            --out FILE, --report FILE (prints the tables of a saved run, runs nothing),
 *            --log-level LEVEL (the API's and worker's, default info),
 *            --compiled / --tsx (the API and the worker run from a tsc build, as in production, or
 *            under tsx; full runs default to --compiled, --quick to --tsx),
 *            --profile api,worker,minimal (runs those with --cpu-prof; the profiles land in the
 *            run folder under .data/bench/, in profiles/; read them with bench/profileSummary.ts)
 *
 * The stack comes from the STORAGE_* environment (bench/env.ts says what is reused or started).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../scripts/stack';
import { rowSmallContent } from './cacheRows';
import { rowRecovery } from './recoveryRows';
import { rowScrub } from './scrubRows';
import { rowBurst } from './burstRows';
import { rowConsoleRender, rowConsoleSize } from './console';
import { rowCliDownload, rowCliUpload } from './cliRows';
import { mixedSettingsFor, rowMixedLoad, rowReplicas } from './mixedRows';
import { CpuWindow } from './cpu';
import { startBenchEnv, type BenchEnv } from './env';
import { renderReport, type BenchReport } from './report';
import {
  rowChunkedUpload,
  rowDownload,
  rowGetAsset,
  rowGetAssetAccounting,
  rowPeakRss,
  rowSimpleUpload,
  rowSmallUploads,
  rowSmallUploadsAccounting,
  rowTusUpload,
  type BenchSettings,
  type RowContext,
  type RowOps,
  type RowResult,
  type RssWindow,
} from './rows';
import { KiB, MiB, machineInfo, procStatusBytes, round } from './stats';

export interface BenchOptions {
  quick: boolean;
  rounds?: number;
  rows: number[];
  outFile?: string;
  /** Prints the tables of a saved JSON file instead of running. */
  reportFile?: string;
  logLevel: string;
  /** Processes run with --cpu-prof: any of api, worker, minimal. */
  profile: string[];
  /** The API and the worker run from a tsc build, as in production. */
  compiled: boolean;
}

export function settingsFor(opts: Pick<BenchOptions, 'quick' | 'rounds'>): BenchSettings {
  const common = { partBytes: 8 * MiB, partsInFlight: 4, smallBytes: 64 * KiB };
  if (opts.quick) {
    return {
      ...common,
      mode: 'quick',
      rounds: opts.rounds ?? 5,
      transferBytes: 10 * MiB,
      partBytes: 5 * MiB,
      getConnections: 50,
      getDurationS: 0.5,
      getWarmupS: 0.5,
      smallClients: 5,
      smallDurationS: 0.5,
      smallSequentialUploads: 5,
    };
  }
  return {
    ...common,
    mode: 'full',
    rounds: Math.max(5, opts.rounds ?? 5),
    transferBytes: 256 * MiB,
    getConnections: 1000,
    getDurationS: 20,
    getWarmupS: 3,
    smallClients: 50,
    smallDurationS: 30,
    smallSequentialUploads: 30,
  };
}

export function parseArgs(argv: string[]): BenchOptions {
  const opts: BenchOptions = { quick: false, rows: [17, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14], logLevel: 'info', profile: [], compiled: false };
  let runner: 'compiled' | 'tsx' | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--quick') opts.quick = true;
    else if (arg === '--rounds') opts.rounds = Number(value());
    else if (arg === '--rows') opts.rows = value().split(',').map(Number);
    else if (arg === '--out') opts.outFile = path.resolve(value());
    else if (arg === '--report') opts.reportFile = path.resolve(value());
    else if (arg === '--log-level') opts.logLevel = value();
    else if (arg === '--profile') opts.profile = value().split(',');
    else if (arg === '--compiled') runner = 'compiled';
    else if (arg === '--tsx') runner = 'tsx';
    else
      throw new Error(
        `unknown option ${arg} (known: --quick --rounds N --rows 1,2,3 --out FILE --report FILE --log-level L --profile api,worker,minimal --compiled --tsx)`,
      );
  }
  // The targets are about the service as it ships (compiled); quick mode only checks the harness.
  opts.compiled = (runner ?? (opts.quick ? 'tsx' : 'compiled')) === 'compiled';
  if (opts.rounds !== undefined && (!Number.isInteger(opts.rounds) || opts.rounds < 1 || opts.rounds > 50)) throw new Error('--rounds must be 1..50');
  if (opts.rows.some((r) => !Number.isInteger(r) || r < 1 || r > 19)) throw new Error('--rows takes numbers 1..19');
  if (opts.profile.some((p) => !['api', 'worker', 'minimal'].includes(p))) throw new Error('--profile takes api, worker, minimal');
  return opts;
}

const t0 = Date.now();
const say = (line: string) => process.stderr.write(`[bench +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);

function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export async function runBench(opts: BenchOptions): Promise<{ report: BenchReport; file: string; table: string }> {
  const settings = settingsFor(opts);
  const started = new Date();
  const runDir = path.join(ROOT, '.data', 'bench', `run-${stamp(started)}-${process.pid}`);
  fs.mkdirSync(runDir, { recursive: true });
  const machine = machineInfo();
  say(`${settings.mode} mode, ${settings.rounds} rounds; ${machine.cpus} cores, ${machine.memory_gib} GiB; load ${machine.loadavg_at_start.join(' ')}`);

  const env: BenchEnv = await startBenchEnv({
    logLevel: opts.logLevel,
    maxUploadBytes: Math.max(64 * MiB, 2 * settings.transferBytes),
    profile: opts.profile,
    compiled: opts.compiled,
    runDir,
    say,
  });
  const stopEnv = once(() => env.stop());
  const onSignal = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping what the run started`);
    void stopEnv().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const rows: BenchReport['rows'] = [];
  try {
    const idleRss = procStatusBytes(env.api.pid, 'VmRSS');
    const wants = (id: number) => opts.rows.includes(id);
    const data = wants(1) || wants(2) || wants(3) || wants(9) || wants(10) || wants(11) ? randomBytes(settings.transferBytes) : Buffer.alloc(0);
    const ctx: RowContext = { env, settings, data, say };
    const windows: { row: number; rss: RssWindow }[] = [];
    const attempt = async (id: number, title: string, run: () => Promise<RowResult>) => {
      if (!wants(id)) return;
      const t0 = Date.now();
      const cpu = new CpuWindow(env.cpuGroups);
      cpu.start();
      try {
        const row = await run();
        const used = cpu.stop();
        rows.push(row);
        if (id === 6) return; // computed from rows 1 and 2, not measured
        row.details = { ...row.details, cpu: used };
        const ops = row.details.ops as RowOps | undefined;
        if (ops) {
          row.details.cpu_ms_per_unit = {
            unit: ops.unit,
            ...Object.fromEntries(Object.entries(ops.counts).map(([label, n]) => [label, round(((used.cores[label] ?? 0) * used.seconds * 1000) / n, 2)])),
          };
        }
        const busiest = Object.entries(used.cores)
          .filter(([, c]) => c >= 0.05)
          .map(([k, c]) => `${k} ${c}`)
          .join(', ');
        say(`row ${id} done in ${round((Date.now() - t0) / 1000, 1)} s; cores used: ${busiest}`);
      } catch (err) {
        say(`row ${id} failed: ${err instanceof Error ? err.stack : String(err)}`);
        rows.push({ id, title, error: err instanceof Error ? err.message : String(err) });
      }
    };
    // First: the scrub must find a store that only consistent writes have touched (other rows' baselines write to it directly).
    await attempt(17, 'scrub of 10,000 objects', () => rowScrub(ctx));
    await attempt(1, 'download', async () => {
      const { row, rss } = await rowDownload(ctx);
      windows.push({ row: 1, rss });
      return row;
    });
    await attempt(2, 'simple upload', async () => {
      const { row, rss } = await rowSimpleUpload(ctx);
      windows.push({ row: 2, rss });
      return row;
    });
    await attempt(3, 'chunked upload', () => rowChunkedUpload(ctx));
    await attempt(4, 'GET /api/v2/assets/{id}', () => rowGetAsset(ctx));
    await attempt(5, '64 KiB simple uploads', () => rowSmallUploads(ctx));
    await attempt(6, 'peak RSS of the API', async () => {
      if (windows.length === 0) throw new Error('row 6 is measured during rows 1 and 2: run them too');
      return rowPeakRss(windows, idleRss);
    });
    await attempt(7, 'GET with the audit log and the rate limiter', () => rowGetAssetAccounting(ctx));
    await attempt(8, 'small uploads with the audit log and the rate limiter', () => rowSmallUploadsAccounting(ctx));
    await attempt(9, 'tus upload in PATCH chunks', () => rowTusUpload(ctx));
    await attempt(10, 'storage upload', () => rowCliUpload(ctx));
    await attempt(11, 'storage download', () => rowCliDownload(ctx));
    await attempt(12, 'GET 64 KiB content', () => rowSmallContent(ctx));
    await attempt(13, 'mixed load, 1,000 clients', () => rowMixedLoad(ctx, mixedSettingsFor(opts.quick)));
    await attempt(14, 'mixed load through 2 replicas, rolling restarts and a worker SIGKILL', () => rowReplicas(ctx, mixedSettingsFor(opts.quick)));
    await attempt(15, 'recovery from the backup bucket alone', () => rowRecovery(ctx));
    await attempt(16, 'a burst of concurrent 64 KiB uploads from one service', () => rowBurst(ctx));
    await attempt(18, "the console's first load", () => rowConsoleSize(ctx));
    await attempt(19, "the console's table of 1,000 assets", () => rowConsoleRender(ctx));
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await stopEnv();
  }

  const finished = new Date();
  machine.loadavg_at_end = os.loadavg().map((v) => round(v, 2));
  const report: BenchReport = {
    harness: 'storage-service bench',
    mode: settings.mode,
    started_at: started.toISOString(),
    finished_at: finished.toISOString(),
    duration_s: round((finished.getTime() - started.getTime()) / 1000, 1),
    settings,
    machine,
    stack: env.info,
    rows,
    all_targets_met: rows.length === opts.rows.length && rows.every((r) => !('error' in r) && r.targets.every((t) => t.met)),
  };
  const file = opts.outFile ?? path.join(ROOT, 'bench', 'results', `${settings.mode}-${stamp(started)}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return { report, file, table: renderReport(report) };
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

async function main() {
  let opts: BenchOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    process.exit(64);
  }
  if (opts.reportFile) {
    process.stdout.write(`${renderReport(JSON.parse(fs.readFileSync(opts.reportFile, 'utf8')) as BenchReport)}\n`);
    return;
  }
  // Every loop is bounded on its own; this is the backstop for the whole run.
  const limitMs = (opts.quick ? 10 : 60) * 60_000;
  const watchdog = setTimeout(() => {
    say(`the run took longer than ${limitMs / 60_000} minutes: giving up`);
    process.kill(process.pid, 'SIGTERM');
  }, limitMs);
  watchdog.unref();

  const { report, file, table } = await runBench(opts);
  process.stdout.write(`\n${table}\n\nJSON: ${path.relative(process.cwd(), file)}\n`);
  const failed = report.rows.filter((r) => 'error' in r);
  if (failed.length > 0) {
    say(`rows that failed: ${failed.map((r) => r.id).join(', ')}`);
    process.exitCode = 1;
  }
  // Lingering keep-alive sockets or SDK timers must not hold the process open.
  setTimeout(() => process.exit(), 2_000).unref();
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
