/**
 * Which errors no retry can fix, decided once for every activity: a statement PostgreSQL refuses for
 * its data (SQLSTATE class 22) or for the integrity of the catalog (class 23) is refused again on every
 * attempt, so it ends the activity as a non-retryable failure. Anything else (a refused connection, a
 * timeout, a 5xx from S3) stays retryable, without limit. Conflicts the code expects (a unique
 * violation it catches) never get here.
 */
import { ApplicationFailure } from '@temporalio/common';
import { DatabaseError } from 'pg';
import { PermanentFailure } from '../workflows/shared/failures';

const FAILURE_OF_SQLSTATE_CLASS: Record<string, string> = {
  '22': PermanentFailure.invalidData,
  '23': PermanentFailure.integrityViolation,
};

// knex prefixes a DatabaseError's message with the statement's SQL, which is no client's business:
// the failure's message is built from the error's structured fields instead.
const WHAT_SQLSTATE_REFUSED: Record<string, string> = {
  '22001': 'a value longer than its column allows',
  '22003': 'a number out of range',
  '22007': 'a malformed date or time',
  '22008': 'a date or time out of range',
  '22021': 'a character it cannot store (such as NUL)',
  '22P02': 'a value of the wrong form',
  '22P05': 'a character it cannot store (such as NUL)',
  '23502': 'a missing required value',
  '23503': 'a reference to a row that does not exist',
  '23505': 'a duplicate of an existing key',
  '23514': 'a value its check constraint forbids',
};

function describe(err: DatabaseError): string {
  const what = WHAT_SQLSTATE_REFUSED[err.code!] ?? 'the data it was given';
  const where = [err.table && `table ${err.table}`, err.column && `column ${err.column}`, err.constraint && `constraint ${err.constraint}`].filter(Boolean);
  return `the catalog refused ${what} (SQLSTATE ${err.code}${where.length ? `, ${where.join(', ')}` : ''})`;
}

export function classified(err: unknown): unknown {
  if (!(err instanceof DatabaseError) || !err.code) return err;
  const type = FAILURE_OF_SQLSTATE_CLASS[err.code.slice(0, 2)];
  if (!type) return err;
  return ApplicationFailure.create({ type, message: describe(err), details: [{ sqlstate: err.code }], nonRetryable: true, cause: err });
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
