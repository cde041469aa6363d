import { KnexTimeoutError } from 'knex';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import {
  ChecksumMismatchError,
  ConflictError,
  ContentTypeMismatchError,
  DependencyUnavailableError,
  DomainError,
  GoneError,
  LockedError,
  MissingPartsError,
  VersionDamagedError,
  NotFoundError,
  OperationFailedError,
  PayloadTooLargeError,
  PreconditionRequiredError,
  QuotaExceededError,
  RangeNotSatisfiableError,
  RateLimitedError,
  ServiceUnavailableError,
  StaleRevisionError,
  UnprocessableError,
  UnsupportedMediaTypeError,
  UnsupportedTusVersionError,
  ValidationError,
} from '../../lib/platform/errors';
import type { Logger } from '../../lib/platform/logger';
import { ForbiddenError, InvalidTokenError, SignedUrlRefusedError, UrlSigningDisabledError } from '../../lib/auth/errors';
import { loggedUrl } from '../middleware/requestContext';
import type { Actor } from '../../lib/auth/actor';
import { refusalFactsFor } from '../../lib/quotas/quotas';
import { unavailableDependency } from '../../lib/platform/unavailable';
import { defaultKindOf, problemTypeOf, type ProblemKindName } from './problemTypes';

interface ProblemOf<E extends DomainError> {
  type: abstract new (...args: never[]) => E;
  /** Its `type` URI and page (api/http/problemTypes.ts). */
  kind: ProblemKindName;
  status: number;
  title: string;
  headers?(err: E): Record<string, string>;
}

// Infers each entry's class, so that its `headers` reads that class's own fields.
const problem = <E extends DomainError>(p: ProblemOf<E>): ProblemOf<DomainError> => p;

/** Each domain error's HTTP answer. */
const PROBLEMS: ProblemOf<DomainError>[] = [
  problem({ type: ValidationError, kind: 'validation', status: 400, title: 'Bad Request' }),
  problem({
    type: InvalidTokenError,
    kind: 'unauthorized',
    status: 401,
    title: 'Unauthorized',
    headers: (err) => ({ 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${err.message.replace(/["\\]/g, "'")}"` }),
  }),
  problem({ type: ForbiddenError, kind: 'forbidden', status: 403, title: 'Forbidden' }),
  problem({ type: SignedUrlRefusedError, kind: 'signed-url-refused', status: 403, title: 'Forbidden' }),
  problem({ type: NotFoundError, kind: 'not-found', status: 404, title: 'Not Found' }),
  problem({ type: MissingPartsError, kind: 'missing-parts', status: 409, title: 'Conflict' }),
  problem({ type: VersionDamagedError, kind: 'version-damaged', status: 409, title: 'Version Damaged' }),
  problem({ type: ConflictError, kind: 'conflict', status: 409, title: 'Conflict' }),
  problem({ type: StaleRevisionError, kind: 'precondition-failed', status: 412, title: 'Precondition Failed' }),
  problem({ type: PreconditionRequiredError, kind: 'precondition-required', status: 428, title: 'Precondition Required' }),
  problem({ type: PayloadTooLargeError, kind: 'payload-too-large', status: 413, title: 'Payload Too Large' }),
  problem({ type: ContentTypeMismatchError, kind: 'content-type-mismatch', status: 415, title: 'Unsupported Media Type' }),
  problem({ type: UnsupportedMediaTypeError, kind: 'unsupported-media-type', status: 415, title: 'Unsupported Media Type' }),
  problem({
    type: RangeNotSatisfiableError,
    kind: 'range-not-satisfiable',
    status: 416,
    title: 'Range Not Satisfiable',
    headers: (err) => ({ 'Content-Range': `bytes */${err.sizeBytes}` }),
  }),
  problem({ type: UnprocessableError, kind: 'unprocessable', status: 422, title: 'Unprocessable Content' }),
  problem({
    type: RateLimitedError,
    kind: 'rate-limited',
    status: 429,
    title: 'Too Many Requests',
    headers: (err) => ({ 'Retry-After': String(err.retryAfterSeconds) }),
  }),
  problem({ type: QuotaExceededError, kind: 'quota-exceeded', status: 507, title: 'Insufficient Storage' }),
  problem({ type: OperationFailedError, kind: 'internal', status: 500, title: 'Internal Server Error' }),
  problem({ type: GoneError, kind: 'gone', status: 410, title: 'Gone' }),
  problem({
    type: UnsupportedTusVersionError,
    kind: 'tus-version-unsupported',
    status: 412,
    title: 'Precondition Failed',
    headers: () => ({ 'Tus-Version': '1.0.0' }),
  }),
  problem({ type: LockedError, kind: 'locked', status: 423, title: 'Locked' }),
  problem({ type: ChecksumMismatchError, kind: 'checksum-mismatch', status: 460, title: 'Checksum Mismatch' }),
  problem({ type: UrlSigningDisabledError, kind: 'not-implemented', status: 501, title: 'Not Implemented' }),
  problem({
    type: ServiceUnavailableError,
    kind: 'unavailable',
    status: 503,
    title: 'Service Unavailable',
    headers: (err) => ({ 'Retry-After': String(err.retryAfterSeconds) }),
  }),
];

/** A problem+json answer; its `type` is `kind`'s, by default the first kind of its status (api/http/problemTypes.ts). */
export function sendProblem(
  res: Response,
  status: number,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {},
  kind: ProblemKindName = defaultKindOf(status),
) {
  // The kind names the type: a fact of that name (a quota refusal's, recorded by a run begun before the types) does not.
  const { type: _recorded, ...facts } = extra;
  res
    .status(status)
    .type('application/problem+json')
    .json({ type: problemTypeOf(kind), title, status, detail, errors: [], instance: res.req.originalUrl, ...facts });
}

export const unknownRoute: RequestHandler = (req, _res, next) => {
  next(new NotFoundError(`no route for ${req.method} ${req.path}`));
};

interface BodyParserError {
  type?: string;
  status?: number;
  expose?: boolean;
  message: string;
}

// How long a connection closed past the drain limit waits for the client to close its side.
const LINGER_MS = 5_000;

/**
 * Reads and drops what is left of a refused request's body. Clients such as Node's fetch send the
 * whole body before they read the answer: a connection closed under them turns the 4xx into a broken
 * pipe. Past `limitBytes` the connection is closed all the same, so a refusal costs bounded bandwidth.
 */
function drainRefusedBody(req: Request, limitBytes: number): void {
  let drained = 0;
  req.unpipe();
  const count = (chunk: Buffer) => {
    drained += chunk.length;
    if (drained <= limitBytes) return;
    req.off('data', count);
    closeAfterAnswer(req);
  };
  req.on('data', count);
  req.resume();
}

/**
 * Closes a connection whose client is still sending, without losing the answer already written: a
 * socket closed with unread bytes sends a reset, and a reset can discard the answer before a busy
 * client reads it. So the answer goes out with a FIN, reading stops (the client's writes back up in
 * the socket buffers, so nothing more crosses), and the socket goes once the client closes its side,
 * or after LINGER_MS.
 */
function closeAfterAnswer(req: Request): void {
  const socket = req.socket;
  req.pause();
  socket.pause();
  socket.end();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/**
 * The one place errors become problem+json; anything unexpected is a logged 500 that leaks nothing.
 * `drainLimitBytes` bounds what is still read of a body refused before its end: the upload size
 * limit, the largest body the API takes, so any body the API could have taken gets its answer.
 */
export function problemHandler(logger: Logger, opts: { drainLimitBytes: number }): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    // Before the answer: a response that finishes with the body unread has Node discard the rest
    // itself, without a bound.
    if (!req.complete) drainRefusedBody(req, opts.drainLimitBytes);
    // A dependency that is down is an outage a client may wait out (503), not a bug (500).
    if (!(err instanceof DomainError)) err = unavailableDependency(err) ?? err;
    const known = err instanceof DomainError ? PROBLEMS.find((p) => err instanceof p.type) : undefined;
    if (known) {
      if (err instanceof DependencyUnavailableError) {
        logger.warn(`${err.dependency.replace('_', ' ')} unreachable`, {
          method: req.method,
          path: loggedUrl(req),
          request_id: res.getHeader('X-Request-Id'),
          error: String((err.cause as Error)?.message ?? err.cause),
        });
      }
      res.set(known.headers?.(err) ?? {});
      const facts = err instanceof QuotaExceededError ? refusalFactsFor(res.locals.actor as Actor | undefined, err.facts) : err.facts;
      sendProblem(res, known.status, known.title, err.message, facts, known.kind);
      return;
    }
    const parserError = err as BodyParserError;
    if (parserError.type === 'entity.parse.failed') {
      sendProblem(res, 400, 'Bad Request', `malformed JSON body: ${parserError.message}`);
      return;
    }
    // The router's: a path parameter whose escapes do not decode (`/console/assets/%E0%A4%A`), the caller's mistake.
    if (err instanceof URIError && parserError.status === 400) {
      sendProblem(res, 400, 'Bad Request', err.message);
      return;
    }
    if (parserError.expose && typeof parserError.status === 'number' && parserError.status >= 400 && parserError.status < 500) {
      sendProblem(res, parserError.status, 'Bad Request', parserError.message);
      return;
    }
    // Every pooled database connection busy for the pool's whole wait: overload, which a client may
    // retry, not a fault of the request or a bug.
    if (err instanceof KnexTimeoutError) {
      logger.warn('database pool exhausted', { method: req.method, path: loggedUrl(req), request_id: res.getHeader('X-Request-Id') });
      res.set('Retry-After', '1');
      sendProblem(res, 503, 'Service Unavailable', 'the service is overloaded: no database connection came free in time; try again');
      return;
    }
    logger.error('unhandled error', { err, method: req.method, path: loggedUrl(req), request_id: res.getHeader('X-Request-Id') });
    sendProblem(res, 500, 'Internal Server Error', 'the server failed to carry out the request; it has been logged');
  };
}
