import { describe, expect, it } from 'vitest';
import { carriesReference } from '../../src/platforms/reference.js';

describe('finding our own post by its reference', () => {
  const ours = [
    'Have you seen this man?\n\nRef 7K3Q',
    'Have you seen this man?\n\nRef 7K3Q https://t.co/AbCdEfGhIj', // X appends the media link
    'Have you seen this man?\n\nRef 7K3Q\nhttps://t.co/AbCdEfGhIj https://t.co/KlMnOpQrSt',
    'Have you seen this man?\r\n\r\nRef 7K3Q',
    'Have you seen this man?\n\nRef\n7K3Q', // a network that turned the space into a line break
    'Ref 7K3Q',
  ];
  const notOurs = [
    'Have you seen this man?\n\nRef 7K3QX',
    'Have you seen this man?\n\nXRef 7K3Q',
    'Further to Ref 7K3Q: he has been found safe.\n\nRef 9ABC',
    'RT @force: Have you seen this man? Ref 7K3Q',
    'Have you seen this man? Ref 7K3Q — please share',
    'Have you seen this man?\n\nRef 7K3Q please share',
  ];
  it.each(ours)('counts %j', (text) => expect(carriesReference(text, 'Ref 7K3Q')).toBe(true));
  it.each(notOurs)('does not count %j', (text) => expect(carriesReference(text, 'Ref 7K3Q')).toBe(false));
});
