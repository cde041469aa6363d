/**
 * What can go wrong in the catalog and its workflows, said without HTTP: api/problem.ts maps each
 * class to its status and title in one table. Activities raise some of the same classes; their names
 * are the failure types Temporal records.
 */
export interface FieldError {
  path: string;
  message: string;
}

/** What a domain error carries beside its message for the client: field errors, the ids it concerns. */
export interface ErrorFacts {
  errors?: FieldError[];
  [key: string]: unknown;
}

export abstract class DomainError extends Error {
  constructor(
    detail: string,
    readonly facts: ErrorFacts = {},
  ) {
    super(detail);
    this.name = new.target.name;
  }
}

/** The request's input breaks a rule; `errors` says which fields. */
export class ValidationError extends DomainError {
  constructor(detail: string, errors: FieldError[] = []) {
    super(detail, { errors });
  }
}

export class NotFoundError extends DomainError {}

/** The thing asked for clashes with what exists or with the state it is in. */
export class ConflictError extends DomainError {}

/** A version whose bytes a scrub found damaged and could not repair: its content is refused, not served wrong. */
export class VersionDamagedError extends ConflictError {}

/** A chunked upload completed before all its parts arrived: `missing_parts` lists their numbers. */
export class MissingPartsError extends ConflictError {
  constructor(detail: string, missingParts: number[]) {
    super(detail, { missing_parts: missingParts });
  }
}

/** A change made against a revision (an ETag) the thing no longer has. */
export class StaleRevisionError extends DomainError {}

/** A change of an existing resource sent without If-Match where STORAGE_REQUIRE_IF_MATCH makes it required. */
export class PreconditionRequiredError extends DomainError {}

export class PayloadTooLargeError extends DomainError {}

/** An owner's quota would be passed (lib/quotas/): `facts` name the limit, the usage and the limit's value. */
export class QuotaExceededError extends DomainError {}

export class UnsupportedMediaTypeError extends DomainError {}

/**
 * Bytes that contradict the image type they were declared with (lib/uploads/contentType.ts): the
 * facts name both types, and the upload the refusal ended when there was one.
 */
export class ContentTypeMismatchError extends UnsupportedMediaTypeError {
  constructor(detail: string, facts: { declared_type: string; detected_type: string; upload_id?: string }) {
    super(detail, facts);
  }
}

/** A byte range that selects nothing of a `sizeBytes`-long object. */
export class RangeNotSatisfiableError extends DomainError {
  constructor(
    detail: string,
    readonly sizeBytes: number,
  ) {
    super(detail);
  }
}

/** What the request needs is not there now (no worker answered); worth asking again after `retryAfterSeconds`. */
export class ServiceUnavailableError extends DomainError {
  constructor(
    detail: string,
    readonly retryAfterSeconds: number,
    facts: ErrorFacts = {},
  ) {
    super(detail, facts);
  }
}

/** The services the API depends on, as /health/ready names them. */
export type Dependency = 'database' | 'object_store' | 'temporal';

const DEPENDENCY_NAMES: Record<Dependency, string> = { database: 'the database', object_store: 'the object store', temporal: 'Temporal' };

/**
 * A dependency could not be reached (refused, reset, timed out, shutting down): an outage, not a
 * fault of the request, so a client may try again. `cause` is the connection's error, for the log:
 * the client is told which dependency, not where it is nor how it failed.
 */
export class DependencyUnavailableError extends ServiceUnavailableError {
  constructor(
    readonly dependency: Dependency,
    retryAfterSeconds: number,
    cause: unknown,
  ) {
    super(`${DEPENDENCY_NAMES[dependency]} cannot be reached; try again in ${retryAfterSeconds} s`, retryAfterSeconds, { dependency });
    this.cause = cause;
  }
}

/** The object store could not be reached: every S3 call fails so (lib/platform/s3Client.ts). */
export class ObjectStoreUnavailableError extends DependencyUnavailableError {
  constructor(retryAfterSeconds: number, cause: unknown) {
    super('object_store', retryAfterSeconds, cause);
  }
}

/** Well-formed input whose content is wrong: a checksum or size that does not match, data refused. */
export class UnprocessableError extends DomainError {}

/** Work the service took on failed for a reason no client can fix. */
export class OperationFailedError extends DomainError {}

/** The thing ended and its bytes are gone for good (a tus upload terminated, expired or failed). */
export class GoneError extends DomainError {}

/** Another request holds the thing; the same request may pass once that one ends. */
export class LockedError extends DomainError {}

/** Bytes that do not hash to the checksum sent with them (tus's 460): none of them was kept. */
export class ChecksumMismatchError extends DomainError {}

/** A tus request in a protocol version this server does not speak. */
export class UnsupportedTusVersionError extends DomainError {}

/** The caller spent a rate-limit budget (`policy`); it is whole again after `retryAfterSeconds`. */
export class RateLimitedError extends DomainError {
  constructor(
    detail: string,
    readonly retryAfterSeconds: number,
    policy: string,
  ) {
    super(detail, { policy });
  }
}
