/**
 * The appeal card in Block Kit: exactly what each network would be sent, the media, the
 * targets, the approvals so far and the id. Every piece of user text is escaped.
 */
import type { KnownBlock } from '@slack/types';
import type { CardView } from '../../core/messages.js';
import { escapeText, quote } from './text.js';

const STATE_LABEL: Record<CardView['state'], string> = {
  draft: 'DRAFT, awaiting approval',
  approved: 'APPROVED',
  rejected: 'REJECTED',
  publishing: 'PUBLISHING',
  published: 'PUBLISHED',
  withdrawn: 'WITHDRAWN',
};

export function renderCard(card: CardView): { text: string; blocks: KnownBlock[] } {
  const id = `#${card.appealId}`;
  const firstLine = Array.from(card.text.split('\n')[0] ?? '').slice(0, 80).join('');
  if (card.supersededBy !== undefined) {
    return {
      text: `Appeal ${id}, card ${card.revision}: superseded by card ${card.supersededBy}`,
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: `Appeal ${id}: card ${card.revision} (superseded)` } },
        {
          type: 'section',
          text: { type: 'mrkdwn', text: `This card was replaced by *card ${card.supersededBy}* in the thread because the draft changed. Reactions here no longer count: review and react on the newest card.` },
        },
        { type: 'context', elements: [{ type: 'mrkdwn', text: `${escapeText(firstLine)} · hash \`${card.hash.slice(0, 12)}\`` }] },
      ],
    };
  }

  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: `Appeal ${id}: ${STATE_LABEL[card.state]}` } },
    {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `Card ${card.revision} · drafted by <@${card.author}> · content hash \`${card.hash.slice(0, 12)}\`` }],
    },
  ];

  // Networks that get identical content share one preview.
  const groups = new Map<string, CardView['outgoing']>();
  for (const o of card.outgoing) {
    const key = JSON.stringify([o.title ?? '', o.text, o.media, o.skipped ?? '']);
    groups.set(key, [...(groups.get(key) ?? []), o]);
  }
  for (const outs of groups.values()) {
    const o = outs[0]!;
    const names = outs.map((x) => x.label).join(', ');
    const length = o.length ? ` (${o.length.weighted}/${o.length.limit})` : '';
    if (o.skipped) {
      blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `*${names}*: nothing, ${escapeText(o.skipped)}.` }] });
      continue;
    }
    const title = o.title ? `Title: *${escapeText(o.title)}*\n` : '';
    const media = o.media.length > 0 ? `\nWith: ${o.media.map((m) => `\`${escapeText(m)}\``).join(', ')}` : '';
    for (const chunk of chunks(`*${names}*${length}\n${title}${quote(o.text)}${media}`)) {
      blocks.push({ type: 'section', text: { type: 'mrkdwn', text: chunk } });
    }
    for (const x of outs) {
      if (x.warning) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `:warning: ${escapeText(x.warning)}` }] });
    }
  }
  if (card.outgoing.length === 0) {
    for (const chunk of chunks(`*Text*\n${quote(card.text)}`)) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: chunk } });
  }

  const media = card.media.length === 0
    ? '_No images yet: post them as replies in this thread._'
    : card.media
        .map((m) => `\`${escapeText(m.name)}\` ${m.width}×${m.height} ${m.format.replace('image/', '').toUpperCase()} ${formatBytes(m.bytes)}`)
        .join('\n') + '\n_Metadata (EXIF, GPS) removed._';
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Media* (${card.media.length})\n${media}` } });

  for (const note of card.notes) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `:information_source: ${escapeText(note)}` }] });

  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: approvalsLine(card) } });
  if (card.state === 'draft') {
    blocks.push({
      type: 'context',
      elements: [{
        type: 'mrkdwn',
        text: `Approvers: react :${card.approveEmoji}: to approve exactly this content, :${card.rejectEmoji}: to reject. The author's own approval doesn't count. Adding media posts a new card; approvals don't carry over.`,
      }],
    });
  }
  return { text: `Appeal ${id} (${STATE_LABEL[card.state]}): ${escapeText(firstLine)}`, blocks };
}

function approvalsLine(card: CardView): string {
  const mentions = (ids: string[]) => ids.map((u) => `<@${u}>`).join(', ');
  if (card.approvedBy) return `*Approved* by ${mentions(card.approvedBy)}`;
  if (card.rejectedBy) return `*Rejected* by <@${card.rejectedBy}>`;
  const a = card.approvals;
  const who = a.counted.length > 0 ? `: ${mentions(a.counted)}` : '';
  const senior = a.seniorRequired ? (a.seniorMissing ? ' · a senior approver must be one of them' : ' · senior approval given') : '';
  return `*Approvals* ${a.counted.length} of ${a.required}${who}${senior}`;
}

/** Slack's section text holds 3000 characters: longer previews continue in further sections, split at line ends. */
export function chunks(text: string, max = 3000): string[] {
  const out: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    let rest = line;
    while (rest.length > max) {
      // a single very long line: split it hard, never inside an escape like &amp;
      let cut = max;
      const amp = rest.lastIndexOf('&', cut);
      if (amp > max - 6) cut = amp;
      if (current) out.push(current);
      out.push(rest.slice(0, cut));
      current = '';
      rest = `>${rest.slice(cut)}`;
    }
    if (current && current.length + 1 + rest.length > max) {
      out.push(current);
      current = rest;
    } else {
      current = current ? `${current}\n${rest}` : rest;
    }
  }
  if (current) out.push(current);
  return out;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
