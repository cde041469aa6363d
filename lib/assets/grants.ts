/**
 * An asset's grants: who besides its owner may read it, or also write it. A subject is a user
 * (`user:<sub>`) or a group of the token's groups claim (`group:<name>`).
 */
import type { Actor } from '../auth/actor';

export type GrantAccess = 'read' | 'write';

export interface Grant {
  subject: string;
  access: GrantAccess;
}

/** The subjects a grant may name to reach this actor. */
export function subjectsOf(actor: Actor): string[] {
  return [`user:${actor.sub}`, ...actor.groups.map((group) => `group:${group}`)];
}
