import type { ComponentChildren } from 'preact';

/**
 * A table's own sideways-scrolling box (at 390 px a wide table scrolls there, not the page): a named
 * region that takes the focus, so that it can be scrolled from the keyboard.
 */
export function TableScroll(props: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-scroll" role="region" aria-label={props.label} tabIndex={0}>
      {props.children}
    </div>
  );
}
