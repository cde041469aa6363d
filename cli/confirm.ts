/** A yes-or-no question to the person at the terminal, before a change that cannot be undone. */
import readline from 'node:readline';

/** Asks on stderr (stdout may be a pipe); only "y" or "yes" is a yes, and end of input (Ctrl-D) a no. */
export function confirm(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  return new Promise((resolve) => {
    rl.once('close', () => resolve(false));
    rl.question(`${question} [y/N] `, (answer) => {
      resolve(/^y(es)?$/i.test(answer.trim()));
      rl.close();
    });
  });
}
