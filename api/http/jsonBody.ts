import express, { type RequestHandler } from 'express';
import { UnsupportedMediaTypeError } from '../../lib/platform/errors';

const JSON_TYPES = ['application/json', 'application/*+json'];
const parseJson = express.json({ limit: '1mb', type: JSON_TYPES });

/**
 * JSON bodies, on the routes that take them (part uploads take raw bytes of any type). A body of
 * another type is 415; a request without a body passes (its fields are optional or checked later),
 * `Content-Length: 0` without a Content-Type too, as many clients send a POST without a body.
 */
export const jsonBody: RequestHandler = (req, res, next) => {
  const empty = req.get('Content-Length') === '0' && req.get('Transfer-Encoding') === undefined && req.get('Content-Type') === undefined;
  if (!empty && req.is(JSON_TYPES) === false) {
    next(new UnsupportedMediaTypeError('send the body as application/json'));
    return;
  }
  parseJson(req, res, next);
};

export const MERGE_PATCH = 'application/merge-patch+json';
const parseMergePatch = express.json({ limit: '1mb', type: MERGE_PATCH });

/**
 * The JSON parser of a route's declared body type: a merge patch (RFC 7396) is taken only as
 * application/merge-patch+json, and a PATCH without a body is refused as 415 too; any other JSON as jsonBody does.
 */
export function jsonBodyOf(content: string | undefined): RequestHandler {
  if (content !== MERGE_PATCH) return jsonBody;
  return (req, res, next) => {
    if (req.is(MERGE_PATCH) !== MERGE_PATCH) {
      next(new UnsupportedMediaTypeError(`send the body as ${MERGE_PATCH} (RFC 7396)`));
      return;
    }
    parseMergePatch(req, res, next);
  };
}
