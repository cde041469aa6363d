/**
 * The name `storage download` writes under when -o does not give one comes from the server: an
 * asset's name, chosen by whoever created it (another user who shared it with you, an old backup
 * restored). It is used only when it is one plain, visible file name in the target folder.
 */

// C0 and C1 controls (NUL, ESC: a terminal's escape sequences), DEL, and the bidirectional controls
// that make "invoice\u202Efdp.exe" read as "invoiceexe.pdf".
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
// Characters Windows refuses in a file name.
const WINDOWS_FORBIDDEN = /[<>:"|?*]/;
// Names Windows gives to devices, with any extension: `NUL.txt` is the device too.
const WINDOWS_DEVICES = /^(con|prn|aux|nul|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³])(\.[^.]*)*$/i;
const NAME_MAX_BYTES = 200;

/** The local file name of an asset named `name`, or why it has none (the caller then asks for -o). */
export function localNameOf(name: string): { name: string } | { refused: string } {
  if (CONTROLS.test(name)) return { refused: 'it holds control characters' };
  const segments = name.split(/[/\\]/);
  if (/^([/\\]|[a-z]:)/i.test(name)) return { refused: 'it is an absolute path' };
  if (segments.some((s) => s === '..')) return { refused: 'it climbs out of the folder (..)' };
  // A name such as "maps/dungeon.png" is written as its last part.
  const last = segments[segments.length - 1];
  if (last === '' || last === '.') return { refused: 'it names a folder, not a file' };
  if (last.startsWith('.')) return { refused: 'it would be a hidden file' };
  if (WINDOWS_FORBIDDEN.test(last) || /[. ]$/.test(last)) return { refused: 'it is no valid file name on Windows' };
  if (WINDOWS_DEVICES.test(last)) return { refused: 'it is a device name on Windows' };
  if (Buffer.byteLength(last) > NAME_MAX_BYTES) return { refused: `it is longer than ${NAME_MAX_BYTES} bytes` };
  return { name: last };
}

/** Text from the server made safe to print: control characters shown as escapes, never sent to the terminal. */
export function printable(text: string, keep: RegExp = /[\n\t]/): string {
  return text.replace(new RegExp(CONTROLS.source, 'gu'), (c) => (keep.test(c) ? c : `\\u{${c.codePointAt(0)!.toString(16)}}`));
}
