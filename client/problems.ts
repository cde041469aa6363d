/**
 * problem+json answers as exceptions: a caller catches the class it handles (NotFound, Denied, ...)
 * and reads the API's own title, detail and errors; `kind` tells the problem types of one status apart
 * (`missing-parts` from `conflict`, `quota-exceeded`, ...: each `type` is `/problems/<kind>`, GET /problems lists them).
 */
export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: Array<{ path: string; message: string }>;
  [extra: string]: unknown;
}

export class StorageProblem extends Error {
  readonly status: number;
  readonly body: ProblemBody;
  readonly requestId: string | null;
  /** The problem's type as the API names it (`/problems/<kind>`), or undefined for a type of another origin. */
  readonly kind: string | undefined;

  constructor(status: number, body: ProblemBody, requestId: string | null) {
    const where = body.errors?.length ? ` (${body.errors.map((e) => `${e.path || 'request'}: ${e.message}`).join('; ')})` : '';
    super(`${status} ${body.title ?? 'error'}: ${body.detail ?? ''}${where}`);
    this.name = new.target.name;
    this.status = status;
    this.body = body;
    this.requestId = requestId;
    this.kind = /^\/problems\/([a-z0-9-]+)$/.exec(body.type ?? '')?.[1];
  }
}

export class BadRequest extends StorageProblem {}
/** 401 (no valid token) and 403 (the token may not do this). */
export class Denied extends StorageProblem {}
export class NotFound extends StorageProblem {}
export class Conflict extends StorageProblem {}
export class Unprocessable extends StorageProblem {}
/** 429 and 503 that outlasted the client's retries. */
export class Unavailable extends StorageProblem {}

const KINDS: Record<number, typeof StorageProblem> = {
  400: BadRequest,
  401: Denied,
  403: Denied,
  404: NotFound,
  409: Conflict,
  422: Unprocessable,
  429: Unavailable,
  503: Unavailable,
};

export function problemOf(response: Response, error: unknown): StorageProblem {
  const body: ProblemBody = typeof error === 'object' && error !== null ? (error as ProblemBody) : { detail: String(error ?? response.statusText) };
  const Kind = KINDS[response.status] ?? StorageProblem;
  return new Kind(response.status, body, response.headers.get('x-request-id'));
}
