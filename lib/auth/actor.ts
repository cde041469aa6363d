/**
 * Who a request (or a run it started) acts for: the token's subject, its storage roles and its
 * groups (a campaign is a group). Workflows carry `{ sub, roles }` in their input.
 */
import { ROLES, SYSTEM_ACTOR_REF, type ActorRef } from '../../workflows/shared/actor';

export { ROLES, type ActorRef, type Role } from '../../workflows/shared/actor';

export interface Actor extends ActorRef {
  groups: string[];
}

/** Schedules run as the system, and assets made before owners existed belong to it. */
export const SYSTEM_OWNER = SYSTEM_ACTOR_REF.sub;
export const SYSTEM_ACTOR: Actor = { ...SYSTEM_ACTOR_REF, groups: [] };

/** What a run's input carries of an actor: its groups decide access to a request, not what a run does. */
export const actorRef = ({ sub, roles }: ActorRef): ActorRef => ({ sub, roles });

export const isAdmin = (actor: Actor) => actor.roles.includes(ROLES.admin);
/** An admin or a service: may act for any owner. */
export const actsForAnyOwner = (actor: Actor) => isAdmin(actor) || actor.roles.includes(ROLES.service);
