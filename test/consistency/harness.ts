/**
 * The consistency checker (issue 26): concurrent clients run seeded random histories against API
 * replicas and workers while faults are injected on a seeded schedule; once quiet, the invariants are
 * checked against everything the service acknowledged. The seed replays the same schedule of
 * operations and faults (the timing, and so the answers, may differ).
 */
import { freePorts, type ManagedProcess } from '../../scripts/stack';
import { adminToken, tokenFor } from '../support/auth';
import type { TestContext } from '../support/context';
import { apiAgreesWithCatalog, everyChangeAudited, fieldsAreLastWrites } from './agreement';
import { startCluster, startRedisOn, stopCluster, type Cluster } from './cluster';
import { faultSchedule, injectFaults } from './faults';
import { History } from './history';
import { objectsMatchRows, usageMatchesCatalog, versionsReadable, type CheckDeps, type Violation } from './invariants';
import { ackedVersions } from './model';
import { World } from './client';
import { nextSpec, runOperation } from './operations';
import { resolveFates, sessionFates, settle, sweepAsScheduled } from './quiet';
import { rngOf } from './rng';

export interface RunOptions {
  seed: number;
  seconds: number;
  clients?: number;
  slots?: number;
  log?: (line: string) => void;
}

export interface RunReport {
  seed: number;
  operations: number;
  faults: number;
  invariantsChecked: number;
  versionsChecked: number;
  violations: Violation[];
  counts: Record<string, number>;
  /** The violations with the history around each, ready to print. */
  text: string;
  /** Every entry of the history, one a line. */
  historyText: string;
}

const OWNERS = ['cc-owner-0', 'cc-owner-1'];
const READER = 'cc-reader';

interface Identities {
  tokens: Map<string, string>;
  admin: string;
}

async function identities(): Promise<Identities> {
  const tokens = new Map<string, string>();
  for (const sub of [...OWNERS, READER]) tokens.set(sub, await tokenFor({ sub, expiresIn: 86_400 }));
  return { tokens, admin: await adminToken() };
}

/** One client: its own stream of specs, until the deadline; answers how many it sent. */
async function runClient(
  client: number,
  opts: Required<RunOptions>,
  cluster: Cluster,
  world: World,
  history: History,
  ids: Identities,
  deadline: number,
): Promise<number> {
  const rng = rngOf(opts.seed, client);
  let index = 0;
  for (; Date.now() < deadline; index++) {
    const spec = nextSpec(rng, opts.slots);
    // A replica a fault killed is avoided until it is back (requests sent while it dies still fail).
    const up = cluster.apis.map((_, i) => i).filter((i) => !cluster.apis[i].down);
    const replica = up[(client + index) % up.length];
    const owner = OWNERS[spec.slot % OWNERS.length];
    await runOperation(spec, {
      history,
      world,
      client,
      index,
      replica,
      baseUrl: cluster.apis[replica].url,
      ownerToken: ids.tokens.get(owner)!,
      adminToken: ids.admin,
      reader: READER,
      partSize: 5 * 1024 * 1024,
    });
  }
  return index;
}

export async function runConsistencyCheck(ctx: TestContext, options: RunOptions): Promise<RunReport> {
  const opts: Required<RunOptions> = { clients: 8, slots: 6, log: () => {}, ...options };
  opts.log(`consistency check: seed ${opts.seed}, ${opts.seconds} s, ${opts.clients} clients on ${opts.slots} assets`);
  const [redisPort] = await freePorts(1);
  let redis: ManagedProcess | undefined;
  let cluster: Cluster | undefined;
  try {
    redis = await startRedisOn(redisPort);
    cluster = await startCluster(ctx, redisPort);
    cluster.redis.process = redis;
    return await exercise(ctx, cluster, opts);
  } finally {
    await stopCluster(cluster);
    await (cluster?.redis.process ?? redis)?.stop();
  }
}

async function exercise(ctx: TestContext, cluster: Cluster, opts: Required<RunOptions>): Promise<RunReport> {
  const history = new History();
  const world = new World(opts.slots);
  const ids = await identities();
  const deadline = Date.now() + opts.seconds * 1000;
  const faults = injectFaults(faultSchedule(opts.seed, opts.seconds * 1000), { ctx, cluster, history, seed: opts.seed }, deadline);
  const sent = await Promise.all(Array.from({ length: opts.clients }, (_, c) => runClient(c, opts, cluster, world, history, ids, deadline)));
  const injected = await faults;
  opts.log(`sent ${sent.reduce((a, b) => a + b, 0)} operations, injected ${injected} faults; waiting for quiet`);
  const clientsStoppedAt = Date.now();
  const stuck = await settle(ctx, cluster, history, ids.admin);
  const sweep = await sweepAsScheduled(cluster, history, ids.admin, clientsStoppedAt);
  const fates = await sessionFates(ctx, history);
  resolveFates(history, fates);
  const deps: CheckDeps = {
    ctx,
    cluster,
    history,
    fates,
    tokenOf: (sub) => ids.tokens.get(sub) ?? ids.admin,
    readerToken: ids.tokens.get(READER)!,
    reader: READER,
  };
  const acked = ackedVersions(history, fates);
  const checks: Array<[string, () => Promise<Violation[]>]> = [
    [
      'settled',
      async () =>
        stuck ? [{ invariant: 'sessions, runs and workflows end', message: `still moving after the bound: ${JSON.stringify(stuck).slice(0, 2000)}` }] : [],
    ],
    ['swept', async () => (sweep === 'completed' ? [] : [{ invariant: 'the lifecycle run completes', message: `the quiet phase's lifecycle run: ${sweep}` }])],
    ['versions', () => versionsReadable(deps, acked)],
    ['objects', () => objectsMatchRows(deps)],
    ['usage', () => usageMatchesCatalog(deps)],
    ['audit', () => everyChangeAudited(deps)],
    ['cache', () => apiAgreesWithCatalog(deps)],
    ['fields', () => fieldsAreLastWrites(deps)],
  ];
  const violations: Violation[] = [];
  for (const [, check] of checks) violations.push(...(await check()));
  const text = [
    `seed ${opts.seed}: ${history.entries.filter((e) => e.client >= 0).length} operations, ${injected} faults, ${checks.length} invariants (${acked.length} acknowledged versions), ${violations.length} violations`,
    ...violations.map((v) => `VIOLATION [${v.invariant}] ${v.message}\n  history around it:\n${history.around(v.assetId)}`),
  ].join('\n');
  return {
    seed: opts.seed,
    operations: history.entries.filter((e) => e.client >= 0).length,
    faults: injected,
    invariantsChecked: checks.length,
    versionsChecked: acked.length,
    violations,
    counts: history.counts(),
    text,
    historyText: history.entries.map((e) => history.line(e)).join('\n'),
  };
}
