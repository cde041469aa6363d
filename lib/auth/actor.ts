/**
 * Who a request (or a run it started) acts for: the token's subject, its storage roles and its
 * groups (a campaign is a group). Workflows carry `{ sub, roles }` in their input.
 */
export const ROLES = { admin: 'storage:admin', service: 'storage:service' } as const;
export type Role = (typeof ROLES)[keyof typeof ROLES];

export interface Actor {
  sub: string;
  roles: Role[];
  groups: string[];
}

/** Schedules run as the system, and assets made before owners existed belong to it. */
export const SYSTEM_OWNER = 'system';
export const SYSTEM_ACTOR: Actor = { sub: SYSTEM_OWNER, roles: [ROLES.admin], groups: [] };

export const isAdmin = (actor: Actor) => actor.roles.includes(ROLES.admin);
/** An admin or a service: may act for any owner. */
export const actsForAnyOwner = (actor: Actor) => isAdmin(actor) || actor.roles.includes(ROLES.service);
