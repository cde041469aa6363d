/**
 * Replaying workflow histories against the current bundle, and keeping fresh ones as fixtures
 * (test/fixtures/histories) for test/replay.test.ts to replay against later versions of the code.
 */
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import fs from 'node:fs';
import path from 'node:path';
import { WORKFLOW_BUNDLE } from './testStack';

export const FIXTURES = path.join(__dirname, '..', 'fixtures', 'histories');
const History = temporal.api.history.v1.History;

// protobufjs' own object form (the SDK's historyToJSON trips over two copies of protobufjs in the tree).
const historyToJson = (history: temporal.api.history.v1.IHistory) =>
  JSON.stringify(History.toObject(History.fromObject(history), { longs: String, enums: String, bytes: String }));
export const historyFromJson = (text: string) => History.fromObject(JSON.parse(text));

/** Replays each history against the current workflow bundle; answers the failures, one line each. */
export async function replay(histories: Array<{ workflowId: string; history: unknown }>): Promise<string[]> {
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: WORKFLOW_BUNDLE } }, histories)) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  return failures;
}

/** With STORAGE_RECORD_HISTORIES=1, writes the histories as the fixtures `<name>.json`. */
export function recordHistories(histories: Array<{ name: string; history: temporal.api.history.v1.IHistory }>): void {
  if (process.env.STORAGE_RECORD_HISTORIES !== '1') return;
  fs.mkdirSync(FIXTURES, { recursive: true });
  for (const { name, history } of histories) fs.writeFileSync(path.join(FIXTURES, `${name}.json`), historyToJson(history));
}
