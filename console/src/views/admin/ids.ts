/** Asset ids as an operator pastes them: separated by commas, spaces or lines; none is undefined (every asset). */
export function idsOf(text: string): string[] | undefined {
  const ids = text.split(/[\s,]+/).filter(Boolean);
  return ids.length > 0 ? ids : undefined;
}
