/**
 * Rehearsal mode at the chat boundary: a ChatRoom that wraps any other and marks everything
 * the bot says as a rehearsal. Thread messages, reach messages, reports, ephemeral notes and
 * upload comments start with ":construction: REHEARSAL · "; cards carry `rehearsal: true`
 * (the adapter puts it in the header) and the public-side view's address. Reading reactions
 * and group membership pass straight through.
 */
import type { CardView, Message } from '../core/messages.js';
import type { ChatRoom, MessageRef, UploadFile } from '../core/ports.js';

/** The part every rehearsal message starts with. */
export const REHEARSAL_MARK = ':construction: REHEARSAL · ';

/** A message marked as a rehearsal's (once: an already marked one is left as it is). */
export function markRehearsal(message: Message): Message {
  return message[0] === REHEARSAL_MARK ? message : [REHEARSAL_MARK, ...message];
}

export interface RehearsalRoomOptions {
  /** Where the public-side view is, shown on every card (read when a card is drawn). */
  publicUrl?: () => string | undefined;
}

export class RehearsalRoom implements ChatRoom {
  constructor(
    private readonly inner: ChatRoom,
    private readonly options: RehearsalRoomOptions = {},
  ) {}

  get platform(): ChatRoom['platform'] {
    return this.inner.platform;
  }

  get botUserId(): string {
    return this.inner.botUserId;
  }

  postCard(channel: string, card: CardView, threadTs?: string): Promise<MessageRef> {
    return this.inner.postCard(channel, this.card(card), threadTs);
  }

  updateCard(ref: MessageRef, card: CardView): Promise<void> {
    return this.inner.updateCard(ref, this.card(card));
  }

  seedReactions(ref: MessageRef, emojis: string[]): Promise<void> {
    return this.inner.seedReactions(ref, emojis);
  }

  reactions(ref: MessageRef): Promise<Map<string, string[]>> {
    return this.inner.reactions(ref);
  }

  post(channel: string, threadTs: string | undefined, message: Message): Promise<MessageRef> {
    return this.inner.post(channel, threadTs, markRehearsal(message));
  }

  update(ref: MessageRef, message: Message): Promise<void> {
    return this.inner.update(ref, markRehearsal(message));
  }

  notify(channel: string, user: string, message: Message, threadTs?: string): Promise<void> {
    return this.inner.notify(channel, user, markRehearsal(message), threadTs);
  }

  usersCoveredBy(users: readonly string[], ids: readonly string[]): Promise<{ covered: Set<string>; unresolved: string[] }> {
    return this.inner.usersCoveredBy(users, ids);
  }

  /** Files as they are (an audit export stays byte for byte what was stored); the comment marked. */
  upload(channel: string, threadTs: string | undefined, files: readonly UploadFile[], comment?: Message): Promise<void> {
    return this.inner.upload(channel, threadTs, files, comment && comment.length > 0 ? markRehearsal(comment) : [':construction: REHEARSAL']);
  }

  private card(card: CardView): CardView {
    const url = this.options.publicUrl?.();
    return { ...card, rehearsal: true, ...(url ? { rehearsalUrl: url } : {}) };
  }
}
