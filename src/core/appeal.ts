/**
 * The appeal and its lifecycle. An appeal is drafted, gains media, is approved by the
 * required colleagues for its exact content (or rejected), and then — in later stages —
 * published, updated and withdrawn.
 */
import { contentHash } from './content.js';
import { outgoingContent, type NetworkName, type OutgoingContent } from './networks.js';

export const APPEAL_STATES = ['draft', 'approved', 'rejected', 'publishing', 'published', 'withdrawn'] as const;
export type AppealState = (typeof APPEAL_STATES)[number];

/** Allowed transitions; anything else is a bug and throws. */
const TRANSITIONS: Record<AppealState, readonly AppealState[]> = {
  draft: ['approved', 'rejected', 'withdrawn'],
  approved: ['publishing', 'withdrawn'],
  publishing: ['published', 'withdrawn'],
  published: ['withdrawn'],
  rejected: [],
  withdrawn: [],
};

export function canTransition(from: AppealState, to: AppealState): boolean {
  return TRANSITIONS[from].includes(to);
}

export class InvalidTransition extends Error {
  readonly code = 'invalid_transition';
  constructor(readonly from: AppealState, readonly to: AppealState) {
    super(`an appeal can't go from ${from} to ${to}`);
    this.name = 'InvalidTransition';
  }
}

export interface MediaItem {
  /** Absent on items stored before footage was accepted: those are images. */
  kind?: 'image' | 'video';
  sha256: string;
  /** The name it was posted under, for people reading the card. */
  name: string;
  mime: string;
  width: number;
  height: number;
  bytes: number;
  sourceFormat: string;
  addedBy: string;
  addedAt: number;
}

export interface Card {
  /** Message reference on the chat platform. */
  ts: string;
  hash: string;
  revision: number;
  postedAt: number;
}

export interface Appeal {
  id: string;
  state: AppealState;
  platform: 'slack' | 'discord';
  channel: string;
  author: string;
  /** The appeal's thread: the first card's message. */
  threadTs: string;
  text: string;
  targets: NetworkName[];
  media: MediaItem[];
  /** Every card posted; the last is the current one. */
  cards: Card[];
  /** Approvers counted so far on the current card (for display). */
  pendingApprovers: string[];
  /** Whether a senior approval is still missing on the current card (when seniors are configured). */
  pendingSeniorMissing?: boolean;
  approval?: { hash: string; approvers: string[]; at: number };
  rejection?: { by: string; at: number; hash: string };
  withdrawal?: { by: string; at: number; reason?: string };
  createdAt: number;
  updatedAt: number;
}

export function transition(appeal: Appeal, to: AppealState, at: number): Appeal {
  if (!canTransition(appeal.state, to)) throw new InvalidTransition(appeal.state, to);
  return { ...appeal, state: to, updatedAt: at };
}

export function currentCard(appeal: Appeal): Card | undefined {
  return appeal.cards[appeal.cards.length - 1];
}

export const isVideo = (m: Pick<MediaItem, 'kind'>): boolean => m.kind === 'video';

export function appealOutgoing(appeal: Pick<Appeal, 'id' | 'text' | 'media' | 'targets'>): OutgoingContent[] {
  return outgoingContent({
    id: appeal.id,
    text: appeal.text,
    images: appeal.media.filter((m) => !isVideo(m)).map((m) => m.sha256),
    videos: appeal.media.filter(isVideo).map((m) => m.sha256),
    targets: appeal.targets,
  });
}

export function appealHash(appeal: Pick<Appeal, 'id' | 'text' | 'media' | 'targets'>): string {
  return contentHash(appeal, appealOutgoing(appeal), appeal.media.map((m) => m.sha256));
}

