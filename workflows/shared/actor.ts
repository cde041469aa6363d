/**
 * Who a run acts for, as its input carries it: the subject and storage roles of the request that
 * started it (lib/auth/actor.ts makes one of a request's actor). Plain values and types only, so the
 * workflow bundle, the API and the worker can all import it.
 */
export const ROLES = { admin: 'storage:admin', service: 'storage:service' } as const;
export type Role = (typeof ROLES)[keyof typeof ROLES];

export interface ActorRef {
  sub: string;
  roles: Role[];
}

/** What the runs no request started act as: the schedules' runs, and the runs they start. */
export const SYSTEM_ACTOR_REF: ActorRef = { sub: 'system', roles: [ROLES.admin] };

/**
 * The field of every run's input that says whom it acts for. Optional only because runs begun before
 * runs carried it have none: those act for the system.
 */
export interface ActsFor {
  actor?: ActorRef;
}
