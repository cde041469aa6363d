import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { HttpError, NotFoundError } from '../lib/errors';
import type { Logger } from '../lib/logger';

export function sendProblem(res: Response, status: number, title: string, detail: string, extra: Record<string, unknown> = {}) {
  res
    .status(status)
    .type('application/problem+json')
    .json({ type: 'about:blank', title, status, detail, errors: [], instance: res.req.originalUrl, ...extra });
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

/** The one place errors become problem+json; anything unexpected is a logged 500 that leaks nothing. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    // A body refused before it was all read (too large, or a part refused before its bytes) is not
    // drained: the connection closes instead.
    if (!req.complete) res.setHeader('Connection', 'close');
    if (err instanceof HttpError) {
      if (err.status === 416 && 'sizeBytes' in err) res.setHeader('Content-Range', `bytes */${(err as { sizeBytes: number }).sizeBytes}`);
      sendProblem(res, err.status, err.title, err.message, err.extra);
      return;
    }
    const parserError = err as BodyParserError;
    if (parserError.type === 'entity.parse.failed') {
      sendProblem(res, 400, 'Bad Request', `malformed JSON body: ${parserError.message}`);
      return;
    }
    if (parserError.expose && typeof parserError.status === 'number' && parserError.status >= 400 && parserError.status < 500) {
      sendProblem(res, parserError.status, 'Bad Request', parserError.message);
      return;
    }
    logger.error('unhandled error', { err, method: req.method, path: req.originalUrl, request_id: res.getHeader('X-Request-Id') });
    sendProblem(res, 500, 'Internal Server Error', 'the server failed to carry out the request; it has been logged');
  };
}
