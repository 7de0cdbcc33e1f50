/**
 * `/appeal …` parsed into a command. Subcommand words only count as subcommands when the
 * rest fits (e.g. "status" followed by something shaped like an id), so an appeal whose
 * text happens to start with "help" or "list" is still drafted as an appeal.
 */
import { looksLikeId, normalizeAppealId } from './ids.js';
import { isNetworkName, NETWORKS, type NetworkName } from './networks.js';

export const MAX_APPEAL_TEXT = 3000;

export type Command =
  | { kind: 'help' }
  | { kind: 'list' }
  | { kind: 'report' }
  | { kind: 'status'; id: string }
  | { kind: 'audit'; id: string }
  | { kind: 'withdraw'; id: string; reason?: string }
  | { kind: 'retry'; id: string; network?: NetworkName }
  | { kind: 'update'; id: string; text: string }
  | { kind: 'draft'; text: string; targets?: NetworkName[] }
  | { kind: 'invalid'; problem: string };

const USAGE: Record<string, string> = {
  status: '/appeal status <id>',
  audit: '/appeal audit <id>',
  withdraw: '/appeal withdraw <id> [reason]',
  retry: '/appeal retry <id> [network]',
  update: '/appeal update <id> <text>',
};

export function parseCommand(input: string): Command {
  const text = input.trim();
  if (text === '' || /^help$/i.test(text)) return { kind: 'help' };
  if (/^list$/i.test(text)) return { kind: 'list' };
  if (/^report$/i.test(text)) return { kind: 'report' };

  // A subcommand word on its own is an incomplete command, never an appeal text.
  const bare = /^(status|audit|withdraw|retry|update)$/i.exec(text);
  if (bare) return { kind: 'invalid', problem: `usage: ${USAGE[bare[1]!.toLowerCase()]}` };

  const m = /^(status|audit|withdraw|retry|update)\s+(\S+)(?:\s+([\s\S]*))?$/i.exec(text);
  if (m && looksLikeId(m[2]!)) {
    const verb = m[1]!.toLowerCase();
    const id = normalizeAppealId(m[2]!);
    const rest = m[3]?.trim() ?? '';
    switch (verb) {
      case 'status':
      case 'audit':
        if (rest === '') return { kind: verb, id };
        return { kind: 'invalid', problem: `usage: ${USAGE[verb]}` };
      case 'withdraw':
        return rest === '' ? { kind: 'withdraw', id } : { kind: 'withdraw', id, reason: rest };
      case 'retry': {
        if (rest === '') return { kind: 'retry', id };
        const n = rest.toLowerCase();
        if (isNetworkName(n)) return { kind: 'retry', id, network: n };
        return { kind: 'invalid', problem: `unknown network "${rest}": use one of ${NETWORKS.join(', ')}` };
      }
      case 'update':
        if (rest === '') return { kind: 'invalid', problem: `usage: ${USAGE.update}` };
        return { kind: 'update', id, text: rest };
    }
  }

  // Drafting: an optional "to:x,flickr" first word chooses the networks.
  const to = /^to:(\S*)\s*([\s\S]*)$/i.exec(text);
  let body = text;
  let targets: NetworkName[] | undefined;
  if (to) {
    const names = to[1]!.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    const unknown = names.filter((n) => !isNetworkName(n));
    if (names.length === 0) return { kind: 'invalid', problem: `"to:" needs one or more networks, e.g. to:x,flickr (${NETWORKS.join(', ')})` };
    if (unknown.length > 0) return { kind: 'invalid', problem: `unknown network${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')}: use ${NETWORKS.join(', ')}` };
    targets = [...new Set(names as NetworkName[])];
    body = to[2]!.trim();
    if (body === '') return { kind: 'invalid', problem: 'the appeal text is empty: /appeal to:x,flickr <text>' };
  }
  if (Array.from(body).length > MAX_APPEAL_TEXT) {
    return { kind: 'invalid', problem: `the appeal text is ${Array.from(body).length} characters; the limit is ${MAX_APPEAL_TEXT}` };
  }
  return targets ? { kind: 'draft', text: body, targets } : { kind: 'draft', text: body };
}
