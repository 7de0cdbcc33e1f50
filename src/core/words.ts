/**
 * Small wordings shared by the service's messages: times, previews, commands as typed, and
 * an error in words for the chat.
 */
import type { Command } from './commands.js';

/** A command as typed, for the audit trail. */
export function commandText(cmd: Exclude<Command, { kind: 'draft' }>): string {
  switch (cmd.kind) {
    case 'invalid':
      return `/appeal (not understood: ${cmd.problem})`;
    case 'help':
    case 'list':
    case 'report':
      return `/appeal ${cmd.kind}`;
    case 'status':
    case 'audit':
      return `/appeal ${cmd.kind} ${cmd.id}`;
    case 'retry':
      return `/appeal retry ${cmd.id}${cmd.network ? ` ${cmd.network}` : ''}`;
    case 'withdraw':
      return `/appeal withdraw ${cmd.id}${cmd.reason ? ` ${cmd.reason}` : ''}`;
    case 'update':
      return `/appeal update ${cmd.id} ${cmd.text}`;
  }
}

/** The first line of a text, at most `max` characters. */
export function preview(text: string, max: number): string {
  const first = Array.from(text.split('\n')[0] ?? '');
  return first.length > max ? `${first.slice(0, max - 1).join('')}…` : first.join('');
}

/** A count as people in the room read it: 12,345. */
export function count(n: number): string {
  return n.toLocaleString('en-GB');
}

/** A time as people in the room read it (UTC, labelled). */
export function time(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** A chat or network error in plain words (its userMessage), never its internals. */
export function errorWords(err: unknown): string {
  if (err && typeof err === 'object' && 'userMessage' in err && typeof err.userMessage === 'string') return err.userMessage;
  return 'the chat platform refused it';
}
