/**
 * The appeal card in Block Kit: exactly what each network would be sent, the media, the
 * targets, the approvals so far and the id. Every piece of user text is escaped.
 */
import type { KnownBlock } from '@slack/types';
import type { CardView } from '../../core/messages.js';
import { escapeText, inlineCode, preformattedBody, slackLink } from './text.js';

const STATE_LABEL: Record<CardView['state'], string> = {
  draft: 'DRAFT, awaiting approval',
  approved: 'APPROVED',
  rejected: 'REJECTED',
  publishing: 'PUBLISHING',
  published: 'PUBLISHED',
  withdrawn: 'WITHDRAWN',
};

/** Before the header and the notification text of a rehearsal's cards. */
export const REHEARSAL_HEADER = 'REHEARSAL · ';
const REHEARSAL_TEXT = ':construction: REHEARSAL · ';
/** Slack takes at most 50 blocks in a message. */
const MAX_BLOCKS = 50;

export function renderCard(card: CardView): { text: string; blocks: KnownBlock[] } {
  const rendered = renderCardBody(card);
  if (!card.rehearsal) return rendered;
  // Rehearsal: the header and the notification say so, and a line says where the public side is.
  const [header, ...rest] = rendered.blocks;
  const marked = header?.type === 'header' ? { ...header, text: { ...header.text, text: `${REHEARSAL_HEADER}${header.text.text}` } } : header;
  const where = card.rehearsalUrl ? `; the public side is at ${slackLink(card.rehearsalUrl, card.rehearsalUrl)}` : '';
  const note = { type: 'mrkdwn' as const, text: `:construction: *Rehearsal*: nothing is published${where}` };
  // Its own context line under the header; on a card already at Slack's 50 blocks, the first
  // element of the context line that follows the header.
  const next = rest[0];
  const body = rendered.blocks.length < MAX_BLOCKS || next?.type !== 'context'
    ? [{ type: 'context', elements: [note] } as KnownBlock, ...rest]
    : [{ ...next, elements: [note, ...next.elements].slice(0, 10) }, ...rest.slice(1)];
  return { text: `${REHEARSAL_TEXT}${rendered.text}`, blocks: [...(marked ? [marked] : []), ...body] };
}

function renderCardBody(card: CardView): { text: string; blocks: KnownBlock[] } {
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
    { type: 'header', text: { type: 'plain_text', text: `${card.update ? `Update ${card.update.n} to appeal` : 'Appeal'} ${id}: ${STATE_LABEL[card.state]}` } },
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
    const title = o.title ? `\nTitle: *${escapeText(o.title)}*` : '';
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*${names}*${length}${title}` } });
    for (const piece of preformattedSections(o.text)) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: piece } });
    if (o.media.length > 0) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: fitList(o.media.map(inlineCode), 'With: ') }] });
    for (const x of outs) {
      if (x.warning) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `:warning: ${escapeText(x.warning)}` }] });
    }
  }
  if (card.outgoing.length === 0) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: '*Text*' } });
    for (const piece of preformattedSections(card.text)) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: piece } });
  }

  const media = card.media.length === 0
    ? '_No images yet: post them as replies in this thread._'
    : card.media
        .map((m) => `${inlineCode(m.name)} ${m.width}×${m.height} ${m.format.replace('image/', '').toUpperCase()} ${formatBytes(m.bytes)}`)
        .join('\n') + '\n_Metadata (EXIF, GPS) removed._';
  for (const piece of chunks(`*Media* (${card.media.length})\n${media}`)) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: piece } });

  for (const note of card.notes) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `:information_source: ${escapeText(note)}` }] });

  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: approvalsLine(card) } });
  if (card.publications?.length) {
    const lines = card.publications.map((p) =>
      p.url ? `:loudspeaker: *${escapeText(p.label)}*: ${slackLink(p.url, p.url.replace(/^https?:\/\//, ''))}` : `:warning: *${escapeText(p.label)}*: not published: ${escapeText(p.failed ?? 'failed')}`);
    for (const piece of chunks(lines.join('\n'))) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: piece } });
  }
  if (card.state === 'draft') {
    blocks.push({
      type: 'context',
      elements: [{
        type: 'mrkdwn',
        text: `Approvers: react :${card.approveEmoji}: to approve exactly this content, :${card.rejectEmoji}: to reject. The author's own approval doesn't count. Adding media posts a new card; approvals don't carry over.`,
      }],
    });
  }
  return { text: `${card.update ? `Update ${card.update.n} to appeal` : 'Appeal'} ${id} (${STATE_LABEL[card.state]}): ${escapeText(firstLine)}`, blocks };
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

/** Slack's section text holds 3000 characters. */
const SECTION_MAX = 3000;

/**
 * Splits mrkdwn into pieces of at most `max` characters, at line ends where it can; a longer
 * line is split hard, never inside an escape such as `&amp;`.
 */
export function chunks(text: string, max = SECTION_MAX): string[] {
  const out: string[] = [];
  let current: string | undefined;
  const flush = () => {
    if (current !== undefined) out.push(current);
    current = undefined;
  };
  for (const line of text.split('\n')) {
    let rest = line;
    while (rest.length > max) {
      flush();
      let cut = max;
      const amp = rest.lastIndexOf('&', cut - 1);
      if (amp > max - 6) cut = amp;
      out.push(rest.slice(0, cut));
      rest = rest.slice(cut);
    }
    if (current === undefined) current = rest;
    else if (current.length + 1 + rest.length > max) {
      flush();
      current = rest;
    } else current = `${current}\n${rest}`;
  }
  flush();
  return out;
}

/** Text exactly as it will be published, in code blocks of at most one section each. */
function preformattedSections(text: string): string[] {
  return chunks(preformattedBody(text), SECTION_MAX - 6).map((piece) => `\`\`\`${piece}\`\`\``);
}

/** A list that must fit one block: cut with "… and N more" when too long. */
function fitList(items: string[], prefix: string, max = SECTION_MAX): string {
  let shown = items.length;
  const render = (n: number) => `${prefix}${items.slice(0, n).join(', ')}${n < items.length ? `, … and ${items.length - n} more` : ''}`;
  while (shown > 0 && render(shown).length > max) shown--;
  return render(shown);
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
