import type { ComponentChildren } from 'preact';
import { followLink, hrefOf } from '../router';

/** A link to a console path: followed in the page, and a real link for a new tab or a copy. */
export function Link(props: { to: string; children: ComponentChildren; class?: string; current?: boolean; label?: string }) {
  return (
    <a
      href={hrefOf(props.to)}
      class={props.class}
      aria-current={props.current ? 'page' : undefined}
      aria-label={props.label}
      onClick={(event) => followLink(event, props.to)}
    >
      {props.children}
    </a>
  );
}
