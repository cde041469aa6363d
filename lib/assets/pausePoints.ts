/**
 * Places between two steps of a deletion where a test can hold it (test/races.*.test.ts), to run
 * another operation at exactly that point: the interleavings of issue 26 made on purpose, not by luck.
 * Nothing waits unless a test holds the point, and a hold lasts until the test lets go.
 *
 * - `versions-picked`: a prune or a lifecycle version expiry has picked the versions it will remove
 *   (no lock held), before anything of theirs is deleted.
 * - `versions-claimed`: it has claimed them (re-checked and marked deleting under their assets' locks,
 *   committed), before their objects go.
 * - `orphan-checked`: a scrub has found an object no version or session names, older than the grace
 *   period, and looked at it again (catalog, HEAD, listing), before it takes the key's lock (subject: the key).
 * - `orphan-locked`: the same scrub holds the key's lock and found it unnamed again, just before the
 *   object goes.
 * - `version-repairing`: a scrub has found a version's object missing or wrong, before it puts the
 *   bytes back (subject: the version id); `version-copied`: it has put them back, before it records
 *   the repair.
 * - `point-in-time-planned`: a restore to a point in time has planned an asset's copy upload (its
 *   source chosen, its bytes not yet written), before its workflow starts that upload (subject: the asset).
 * - `type-sniffed`: an upload's commit has read its object's first bytes, before its transaction
 *   decides its type (subjects: the upload, and the asset it is a version of); `version-committed`: the
 *   commit's transaction is committed, before its activity completes (the upload and its asset).
 */
export type PausePoint =
  | 'versions-picked'
  | 'versions-claimed'
  | 'orphan-checked'
  | 'orphan-locked'
  | 'version-repairing'
  | 'version-copied'
  | 'point-in-time-planned'
  | 'type-sniffed'
  | 'version-committed';

type Hold = (subjects: string[]) => Promise<void>;

const holds = new Map<PausePoint, Hold>();

/** Waits while a test holds `point` for any of `subjects` (ids); returns at once otherwise. */
export async function pausePoint(point: PausePoint, subjects: string[]): Promise<void> {
  const hold = holds.get(point);
  if (hold && subjects.length) await hold(subjects);
}

/**
 * Holds `point` for the first operation that reaches it with one of `subjects`. `reached` resolves
 * then; the operation goes on once `release` is called, or throws `crash`'s error there (an attempt
 * that dies at that line: its activity is retried). Only one hold per point.
 */
export function holdAt(point: PausePoint, subjects: string[]): { reached: Promise<string[]>; release: () => void; crash: (why: string) => void } {
  if (holds.has(point)) throw new Error(`${point} is held already`);
  let reach!: (subjects: string[]) => void;
  const reached = new Promise<string[]>((resolve) => (reach = resolve));
  let release!: () => void;
  let crash!: (err: Error) => void;
  const released = new Promise<void>((resolve, reject) => {
    release = resolve;
    crash = reject;
  });
  holds.set(point, async (ids) => {
    if (!ids.some((id) => subjects.includes(id))) return;
    holds.delete(point);
    reach(ids);
    await released;
  });
  const letGo = () => {
    if (holds.get(point)) holds.delete(point);
  };
  return {
    reached,
    release: () => {
      letGo();
      release();
    },
    crash: (why) => {
      letGo();
      crash(new Error(`crashed at ${point} (a test): ${why}`));
    },
  };
}
