/**
 * How every network adapter finds its own post again: by the reference the text carries
 * ("Ref 7K3Q"), as a whole word. Networks rewrite links (X: t.co) and escape HTML, but leave
 * a plain "Ref 7K3Q" alone.
 */

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * True when `text` carries `reference` as a whole word: "Ref 7K3Q" is found in "… (Ref 7K3Q)."
 * but not in "Ref 7K3QX" or "XRef 7K3Q". Runs of whitespace inside the reference match any
 * whitespace (a network may turn a space into a line break).
 */
export function carriesReference(text: string, reference: string): boolean {
  const words = reference.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return false;
  const pattern = words.map(escapeRegExp).join('\\s+');
  return new RegExp(`(?<![\\p{L}\\p{N}_])${pattern}(?![\\p{L}\\p{N}_])`, 'u').test(text);
}
