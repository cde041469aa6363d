/**
 * The store of the outbox: the only code that runs SQL against outbox_events.
 */
export {};

// ---- used by assets (moved from activities/assets.ts) ----

/** The latest event about `subject`, by sequence. */
export async function latestEventAbout(trx: import('knex').Knex.Transaction, subject: string) {
  return trx('outbox_events').where({ subject }).orderBy('sequence', 'desc').first();
}
