/** Operations (api/http/operations.ts): read one, and cancel one where cancelling is meaningful. */
import { cancelOperation, operationUrl, OPERATION_RETRY_SECONDS, readOperation } from '../http/operations';
import { defineRoute } from '../http/route';
import { actorOf } from '../middleware/authentication';
import { parse } from '../schemas/common';
import { operation, operationParams } from '../schemas/operations';
import { problemAnswer as problem } from '../schemas/responses';

const read = defineRoute(
  {
    method: 'get',
    access: 'caller',
    path: '/api/v2/operations/:id',
    tag: 'operations',
    summary:
      "An asynchronous piece of work: an upload's commit, a backup, a restore, a lifecycle run, a permanent deletion. " +
      'Its id is its workflow id; it may be read by whoever may read its own resource (or started it). Poll it, honouring Retry-After, until done',
    params: operationParams,
    responses: {
      200: {
        description: 'the operation',
        schema: operation,
        headers: { 'Retry-After': { description: 'while it runs: seconds before reading it again', schema: { type: 'integer', minimum: 0 } } },
      },
      404: problem("unknown, or another's"),
    },
  },
  (deps) => async (req, res) => {
    const { id } = parse(operationParams, req.params, 'path');
    const op = await readOperation(deps, actorOf(res), id);
    if (!op.done) res.setHeader('Retry-After', String(OPERATION_RETRY_SECONDS));
    res.json(op);
  },
);

const cancel = defineRoute(
  {
    method: 'post',
    access: 'caller',
    path: '/api/v2/operations/:id\\:cancel',
    tag: 'operations',
    summary:
      'Cancel (AIP-151): an upload is aborted (its bytes and reservation go); a backup is cancelled (its row ends failed, error "cancelled"; ' +
      "what it copied is collected as a failed backup's is). Restores, lifecycle runs and deletions cannot be cancelled: 409",
    params: operationParams,
    preconditions: {
      none: 'an operation has no ETag: it only moves to an end, so cancelling one that has ended is a 409 and cancelling twice is the same as once',
    },
    responses: {
      202: {
        description: 'cancelled, or being cancelled: the operation',
        schema: operation,
        headers: {
          Location: { required: true, description: 'the operation', schema: { type: 'string' } },
          'Retry-After': { required: true, description: 'seconds before reading it again', schema: { type: 'integer', minimum: 0 } },
        },
      },
      404: problem("unknown, or another's"),
      409: problem('it has ended, or its kind cannot be cancelled'),
    },
  },
  (deps) => async (req, res) => {
    const { id } = parse(operationParams, req.params, 'path');
    const op = await cancelOperation(deps, actorOf(res), id);
    res.status(202).setHeader('Location', operationUrl(op.id)).setHeader('Retry-After', String(OPERATION_RETRY_SECONDS)).json(op);
  },
);

export const OPERATION_ROUTES = [read, cancel];
