/** The web dashboard: the login page until a token is given, then the pages of the router. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { call, session, whenUnauthorized } from './api.ts';
import { AppPage } from './pages/app.tsx';
import { Apps } from './pages/apps.tsx';
import { Billing } from './pages/billing.tsx';
import { Login } from './pages/login.tsx';
import { Platform } from './pages/platform.tsx';
import { onLinkClick, useRoute } from './router.ts';
import './style.css';

function Dashboard({ onLogout }: { onLogout: () => void }) {
  const route = useRoute();
  const [admin, setAdmin] = useState(false);
  useEffect(() => {
    document.addEventListener('click', onLinkClick);
    return () => document.removeEventListener('click', onLinkClick);
  }, []);
  useEffect(() => {
    // Only the admin token may read the platform's inventory: its answer says which token this is.
    call('GET', '/v1/platform/regions').then(
      () => setAdmin(true),
      () => setAdmin(false),
    );
  }, []);
  return (
    <div class="shell">
      <header>
        <a class="brand" href="/">
          nearby
        </a>
        <nav>
          <a href="/">Apps</a>
          {admin && <a href="/platform">Platform</a>}
        </nav>
        <button type="button" class="link" onClick={onLogout}>
          Sign out
        </button>
      </header>
      {route.page === 'apps' && <Apps />}
      {route.page === 'app' && <AppPage name={route.app} key={route.app} />}
      {route.page === 'billing' && <Billing org={route.org} key={route.org} />}
      {route.page === 'platform' && <Platform />}
    </div>
  );
}

function Root() {
  const [token, setToken] = useState(session.token());
  useEffect(() => {
    whenUnauthorized(() => {
      session.clear();
      setToken(undefined);
    });
  }, []);
  if (!token) return <Login onLogin={() => setToken(session.token())} />;
  return (
    <Dashboard
      onLogout={() => {
        session.clear();
        setToken(undefined);
      }}
    />
  );
}

render(<Root />, document.getElementById('root')!);
