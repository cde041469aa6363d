/**
 * One run at a time on one target (a download's part, a chunked upload's file, a sync's folder): a
 * lock file in the CLI's cache (cli/resumeState.ts), made with O_EXCL and naming its process. A
 * second run would write into the first's part, resume the first's upload session under it, or
 * upload the first's new files again (two assets of one name): it is refused instead. A lock whose
 * process is gone (a crash, kill -9) is taken over.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CliError, EXIT } from './context';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock `file` for `what`, or refuses (exit 1) while another live run holds it; answers its release. */
export function takeRunLock(file: string, what: string): () => void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      const release = () => {
        process.removeListener('exit', release);
        fs.rmSync(file, { force: true });
      };
      // An interrupted run (Ctrl-C, which ends it with process.exit) lets go too, lest its pid be another's by its next run.
      process.once('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(fs.readFileSync(file, { encoding: 'utf8', flag: 'r' }) || NaN);
    // A holder that has not written its pid yet is alive: it made the file a moment ago.
    if (Number.isNaN(holder) || alive(holder)) break;
    fs.rmSync(file, { force: true });
  }
  throw new CliError(`another ${what} is running (its lock is ${file}); wait for it to end`, EXIT.failed);
}
