/**
 * The console's frame: who is signed in, the navigation (the admin's views for admins only), and the
 * view of the current path. A skip link leads past the navigation; each view's heading takes the focus
 * on arrival, so a screen reader announces where the user is.
 */
import { useEffect, useMemo, useRef } from 'preact/hooks';
import { apiOf } from './api';
import { Link } from './components/Link';
import { ConsoleContextOf, type ConsoleContext } from './context';
import { match, useLocation } from './router';
import type { Session } from './session';
import type { ConsoleSettings } from './settings';
import { ADMIN_VIEWS } from './views/admin/routes';
import { ASSET_VIEWS } from './views/assets/routes';
import { FILE_VIEWS } from './views/files/routes';
import type { ViewRoute } from './views/viewRoute';

export const VIEWS: ViewRoute[] = [...ASSET_VIEWS, ...FILE_VIEWS, ...ADMIN_VIEWS];

function NotFound() {
  return (
    <section>
      <h1 tabIndex={-1}>No such page</h1>
      <p>
        The console has no page at this address. <Link to="/">Go to the assets</Link>.
      </p>
    </section>
  );
}

function Navigation(props: { path: string; session: Session }) {
  const entries = (admin: boolean) => VIEWS.filter((v) => v.nav && Boolean(v.admin) === admin);
  const item = (view: ViewRoute) => {
    const to = view.path;
    const current = to === '/' ? props.path === '/' || props.path.startsWith('/assets') : props.path === to || props.path.startsWith(`${to}/`);
    return (
      <li key={to}>
        <Link to={to} current={current}>
          {view.nav}
        </Link>
      </li>
    );
  };
  return (
    <nav aria-label="Console">
      <ul>{entries(false).map(item)}</ul>
      {props.session.isAdmin && (
        <>
          <h2 class="nav-heading" id="nav-admin">
            Admin
          </h2>
          <ul aria-labelledby="nav-admin">{entries(true).map(item)}</ul>
        </>
      )}
    </nav>
  );
}

export function Console(props: { settings: ConsoleSettings; session: Session; signOut(reason?: string): void }) {
  const { settings, session, signOut } = props;
  const where = useLocation();
  const api = useMemo(() => apiOf(session, () => signOut('The API refused your token (401): it expired or was revoked. Sign in again.')), [session, signOut]);
  const context: ConsoleContext = useMemo(() => ({ settings, session, api, signOut }), [settings, session, api, signOut]);
  const found = VIEWS.map((route) => ({ route, params: match(route.path, where.path) })).find((m) => m.params !== null);
  const title = found ? found.route.title : 'No such page';
  const main = useRef<HTMLElement>(null);
  useEffect(() => {
    document.title = `${title} · Storage console`;
    main.current?.querySelector<HTMLElement>('h1')?.focus({ preventScroll: true });
  }, [where.path, title]);
  const View = found?.route.view ?? NotFound;
  return (
    <ConsoleContextOf.Provider value={context}>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link to="/" class="brand">
          Storage console
        </Link>
        <div class="who">
          <span>
            Signed in as <strong>{session.sub}</strong>
            {session.isAdmin && <span class="badge">admin</span>}
          </span>
          <button type="button" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <div class="layout">
        <Navigation path={where.path} session={session} />
        <main id="main" ref={main}>
          <View params={found?.params ?? {}} key={where.path} />
        </main>
      </div>
    </ConsoleContextOf.Provider>
  );
}
