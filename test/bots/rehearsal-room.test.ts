/**
 * Rehearsal mode at the chat boundary: everything the bot says is marked REHEARSAL (thread
 * messages, reach edits, ephemeral notes, upload comments, cards), and Slack renders a
 * rehearsal card's header and its "nothing is published" line.
 */
import { describe, expect, it } from 'vitest';
import { markRehearsal, REHEARSAL_MARK, RehearsalRoom } from '../../src/bots/rehearsal-room.js';
import { renderCard } from '../../src/bots/slack/cards.js';
import { renderMessage } from '../../src/bots/slack/text.js';
import { msg, plain, strong, type CardView } from '../../src/core/messages.js';
import { FakeRoom } from '../helpers/fake-room.js';

const card = (over: Partial<CardView> = {}): CardView => ({
  appealId: '7K3Q', state: 'draft', author: 'UAUTHOR', revision: 1, text: 'Have you seen this man?',
  outgoing: [{ network: 'x', label: 'X', text: 'Have you seen this man?\n\nRef 7K3Q', media: [], length: { weighted: 33, limit: 280 } }],
  media: [], notes: [], approvals: { required: 2, counted: [], seniorRequired: false, seniorMissing: false },
  approveEmoji: 'white_check_mark', rejectEmoji: 'x', hash: 'ab'.repeat(32), ...over,
});

const blockText = (b: unknown): string => {
  const block = b as { text?: { text?: string }; elements?: Array<{ text?: string }> };
  return block.text?.text ?? block.elements?.map((e) => e.text ?? '').join(' ') ?? '';
};

describe('RehearsalRoom', () => {
  it('marks every message, reach edit, ephemeral note and upload comment; cards get rehearsal: true and the public side\'s address', async () => {
    const inner = new FakeRoom();
    let url = 'http://localhost:3000/rehearsal';
    const room = new RehearsalRoom(inner, { publicUrl: () => url });
    expect(room.platform).toBe('slack');
    expect(room.botUserId).toBe('UBOT');

    await room.post('C1', '1.0', msg`:loudspeaker: ${strong('#7K3Q is live on X')}`);
    const ref = await room.post('C1', '1.0', msg`Reach of #7K3Q: no count yet`);
    await room.update(ref, msg`:chart_with_upwards_trend: Reach of #7K3Q: 1,204 views`);
    await room.notify('C1', 'U1', msg`Your ✅ doesn't count: you drafted it.`);
    await room.upload('C1', undefined, [{ name: 'reach.png', title: 'Reach over time', bytes: Buffer.from('png'), mime: 'image/png' }], msg`Reach report`);
    await room.upload('C1', '1.0', [{ name: '7K3Q-audit.jsonl', title: 'Audit', bytes: Buffer.from('{"a":1}\n'), mime: 'application/jsonl' }]);
    url = 'https://bot.example.org/rehearsal';
    const cardRef = await room.postCard('C1', card(), '1.0');
    await room.updateCard(cardRef, card({ state: 'approved' }));

    expect(inner.texts()).toEqual([
      ':construction: REHEARSAL · :loudspeaker: #7K3Q is live on X',
      ':construction: REHEARSAL · :chart_with_upwards_trend: Reach of #7K3Q: 1,204 views',
    ]);
    expect(inner.edits.map((e) => e.text)).toEqual([':construction: REHEARSAL · :chart_with_upwards_trend: Reach of #7K3Q: 1,204 views']);
    expect(inner.notes.map((n) => n.text)).toEqual([":construction: REHEARSAL · Your ✅ doesn't count: you drafted it."]);
    expect(inner.uploads.map((u) => u.comment)).toEqual([':construction: REHEARSAL · Reach report', ':construction: REHEARSAL']);
    // Files go as they are: an audit export stays byte for byte what was stored.
    expect(inner.uploads[1]!.files[0]!.bytes.toString()).toBe('{"a":1}\n');
    const shown = inner.message(cardRef.ts).card!;
    expect(shown).toMatchObject({ rehearsal: true, rehearsalUrl: 'https://bot.example.org/rehearsal', state: 'approved' });
  });

  it('marks a message once, as its first part, so rendering escapes nothing of it and a mention stays a mention', () => {
    const m = markRehearsal(msg`Approved by ${{ user: 'U1' }}`);
    expect(m[0]).toBe(REHEARSAL_MARK);
    expect(markRehearsal(m)).toBe(m);
    expect(renderMessage(m)).toBe(':construction: REHEARSAL · Approved by <@U1>');
    expect(plain(markRehearsal([]))).toBe(REHEARSAL_MARK);
  });

  it('reads reactions and group membership straight through', async () => {
    const inner = new FakeRoom();
    inner.groups.set('SAPP', ['U2']);
    const room = new RehearsalRoom(inner);
    const ref = await room.postCard('C1', card());
    await room.seedReactions(ref, ['white_check_mark']);
    inner.react(ref.ts, 'U2', 'white_check_mark', true);
    expect(await room.reactions(ref)).toEqual(new Map([['white_check_mark', ['UBOT', 'U2']]]));
    expect(await room.usersCoveredBy(['U1', 'U2'], ['U1', 'SAPP'])).toEqual({ covered: new Set(['U1', 'U2']), unresolved: [] });
    expect(inner.message(ref.ts).card).toMatchObject({ rehearsal: true });
    expect(inner.message(ref.ts).card!.rehearsalUrl).toBeUndefined();
  });
});

describe('a rehearsal card in Block Kit', () => {
  it('says REHEARSAL in the header and the notification, and where the public side is', () => {
    const { text, blocks } = renderCard(card({ rehearsal: true, rehearsalUrl: 'http://localhost:3000/rehearsal' }));
    expect(blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'REHEARSAL · Appeal #7K3Q: DRAFT, awaiting approval' } });
    expect(blockText(blocks[1])).toBe(':construction: *Rehearsal*: nothing is published; the public side is at <http://localhost:3000/rehearsal|http://localhost:3000/rehearsal>');
    expect(text).toBe(':construction: REHEARSAL · Appeal #7K3Q (DRAFT, awaiting approval): Have you seen this man?');
    // Everything else is the card as it always is.
    const plainCard = renderCard(card());
    expect(blocks.slice(2)).toEqual(plainCard.blocks.slice(1));
    expect(plainCard.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Appeal #7K3Q: DRAFT, awaiting approval' } });
  });

  it('superseded and update cards are marked too; without an address the line still says nothing is published', () => {
    const superseded = renderCard(card({ rehearsal: true, supersededBy: 2 }));
    expect(blockText(superseded.blocks[0])).toBe('REHEARSAL · Appeal #7K3Q: card 1 (superseded)');
    expect(blockText(superseded.blocks[1])).toBe(':construction: *Rehearsal*: nothing is published');
    const update = renderCard(card({ rehearsal: true, update: { n: 1 }, state: 'published' }));
    expect(blockText(update.blocks[0])).toBe('REHEARSAL · Update 1 to appeal #7K3Q: PUBLISHED');
  });

  it('a card already at Slack\'s 50 blocks stays within them', () => {
    const names = Array.from({ length: 10 }, (_, i) => `still-${i}.jpg`);
    const long = Array.from({ length: 60 }, (_, i) => `Line ${i}: ${'words '.repeat(8)}`).join('\n').slice(0, 3000);
    const big = card({
      text: long,
      outgoing: ['x', 'facebook', 'flickr', 'youtube'].map((n) => ({ network: n as 'x', label: n, title: `T ${n}`, text: `${long}\n\nRef 7K3Q ${n}`, media: names, warning: 'shortened' })),
      notes: Array.from({ length: 25 }, (_, i) => `note ${i}`),
    });
    const before = renderCard(big).blocks.length;
    expect(before).toBe(50);
    const after = renderCard({ ...big, rehearsal: true, rehearsalUrl: 'https://bot.example.org/rehearsal' }).blocks;
    expect(after.length).toBe(50);
    expect(after.map(blockText).join('\n')).toContain('nothing is published');
  });
});
