/**
 * The bounded run of the consistency checker (test/consistency/harness.ts): 8 clients on 6 assets for
 * 60 s (STORAGE_CONSISTENCY_SECONDS) with faults, then every invariant. The seed is printed first;
 * STORAGE_CONSISTENCY_SEED replays its schedule (`npm run check:consistency -- --seed N`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { TEST_DATA } from './support/testStack';
import { useTestService } from './support/context';
import { runConsistencyCheck } from './consistency/harness';
import { freshSeed } from './consistency/rng';

const seed = Number(process.env.STORAGE_CONSISTENCY_SEED || freshSeed());
const seconds = Number(process.env.STORAGE_CONSISTENCY_SECONDS || 60);
const log = (line: string) => process.stdout.write(`${line}\n`);
log(`consistency check seed: ${seed} (replay: npm run check:consistency -- --seed ${seed} --seconds ${seconds})`);

const ctx = useTestService({}, { worker: false });

it(
  `keeps every invariant through ${seconds} s of concurrent histories and faults (seed ${seed})`,
  async () => {
    const report = await runConsistencyCheck(ctx, { seed, seconds, log });
    log(report.text);
    log(`answers by kind: ${JSON.stringify(report.counts)}`);
    // The whole history beside the report, for the violations' story beyond the lines printed.
    const file = process.env.STORAGE_CONSISTENCY_REPORT ?? path.join(TEST_DATA, `consistency-${seed}.log`);
    fs.writeFileSync(file, `${report.text}\n${JSON.stringify(report.counts, null, 1)}\nhistory:\n${report.historyText}\n`);
    log(`report and history: ${file}`);
    if (report.violations.length) throw new Error(report.text);
  },
  (seconds + 900) * 1000,
);
