import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunks, renderCard } from '../../src/bots/slack/cards.js';
import { escapeText, fromSlackText, renderMessage } from '../../src/bots/slack/text.js';
import type { CardView } from '../../src/core/messages.js';
import { msg, strong, user } from '../../src/core/messages.js';

const ZWSP = '\u200b';

describe('Slack text', () => {
  it('never lets user text become a mention, a link or a mass mention', () => {
    const hostile = '<!channel> <!here> <@U123> <#C1> <https://evil.example|click> @here @channel @everyone & done';
    const out = escapeText(hostile);
    expect(out).not.toMatch(/<[!@#h]/);
    expect(out).not.toMatch(/@(here|channel|everyone)\b/);
    expect(out).toContain(`@${ZWSP}here`);
    expect(out).toContain('&amp; done');
    fc.assert(fc.property(fc.string(), (s) => {
      const e = escapeText(s);
      expect(e).not.toMatch(/[<>]/);
      expect(e).not.toMatch(/@(here|channel|everyone)\b/i);
    }));
  });

  it('reads Slack markup back to what the person typed', () => {
    expect(fromSlackText('Call 101 &amp; quote &lt;ref&gt;')).toBe('Call 101 & quote <ref>');
    expect(fromSlackText('see <https://police.uk/a|police.uk/a> or <https://x.example/b|this page>')).toBe('see https://police.uk/a or this page (https://x.example/b)');
    expect(fromSlackText('<!here> ask <@U1|jane> in <#C1|ops> <mailto:a@b.uk|a@b.uk>')).toBe('@here ask @jane in #ops a@b.uk');
  });

  it('renders neutral messages: mentions only from user parts, text always escaped', () => {
    expect(renderMessage(msg`${strong('#7K3Q approved')} by ${user('U1')}: <!channel>`)).toBe('*#7K3Q approved* by <@U1>: &lt;!channel&gt;');
    expect(renderMessage([{ user: '<!channel>' }])).toBe('@&lt;!channel&gt;');
  });

  it('chunks within the limit, at line ends, never inside an escape', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom('a', '&amp;', '&lt;', '\n', 'word '), { maxLength: 800 }), fc.integer({ min: 10, max: 60 }), (parts, max) => {
      const text = parts.join('');
      const pieces = chunks(text, max);
      for (const p of pieces) {
        expect(p.length).toBeLessThanOrEqual(max);
        expect(p).not.toMatch(/&(a|am|l)?$/); // no escape cut at the end
      }
      expect(pieces.join('').replace(/\n/g, '')).toBe(text.replace(/\n/g, ''));
    }));
  });
});

/** The mrkdwn or plain text of a block (a section's text, a context's elements). */
function blockText(b: unknown): string {
  const block = b as { text?: { text?: string }; elements?: Array<{ text?: string }> };
  return block.text?.text ?? block.elements?.map((e) => e.text ?? '').join('') ?? '';
}

describe('the appeal card in Block Kit', () => {
  const card = (over: Partial<CardView> = {}): CardView => ({
    appealId: '7K3Q', state: 'draft', author: 'UAUTHOR', revision: 1, text: 'Have you seen this man?',
    outgoing: [{ network: 'x', label: 'X', text: 'Have you seen this man?\n\nRef 7K3Q', media: [], length: { weighted: 33, limit: 280 } }],
    media: [], notes: [], approvals: { required: 2, counted: [], seniorRequired: false, seniorMissing: false },
    approveEmoji: 'white_check_mark', rejectEmoji: 'x', hash: 'ab'.repeat(32), ...over,
  });

  it('shows the text exactly, in a code block, so *stars* are not formatting', () => {
    const { blocks } = renderCard(card({ outgoing: [{ network: 'facebook', label: 'Facebook', text: '*urgent* _now_ ```x``` <!here>', media: [] }] }));
    const texts = blocks.map(blockText).join('\n');
    expect(texts).toContain('```*urgent* _now_ `\u200b`\u200b`x`\u200b`\u200b` &lt;!here&gt;```');
  });

  it('a published card links each post and says plainly where publishing failed', () => {
    const { blocks } = renderCard(card({
      state: 'published',
      approvedBy: ['UAPP1', 'UAPP2'],
      publications: [
        { network: 'x', label: 'X', url: 'https://x.com/force/status/123' },
        { network: 'facebook', label: 'Facebook', failed: 'Facebook said <no> & refused' },
        { network: 'flickr', label: 'Flickr', url: 'javascript:alert(1)' },
      ],
    }));
    const texts = blocks.map(blockText).join('\n');
    expect(texts).toContain('<https://x.com/force/status/123|x.com/force/status/123>');
    expect(texts).toContain('*Facebook*: not published: Facebook said &lt;no&gt; &amp; refused');
    expect(texts).not.toContain('<javascript:');
  });

  it('stays within Slack limits for the longest appeal and the most media', () => {
    const long = Array.from({ length: 60 }, (_, i) => `Line ${i}: ${'&<>'.repeat(12)} words words words`).join('\n').slice(0, 3000);
    const names = Array.from({ length: 10 }, (_, i) => `${'`very long file name `'.repeat(8)}${i}.jpg`);
    const { blocks, text } = renderCard(card({
      text: long,
      outgoing: ['x', 'facebook', 'flickr'].map((n) => ({ network: n as 'x', label: n, title: 'T'.repeat(90), text: `${long}\n\nRef 7K3Q`, media: names })),
      media: names.map((name) => ({ name, format: 'image/jpeg', width: 4096, height: 3072, bytes: 3_000_000 })),
    }));
    expect(blocks.length).toBeLessThanOrEqual(50);
    expect(text.length).toBeLessThan(4000);
    for (const b of blocks) {
      const t = blockText(b);
      expect(t.length).toBeLessThanOrEqual(3000);
      expect((t.match(/```/g) ?? []).length % 2).toBe(0);
    }
  });

  it('a superseded card says so and points to the newer card', () => {
    const { blocks } = renderCard(card({ supersededBy: 2 }));
    expect(JSON.stringify(blocks)).toContain('replaced by *card 2*');
  });
});
