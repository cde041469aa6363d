import { DomainError } from '../platform/errors';

/** No token, or one that does not verify: the detail says which check failed. */
export class InvalidTokenError extends DomainError {}

/** A verified caller without the right to do this. */
export class ForbiddenError extends DomainError {}

/** A signed URL whose signature does not verify, or that has expired: the detail says which. */
export class SignedUrlRefusedError extends DomainError {}

/** URL signing asked of a service given no key to sign with. */
export class UrlSigningDisabledError extends DomainError {}
