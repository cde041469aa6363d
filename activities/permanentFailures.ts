/**
 * Which errors no retry can fix, decided once for every activity: a statement PostgreSQL refuses for
 * its data (SQLSTATE class 22) or for the integrity of the catalog (class 23) is refused again on every
 * attempt, so it ends the activity as a non-retryable failure. Anything else (a refused connection, a
 * timeout, a 5xx from S3) stays retryable, without limit. Conflicts the code expects (a unique
 * violation it catches) never get here.
 */
import { ApplicationFailure } from '@temporalio/common';
import { DatabaseError } from 'pg';
import { PermanentFailure } from '../workflows/definitions';

const FAILURE_OF_SQLSTATE_CLASS: Record<string, string> = {
  '22': PermanentFailure.invalidData,
  '23': PermanentFailure.integrityViolation,
};

export function classified(err: unknown): unknown {
  if (!(err instanceof DatabaseError) || !err.code) return err;
  const type = FAILURE_OF_SQLSTATE_CLASS[err.code.slice(0, 2)];
  if (!type) return err;
  return ApplicationFailure.create({ type, message: err.message, details: [{ sqlstate: err.code }], nonRetryable: true, cause: err });
}

type AsyncFunctions = Record<string, (...args: never[]) => Promise<unknown>>;

/** The same activities, each one's errors classified on the way out. */
export function withPermanentFailures<T extends AsyncFunctions>(activities: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, activity] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await activity(...args);
      } catch (err) {
        throw classified(err);
      }
    };
  }
  return wrapped as T;
}
