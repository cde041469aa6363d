/**
 * The last resort of a process: an exception nothing caught, or a rejection nothing handled, is
 * written as one `fatal` log line, with what `contextOf` knows then (the API: the request it came
 * from), and the process exits 1 for its supervisor to start it again (npm start, compose's
 * `restart:`). It does not go on: what it was in the middle of is in a state nobody planned for.
 */
import type { ProcessLogger } from './logger';

export function exitOnFatal(logger: Pick<ProcessLogger, 'fatal'>, contextOf: () => Record<string, unknown> = () => ({})): void {
  const fatal = (msg: string) => (err: unknown) => {
    logger.fatal(msg, { err, ...contextOf() });
    process.exit(1);
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled rejection'));
}
