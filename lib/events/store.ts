/**
 * The store of the outbox: the only code that runs SQL against outbox_events.
 */
export {};
