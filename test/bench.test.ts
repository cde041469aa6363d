/**
 * Keeps the benchmark harness working: `bench/run.ts --quick` against the test stack must print all
 * rows it runs by default but row 14 (17, the scrub, first; then 1 to 9, 12 and 13) and write its JSON. Row 14 restarts two replicas
 * of everything, which test/replicas.test.ts does already. Benchmarks are not timed tests: nothing here
 * asserts a speed.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const ROWS = [17, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13];

function runQuickBench(outFile: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // The harness reads the stack from STORAGE_*: globalSetup pointed them at the test stack.
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--rows', ROWS.join(','), '--out', outFile], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), 280_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run bench -- --quick', () => {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-bench-'));
  const outFile = path.join(outDir, 'quick.json');
  afterAll(() => fs.rmSync(outDir, { recursive: true, force: true }));

  it('prints the twelve rows with numbers and writes them as JSON', async () => {
    const run = await runQuickBench(outFile);
    if (run.code !== 0) throw new Error(`bench exited ${run.code}\n${run.stderr.slice(-4000)}`);

    // The main table: the lines after its header, up to the first that is not a table line.
    const lines = run.stdout.split('\n');
    const header = lines.findIndex((line) => line.startsWith('| # | measurement |'));
    expect(header).toBeGreaterThanOrEqual(0);
    const end = lines.findIndex((line, i) => i > header && !line.startsWith('|'));
    const tableRows = lines.slice(header + 2, end);
    expect(tableRows.map((line) => Number(line.split('|')[1]))).toEqual(ROWS);
    for (const line of tableRows) {
      expect(line).not.toMatch(/failed:|NaN|undefined/);
      expect(line.split('|')[3]).toMatch(/\d/); // the service column holds a figure
    }
    expect(run.stdout).toMatch(/^Machine: \d+ cores/m);

    const report = JSON.parse(fs.readFileSync(outFile, 'utf8'));
    expect(report.mode).toBe('quick');
    expect(report.machine).toMatchObject({ cpus: expect.any(Number), memory_bytes: expect.any(Number) });
    expect(report.rows.map((r: { id: number }) => r.id)).toEqual(ROWS);
    const rounds = report.settings.rounds;
    expect(rounds).toBeGreaterThanOrEqual(5);
    // Row 6 is computed from rows 1 and 2; row 13 is one run of the mixed load, not rounds of pairs.
    const onceOnly = [6, 13];
    for (const row of report.rows) {
      expect(row.error).toBeUndefined();
      const metrics = Object.values(row.metrics) as Array<{ service: { median: number; samples: number[] }; baseline?: { median: number; samples: number[] } }>;
      expect(metrics.length).toBeGreaterThan(0);
      // The first metric is the row's throughput (or memory): never zero when the row ran.
      expect(metrics[0].service.median).toBeGreaterThan(0);
      for (const metric of metrics) {
        expect(Number.isFinite(metric.service.median)).toBe(true);
        expect(metric.service.median).toBeGreaterThanOrEqual(0);
        if (!onceOnly.includes(row.id)) expect(metric.service.samples).toHaveLength(rounds);
        if (metric.baseline) {
          expect(Number.isFinite(metric.baseline.median)).toBe(true);
          expect(metric.baseline.samples).toHaveLength(rounds);
        }
      }
      if (row.id <= 4 || (row.id >= 7 && !onceOnly.includes(row.id))) {
        // Paired rows: a baseline from the same run, and the ratio of the two.
        expect(metrics.every((m) => m.baseline)).toBe(true);
        expect(Number.isFinite(row.ratio.median)).toBe(true);
        expect(row.ratio.samples).toHaveLength(rounds);
      }
      expect(row.targets.length).toBeGreaterThan(0);
      for (const target of row.targets) expect(typeof target.met).toBe('boolean');
    }
  }, 300_000);
});
