/** An object of activities, each a module-level function of its deps, as the worker registers them: bound to one set of deps. */
export type BoundActivities<D, T> = {
  [K in keyof T]: T[K] extends (deps: D, ...args: infer A) => infer R ? (...args: A) => R : never;
};

/** The keys are the activities' names, which workflows and recorded histories use. */
export function bindActivities<D, T extends Record<string, (deps: D, ...args: never[]) => unknown>>(deps: D, activities: T): BoundActivities<D, T> {
  const bound = Object.entries(activities).map(([name, activity]) => [name, (...args: never[]) => activity(deps, ...args)]);
  return Object.fromEntries(bound) as BoundActivities<D, T>;
}
