import { CreateBucketCommand, HeadBucketCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { ObjectStoreUnavailableError } from './errors';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import http from 'node:http';
import type { Config, ServerSideEncryption } from './config';

// The service targets Node 20 (the platform it ships on); the SDK's notice about its future Node 22
// requirement would otherwise print once per process.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export type ObjectStoreConfig = Config['s3'];

/**
 * One S3 client per process. Configured for any S3-compatible store: path-style addressing, and
 * checksums only where an operation requires them (the SDK's default CRC trailers are not
 * understood by every store).
 */
export interface S3ClientOptions {
  maxAttempts?: number;
  requestTimeoutMs?: number;
  /**
   * How long an attempt may wait for the store's answer to begin once its request was sent whole (a
   * body streamed from a client is not timed, nor is the answer's body). An attempt that waited this
   * long is not made again: a store that hangs is reported unreachable at once. Unset: no bound.
   */
  answerWithinMs?: number;
}

/**
 * The API's bound on a silent store (S3ClientOptions.answerWithinMs): a request answers 503 after
 * about this long rather than hanging with it. The worker's client has none: its activities have
 * their own timeouts and retries (docs/operations.md, "Retry bounds").
 */
export const API_S3_ANSWER_WITHIN_MS = 5_000;

export function createS3Client(s3: ObjectStoreConfig, opts: S3ClientOptions = {}): S3Client {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: opts.maxAttempts ?? 3,
    requestHandler: new AnswerTimedHandler(
      {
        httpAgent: new http.Agent({ keepAlive: true, maxSockets: 256 }),
        connectionTimeout: Math.min(5_000, opts.answerWithinMs ?? Infinity),
        requestTimeout: opts.requestTimeoutMs,
      },
      opts.answerWithinMs,
    ),
  });
  if (s3.sse) encryptWrites(client, s3.sse);
  reportUnreachable(client);
  return client;
}

// The writes that make an object; a part takes the encryption of its multipart upload.
const OBJECT_WRITES = new Set(['PutObjectCommand', 'CreateMultipartUploadCommand', 'CopyObjectCommand']);

/**
 * Asks for server-side encryption on every object the client writes, whoever sends the command (the
 * API, activities, lib-storage's Upload), so that no write path can forget it.
 */
function encryptWrites(client: S3Client, sse: ServerSideEncryption): void {
  client.middlewareStack.add(
    (next, context) => (args) => {
      if (OBJECT_WRITES.has(context.commandName ?? '')) {
        Object.assign(args.input as object, { ServerSideEncryption: sse.mode, ...(sse.kmsKeyId ? { SSEKMSKeyId: sse.kmsKeyId } : {}) });
      }
      return next(args);
    },
    { step: 'initialize', name: 'storageServerSideEncryption' },
  );
}

/** What a client is told to wait before it asks again, when the store cannot be reached. */
export const STORE_RETRY_AFTER_SECONDS = 5;

// What Node and the SDK's HTTP handler fail with when no answer can come: no connection, or one lost.
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

function isUnreachable(err: unknown): boolean {
  const e = err as { name?: string; code?: string };
  return e?.name === 'TimeoutError' || (e?.code !== undefined && UNREACHABLE_CODES.has(e.code));
}

/**
 * Every call that fails because the store cannot be reached fails with ObjectStoreUnavailableError,
 * whoever sent the command: the API answers 503 with Retry-After (api/problem.ts). It wraps the HTTP
 * handler itself, innermost, so the SDK's retries still see the connection's error (as the cause) and
 * retry it (not a SilentStoreError, which the SDK does not count as transient); a cancelled call stays
 * cancelled.
 */
function reportUnreachable(client: S3Client): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        throw isUnreachable(err) || err instanceof SilentStoreError ? new ObjectStoreUnavailableError(STORE_RETRY_AFTER_SECONDS, err) : err;
      }
    },
    { step: 'deserialize', priority: 'low', name: 'storageObjectStoreUnreachable' },
  );
}

/** No answer began within answerWithinMs of the request being sent whole. */
class SilentStoreError extends Error {
  constructor(ms: number) {
    super(`the object store sent no answer within ${ms} ms of the request`);
    this.name = 'SilentStoreError';
  }
}

type HandleArgs = Parameters<NodeHttpHandler['handle']>;

/**
 * The SDK's HTTP handler, with answerWithinMs: the attempt is aborted when no answer began within
 * that long of its request's last byte. The clock starts at once for a body in memory, and at the
 * end of a streamed one, which goes at its client's pace (the API's own request timeout bounds that).
 */
class AnswerTimedHandler extends NodeHttpHandler {
  constructor(
    options: ConstructorParameters<typeof NodeHttpHandler>[0],
    private readonly answerWithinMs: number | undefined,
  ) {
    super(options);
  }

  override async handle(request: HandleArgs[0], options: HandleArgs[1] = {}): ReturnType<NodeHttpHandler['handle']> {
    const ms = this.answerWithinMs;
    if (ms === undefined) return super.handle(request, options);
    const attempt = new AbortController();
    const caller = options.abortSignal as AbortSignal | undefined;
    const passOn = () => attempt.abort(caller?.reason);
    if (caller?.aborted) passOn();
    caller?.addEventListener('abort', passOn, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const startClock = () => (timer = setTimeout(() => attempt.abort(new SilentStoreError(ms)), ms));
    const body = request.body as { once?: (event: string, listener: () => void) => void } | undefined;
    if (typeof body?.once === 'function') body.once('end', startClock);
    else startClock();
    try {
      // The caller's signal still reaches the answer's body (a download cancelled) after this returns.
      return await super.handle(request, { ...options, abortSignal: attempt.signal });
    } catch (err) {
      caller?.removeEventListener('abort', passOn);
      throw attempt.signal.reason instanceof SilentStoreError ? attempt.signal.reason : err;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Creates the bucket when it is missing; safe to call from every process at start. */
export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (err) {
    if (!(err instanceof S3ServiceException) || err.$metadata.httpStatusCode !== 404) throw err;
  }
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  }
}
