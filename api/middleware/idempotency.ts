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
 * - While the first still runs: 409 with Retry-After. Another request under the same key: 422. A
 *   malformed key: 400, before anything is done. An attempt whose API died holds its key only until
 *   its lease passes (the longest a request may take); then a retry takes the key over.
 */
import { createHash } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { claimKey, recordKeyAnswer, recordKeyUpload, releaseKey, takeOverKey, type KeyClaim, type StoredAnswer } from '../../lib/idempotency/store';
import { ConflictError, UnprocessableError, ValidationError } from '../../lib/platform/errors';
import { uuidv7 } from '../../lib/platform/ids';
import { tryAfterWaits } from '../../lib/platform/concurrency';
import { findUploadSession } from '../../lib/uploads/store';
import { readUploadSession } from '../../lib/uploads/uploadRuns';
import { takesJson, type RouteDeclaration, type RouteDeps } from '../http/route';
import { actorOf } from './authentication';

export const IDEMPOTENCY_KEY = 'Idempotency-Key';
export const REPLAYED = 'Idempotent-Replayed';
const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;
// A structured-field string (RFC 8941), the form the draft gives: printable ASCII, `"` and `\` escaped.
const SF_STRING = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/;
// How soon a retry may find the first attempt done.
const IN_PROGRESS_RETRY_SECONDS = 1;
// Beyond the longest a request may take: the form's arrival, then the wait for its commit.
const LEASE_MARGIN_SECONDS = 60;
// After the answer, the tries of a key's update that failed before it (about 30 s in all).
const UPDATE_RETRY_DELAYS_MS = [1_000, 2_000, 4_000, 8_000, 16_000];
// Kept with an answer, for its replay.
const KEPT_HEADERS = ['content-type', 'location', 'etag'];

type KeyDeps = Pick<RouteDeps, 'db' | 'uploads' | 'logger' | 'config'>;

/** What a request that holds a key carries (res.locals.idempotency). */
interface HeldKey {
  db: RouteDeps['db'];
  claim: KeyClaim;
  /** The upload a retry answers the outcome of, instead of doing it again. */
  resumedUpload?: string;
}

/** Whether a route takes the header: a change, by an authenticated caller, unless it declines (tus). */
export function takesIdempotencyKey(route: RouteDeclaration): boolean {
  return ['post', 'put', 'patch', 'delete'].includes(route.method) && route.access !== 'anyone' && route.idempotencyKey !== false;
}

/** The middleware of one route, or none for a route that takes no key. */
export function idempotency(deps: KeyDeps, route: RouteDeclaration): RequestHandler | undefined {
  if (!takesIdempotencyKey(route)) return undefined;
  const leaseSeconds = Math.ceil(deps.config.http.requestTimeoutMs / 1000) + deps.config.uploads.waitSeconds + LEASE_MARGIN_SECONDS;
  return (req, res, next) => {
    const key = keyOf(req);
    if (key === undefined) return next();
    const claim: KeyClaim = { subject: actorOf(res).sub, key, fingerprint: fingerprintOf(req, takesJson(route)), attempt: uuidv7(), leaseSeconds };
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
    res.locals.idempotency = { db: deps.db, claim, resumedUpload: row.upload_id } satisfies HeldKey;
    res.setHeader(REPLAYED, 'true');
    return true;
  }
  if (row && (await takeOverKey(deps.db, claim))) return hold(deps, req, res, claim);
  res.setHeader('Retry-After', String(IN_PROGRESS_RETRY_SECONDS));
  throw new ConflictError(`a request with ${IDEMPOTENCY_KEY} "${claim.key}" is still in progress: try again in ${IN_PROGRESS_RETRY_SECONDS} s`);
}

/** Whether the key's upload was handed to its commit (or made it): its outcome is then the answer. */
async function reachedCommit(deps: KeyDeps, uploadId: string): Promise<boolean> {
  const session = await findUploadSession(deps.db, uploadId);
  if (!session) return false;
  if (session.status === 'completed' || session.status === 'completing') return true;
  if (session.status !== 'open') return false;
  // A simple upload commits in one step: its row stays open until then, its run says it is completing.
  const { state } = await readUploadSession(deps.uploads, uploadId);
  return state?.status === 'completing' || state?.status === 'completed';
}

/** The request holds the key: its answer is kept when final, else the key is released. */
function hold(deps: KeyDeps, req: Request, res: Response, claim: KeyClaim): true {
  res.locals.idempotency = { db: deps.db, claim } satisfies HeldKey;
  beforeAnswer(res, async (answer) => {
    const { subject, key, attempt } = claim;
    const final = answer.status < 500 && answer.status !== 429 && req.complete;
    await updateKey(deps, key, () => (final ? recordKeyAnswer(deps.db, subject, key, attempt, answer) : releaseKey(deps.db, subject, key, attempt)));
  });
  return true;
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

/** Records on the request's key (if it holds one) the upload it opens: called before the upload starts. */
export function uploadRecorderOf(res: Response): ((uploadId: string) => Promise<void>) | undefined {
  const held = heldKeyOf(res);
  if (!held || held.resumedUpload) return undefined;
  const { subject, key, attempt } = held.claim;
  return (uploadId) => recordKeyUpload(held.db, subject, key, attempt, uploadId);
}
