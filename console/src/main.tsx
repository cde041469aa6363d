/**
 * The console starts here: it reads its settings, takes a token handed to it (in the fragment, or from
 * an embedding application) or the one this tab kept, and shows either the console or the sign-in page.
 */
import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { Console } from './app';
import { forgetSession, keepSession, keptSession, listenForEmbeddingToken, sessionOf, takeTokenFromFragment, type Session } from './session';
import { readSettings } from './settings';
import { SignIn } from './views/SignIn';
import './styles.css';

const settings = readSettings();

// An embedding application posts its token when the frame has loaded, which can be before Root's
// effects run: the console listens from the start, and a token that came early waits for Root.
let earlyToken: string | null = null;
let takeToken: ((token: string) => void) | null = null;
listenForEmbeddingToken(settings, (token) => (takeToken ? takeToken(token) : (earlyToken = token)));

function initialState(): { session: Session | null; reason: string | null } {
  const handed = takeTokenFromFragment();
  if (handed !== null) {
    const session = sessionOf(handed, settings, 'link');
    if (typeof session === 'string') return { session: null, reason: `The link's token cannot be used. ${session}` };
    keepSession(session);
    return { session, reason: null };
  }
  const kept = keptSession(settings);
  if (typeof kept !== 'string') return { session: kept, reason: null };
  forgetSession();
  return { session: null, reason: `Your session ended: ${kept} Sign in again.` };
}

function Root() {
  const [state, setState] = useState(initialState);
  const signIn = useCallback((session: Session) => {
    keepSession(session);
    setState({ session, reason: null });
  }, []);
  const signOut = useCallback((reason?: string) => {
    forgetSession();
    setState({ session: null, reason: reason ?? null });
  }, []);
  useEffect(() => {
    takeToken = (token) => {
      const session = sessionOf(token, settings, 'embedding');
      if (typeof session === 'string') setState({ session: null, reason: `The token the embedding application handed over cannot be used. ${session}` });
      else signIn(session);
    };
    if (earlyToken !== null) takeToken(earlyToken);
    earlyToken = null;
    return () => void (takeToken = null);
  }, [signIn]);
  if (!state.session) return <SignIn settings={settings} reason={state.reason} onSession={signIn} />;
  return <Console settings={settings} session={state.session} signOut={signOut} key={state.session.token} />;
}

render(<Root />, document.getElementById('console')!);
