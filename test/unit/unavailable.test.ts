/**
 * Which failures are an outage of a dependency (answered 503 with Retry-After, naming it) and which
 * stay a 500: each case is the error the real client library raises, against a loopback port where
 * nothing listens, or a loopback server that answers as a failing store would.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import http from 'node:http';
import { PassThrough } from 'node:stream';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { createDb } from '../../lib/platform/db';
import { DependencyUnavailableError, ObjectStoreUnavailableError } from '../../lib/platform/errors';
import { createS3Client } from '../../lib/platform/s3Client';
import { createTemporalClient } from '../../lib/platform/temporal';
import { unavailableDependency } from '../../lib/platform/unavailable';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A loopback server that answers every request, once read whole, with `answer` (or never, when undefined), counting them. */
async function storeAnswering(answer?: { status: number; body: string }) {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => answer && res.writeHead(answer.status, { 'content-type': 'application/xml' }).end(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

const s3Config = (endpoint: string) => ({
  endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  accessKeyId: 'key',
  secretAccessKey: 'secret',
  bucket: 'b',
  backupBucket: 'backups',
});

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err,
  );
}

const dependencyOf = (err: unknown) => unavailableDependency(err)?.dependency;

describe('PostgreSQL', () => {
  it('a connection refused, by node-postgres or through the knex pool, is the database', async () => {
    const url = `postgres://u:p@127.0.0.1:${await closedPort()}/db`;
    const client = new pg.Client({ connectionString: url });
    expect(dependencyOf(await failureOf(client.connect()))).toBe('database');
    const db = createDb(url, 2, 2_000);
    try {
      expect(dependencyOf(await failureOf(db.raw('SELECT 1')))).toBe('database');
    } finally {
      await db.destroy();
    }
  });

  it('a server shutting down, starting up, or a connection lost under a query is the database; a constraint violation is not', () => {
    const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'FATAL' });
    expect(dependencyOf(pgError('57P01', 'terminating connection due to administrator command'))).toBe('database');
    expect(dependencyOf(pgError('57P02', 'terminating connection because of crash of another server process'))).toBe('database');
    expect(dependencyOf(pgError('57P03', 'the database system is starting up'))).toBe('database');
    expect(dependencyOf(pgError('08006', 'connection failure'))).toBe('database');
    expect(dependencyOf(new Error('Connection terminated unexpectedly'))).toBe('database');
    // As knex words a failure in a transaction: the statement, then node-postgres's message (seen in test/faults.stack.test.ts).
    expect(dependencyOf(new Error('ROLLBACK - Client has encountered a connection error and is not queryable'))).toBe('database');
    expect(dependencyOf(new Error('select * from "assets" - Connection terminated unexpectedly'))).toBe('database');
    expect(dependencyOf(pgError('23505', 'duplicate key value violates unique constraint'))).toBeUndefined();
    expect(dependencyOf(pgError('40001', 'could not serialize access'))).toBeUndefined();
    expect(dependencyOf(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBeUndefined();
  });

  it('says which dependency, and nothing of where it is or how it failed', () => {
    const err = unavailableDependency(Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:5432'), { code: 'ECONNREFUSED', syscall: 'connect' }));
    expect(err).toBeInstanceOf(DependencyUnavailableError);
    expect(err!.retryAfterSeconds).toBeGreaterThan(0);
    expect(err!.facts).toEqual({ dependency: 'database' });
    expect(err!.message).not.toMatch(/10\.0\.0\.7|ECONN|5432/);
  });
});

describe('the object store', () => {
  it('a store that refuses connections is ObjectStoreUnavailableError', async () => {
    const s3 = createS3Client(s3Config(`http://127.0.0.1:${await closedPort()}`));
    const err = await failureOf(s3.send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' })));
    expect(err).toBeInstanceOf(ObjectStoreUnavailableError);
    expect(dependencyOf(err)).toBe('object_store');
    s3.destroy();
  });

  it('a store that answers 503 SlowDown or 500 after the retries is the object store; a 404 or a 403 is not', async () => {
    const slowDown = await storeAnswering({ status: 503, body: '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>' });
    const internal = await storeAnswering({ status: 500, body: '<Error><Code>InternalError</Code><Message>oops</Message></Error>' });
    const missing = await storeAnswering({ status: 404, body: '<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>' });
    const denied = await storeAnswering({ status: 403, body: '<Error><Code>AccessDenied</Code><Message>no</Message></Error>' });
    const stores = [slowDown, internal, missing, denied];
    try {
      const outcomes = await Promise.all(
        stores.map(async (store) => {
          const s3 = createS3Client(s3Config(store.endpoint));
          const err = await failureOf(s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' })));
          s3.destroy();
          return dependencyOf(err);
        }),
      );
      expect(outcomes).toEqual(['object_store', 'object_store', undefined, undefined]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('a store that never answers, with answerWithinMs: unavailable after one attempt, not retried', async () => {
    const hung = await storeAnswering();
    const s3 = createS3Client(s3Config(hung.endpoint), { answerWithinMs: 300 });
    try {
      const err = await failureOf(s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' })));
      expect(err).toBeInstanceOf(ObjectStoreUnavailableError);
      expect(hung.requests()).toBe(1);
    } finally {
      s3.destroy();
      await hung.close();
    }
  });

  it('a streamed body that pauses longer than answerWithinMs is not cut: the clock starts at its end', async () => {
    const store = await storeAnswering({ status: 200, body: '' });
    const s3 = createS3Client(s3Config(store.endpoint), { answerWithinMs: 200 });
    try {
      const body = new PassThrough();
      body.write('first half, ');
      setTimeout(() => body.end('then the rest'), 800);
      await s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: body, ContentLength: 25 }));
      expect(store.requests()).toBe(1);
    } finally {
      s3.destroy();
      await store.close();
    }
  });
});

describe('Temporal', () => {
  it("a server that cannot be reached is Temporal, once the client's bounded retries give up", async () => {
    const temporal = createTemporalClient({ address: `127.0.0.1:${await closedPort()}`, namespace: 'default', taskQueue: 'q' });
    try {
      const err = await failureOf(temporal.client.workflow.start('uploadWorkflow', { workflowId: 'w', taskQueue: 'q', args: [] }));
      expect(dependencyOf(err)).toBe('temporal');
    } finally {
      await temporal.close();
    }
  }, 20_000);
});
