/**
 * Keeps rows 18 and 19 of the benchmark harness working (bench/console.ts): `bench/run.ts --quick
 * --rows 18,19` against the test stack prints the console's first-load size beside /docs' and the
 * asset table's render time in Chromium beside a static table's, and writes them as JSON. As in
 * test/bench.test.ts, nothing here asserts a size or a speed: the figures must exist, not be good.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const ROWS = [18, 19];

function runQuickBench(outFile: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
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

describe('npm run bench -- --quick --rows 18,19', () => {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-bench-console-'));
  const outFile = path.join(outDir, 'quick.json');
  afterAll(() => fs.rmSync(outDir, { recursive: true, force: true }));

  it("prints the console's size and its table's render time, each beside its baseline, and writes them as JSON", async () => {
    const run = await runQuickBench(outFile);
    if (run.code !== 0) throw new Error(`bench exited ${run.code}\n${run.stderr.slice(-4000)}`);

    const lines = run.stdout.split('\n');
    const header = lines.findIndex((line) => line.startsWith('| # | measurement |'));
    expect(header).toBeGreaterThanOrEqual(0);
    const tableRows = lines.slice(header + 2, header + 2 + ROWS.length);
    expect(tableRows.map((line) => Number(line.split('|')[1]))).toEqual(ROWS);
    for (const line of tableRows) {
      expect(line).not.toMatch(/failed:|NaN|undefined/);
      expect(line.split('|')[3]).toMatch(/\d/);
      expect(line.split('|')[4]).toMatch(/\d/); // the baseline's figure beside it
    }

    const report = JSON.parse(fs.readFileSync(outFile, 'utf8'));
    const [size, render] = report.rows;
    expect(size).toMatchObject({ id: 18, metrics: { gzip_kib: { unit: 'KiB' }, brotli_kib: { unit: 'KiB' }, raw_kib: { unit: 'KiB' } } });
    // The compressed first load is smaller than the bytes sent, and the console names its script and styles.
    expect(size.metrics.gzip_kib.service.median).toBeGreaterThan(0);
    expect(size.metrics.gzip_kib.service.median).toBeLessThan(size.metrics.raw_kib.service.median);
    expect(size.metrics.gzip_kib.baseline.median).toBeGreaterThan(0);
    expect(Object.keys(size.details.console_files)).toEqual(['/console', '/console/static/app.css', '/console/static/app.js']);
    expect(Number.isFinite(size.ratio.median)).toBe(true);

    expect(render).toMatchObject({ id: 19, details: { assets: 100 } });
    const rounds = report.settings.rounds;
    for (const name of ['rows_ms', 'next_frame_ms']) {
      const metric = render.metrics[name];
      expect(metric.service.samples).toHaveLength(rounds);
      expect(metric.baseline.samples).toHaveLength(rounds);
      expect(metric.service.median).toBeGreaterThan(0);
      expect(metric.baseline.median).toBeGreaterThan(0);
    }
    // The console's figure includes its request for the list; a static table's has none.
    expect(render.metrics.api_list_ms.service.median).toBeGreaterThan(0);
    expect(render.metrics.console_50_rows_ms.service.samples).toHaveLength(rounds);
    expect(render.ratio.samples).toHaveLength(rounds);
    for (const target of render.targets) expect(typeof target.met).toBe('boolean');
  }, 300_000);
});
