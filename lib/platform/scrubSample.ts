/**
 * The smallest share a scrub samples: its row keeps three decimals (numeric(6,3)), so a smaller one
 * would be stored as 0. A file of its own, so that the CLI checks --sample without loading the
 * service's configuration (zod) at its start.
 */
export const MIN_SAMPLE_PERCENT = 0.001;
