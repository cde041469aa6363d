/**
 * The one rule for a content type a client gives (every upload path, an event, a metadata change),
 * and how a stored one is read when it is served (api/contentPresentation.ts): exactly one media type
 * by RFC 9110's grammar, `type "/" subtype *( OWS ";" OWS [ parameter ] )`. A browser reads a
 * Content-Type as a comma-separated list and takes its last valid type, so a value that is not one
 * media type (`image/png;,text/html`, `text/plain, text/html`) would be checked as one type and
 * rendered as another.
 *
 * Stricter than the grammar where the value is sent on as a header (to S3, on every download):
 * ASCII only, no TAB (a space is the only white space), none at either end (a header's value has none),
 * and type and subtype are names as RFC 6838 registers them.
 */

/** A type or subtype (RFC 6838 restricted-name), letters in both cases: the document's pattern has no flags. */
export const MEDIA_TYPE_NAME = '[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]*';
// RFC 9110 token, and quoted-string without TAB or obs-text.
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[ !#-\\[\\]-~]|\\\\[ -~])*"';
const PARAMETER = `${TOKEN}=(?:${TOKEN}|${QUOTED})`;

// Each space can be matched one way only (before `;`, or before a parameter), so a failing match takes linear time.
export const MEDIA_TYPE = new RegExp(`^${MEDIA_TYPE_NAME}/${MEDIA_TYPE_NAME}(?: *;(?: *${PARAMETER})?)*$`);
export const MEDIA_TYPE_MESSAGE = 'must be one media type such as image/png or text/plain; charset=utf-8 (RFC 9110), in ASCII';

/** The type and subtype, lowercased, of a value that is one media type; undefined for any other. */
export function essenceOf(value: string): string | undefined {
  if (value.length > 255 || !MEDIA_TYPE.test(value)) return undefined;
  return value.slice(0, value.search(/[ ;]|$/)).toLowerCase();
}
