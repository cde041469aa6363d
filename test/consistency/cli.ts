/**
 * `npm run check:consistency -- [--seconds N | --minutes N] [--seed N]`: the consistency checker as a
 * jest run of test/consistency.test.ts (jest's global setup starts or reuses the test stack, as for any
 * integration file), its duration and seed passed as STORAGE_CONSISTENCY_SECONDS / _SEED.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, minutes: { type: 'string' }, seed: { type: 'string' }, report: { type: 'string' } } });
const seconds = values.minutes ? Number(values.minutes) * 60 : Number(values.seconds ?? 60);
if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`--seconds/--minutes must be a positive number, not ${values.seconds ?? values.minutes}`);
if (values.seed !== undefined && !/^\d+$/.test(values.seed)) throw new Error(`--seed must be a non-negative integer, not ${values.seed}`);

const root = path.resolve(__dirname, '..', '..');
const jest = spawnSync('npx', ['jest', '--selectProjects', 'load', '--maxWorkers=1', '--runTestsByPath', 'test/consistency.test.ts'], {
  cwd: root,
  stdio: 'inherit',
  env: {
    ...process.env,
    STORAGE_CONSISTENCY_SECONDS: String(seconds),
    ...(values.seed ? { STORAGE_CONSISTENCY_SEED: values.seed } : {}),
    ...(values.report ? { STORAGE_CONSISTENCY_REPORT: path.resolve(values.report) } : {}),
  },
});
process.exit(jest.status ?? 1);
