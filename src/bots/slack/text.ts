/**
 * Text in and out of Slack. Inbound text (a slash command's) arrives in Slack's markup:
 * `&amp; &lt; &gt;` escaped, links and mentions in angle brackets; it becomes plain text
 * for the appeal. Outbound, every piece of user text is escaped so it can never become a
 * mention, a link or a mass mention (`<!channel>`, `<!here>`, `@everyone`).
 */
import type { Message } from '../../core/messages.js';

const ZWSP = '\u200b';

/** Slack markup → the plain text a person typed. */
export function fromSlackText(s: string): string {
  const plainText = s.replace(/<([^<>]*)>/g, (_all, inner: string) => {
    const [target = '', label] = inner.split('|', 2);
    if (target.startsWith('@')) return label ? `@${label.replace(/^@/, '')}` : target;
    if (target.startsWith('#')) return label ? `#${label}` : target;
    if (target.startsWith('!subteam^')) return label ?? '@group';
    if (target.startsWith('!date^')) return label ?? '';
    if (target.startsWith('!')) return `@${target.slice(1)}`;
    if (target.startsWith('mailto:')) return label ?? target.slice('mailto:'.length);
    if (label === undefined || target.includes(label)) return target;
    return `${label} (${target})`;
  });
  return plainText.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

const NEEDS_ESCAPE = /[&<>@]/;
const SPECIAL = /[&<>]|@(?=(?:channel|here|everyone)\b)/gi;
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '@': `@${ZWSP}` };

/** Plain text → safe mrkdwn: escaped, and mass mentions broken with a zero-width space. */
export function escapeText(s: string): string {
  // One pass; most strings have nothing to escape and are returned as they are.
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(SPECIAL, (ch) => ESCAPES[ch]!);
}

const SLACK_ID = /^[A-Z0-9]+$/;

const rendered = new WeakMap<Message, string>();

/** A chat-neutral message → Slack mrkdwn. Messages are immutable, so a rendering is reused. */
export function renderMessage(m: Message): string {
  const cached = rendered.get(m);
  if (cached !== undefined) return cached;
  const out = m
    .map((p) => {
      if (typeof p === 'string') return escapeText(p);
      if ('user' in p) return SLACK_ID.test(p.user) ? `<@${p.user}>` : escapeText(`@${p.user}`);
      if ('strong' in p) return `*${escapeText(p.strong)}*`;
      if ('link' in p) return slackLink(p.link, p.label);
      return inlineCode(p.code);
    })
    .join('');
  rendered.set(m, out);
  return out;
}

/**
 * The body of a code block previewing text exactly as it will be published: Slack applies
 * no formatting there (so *stars* and _underscores_ show as typed); escaped, and with no
 * ``` that could end the block early.
 */
export function preformattedBody(s: string): string {
  return escapeText(s).replace(/```/g, '`\u200b`\u200b`');
}

/** Inline code for a short name (a file name): escaped, with no backtick to break out of it. */
export function inlineCode(s: string): string {
  return `\`${escapeText(s.includes('`') ? s.replace(/`/g, "'") : s)}\``;
}

/** `<url|label>`; only http(s) URLs become links, and neither part can break out of the link. */
export function slackLink(url: string, label: string): string {
  if (!/^https?:\/\/[^\s<>|]+$/.test(url)) return escapeText(label);
  return `<${url.replace(/&/g, '&amp;')}|${escapeText(label).replace(/\|/g, '¦')}>`;
}
