/**
 * Each request's audit trail (lib/audit/log.ts). A change the API makes itself is written by the
 * domain function, in its transaction, through the trail it is handed (`auditOf(res)`): the row says
 * the route's success status. Everything else is written when the answer has gone: refusals of changes
 * and of reads (folded), requests whose change a workflow makes (its own commit writes the change),
 * and the reads of content by an admin or a service of an asset that is not theirs.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Knex } from 'knex';
import { actsForAnyOwner, actorRef, type Actor } from '../../lib/auth/actor';
import {
  FOLDED_REQUEST_IDS,
  NO_AUDIT,
  foldKeyOf,
  foldRefusals,
  writeAudit,
  writeReadOfOthersContent,
  type AuditEntry,
  type AuditSubjects,
  type AuditTrail,
  type SubjectColumn,
} from '../../lib/audit/log';
import type { Config } from '../../lib/platform/config';
import type { Db } from '../../lib/platform/db';
import { tryAfterWaits } from '../../lib/platform/concurrency';
import { UUID_PATTERN } from '../../lib/platform/ids';
import type { Logger } from '../../lib/platform/logger';
import { parameterCountOf, patternOf, type RouteDeclaration } from '../http/route';

/** The action of every route that changes state (test/audit.test.ts checks none is missing). */
export const CHANGE_ACTIONS: Record<string, string> = {
  'POST /api/v2/assets/upload': 'asset.upload',
  'PUT /api/v2/assets/:id': 'asset.update',
  'PATCH /api/v2/assets/:id': 'asset.update',
  'DELETE /api/v2/assets/:id': 'asset.delete',
  'POST /api/v2/assets/:id/restore': 'asset.restore',
  'PUT /api/v2/assets/:id/grants': 'asset.grants',
  'POST /api/v2/assets/:id/url': 'asset.sign_url',
  'POST /api/v2/assets/:id/versions': 'version.upload',
  'POST /api/v2/assets/:id/versions/:version_id/restore': 'version.restore',
  'POST /api/v2/uploads': 'upload.open',
  'PUT /api/v2/uploads/:id/parts/:n': 'upload.part',
  'POST /api/v2/uploads/:id/parts/:n/url': 'upload.part_url',
  'POST /api/v2/uploads/:id/complete': 'upload.complete',
  'DELETE /api/v2/uploads/:id': 'upload.abort',
  'POST /api/v2/events': 'event.receive',
  'POST /api/v2/backups': 'backup.create',
  'POST /api/v2/backups/:id/restore': 'backup.restore',
  'POST /api/v2/restores': 'restore.point_in_time',
  'POST /api/v2/restore-drills': 'restore_drill.start',
  'POST /api/v2/scrubs': 'scrub.start',
  'POST /api/v2/backups/import': 'backup.import',
  'POST /api/v2/policies': 'policy.create',
  'PUT /api/v2/policies/:id': 'policy.replace',
  'PATCH /api/v2/policies/:id': 'policy.update',
  'DELETE /api/v2/policies/:id': 'policy.delete',
  'POST /api/v2/lifecycle/runs': 'lifecycle.run',
  'POST /api/v2/tus': 'upload.open',
  'PATCH /api/v2/tus/:id': 'upload.part',
  'DELETE /api/v2/tus/:id': 'upload.abort',
  'PUT /api/v2/quotas/:owner_id': 'quota.set',
  'PATCH /api/v2/quotas/:owner_id': 'quota.set',
  'POST /api/v2/operations/:id\\:cancel': 'operation.cancel',
};

/** Reads of content: a row when an admin or a service reads an asset they do not own. */
export const CONTENT_READS: Record<string, string> = {
  'GET /api/v2/assets/:id/content': 'asset.read_content',
  'GET /api/v2/assets/:id/versions/:version_id/content': 'version.read_content',
};

/** The action of every read of the API (GET, and HEAD alike): a refused one is folded like a refused change. */
export const READ_ACTIONS: Record<string, string> = {
  ...CONTENT_READS,
  'GET /api/v2/assets': 'asset.list',
  'GET /api/v2/assets/:id': 'asset.read',
  'GET /api/v2/assets/:id/grants': 'asset.read_grants',
  'GET /api/v2/assets/:id/versions': 'version.list',
  'GET /api/v2/assets/:id/versions/:version_id': 'version.read',
  'GET /api/v2/signed/assets/:id/content': 'asset.read_signed_content',
  'GET /api/v2/signed/assets/:id/versions/:version_id/content': 'version.read_signed_content',
  'GET /api/v2/uploads': 'upload.list',
  'GET /api/v2/uploads/:id': 'upload.read',
  'GET /api/v2/tus/:id': 'upload.read',
  'GET /api/v2/events': 'event.list',
  'GET /api/v2/backups': 'backup.list',
  'GET /api/v2/backups/:id': 'backup.read',
  'GET /api/v2/restores': 'restore.list',
  'GET /api/v2/restores/:id': 'restore.read',
  'GET /api/v2/restores/:id/items': 'restore.items',
  'GET /api/v2/restore-drills': 'restore_drill.list',
  'GET /api/v2/restore-drills/:id': 'restore_drill.read',
  'GET /api/v2/scrubs': 'scrub.list',
  'GET /api/v2/scrubs/:id': 'scrub.read',
  'GET /api/v2/scrubs/:id/findings': 'scrub.findings',
  'GET /api/v2/policies': 'policy.list',
  'GET /api/v2/policies/:id': 'policy.read',
  'GET /api/v2/lifecycle/runs': 'lifecycle.list',
  'GET /api/v2/lifecycle/runs/:id': 'lifecycle.read',
  'GET /api/v2/lifecycle/runs/:id/items': 'lifecycle.items',
  'GET /api/v2/usage': 'usage.read',
  'GET /api/v2/quotas/:owner_id': 'quota.read',
  'GET /api/v2/audit': 'audit.list',
  'GET /api/v2/operations/:id': 'operation.read',
};

/** The path segment before an id says what the id is. */
const SUBJECT_OF_SEGMENT: Record<string, SubjectColumn> = {
  assets: 'asset_id',
  versions: 'version_id',
  uploads: 'upload_id',
  tus: 'upload_id',
  policies: 'policy_id',
  backups: 'backup_id',
  restores: 'restore_id',
};

/** The ids a path names: the request's own, and the Location a 201 or 202 points at. */
function subjectsOfPath(path: string | undefined): AuditSubjects {
  const subjects: AuditSubjects = {};
  const segments = (path ?? '').split('?')[0].split('/');
  segments.forEach((segment, i) => {
    const column = SUBJECT_OF_SEGMENT[segment];
    const id = segments[i + 1];
    if (column && id && UUID_PATTERN.test(id)) subjects[column] = id.toLowerCase();
  });
  return subjects;
}

interface Rule {
  pattern: RegExp;
  action: string;
  read: 'content' | 'other' | false;
  /** What a change written in its transaction answers: the route's first 2xx. */
  ok: string;
  params: number;
}

/** The rules of each method, fewest parameters first, as the access rules match: a literal path before a parameter that would take its segment. */
function rulesOf(routes: RouteDeclaration[]): Map<string, Rule[]> {
  const byMethod = new Map<string, Rule[]>();
  for (const route of routes) {
    const key = `${route.method.toUpperCase()} ${route.path}`;
    const action = CHANGE_ACTIONS[key] ?? READ_ACTIONS[key];
    if (!action) continue;
    // 202 is never it: an accepted request's change is its workflow's to write.
    const ok = Object.keys(route.responses).find((status) => status.startsWith('2') && status !== '202') ?? '200';
    const read = key in CONTENT_READS ? 'content' : key in READ_ACTIONS ? 'other' : false;
    const rule = { pattern: patternOf(route.path), action, read, ok, params: parameterCountOf(route.path) } as const;
    for (const method of route.method === 'get' ? ['GET', 'HEAD'] : [route.method.toUpperCase()]) byMethod.set(method, [...(byMethod.get(method) ?? []), rule]);
  }
  for (const rules of byMethod.values()) rules.sort((a, b) => a.params - b.params);
  return byMethod;
}

/**
 * Refusals of one key are counted here for FOLD_DELAY_MS, and while its upsert is on its way, then
 * added by one statement: a flood costs a few statements per key and second, not one per request,
 * and leaves the pool to the others. A crash loses at most that moment's counts; a process that
 * stops writes them first (`flush`).
 */
const FOLD_DELAY_MS = 250;

/**
 * The tries of a row written after the answer (a fold, a change a workflow makes, a read of another's
 * content): at once, then after 2, 4, 8 and 16 s (30 s in all), so a pool exhausted by a burst or a
 * database that blinked loses no row. What is still lost: a row whose every try failed (logged), and
 * the rows of a process killed before it wrote them (one that stops waits for them: `settle`).
 */
const WRITE_WAITS_MS = [0, 2_000, 4_000, 8_000, 16_000];

/** Writes an audit row after the answer, with WRITE_WAITS_MS's tries. */
function writeAfterAnswer(write: () => Promise<unknown>): Promise<unknown> {
  return tryAfterWaits(WRITE_WAITS_MS, write);
}

class RefusalFolder {
  private readonly pending = new Map<string, { entry: AuditEntry; count: number; requestIds: string[] }>();
  /** Each key with counts on their way: waiting out the delay (`timer`), or being written (`drained`). */
  private readonly busy = new Map<string, { timer?: NodeJS.Timeout; drained?: Promise<void> }>();

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  add(entry: AuditEntry): void {
    const now = Date.now();
    const key = foldKeyOf(entry, now);
    const waiting = this.pending.get(key) ?? { entry: { ...entry, at: new Date(now) }, count: 0, requestIds: [] };
    waiting.count += 1;
    // The row keeps no more than these: the rest would be held here for nothing.
    if (entry.requestId && waiting.requestIds.length < FOLDED_REQUEST_IDS) waiting.requestIds.push(entry.requestId);
    this.pending.set(key, waiting);
    if (this.busy.has(key)) return;
    this.busy.set(key, { timer: setTimeout(() => void this.start(key), FOLD_DELAY_MS).unref() });
  }

  /** Writes every count held now, without waiting out the delay: a process that stops waits for it. */
  async flush(): Promise<void> {
    await Promise.all([...this.busy.keys()].map((key) => this.start(key)));
  }

  private start(key: string): Promise<void> {
    const state = this.busy.get(key)!;
    clearTimeout(state.timer);
    return (state.drained ??= this.drain(key));
  }

  private async drain(key: string): Promise<void> {
    try {
      for (let next = this.pending.get(key); next; next = this.pending.get(key)) {
        this.pending.delete(key);
        const { entry, count, requestIds } = next;
        await writeAfterAnswer(() => foldRefusals(this.db, key, entry, count, requestIds)).catch((err) =>
          this.logger.error('audit row not written', { err, fold_key: key }),
        );
      }
    } finally {
      this.busy.delete(key);
    }
  }
}

class RequestTrail implements AuditTrail {
  private recorded = false;
  /** Ids the handler learnt that neither the path nor the Location names. */
  readonly noted: AuditSubjects = {};

  constructor(
    private readonly req: Request,
    private readonly res: Response,
    private readonly rule: Rule,
  ) {}

  entry(outcome: string, more: AuditSubjects = {}): AuditEntry {
    const actor = this.res.locals.actor as Actor | undefined;
    return {
      actor: actor ? actorRef(actor) : null,
      action: this.rule.action,
      outcome,
      subjects: { ...subjectsOfPath(this.req.path), ...this.noted, ...more },
      requestId: String(this.res.getHeader('X-Request-Id') ?? ''),
      clientAddress: this.req.ip ?? this.req.socket.remoteAddress,
      userAgent: this.req.get('User-Agent'),
    };
  }

  async record(trx: Knex.Transaction, subjects?: AuditSubjects): Promise<void> {
    await writeAudit(trx, this.entry(this.rule.ok, subjects));
    this.recorded = true;
  }

  /**
   * What the answer still needs written, once it has gone, or once its client left without it (the
   * outcome `closed`, folded like a refusal: the change it asked for may still happen, in a workflow).
   */
  async finish(db: Db, folder: RefusalFolder): Promise<void> {
    const status = this.res.statusCode;
    const actor = this.res.locals.actor as Actor | undefined;
    if (this.rule.read) {
      // A read refused is folded as a change refused is; one its client left changed nothing.
      if (!this.res.headersSent) return;
      if (status >= 400) folder.add(this.entry(String(status)));
      // Content that began to flow was read, all of it or not; a redirect to the store hands it out.
      else if (
        this.rule.read === 'content' &&
        this.req.method === 'GET' &&
        (status === 200 || status === 206 || status === 307) &&
        actor &&
        actsForAnyOwner(actor)
      ) {
        const entry = { ...this.entry(String(status)), actor: actorRef(actor) };
        await writeAfterAnswer(() => writeReadOfOthersContent(db, entry, entry.subjects!.asset_id!));
      }
      return;
    }
    if (!this.res.writableFinished) {
      if (!this.recorded) folder.add(this.entry('closed'));
    } else if (status >= 400) folder.add(this.entry(String(status)));
    else if (!this.recorded) {
      const entry = this.entry(String(status), subjectsOfPath(String(this.res.getHeader('Location') ?? '')));
      await writeAfterAnswer(() => writeAudit(db, entry));
    }
  }
}

/** The middleware, and what a process that stops waits for once it answers no more requests. */
export interface AuditTrailHandler extends RequestHandler {
  /** Resolves once every row the answered requests left is written (folded counts included). */
  settle(): Promise<void>;
}

export function auditTrail(deps: { db: Db; logger: Logger; config: Pick<Config, 'audit'> }, routes: RouteDeclaration[]): AuditTrailHandler {
  const rules = rulesOf(routes);
  const folder = new RefusalFolder(deps.db, deps.logger);
  const finishing = new Set<Promise<void>>();
  const handler: RequestHandler = (req, res, next) => {
    const rule = deps.config.audit.enabled ? rules.get(req.method)?.find((r) => r.pattern.test(req.path)) : undefined;
    if (!rule) {
      res.locals.audit = NO_AUDIT;
      return next();
    }
    const trail = new RequestTrail(req, res, rule);
    res.locals.audit = trail;
    res.on('close', () => {
      const finished: Promise<void> = trail
        .finish(deps.db, folder)
        .catch((err) => deps.logger.error('audit row not written', { err, action: rule.action }))
        .finally(() => finishing.delete(finished));
      finishing.add(finished);
    });
    next();
  };
  return Object.assign(handler, {
    async settle() {
      await Promise.all(finishing);
      await folder.flush();
    },
  });
}

/** The trail a domain function writes the request's change through. */
export function auditOf(res: Response): AuditTrail {
  const trail = res.locals.audit as AuditTrail | undefined;
  if (!trail) throw new Error('no audit trail: the app is not behind auditTrail()');
  return trail;
}

/** Ids a request learnt that the answer's Location does not carry (a 202 upload names its id in the body). */
export function noteAuditSubjects(res: Response, subjects: AuditSubjects): void {
  const trail = res.locals.audit;
  if (trail instanceof RequestTrail) Object.assign(trail.noted, subjects);
}
