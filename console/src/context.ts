import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api } from './api';
import type { Session } from './session';
import type { ConsoleSettings } from './settings';

/** What every view of a signed-in console has: the page's settings, the session and the API client. */
export interface ConsoleContext {
  settings: ConsoleSettings;
  session: Session;
  api: Api;
  signOut(reason?: string): void;
}

export const ConsoleContextOf = createContext<ConsoleContext | null>(null);

export function useConsole(): ConsoleContext {
  const context = useContext(ConsoleContextOf);
  if (!context) throw new Error('useConsole outside a signed-in console');
  return context;
}
