/**
 * schemathesis against the served /openapi.json of a real service (Postgres, SeaweedFS, Temporal):
 * every operation, generated requests good and bad, and the stateful phase that follows the
 * document's links from the resources it creates to the operations that take their ids.
 * Bounded (examples per operation, a fixed seed, a time budget), so it is the same run every time.
 * Then malformed multipart bodies, which schemathesis does not make, against an API process of its
 * own: it must answer each, and still be there afterwards.
 */
import { adminToken, bearer, tokenFor } from './support/auth';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { TOOLS_BIN } from '../scripts/stack';
import { freePorts } from '../scripts/stack';
import { startTestService, type TestContext } from './support/context';
import { objectKeys } from './support/catalog';
import { call } from './support/http';
import { malformedForms } from './support/malformedForms';
import { envFor, spawnService, waitUntil } from './support/processes';

const SCHEMATHESIS = path.join(TOOLS_BIN, 'schemathesis');
const UPLOAD_WAIT_SECONDS = 5;
const RUN_BUDGET_MS = 240_000;
const STATEFUL_BUDGET_MS = 90_000;

let ctx: TestContext;
// The one host service.asset.requested may fetch from: every path serves a few bytes, so an ingest the
// fuzzer starts finishes instead of retrying a refused connection.
let sources: http.Server;
beforeAll(async () => {
  sources = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end('a fetched source'));
  await new Promise<void>((resolve) => sources.listen(0, '127.0.0.1', resolve));
  ctx = await startTestService({
    STORAGE_UPLOAD_WAIT_SECONDS: String(UPLOAD_WAIT_SECONDS),
    STORAGE_INGEST_ALLOWED_HOSTS: `127.0.0.1:${(sources.address() as AddressInfo).port}`,
  });
});
afterAll(async () => {
  await ctx?.stop();
  sources?.close();
}, 120_000);

interface Outcome {
  code: number | null;
  output: string;
}

function runSchemathesis(args: string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(SCHEMATHESIS, args, {
      cwd: process.env.STORAGE_TEST_RUN_DIR,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NO_COLOR: '1',
        SCHEMATHESIS_HOOKS: 'schemathesis_hooks',
        PYTHONPATH: path.join(__dirname, 'support'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_BUDGET_MS + 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function runningUploadIds(): Promise<string[]> {
  const ids: string[] = [];
  const query = `TaskQueue = '${ctx.config.temporal.taskQueue}' AND WorkflowType = 'uploadWorkflow' AND ExecutionStatus = 'Running'`;
  for await (const run of ctx.temporal.client.workflow.list({ query })) ids.push(run.workflowId);
  return ids;
}

async function describeUpload(workflowId: string) {
  const session = await ctx
    .db('upload_sessions')
    .where({ id: workflowId.replace(/^upload-/, '') })
    .first('kind', 'status', 'error', 'asset_id');
  const run = await ctx.temporal.client.workflow.getHandle(workflowId).describe();
  const pending = (run.raw.pendingActivities ?? []).map((a) => ({
    activity: a.activityType?.name,
    attempt: a.attempt,
    lastFailure: a.lastFailure?.message,
  }));
  return { workflowId, session: session ?? null, pending };
}

/**
 * One schemathesis run of `phases` within `budgetMs`; throws on any failure. The stateful phase has a
 * run and a budget of its own: in one run the phases share one budget, and the coverage phase grows
 * with every parameter the document gains (128 s of 150 beside the rest of the suite once the console's
 * list filters came), which left the stateful phase no time at all.
 */
async function fuzz(phases: string, budgetMs: number, reportName: string): Promise<string> {
  const reportDir = path.join(process.env.STORAGE_TEST_RUN_DIR!, 'schemathesis', reportName);
  fs.mkdirSync(reportDir, { recursive: true });
  const { code, output } = await runSchemathesis([
    '--config-file',
    path.join(__dirname, 'schemathesis.toml'),
    'run',
    `${ctx.baseUrl}/openapi.json`,
    '--phases',
    phases,
    '--max-examples',
    '10',
    '--header',
    `Authorization: Bearer ${await adminToken()}`,
    '--seed',
    '20261201',
    '--generation-database',
    'none',
    '--max-response-time',
    String(UPLOAD_WAIT_SECONDS + 3),
    '--request-timeout',
    '30',
    '--max-time',
    String(budgetMs / 1000),
    // One thread: Python 3.11.7 keeps the AST constructor's recursion count per interpreter, so two
    // threads parsing at once (hypothesis describes its filters by parsing their source) can fail
    // with "SystemError: AST constructor recursion depth mismatch", which crashed 2 runs in about 16.
    '--workers',
    '1',
    '--no-color',
    '--report-dir',
    reportDir,
  ]);
  fs.writeFileSync(path.join(reportDir, 'output.txt'), output);
  if (code !== 0) throw new Error(`schemathesis (${phases}) exited with ${code}:\n${output.slice(-20_000)}`);
  return output;
}

it(
  'finds no failure in any operation, stateful phase included, and leaves no upload running',
  async () => {
    const generated = await fuzz('examples,coverage,fuzzing', RUN_BUDGET_MS, 'generated');
    const stateful = await fuzz('stateful', STATEFUL_BUDGET_MS, 'stateful');
    // Exit 0 is no failure; the summaries show they also ran what they were meant to: every phase, the
    // stateful one too, and every case passed. Each run ends at its time budget, so how far it gets is
    // the machine's speed (13,087 cases and 406 scenarios in 900 s beside one other test run; 725 and
    // 37 in 150 s beside six): the floors are well under the fewest seen, there only to catch a
    // run that did next to nothing.
    for (const phase of ['Coverage', 'Fuzzing']) expect(generated).toMatch(new RegExp(`✅ ${phase}\\b`));
    expect(stateful).toMatch(/✅ Stateful\b/);
    const [, cases, passed] = generated.match(/(\d+) generated, (\d+) passed/) ?? [];
    expect(passed).toBe(cases);
    expect(Number(cases)).toBeGreaterThan(300);
    expect(Number(stateful.match(/Scenarios:\s+(\d+)/)?.[1])).toBeGreaterThan(15);

    // Bad input ends its upload: what still runs is a session the fuzzer opened and left open
    // (one it was completing when the run ended finishes within the upload wait).
    const runsAndSessions = async () => ({
      running: (await runningUploadIds()).sort(),
      open: (await ctx.db('upload_sessions').where({ status: 'open' }).pluck('id')).map((id: string) => `upload-${id}`).sort(),
    });
    await waitUntil(
      'every running upload to be an open session',
      async () => {
        const { running, open } = await runsAndSessions();
        return JSON.stringify(running) === JSON.stringify(open);
      },
      UPLOAD_WAIT_SECONDS * 4 * 1000,
      500,
    ).catch(() => {});
    const { running, open } = await runsAndSessions();
    // A run left over is described by its session row and what its run is waiting on.
    const leftOver = await Promise.all(running.filter((id) => !open.includes(id)).map(describeUpload));
    expect({ running, leftOver }).toEqual({ running: open, leftOver: [] });
  },
  RUN_BUDGET_MS + STATEFUL_BUDGET_MS + 60_000,
);

const MALFORMED_FORMS = 120;

/** One POST on a connection of its own (no keep-alive socket shared between cases): its status and content type. */
async function postOnItsOwnConnection(url: string, token: string, contentType: string, body: Buffer): Promise<{ status: number; contentType: string }> {
  const headers = { ...(await bearer(token)), 'content-type': contentType, 'content-length': String(body.length) };
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, contentType: res.headers['content-type'] ?? '' }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Objects in the bucket that no version holds. */
async function orphanObjects(): Promise<string[]> {
  const held = new Set(await ctx.db('asset_versions').pluck('object_key'));
  return (await objectKeys(ctx, 'assets/')).filter((key) => !held.has(key));
}
const MALFORMED_SEED = 20261223;
// What a malformed form may get: refused (400, or 415 for the header), or taken when the mutations
// happened to leave a valid form (201, or 202 past the upload wait).
const ANSWERS_TO_MALFORMED = [201, 202, 400, 415];

it('answers every malformed multipart body on both form routes with a problem or a made upload, and the API process is still there afterwards', async () => {
  const [port] = await freePorts(1);
  const api = spawnService('api/server.ts', envFor(ctx.config, { STORAGE_PORT: String(port) }));
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitUntil('the API to listen', async () => (await fetch(`${base}/health/live`).catch(() => undefined))?.ok);
    const form = new FormData();
    form.append('file', new Blob(['versions of me']), 'target.bin');
    // A user of its own: what the schemathesis run changed (quotas of the admin, say) does not reach it.
    const token = await tokenFor({ sub: `malformed-forms-${port}` });
    const target = await call(`${base}/api/v2/assets/upload`, { method: 'POST', body: form, as: token });
    expect(target.status).toBe(201);

    const orphansBefore = await orphanObjects();
    const unexpected: string[] = [];
    for (const [i, { mutations, contentType, body }] of malformedForms(MALFORMED_SEED, MALFORMED_FORMS).entries()) {
      const path = i % 2 === 0 ? '/api/v2/assets/upload' : `/api/v2/assets/${target.body.id}/versions`;
      const outcome = await postOnItsOwnConnection(`${base}${path}`, token, contentType, body).then(
        ({ status, contentType: answered }) =>
          ANSWERS_TO_MALFORMED.includes(status) && (status < 400 || /^application\/problem\+json/.test(answered)) ? undefined : `${status} ${answered}`,
        (err: Error) => `network error: ${err.message}`,
      );
      if (outcome) unexpected.push(`#${i} ${path} [${mutations.join('; ')}]: ${outcome}`);
    }
    expect(unexpected).toEqual([]);
    expect({ exitCode: api.child.exitCode, signal: api.child.signalCode }).toEqual({ exitCode: null, signal: null });
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    // A refused form leaves no session open behind it.
    await waitUntil(
      'no upload of the forms to be left open',
      async () =>
        Number(
          (
            await ctx
              .db('upload_sessions')
              .where({ quota_owner_id: `malformed-forms-${port}`, status: 'open' })
              .count({ n: '*' })
          )[0].n,
        ) === 0,
      30_000,
      250,
    );
    // Nor any object without its version.
    expect(await orphanObjects()).toEqual(orphansBefore);
  } finally {
    await api.kill();
  }
}, 240_000);
