/**
 * Typed errors the API turns into RFC 9457 problem details in one place (api/problem.ts).
 * Activities raise the same classes; their names are the non-retryable failure types.
 */
export interface FieldError {
  path: string;
  message: string;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly extra: { errors?: FieldError[]; [key: string]: unknown } = {},
  ) {
    super(detail);
    this.name = new.target.name;
  }
}

export class ValidationError extends HttpError {
  constructor(detail: string, errors: FieldError[] = []) {
    super(400, 'Bad Request', detail, { errors });
  }
}

export class NotFoundError extends HttpError {
  constructor(detail: string) {
    super(404, 'Not Found', detail);
  }
}

export class ConflictError extends HttpError {
  constructor(detail: string, extra: Record<string, unknown> = {}) {
    super(409, 'Conflict', detail, extra);
  }
}

export class PreconditionFailedError extends HttpError {
  constructor(detail: string) {
    super(412, 'Precondition Failed', detail);
  }
}

export class PayloadTooLargeError extends HttpError {
  constructor(detail: string) {
    super(413, 'Payload Too Large', detail);
  }
}

export class UnsupportedMediaTypeError extends HttpError {
  constructor(detail: string) {
    super(415, 'Unsupported Media Type', detail);
  }
}

export class RangeNotSatisfiableError extends HttpError {
  constructor(
    detail: string,
    readonly sizeBytes: number,
  ) {
    super(416, 'Range Not Satisfiable', detail);
  }
}

export class ServiceUnavailableError extends HttpError {
  constructor(
    detail: string,
    readonly retryAfterSeconds: number,
  ) {
    super(503, 'Service Unavailable', detail);
  }
}

export class UnprocessableError extends HttpError {
  constructor(detail: string, extra: Record<string, unknown> = {}) {
    super(422, 'Unprocessable Content', detail, extra);
  }
}
