/** A run's status as a badge; the word itself says it (colour is not the only sign). */
export function Status(props: { status: string }) {
  return <span class={`badge status-${props.status}`}>{props.status}</span>;
}
