import { useState } from 'preact/hooks';

/** Copies `text` to the clipboard and says so (a live region), or says why it could not. */
export function CopyButton(props: { text: string; label: string }) {
  const [said, setSaid] = useState('');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.text);
      setSaid('Copied');
    } catch {
      setSaid('Could not copy: select the text and copy it');
    }
  };
  return (
    <span>
      <button type="button" onClick={copy}>
        {props.label}
      </button>
      <span role="status" class="muted">
        {said}
      </span>
    </span>
  );
}
