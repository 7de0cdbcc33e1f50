/**
 * How every network adapter finds its own post again: by the reference the text carries
 * ("Ref 7K3Q"), as a whole word. Networks rewrite links (X: t.co) and escape HTML, but leave
 * a plain "Ref 7K3Q" alone.
 */

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * True when `text` ends with `reference` on a line of its own, as every post we make does
 * ("…\n\nRef 7K3Q"), optionally followed by links the network appended (X adds a t.co link
 * for attached media). So "Ref 7K3QX", a post that merely mentions "further to Ref 7K3Q", or
 * a repost quoting it, never counts as ours. Runs of whitespace inside the reference match
 * any whitespace (a network may turn a space into a line break).
 */
export function carriesReference(text: string, reference: string): boolean {
  const words = reference.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return false;
  const pattern = words.map(escapeRegExp).join('\\s+');
  return new RegExp(`(?:^|\\n)[ \\t]*${pattern}(?:\\s+https?://\\S+)*\\s*$`, 'u').test(text);
}
