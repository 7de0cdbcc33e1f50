import { describe, expect, it } from 'vitest';
import { parseCommand, MAX_APPEAL_TEXT } from '../../src/core/commands.js';

describe('parseCommand', () => {
  it.each([
    ['', { kind: 'help' }],
    ['  help ', { kind: 'help' }],
    ['list', { kind: 'list' }],
    ['report', { kind: 'report' }],
    ['status #7k3q', { kind: 'status', id: '7K3Q' }],
    ['status ZZZZ', { kind: 'status', id: 'ZZZZ' }],
    ['audit 7K3Q', { kind: 'audit', id: '7K3Q' }],
    ['withdraw #7K3Q suspect arrested', { kind: 'withdraw', id: '7K3Q', reason: 'suspect arrested' }],
    ['withdraw 7K3Q', { kind: 'withdraw', id: '7K3Q' }],
    ['retry 7K3Q flickr', { kind: 'retry', id: '7K3Q', network: 'flickr' }],
    ['retry 7K3Q', { kind: 'retry', id: '7K3Q' }],
    ['update 7K3Q found safe, thank you', { kind: 'update', id: '7K3Q', text: 'found safe, thank you' }],
  ])('%j', (text, expected) => {
    expect(parseCommand(text)).toEqual(expected);
  });

  it('drafts text that merely starts with a command word', () => {
    expect(parseCommand('help us find Jane, 14, missing from Leeds')).toEqual({ kind: 'draft', text: 'help us find Jane, 14, missing from Leeds' });
    expect(parseCommand('list of items stolen: a red bike')).toMatchObject({ kind: 'draft' });
    expect(parseCommand('status of the investigation: we need your help')).toMatchObject({ kind: 'draft' });
    expect(parseCommand('withdraw it')).toMatchObject({ kind: 'draft' });
  });

  it('targets with to:', () => {
    expect(parseCommand('to:x,flickr Have you seen this man?')).toEqual({ kind: 'draft', text: 'Have you seen this man?', targets: ['x', 'flickr'] });
    expect(parseCommand('TO:X,x Seen him?')).toEqual({ kind: 'draft', text: 'Seen him?', targets: ['x'] });
  });

  it('refuses malformed input with a reason', () => {
    expect(parseCommand('to:x,tiktok Seen him?')).toEqual({ kind: 'invalid', problem: expect.stringContaining('"tiktok"') });
    expect(parseCommand('to: Seen him?')).toMatchObject({ kind: 'invalid' });
    expect(parseCommand('to:x')).toMatchObject({ kind: 'invalid' });
    expect(parseCommand('retry 7K3Q myspace')).toMatchObject({ kind: 'invalid', problem: expect.stringContaining('myspace') });
    expect(parseCommand('update 7K3Q')).toMatchObject({ kind: 'invalid' });
    for (const word of ['status', 'withdraw', 'retry', 'audit', 'update', 'STATUS']) {
      expect(parseCommand(word)).toEqual({ kind: 'invalid', problem: expect.stringMatching(/^usage: \/appeal /) });
    }
    expect(parseCommand('status 7K3Q please')).toEqual({ kind: 'invalid', problem: 'usage: /appeal status <id>' });
    expect(parseCommand('x'.repeat(MAX_APPEAL_TEXT + 1))).toMatchObject({ kind: 'invalid', problem: expect.stringContaining(String(MAX_APPEAL_TEXT)) });
  });
});
