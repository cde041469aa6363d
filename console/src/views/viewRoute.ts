import type { FunctionComponent } from 'preact';

/** A view of the console: its path under /console (`:name` a parameter), and its place in the navigation if it has one. */
export interface ViewRoute {
  path: string;
  view: FunctionComponent<{ params: Record<string, string> }>;
  /** Shown in the navigation under this label. */
  nav?: string;
  /** For admins only: the navigation hides it from others, and the API refuses them anyway. */
  admin?: boolean;
  /** The page's title (the tab's, and what a screen reader announces on arrival). */
  title: string;
}
