/**
 * Chat-neutral messages. The core never writes platform markup: a message is a list of
 * parts, and each chat adapter renders (and escapes) them. User-supplied text is always a
 * plain string part, so it can't turn into a mention, a link or a mass mention.
 */
import type { AppealState } from './appeal.js';
import type { NetworkName } from './networks.js';

export type Part =
  | string
  | { user: string }
  | { strong: string }
  | { code: string }
  | { link: string; label: string };
export type Message = readonly Part[];

export const user = (id: string): Part => ({ user: id });
export const strong = (text: string): Part => ({ strong: text });
export const code = (text: string): Part => ({ code: text });
/** A link to an http(s) URL (a published post): the adapter renders it as a link. */
export const link = (url: string, label: string): Part => ({ link: url, label });

const isMessage = (v: Part | number | Message): v is Message => Array.isArray(v);

/** `msg\`Approved by ${user(id)}\`` → parts; numbers become text, nested messages are spliced in. */
export function msg(strings: TemplateStringsArray, ...values: Array<Part | number | Message>): Part[] {
  const out: Part[] = [];
  strings.forEach((s, i) => {
    if (s) out.push(s);
    if (i < values.length) {
      const v = values[i]!;
      if (isMessage(v)) out.push(...v);
      else out.push(typeof v === 'number' ? String(v) : v);
    }
  });
  return out;
}

/** A list of users as "A, B and C". */
export function userList(ids: readonly string[]): Part[] {
  const out: Part[] = [];
  ids.forEach((id, i) => {
    if (i > 0) out.push(i === ids.length - 1 ? ' and ' : ', ');
    out.push(user(id));
  });
  return out;
}

/** Plain-text rendering, for logs and fallbacks. */
export function plain(m: Message): string {
  return m
    .map((p) => (typeof p === 'string' ? p : 'user' in p ? `@${p.user}` : 'strong' in p ? p.strong : 'code' in p ? p.code : `${p.label} (${p.link})`))
    .join('');
}

/** Everything a chat adapter needs to draw an appeal card. */
export interface CardView {
  appealId: string;
  /** Set on an update's card: the follow-up's number within the appeal. */
  update?: { n: number };
  state: AppealState;
  author: string;
  revision: number;
  /** Set on a card that a newer card replaced. */
  supersededBy?: number;
  text: string;
  outgoing: Array<{
    network: NetworkName;
    label: string;
    title?: string;
    text: string;
    /** Names of the files this network gets. */
    media: string[];
    /** X: weighted length and its limit. */
    length?: { weighted: number; limit: number };
    warning?: string;
    skipped?: string;
  }>;
  media: Array<{ name: string; format: string; width: number; height: number; bytes: number }>;
  notes: string[];
  approvals: {
    required: number;
    counted: string[];
    seniorRequired: boolean;
    seniorMissing: boolean;
  };
  approveEmoji: string;
  rejectEmoji: string;
  hash: string;
  approvedBy?: string[];
  rejectedBy?: string;
  /** Once publishing has outcomes: per network, its link or why it failed. */
  publications?: Array<{ network: NetworkName; label: string; url?: string; failed?: string }>;
  /**
   * Set in rehearsal mode (REHEARSAL=1): the card says so in its header, and where the
   * simulated public side is (`rehearsalUrl`, the public-side view).
   */
  rehearsal?: boolean;
  rehearsalUrl?: string;
}
