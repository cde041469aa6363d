/**
 * One operation model for every asynchronous piece of work (issue 27; AIP-151): its id is the
 * workflow id the work already has (upload-{id}, backup-{id}, restore-{id}, restore-drill-{id},
 * lifecycle-{id}, delete-asset-{asset_id}, scrub-{id}), so it names its subject and is its link to the Temporal UI. An operation
 * is read from the work's own row or run, never from a table of its own; the caller may read it when
 * they may read the work's own resource (or started it), and a kind they may not see is 404.
 *
 * A start answers 202 with `Location: /api/v2/operations/{id}` and `Retry-After`; `Prefer: wait=N`
 * (RFC 7240) has it wait up to N seconds for the work to end and answer the result.
 */
import type { Request, Response } from 'express';
import { WorkflowNotFoundError } from '@temporalio/common';
import { getBackup, getRestore } from '../../lib/backups/catalog';
import { readBackup, readRestore } from '../../lib/backups/backupRuns';
import { getDrill, toDrillJson } from '../../lib/drills/drills';
import { getRun } from '../../lib/lifecycle/runRows';
import { toRunJson } from '../../lib/lifecycle/runs';
import { readLifecycleRun } from '../../lib/lifecycle/sweepRuns';
import { getScrub } from '../../lib/scrub/scrubs';
import { readScrub } from '../../lib/scrub/scrubRuns';
import { isAdmin, type Actor, type ActorRef } from '../../lib/auth/actor';
import { ForbiddenError } from '../../lib/auth/errors';
import { ConflictError, NotFoundError } from '../../lib/platform/errors';
import { UUID_PATTERN } from '../../lib/platform/ids';
import { CANCELLED } from '../../workflows/shared/failures';
import { StorageActorAttribute } from '../../lib/platform/temporal';
import { abortUploadSession, readUploadSession } from '../../lib/uploads/uploadRuns';
import { refusedTypesIn } from '../../lib/uploads/contentType';
import { assetFor } from '../access/assetLookup';
import { sessionAccessOf } from '../access/sessionAccess';
import type { AppDeps } from '../deps';
import { actorOf } from '../middleware/authentication';
import { PROBLEM_KINDS, problemTypeOf, type ProblemKindName } from './problemTypes';
import type { z } from 'zod';
import type { operation } from '../schemas/operations';

export type OperationJson = z.infer<typeof operation>;
type Kind = OperationJson['kind'];
type Status = OperationJson['status'];

/** How soon a client should read an operation again. */
export const OPERATION_RETRY_SECONDS = 1;
// How often a start honouring Prefer: wait reads its operation.
const WAIT_POLL_MS = 200;

const PREFIXES: Array<[string, Kind]> = [
  ['upload-', 'upload'],
  ['backup-', 'backup'],
  // Before restore-: a drill's id would otherwise be read as a restore's (and fail its UUID test).
  ['restore-drill-', 'restore_drill'],
  ['restore-', 'restore'],
  ['lifecycle-', 'lifecycle_run'],
  ['delete-asset-', 'asset_deletion'],
  ['scrub-', 'scrub'],
];

/** The kind and subject an operation id names; undefined for anything else (404). */
export function parseOperationId(id: string): { kind: Kind; subject: string } | undefined {
  for (const [prefix, kind] of PREFIXES) {
    if (!id.startsWith(prefix)) continue;
    const subject = id.slice(prefix.length).toLowerCase();
    if (UUID_PATTERN.test(subject)) return { kind, subject };
  }
  return undefined;
}

export function operationUrl(operationId: string): string {
  return `/api/v2/operations/${operationId}`;
}

/** The fields a 202 adds to its body. */
export function operationFieldsOf(operationId: string): { operation_id: string; operation_url: string } {
  return { operation_id: operationId, operation_url: operationUrl(operationId) };
}

/** A start's 202: Location of its operation, Retry-After. */
export function setAccepted(res: Response, operationId: string): Response {
  return res.status(202).setHeader('Location', operationUrl(operationId)).setHeader('Retry-After', String(OPERATION_RETRY_SECONDS));
}

export interface PreferredWait {
  ms: number;
  /** What Preference-Applied says once the wait is honoured. */
  applied: string;
}

/**
 * `Prefer: wait=N` (RFC 7240, N seconds), capped at the request timeout; undefined without one (or
 * with one that is not a number of seconds).
 */
export function preferredWait(req: Request, requestTimeoutMs: number): PreferredWait | undefined {
  const prefer = req.get('Prefer');
  if (!prefer) return undefined;
  for (const preference of prefer.split(/[,;]/)) {
    const m = /^\s*wait\s*=\s*"?(\d{1,9})"?\s*$/i.exec(preference);
    if (!m) continue;
    const seconds = Math.min(Number(m[1]), Math.floor(requestTimeoutMs / 1000));
    return { ms: seconds * 1000, applied: `wait=${seconds}` };
  }
  return undefined;
}

/** Says the wait was honoured. */
export function applyPreference(res: Response, wait: PreferredWait | undefined): void {
  if (wait) res.setHeader('Preference-Applied', wait.applied);
}

type Deps = Pick<AppDeps, 'db' | 'assetCache' | 'uploads' | 'config' | 'backups' | 'lifecycle' | 'deletions'>;

const notFound = (id: string) => new NotFoundError(`operation ${id} not found`);

/** How the work ended, as the problem of its kind (api/http/problemTypes.ts) that a request doing it at once would have answered. */
function problemOf(kind: ProblemKindName, detail: string) {
  const { status, title } = PROBLEM_KINDS[kind];
  return { type: problemTypeOf(kind), title, status, detail };
}

const JOB_STATUS: Record<string, Status> = { pending: 'running', running: 'running', completed: 'succeeded', failed: 'failed' };

/**
 * A job whose row failed as cancelled: its workflow, cancelled, recorded CANCELLED (workflows/shared/failures.ts);
 * or, ended without recording it, was marked so on a read ("its workflow backup-… cancelled", lib/backups/abandonedJobs.ts).
 */
function cancelledJob(json: { status: string; error: string | null }): boolean {
  return json.status === 'failed' && (json.error === CANCELLED || (json.error ?? '').endsWith(` ${CANCELLED}`));
}

/** Whether `actor` may follow work `startedBy` began that only admins may otherwise see. */
function adminOrStarter(actor: Actor, startedBy: ActorRef | null): boolean {
  return isAdmin(actor) || (startedBy !== null && startedBy.sub === actor.sub);
}

function jobOperation(
  id: string,
  kind: Kind,
  resource: string,
  json: { status: string; error: string | null; progress: object; created_at: string; workflow_id: string },
): OperationJson {
  const status = cancelledJob(json) ? 'cancelled' : (JOB_STATUS[json.status] ?? 'running');
  return {
    id,
    kind,
    status,
    done: status !== 'running',
    progress: { ...json.progress },
    error:
      status === 'failed'
        ? problemOf('internal', json.error ?? `the ${kind.replace('_', ' ')} failed`)
        : status === 'cancelled'
          ? problemOf('conflict', `the ${kind.replace('_', ' ')} was cancelled`)
          : null,
    resource,
    result: status === 'succeeded' ? resource : null,
    workflow_id: json.workflow_id,
    created_at: json.created_at,
  };
}

/** The operation `id` as `actor` may see it; 404 when unknown or not theirs to see. */
export async function readOperation(deps: Deps, actor: Actor, id: string): Promise<OperationJson> {
  const parsed = parseOperationId(id);
  if (!parsed) throw notFound(id);
  const { kind, subject } = parsed;
  const opId = id.toLowerCase();
  try {
    switch (kind) {
      case 'upload':
        return await uploadOperation(deps, actor, opId, subject);
      case 'backup': {
        if (!adminOrStarter(actor, (await getBackup(deps.db, subject)).actor)) throw notFound(id);
        return jobOperation(opId, kind, `/api/v2/backups/${subject}`, await readBackup(deps.backups, subject));
      }
      case 'restore': {
        if (!adminOrStarter(actor, (await getRestore(deps.db, subject)).actor)) throw notFound(id);
        return jobOperation(opId, kind, `/api/v2/restores/${subject}`, await readRestore(deps.backups, subject));
      }
      case 'restore_drill':
        return await drillOperation(deps, actor, opId, subject);
      case 'lifecycle_run': {
        if (!adminOrStarter(actor, (await getRun(deps.db, subject)).actor)) throw notFound(id);
        const run = toRunJson(await readLifecycleRun(deps.lifecycle, subject));
        return jobOperation(opId, kind, `/api/v2/lifecycle/runs/${subject}`, { ...run, progress: run.counts });
      }
      case 'asset_deletion':
        return await deletionOperation(deps, actor, opId, subject);
      case 'scrub': {
        if (!adminOrStarter(actor, (await getScrub(deps.db, subject)).actor)) throw notFound(id);
        const scrub = await readScrub(deps.backups, subject);
        const progress = { phase: scrub.phase, ...scrub.counts, repaired: scrub.repaired, unrepairable: scrub.unrepairable, bytes_hashed: scrub.bytes_hashed };
        return jobOperation(opId, kind, `/api/v2/scrubs/${subject}`, { ...scrub, progress });
      }
    }
  } catch (err) {
    // The work's own "not found" names its resource: the operation is what was asked for.
    if (err instanceof NotFoundError) throw notFound(id);
    throw err;
  }
}

const DRILL_STATUS: Record<string, Status> = { pending: 'running', running: 'running', passed: 'succeeded', failed: 'failed' };

/** A restore drill, read from its row: admins' (or its starter's) to follow; a failed drill's problem names what did not restore. */
async function drillOperation(deps: Deps, actor: Actor, id: string, drillId: string): Promise<OperationJson> {
  const row = await getDrill(deps.db, drillId);
  if (!adminOrStarter(actor, row.actor)) throw notFound(id);
  const json = toDrillJson(row);
  const status = DRILL_STATUS[json.status] ?? 'running';
  return {
    id,
    kind: 'restore_drill',
    status,
    done: status !== 'running',
    progress: { assets_total: json.assets_total, assets_checked: json.assets_checked, bytes_checked: json.bytes_checked },
    error: status === 'failed' ? problemOf('internal', json.error ?? 'the restore drill failed') : null,
    resource: `/api/v2/restore-drills/${drillId}`,
    result: status === 'succeeded' ? `/api/v2/restore-drills/${drillId}` : null,
    workflow_id: json.workflow_id,
    created_at: json.created_at,
  };
}

const UPLOAD_STATUS: Record<string, Status> = {
  open: 'running',
  completing: 'running',
  pending: 'running',
  completed: 'succeeded',
  failed: 'failed',
  expired: 'failed',
  aborted: 'cancelled',
};

async function uploadOperation(deps: Deps, actor: Actor, id: string, uploadId: string): Promise<OperationJson> {
  await sessionAccessOf(deps).sessionFor(actor, uploadId);
  const { row, state } = await readUploadSession(deps.uploads, uploadId);
  const raw = state?.status ?? row.status;
  const status = UPLOAD_STATUS[raw] ?? 'running';
  const failure = state?.error ?? row.error ?? `upload ${uploadId} failed`;
  const error =
    status === 'failed'
      ? raw === 'expired'
        ? problemOf('gone', row.error ?? `upload ${uploadId} expired before it was completed`)
        : problemOf(refusedTypesIn(failure) ? 'content-type-mismatch' : 'unprocessable', failure)
      : status === 'cancelled'
        ? problemOf('conflict', row.error ?? `upload ${uploadId} was aborted`)
        : null;
  const versionId = state?.result?.versionId ?? row.version_id;
  const assetId = state?.result?.assetId ?? row.result_asset_id;
  return {
    id,
    kind: 'upload',
    status,
    done: status !== 'running',
    progress: row.part_count === null ? null : { parts_total: row.part_count, size_bytes: row.size_bytes },
    error,
    resource: `/api/v2/uploads/${uploadId}`,
    result: status === 'succeeded' ? `/api/v2/assets/${assetId}/versions/${versionId}` : null,
    workflow_id: row.workflow_id,
    created_at: row.created_at.toISOString(),
  };
}

const DELETION_STATUS: Record<string, Status> = {
  RUNNING: 'running',
  CONTINUED_AS_NEW: 'running',
  COMPLETED: 'succeeded',
  FAILED: 'failed',
  TERMINATED: 'failed',
  TIMED_OUT: 'failed',
  CANCELLED: 'cancelled',
};

/**
 * A permanent deletion has no row: its run says how it goes. Whoever may delete its asset (its owner,
 * a service, an admin) may follow it while the asset is there; once it is gone, whoever started it, or
 * an admin. To anyone else it is 404, as an unknown one is.
 */
async function deletionOperation(deps: Deps, actor: Actor, id: string, assetId: string): Promise<OperationJson> {
  let description;
  try {
    description = await deps.deletions.client.workflow.getHandle(id).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw notFound(id);
    throw err;
  }
  const startedBy = description.typedSearchAttributes.get(StorageActorAttribute);
  if (!isAdmin(actor) && startedBy !== actor.sub) {
    // Not theirs: the asset's own rule, while it is there. One who may read the asset but not delete it
    // is told nothing either (a 403 would say that a deletion of it is under way or was made).
    try {
      await assetFor(deps.assetCache, actor, assetId, 'own', { includeDeleted: true });
    } catch (err) {
      if (err instanceof ForbiddenError) throw notFound(id);
      throw err;
    }
  }
  const status = DELETION_STATUS[description.status.name] ?? 'running';
  return {
    id,
    kind: 'asset_deletion',
    status,
    done: status !== 'running',
    progress: null,
    error: status === 'failed' || status === 'cancelled' ? problemOf('internal', `the deletion's workflow ${description.status.name.toLowerCase()}`) : null,
    resource: `/api/v2/assets/${assetId}`,
    result: null,
    workflow_id: id,
    created_at: description.startTime.toISOString(),
  };
}

/** Reads the operation until it is done, `ms` have passed or its client has gone; answers it as last read. */
export async function awaitOperation(deps: Deps, actor: Actor, id: string, ms: number, clientGone: () => boolean = () => false): Promise<OperationJson> {
  const deadline = Date.now() + ms;
  for (;;) {
    const op = await readOperation(deps, actor, id);
    if (op.done || Date.now() >= deadline || clientGone()) return op;
    await new Promise((resolve) => setTimeout(resolve, Math.min(WAIT_POLL_MS, Math.max(0, deadline - Date.now()))));
  }
}

/**
 * Cancels the operation where that is meaningful and safe:
 * - an upload: its abort (its bytes and reservation go);
 * - a backup: its workflow is cancelled; its failure handler records the row failed as `cancelled`
 *   (read back as cancelled), and what it copied is left to the retention sweep's collection, as a
 *   failed backup's is. The 202 is a request (AIP-151): a cancel that lands once its last step has
 *   completed the row lets the backup complete, and the operation reads succeeded.
 * Restores (an asset mid-copy could leave objects without rows), restore drills (they end on their own, their scratch removed), lifecycle runs (cancelling would
 * cancel their purges, child deletions) and deletions are refused (409). One already ended: 409.
 */
export async function cancelOperation(deps: Deps, actor: Actor, id: string): Promise<OperationJson> {
  const op = await readOperation(deps, actor, id);
  if (op.done)
    throw new ConflictError(`operation ${op.id} has ended (${op.status}): there is nothing to cancel`, { operation_id: op.id, operation_status: op.status });
  if (op.kind === 'upload') {
    await abortUploadSession(deps.uploads, parseOperationId(op.id)!.subject, deps.config.uploads.waitSeconds * 1000);
  } else if (op.kind === 'backup') {
    try {
      await deps.backups.client.workflow.getHandle(op.workflow_id).cancel();
    } catch (err) {
      // Ended meanwhile: the operation says how.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  } else {
    throw new ConflictError(`a ${op.kind.replace('_', ' ')} cannot be cancelled: it runs to its end (follow the operation)`, { operation_id: op.id });
  }
  return readOperation(deps, actor, id);
}

/**
 * Answers a start of work that has its own resource (a backup, a restore, a run): 202 with `body`
 * (what `read` answers) and the operation; with `Prefer: wait=N`, once the work has ended within N
 * seconds, 200 with its resource as it ended.
 */
export async function answerStart(req: Request, res: Response, deps: Deps, operationId: string, body: object, read: () => Promise<object>): Promise<void> {
  const wait = preferredWait(req, deps.config.http.requestTimeoutMs);
  applyPreference(res, wait);
  if (wait && wait.ms > 0) {
    const op = await awaitOperation(deps, actorOf(res), operationId, wait.ms, () => req.socket.destroyed);
    const latest = { ...(await read()), ...operationFieldsOf(operationId) };
    if (op.done) {
      res.status(200).json(latest);
      return;
    }
    body = latest;
  }
  setAccepted(res, operationId).json({ ...body, ...operationFieldsOf(operationId) });
}
