/**
 * The content hash: SHA-256 over exactly what would go out — the text (and title) per
 * target network, the processed media each network gets (by the SHA-256 of the processed
 * bytes) and the targets. Approvals bind to it: any change gives a new hash, and approvals
 * given for the old one no longer count.
 */
import { createHash } from 'node:crypto';
import type { OutgoingContent } from './networks.js';

export function contentHash(appeal: { id: string; text: string }, outgoing: OutgoingContent[], allMedia: string[]): string {
  const canonical = {
    v: 2,
    // The id and the author's text always count, even when no network is targeted.
    id: appeal.id,
    text: appeal.text,
    targets: outgoing.map((o) => o.network).sort(),
    media: allMedia,
    networks: [...outgoing]
      .sort((a, b) => a.network.localeCompare(b.network))
      .map((o) => ({ network: o.network, title: o.title ?? null, text: o.text, media: o.media, skipped: o.skipped ?? null })),
  };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

export const shortHash = (hash: string): string => hash.slice(0, 12);
