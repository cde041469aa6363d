/**
 * Idempotency-Key (IETF httpapi draft) on every route that creates or changes something, but tus's
 * (its PATCHes carry their own offsets, and a creation is found again by its Location): a client that
 * did not get its answer (a 5xx, a dropped connection) sends the request again with the same key, and
 * the operation is carried out once. Built per route by the router (api/http/route.ts), after the JSON
 * body is parsed; the rows are lib/idempotency/store.ts's.
 *
 * - A key is the caller's (their subject's): another caller's same key is another key. It lives 24 hours.
 * - The first request with a key claims it, with its fingerprint: method, path and query, and the JSON
 *   body; a streamed body (a form, a part's bytes) is not read before the handler, so it counts by its
 *   declared X-Checksum-SHA256 and, outside a form (whose boundary each attempt draws anew), its length.
 * - Its answer is kept when final: any status below 500 but 429, for a request whose body arrived
 *   whole. A retry then gets it again, with `Idempotent-Replayed: true`. A 5xx, a 429, or a body cut
 *   short is not final: the key is released and a retry runs again.
 * - Except an upload that reached its commit: the upload is recorded on the key as it opens, so a retry
 *   (while the first still runs, or after it failed or its connection dropped) answers that upload's
 *   outcome, through the route's own answer (`resumedUploadOf`), and never makes a second asset.
 *   An upload that ended without a commit after all (aborted, expired, failed, or its simple upload's
 *   row gone with its discard) made nothing: the retry that finds it so takes the key over and runs
 *   the request anew (`runAnewIfUploadEnded`), as if it were the first; while the attempt that holds
 *   the key still runs, it is told to wait (409). Never a 404 for an upload the client never saw.
 * - While the first still runs: 409 with Retry-After. Another request under the same key: 422. A
 *   malformed key: 400, before anything is done.
 * - The attempt that holds a key keeps a short lease (KEY_LEASE_SECONDS) and renews it every
 *   LEASE_RENEWAL_MS while its request runs: an attempt whose API died (or lost its database) stops
 *   renewing, and within the lease a retry takes the key over, instead of waiting out the longest a
 *   request may take. The retry first ends the upload that attempt opened (a `complete` its API sent
 *   may reach that upload's run late): if it committed after all, that is the answer; if its run does
 *   not end within EARLIER_UPLOAD_WAIT_MS, the retry is told to wait (409).
 */
import { createHash } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import {
  claimKey,
  recordKeyAnswer,
  recordKeyUpload,
  releaseKey,
  renewKeyLease,
  takeOverKey,
  type KeyClaim,
  type StoredAnswer,
} from '../../lib/idempotency/store';
import { ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../../lib/platform/errors';
import { uuidv7 } from '../../lib/platform/ids';
import { tryAfterWaits } from '../../lib/platform/concurrency';
import { findUploadSession } from '../../lib/uploads/store';
import { endedWithoutCommit } from '../../lib/uploads/sessionRow';
import { abortUploadSession, readUploadSession } from '../../lib/uploads/uploadRuns';
import { takesJson, type RouteDeclaration, type RouteDeps } from '../http/route';
import { actorOf } from './authentication';

export const IDEMPOTENCY_KEY = 'Idempotency-Key';
export const REPLAYED = 'Idempotent-Replayed';
const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;
// A structured-field string (RFC 8941), the form the draft gives: printable ASCII, `"` and `\` escaped.
const SF_STRING = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/;
// How soon a retry may find the first attempt done.
const IN_PROGRESS_RETRY_SECONDS = 1;
// How long a key stays held by an attempt that stopped renewing it (its API died): a retry then takes it over.
export const KEY_LEASE_SECONDS = 30;
// How often a running attempt renews its lease: a renewal or two may fail (logged) before the lease passes.
export const LEASE_RENEWAL_MS = 10_000;
// Beyond the request timeout, what a request still does once its body arrived: its staging's tail, the wait for its commit.
const RENEWAL_MARGIN_MS = 60_000;
// After the answer, the tries of a key's update that failed before it (about 30 s in all).
const UPDATE_RETRY_DELAYS_MS = [1_000, 2_000, 4_000, 8_000, 16_000];
// Kept with an answer, for its replay.
// A replayed 202 still points to its operation (Location) and says when to read it (Retry-After).
const KEPT_HEADERS = ['content-type', 'location', 'etag', 'retry-after', 'preference-applied'];

type KeyDeps = Pick<RouteDeps, 'db' | 'uploads' | 'logger' | 'config'>;

/** What a request that holds a key, or answers the upload of the attempt that does, carries (res.locals.idempotency). */
interface HeldKey {
  db: RouteDeps['db'];
  claim: KeyClaim;
  /** The upload a retry answers the outcome of, instead of doing it again. */
  resumedUpload?: string;
  /** For a retry answering `resumedUpload`: takes the key over (that upload ended without a commit); true when taken. */
  takeOver?: () => Promise<boolean>;
}

/** Whether a route takes the header: a change, by an authenticated caller, unless it declines (tus). */
export function takesIdempotencyKey(route: RouteDeclaration): boolean {
  return ['post', 'put', 'patch', 'delete'].includes(route.method) && route.access !== 'anyone' && route.idempotencyKey !== false;
}

/** The middleware of one route, or none for a route that takes no key. */
export function idempotency(deps: KeyDeps, route: RouteDeclaration): RequestHandler | undefined {
  if (!takesIdempotencyKey(route)) return undefined;
  return (req, res, next) => {
    const key = keyOf(req);
    if (key === undefined) return next();
    const claim: KeyClaim = {
      subject: actorOf(res).sub,
      key,
      fingerprint: fingerprintOf(req, takesJson(route)),
      attempt: uuidv7(),
      leaseSeconds: KEY_LEASE_SECONDS,
    };
    admit(deps, req, res, claim).then((go) => (go ? next() : undefined), next);
  };
}

/** The request's key; undefined without one; a malformed or repeated one is a 400. */
function keyOf(req: Request): string | undefined {
  const values = req.headersDistinct[IDEMPOTENCY_KEY.toLowerCase()];
  if (!values?.length) return undefined;
  // Quoted, it must be a whole structured-field string; bare, the key as it is.
  const quoted = values[0].startsWith('"') ? SF_STRING.exec(values[0]) : undefined;
  const key = quoted === undefined ? values[0] : quoted?.[1].replace(/\\(["\\])/g, '$1');
  if (values.length > 1 || key === undefined || !KEY_PATTERN.test(key)) {
    throw new ValidationError(`${IDEMPOTENCY_KEY} must be one value of 1 to 255 printable ASCII characters (a quoted string, or bare)`, [
      { path: IDEMPOTENCY_KEY, message: 'malformed' },
    ]);
  }
  return key;
}

/** What identifies the request beside its key: two requests under one key must agree on it. */
function fingerprintOf(req: Request, json: boolean): string {
  const hash = createHash('sha256').update(`${req.method} ${req.originalUrl}\n`);
  if (json) return hash.update(JSON.stringify(req.body ?? null)).digest('hex');
  hash.update(`checksum ${req.get('x-checksum-sha256') ?? ''}\n`);
  if (!req.is('multipart/form-data')) hash.update(`length ${req.get('content-length') ?? ''}\n`);
  return hash.digest('hex');
}

/** Claims the key, or answers from it; true when the route is to run (anew, or resuming an upload). */
async function admit(deps: KeyDeps, req: Request, res: Response, claim: KeyClaim): Promise<boolean> {
  const { claimed, row } = await claimKey(deps.db, claim);
  if (claimed) return hold(deps, req, res, claim);
  if (row && row.fingerprint !== claim.fingerprint) {
    throw new UnprocessableError(`${IDEMPOTENCY_KEY} "${claim.key}" was sent with another request: a key names one request (method, path and body)`);
  }
  if (row?.status != null) {
    replay(res, { status: row.status, headers: row.headers ?? {}, body: row.body });
    return false;
  }
  if (row?.upload_id && (await reachedCommit(deps, row.upload_id))) {
    // Answered by the route from the upload's outcome; the attempt that holds the key records its own answer.
    const resumedUpload = row.upload_id;
    const takeOver = async () => (await takeOverKey(deps.db, claim, resumedUpload)) && hold(deps, req, res, claim);
    res.locals.idempotency = { db: deps.db, claim, resumedUpload, takeOver } satisfies HeldKey;
    res.setHeader(REPLAYED, 'true');
    return true;
  }
  if (!row || !(await takeOverKey(deps.db, claim, row.upload_id))) throw inProgress(res, claim);
  // The upload the key's earlier attempt opened and never took to its commit ends first: a `complete`
  // its dead API sent may still be on its way to the run, and must not commit beside this request's.
  const earlier = row.upload_id
    ? await endEarlierUpload(deps, row.upload_id).catch(async (err) => {
        await releaseKey(deps.db, claim.subject, claim.key, claim.attempt).catch(() => {});
        throw err;
      })
    : 'ended';
  if (earlier === 'running') {
    await releaseKey(deps.db, claim.subject, claim.key, claim.attempt);
    throw inProgress(res, claim);
  }
  hold(deps, req, res, claim);
  if (earlier === 'committed') {
    (res.locals.idempotency as HeldKey).resumedUpload = row.upload_id!;
    res.setHeader(REPLAYED, 'true');
  }
  return true;
}

// How long a retry that took a key over waits for the earlier attempt's upload to end once told to.
const EARLIER_UPLOAD_WAIT_MS = 10_000;

/**
 * Tells the run of an earlier attempt's upload to abort, and waits for it: answers how it ended. It
 * committed if a `complete` got to its run first; 'running' when the run has not ended within
 * EARLIER_UPLOAD_WAIT_MS (its workers busy): the retry is then told to come again.
 */
async function endEarlierUpload(deps: KeyDeps, uploadId: string): Promise<'ended' | 'committed' | 'running'> {
  // Refused (ConflictError: it ended otherwise; NotFoundError: it is gone) is told by its row below.
  await abortUploadSession(deps.uploads, uploadId, EARLIER_UPLOAD_WAIT_MS).catch((err) => {
    if (!(err instanceof ConflictError) && !(err instanceof NotFoundError)) throw err;
  });
  const session = await findUploadSession(deps.db, uploadId);
  if (endedWithoutCommit(session)) return 'ended';
  return session!.status === 'completed' ? 'committed' : 'running';
}

function inProgress(res: Response, claim: KeyClaim): ConflictError {
  res.setHeader('Retry-After', String(IN_PROGRESS_RETRY_SECONDS));
  return new ConflictError(`a request with ${IDEMPOTENCY_KEY} "${claim.key}" is still in progress: try again in ${IN_PROGRESS_RETRY_SECONDS} s`);
}

/** Whether the key's upload was handed to its commit (or made it): its outcome is then the answer. */
async function reachedCommit(deps: KeyDeps, uploadId: string): Promise<boolean> {
  const session = await findUploadSession(deps.db, uploadId);
  if (!session) return false;
  if (session.status === 'completed' || session.status === 'completing') return true;
  if (session.status !== 'open') return false;
  // A simple upload commits in one step: its row stays open until then, its run says it is completing.
  try {
    const { state } = await readUploadSession(deps.uploads, uploadId);
    return state?.status === 'completing' || state?.status === 'completed';
  } catch (err) {
    // Its row went meanwhile (a simple upload's is deleted as it is discarded): it ended without a commit.
    if (err instanceof NotFoundError) return false;
    throw err;
  }
}

/**
 * The request holds the key: it renews its lease until it answers, its connection closed or not (a
 * client that left mid-request leaves its handler running: its upload may still commit), for at most
 * the longest a request may take; its answer is kept when final, else the key is released.
 */
function hold(deps: KeyDeps, req: Request, res: Response, claim: KeyClaim): true {
  res.locals.idempotency = { db: deps.db, claim } satisfies HeldKey;
  const stopRenewing = renewWhileRunning(deps, claim, deps.config.http.requestTimeoutMs + RENEWAL_MARGIN_MS);
  beforeAnswer(res, async (answer) => {
    stopRenewing();
    const { subject, key, attempt } = claim;
    const final = answer.status < 500 && answer.status !== 429 && req.complete;
    await updateKey(deps, key, () => (final ? recordKeyAnswer(deps.db, subject, key, attempt, answer) : releaseKey(deps.db, subject, key, attempt)));
  });
  return true;
}

/**
 * Renews the attempt's lease every LEASE_RENEWAL_MS, for `forMs` at most (a handler that never
 * answers holds its key no longer than a request may take); answers what stops it. A renewal that
 * fails is logged and the next one tries again: only if they fail for the whole lease may a retry take
 * the key over. The timer does not keep the process alive (a dying API stops renewing, as it should).
 */
function renewWhileRunning(deps: KeyDeps, claim: KeyClaim, forMs: number): () => void {
  const { subject, key, attempt, leaseSeconds } = claim;
  const until = Date.now() + forMs;
  const timer = setInterval(() => {
    if (Date.now() > until) return clearInterval(timer);
    renewKeyLease(deps.db, subject, key, attempt, leaseSeconds).then(
      (renewed) => {
        // Released or answered in the meantime (the timer stops right after), or taken over: nothing to hold.
        if (!renewed) clearInterval(timer);
      },
      (err) => deps.logger.warn('idempotency key lease not renewed; trying again', { key, error: String((err as Error)?.message ?? err) }),
    );
  }, LEASE_RENEWAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Writes the key's answer or release before the answer goes. A write that fails (the database blinked,
 * as it may have for the answer itself) does not hold the answer back: it is tried again after it,
 * within UPDATE_RETRY_DELAYS_MS; meanwhile, or if every try fails, a retry is a 409 until the lease passes.
 */
async function updateKey(deps: KeyDeps, key: string, update: () => Promise<unknown>): Promise<void> {
  try {
    await update();
  } catch (err) {
    deps.logger.warn('idempotency key not updated; trying again after the answer', { key, error: String((err as Error)?.message ?? err) });
    void updateLater(deps, key, update);
  }
}

async function updateLater(deps: KeyDeps, key: string, update: () => Promise<unknown>): Promise<void> {
  await tryAfterWaits(UPDATE_RETRY_DELAYS_MS, update).catch(() => deps.logger.warn('idempotency key not updated: held until its lease passes', { key }));
}

/** Runs `keep` with the answer before its end is written, so that a retry that follows it finds it kept. */
function beforeAnswer(res: Response, keep: (answer: StoredAnswer) => Promise<void>): void {
  const end = res.end.bind(res) as (...args: unknown[]) => Response;
  let kept = false;
  res.end = ((...args: unknown[]) => {
    if (kept) return end(...args);
    kept = true;
    const chunk = args[0];
    const body = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : null;
    const headers = Object.fromEntries(KEPT_HEADERS.filter((h) => res.hasHeader(h)).map((h) => [h, String(res.getHeader(h))]));
    void keep({ status: res.statusCode, headers, body }).finally(() => end(...args));
    return res;
  }) as Response['end'];
}

function replay(res: Response, answer: StoredAnswer): void {
  res.status(answer.status).set(answer.headers).setHeader(REPLAYED, 'true');
  if (answer.body === null) res.end();
  else res.send(answer.body);
}

function heldKeyOf(res: Response): HeldKey | undefined {
  return res.locals.idempotency as HeldKey | undefined;
}

/** The upload whose outcome this retry answers (its first attempt reached the commit), if any. */
export function resumedUploadOf(res: Response): string | undefined {
  return heldKeyOf(res)?.resumedUpload;
}

/**
 * For a retry answering the upload its key recorded (resumedUploadOf), whose outcome could not be
 * read: when that upload ended without a commit (nothing was made), the retry takes the key over and
 * answers true, the route then running the request anew as the key's own attempt. While another
 * attempt holds the key, 409 with Retry-After (the next retry finds its answer, or takes the key over).
 * False when the upload did not end so: the route answers the error it had.
 */
export async function runAnewIfUploadEnded(res: Response): Promise<boolean> {
  const held = heldKeyOf(res);
  if (!held?.resumedUpload || !held.takeOver) return false;
  const session = await findUploadSession(held.db, held.resumedUpload);
  if (!endedWithoutCommit(session)) return false;
  // Not that upload's outcome, whichever way: the request runs anew, or is told to wait.
  res.removeHeader(REPLAYED);
  if (!(await held.takeOver())) throw inProgress(res, held.claim);
  return true;
}

/** Records on the request's key (if it holds one) the upload it opens: called before the upload starts. */
export function uploadRecorderOf(res: Response): ((uploadId: string) => Promise<void>) | undefined {
  const held = heldKeyOf(res);
  if (!held || held.resumedUpload) return undefined;
  const { subject, key, attempt } = held.claim;
  return (uploadId) => recordKeyUpload(held.db, subject, key, attempt, uploadId);
}
