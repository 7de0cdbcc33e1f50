/**
 * The demo's thread, as a person reads it in Slack: who said what, in order, with mentions,
 * links and emoji turned into plain text, cards summed up from their blocks, reactions and
 * files listed, and the reach message in its latest version.
 */
import type { FakeSlack, StoredMessage } from '../test/fakes/slack.js';

const EMOJI: Record<string, string> = {
  white_check_mark: '✅', x: '❌', loudspeaker: '📢', no_entry: '⛔', chart_with_upwards_trend: '📈',
  construction: '🚧', warning: '⚠️', bar_chart: '📊', ledger: '📒', leftwards_arrow_with_hook: '↩️',
};

export function plainSlack(text: string, names: ReadonlyMap<string, string>): string {
  return text
    .replace(/<@([A-Z0-9]+)>/g, (_, id: string) => `@${names.get(id) ?? id}`)
    .replace(/<(https?:[^|>]+)\|([^>]+)>/g, (_, url: string, label: string) => (url === label || url.replace(/^https?:\/\//, '') === label ? url : `${label} (${url})`))
    .replace(/<(https?:[^>]+)>/g, '$1')
    .replace(/:([a-z0-9_+-]+):/g, (whole, name: string) => EMOJI[name] ?? whole)
    .replace(/(^|\s)\*([^*\n]+)\*(?=\s|$|[.,:;!?)])/g, '$1$2')
    .replace(/`([^`\n]+)`/g, '$1')
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** A card's blocks, summed up: its header, then its sections and context lines, shortened. */
function cardText(blocks: unknown[], names: ReadonlyMap<string, string>): string {
  const lines: string[] = [];
  for (const b of blocks as Array<{ type: string; text?: { text?: string }; elements?: Array<{ text?: string }> }>) {
    if (b.type === 'header' && b.text?.text) lines.push(`┃ ${b.text.text.toUpperCase()}`);
    else if (b.type === 'section' && b.text?.text) lines.push(...b.text.text.split('\n').map((l) => `┃ ${plainSlack(l, names)}`));
    else if (b.type === 'context') for (const e of b.elements ?? []) if (e.text) lines.push(`┃   ${plainSlack(e.text, names)}`);
  }
  return lines.filter((l) => l.trim() !== '┃' && !/^┃\s*```$/.test(l)).map((l) => l.replace(/```/g, '')).join('\n');
}

function clock(ts: string): string {
  return new Date(Number(ts) * 1000).toISOString().slice(11, 19);
}

export function renderThread(slack: FakeSlack, channel: string, rootTs: string, names: ReadonlyMap<string, string>): string {
  const out: string[] = [];
  for (const m of slack.thread(channel, rootTs)) out.push(renderMessage(m, names));
  return out.join('\n\n');
}

export function renderMessage(m: StoredMessage, names: ReadonlyMap<string, string>): string {
  const who = names.get(m.user) ?? m.user;
  const head = `[${clock(m.ts)}] ${who}`;
  const body = m.blocks && m.blocks.length > 0 && !m.upload ? cardText(m.blocks, names) : plainSlack(m.text, names);
  const parts = [`${head}${body.includes('\n') ? '\n' : ': '}${body}`];
  if (m.files?.length) parts.push(`   📎 ${m.files.map((f) => f.name).join(', ')}`);
  const reactions = m.reactions.filter((r) => r.users.some((u) => u !== m.user || names.get(u) !== 'Loudhailer'));
  if (reactions.length > 0) {
    parts.push(`   ${reactions.map((r) => `${EMOJI[r.name] ?? `:${r.name}:`} ${r.users.filter((u) => names.get(u) !== 'Loudhailer').map((u) => names.get(u) ?? u).join(', ') || '(seeded by the bot)'}`).join('   ')}`);
  }
  if (m.edits.length > 0) parts.push(`   (edited ${m.edits.length} time${m.edits.length === 1 ? '' : 's'}: the latest version is shown)`);
  return parts.join('\n');
}
