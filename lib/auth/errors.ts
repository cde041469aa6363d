import { DomainError } from '../platform/errors';

/** No token, or one that does not verify: the detail says which check failed. */
export class InvalidTokenError extends DomainError {}

/** A verified caller without the right to do this. */
export class ForbiddenError extends DomainError {}
