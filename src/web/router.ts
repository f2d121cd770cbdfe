/** The dashboard's paths, pushed with the History API; the API answers any of them with index.html. */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'apps' }
  | { page: 'app'; app: string }
  | { page: 'billing'; org: string }
  | { page: 'platform' };

export function parseRoute(path: string): Route {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'apps' && parts[1]) return { page: 'app', app: parts[1] };
  if (parts[0] === 'orgs' && parts[1] && parts[2] === 'billing') return { page: 'billing', org: parts[1] };
  if (parts[0] === 'platform') return { page: 'platform' };
  return { page: 'apps' };
}

export function navigate(path: string): void {
  history.pushState(null, '', path);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** Links inside the app change the page without a reload. */
export function onLinkClick(event: MouseEvent): void {
  const link = (event.target as Element).closest('a');
  const href = link?.getAttribute('href');
  if (!href?.startsWith('/') || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0)
    return;
  event.preventDefault();
  navigate(href);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const changed = () => setRoute(parseRoute(location.pathname));
    addEventListener('popstate', changed);
    return () => removeEventListener('popstate', changed);
  }, []);
  return route;
}
