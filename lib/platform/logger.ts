/** JSON lines to stdout: one object per event, easy to ship and grep. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = Record<LogLevel, (msg: string, fields?: Record<string, unknown>) => void> & {
  child(fields: Record<string, unknown>): Logger;
};

/** A process's own logger: it also writes the line of its end (lib/platform/fatal.ts). */
export type ProcessLogger = Logger & { fatal(msg: string, fields?: Record<string, unknown>): void };

/** Where the lines go: stdout, or what a test reads them from. */
export type LogOutput = { write(line: string): unknown };

const rank: Record<LogLevel | 'fatal' | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, fatal: 50, silent: 100 };

export function createLogger(level: LogLevel | 'silent', base: Record<string, unknown> = {}, out: LogOutput = process.stdout): ProcessLogger {
  const write = (lvl: LogLevel | 'fatal') => (msg: string, fields?: Record<string, unknown>) => {
    if (rank[lvl] < rank[level]) return;
    const line = { time: new Date().toISOString(), level: lvl, msg, ...base, ...fields };
    out.write(`${JSON.stringify(line, errorReplacer)}\n`);
  };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    fatal: write('fatal'),
    child: (fields) => createLogger(level, { ...base, ...fields }, out),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}
