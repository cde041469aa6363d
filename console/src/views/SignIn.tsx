import { useState } from 'preact/hooks';
import { sessionOf, type Session } from '../session';
import type { ConsoleSettings } from '../settings';

/**
 * Signing in: a token pasted here, or handed over by the link `npm start` prints (development) or by
 * the application that embeds the console. Says why the user is here when a session ended.
 */
export function SignIn(props: { settings: ConsoleSettings; reason: string | null; onSession(session: Session): void }) {
  const [token, setToken] = useState('');
  const [refused, setRefused] = useState<string | null>(null);
  const submit = (event: Event) => {
    event.preventDefault();
    const session = sessionOf(token, props.settings, 'pasted');
    if (typeof session === 'string') setRefused(session);
    else props.onSession(session);
  };
  const development = props.settings.environment === 'development' || props.settings.environment === 'test';
  return (
    <main id="main" class="sign-in">
      <h1>Sign in to the storage console</h1>
      {props.reason && (
        <div class="notice notice-warning" role="alert">
          {props.reason}
        </div>
      )}
      <p>The console acts with a bearer token from the Auth Service. It keeps it in this tab only, until the tab closes or you sign out.</p>
      {development ? (
        <p>
          In development, <code>npm start</code> prints a console link that signs you in (it carries a fresh token after the <code>#</code>, which is never sent
          to a server). For another user: <code>npm run -s token -- --sub bob</code>, then paste the token below.
        </p>
      ) : (
        <p>
          No token was handed to this page.{' '}
          {props.settings.embeddingOrigins.length > 0
            ? 'The application that embeds this console signs you in; opened on its own, paste a token below.'
            : 'Paste a token from your Auth Service below.'}
        </p>
      )}
      <form onSubmit={submit}>
        <label for="token">Bearer token</label>
        <textarea
          id="token"
          rows={5}
          spellcheck={false}
          autocomplete="off"
          value={token}
          aria-invalid={refused ? true : undefined}
          aria-describedby={refused ? 'token-refused' : undefined}
          onInput={(event) => setToken((event.target as HTMLTextAreaElement).value)}
        />
        {refused && (
          <p id="token-refused" class="field-error" role="alert">
            {refused}
          </p>
        )}
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
    </main>
  );
}
