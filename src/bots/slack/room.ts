/**
 * The ChatRoom port on Slack's Web API. All calls go through one WebClient, which honours
 * `Retry-After` on 429s; Slack errors become ChatErrors carrying plain words for the room.
 */
import type { WebClient } from '@slack/web-api';
import type { CardView, Message } from '../../core/messages.js';
import type { ChatRoom, Clock, Logger, MessageRef, UploadFile } from '../../core/ports.js';
import { normalizeEmoji } from '../../core/service.js';
import { renderCard } from './cards.js';
import { renderMessage } from './text.js';
import { toChatError, type ChatError } from './room-errors.js';
import { uploadExternal, type UploadOptions } from './upload.js';

export { ChatError, toChatError } from './room-errors.js';

/** How long a user group's membership is trusted before it is fetched again. */
export const GROUP_CACHE_MS = 60_000;

export class SlackRoom implements ChatRoom {
  readonly platform = 'slack' as const;
  private readonly groups = new Map<string, { users: Set<string>; at: number }>();

  constructor(
    private readonly client: WebClient,
    readonly botUserId: string,
    private readonly deps: { logger: Logger; clock: Clock; upload?: UploadOptions },
  ) {}

  async postCard(channel: string, card: CardView, threadTs?: string): Promise<MessageRef> {
    const { text, blocks } = renderCard(card);
    const res = await this.call(() =>
      this.client.chat.postMessage({ channel, text, blocks, unfurl_links: false, unfurl_media: false, ...(threadTs ? { thread_ts: threadTs } : {}) }),
    );
    return { channel: res.channel ?? channel, ts: res.ts! };
  }

  async updateCard(ref: MessageRef, card: CardView): Promise<void> {
    const { text, blocks } = renderCard(card);
    await this.call(() => this.client.chat.update({ channel: ref.channel, ts: ref.ts, text, blocks }));
  }

  async seedReactions(ref: MessageRef, emojis: string[]): Promise<void> {
    for (const name of emojis) {
      try {
        await this.call(() => this.client.reactions.add({ channel: ref.channel, timestamp: ref.ts, name }));
      } catch (err) {
        if ((err as ChatError).code !== 'already_reacted') throw err;
      }
    }
  }

  async reactions(ref: MessageRef): Promise<Map<string, string[]>> {
    const res = await this.call(() => this.client.reactions.get({ channel: ref.channel, timestamp: ref.ts, full: true }));
    const out = new Map<string, string[]>();
    for (const r of res.message?.reactions ?? []) {
      if (!r.name) continue;
      const name = normalizeEmoji(r.name);
      out.set(name, [...new Set([...(out.get(name) ?? []), ...(r.users ?? [])])]);
    }
    return out;
  }

  async post(channel: string, threadTs: string | undefined, message: Message): Promise<MessageRef> {
    const res = await this.call(() =>
      this.client.chat.postMessage({ channel, text: renderMessage(message), unfurl_links: false, unfurl_media: false, ...(threadTs ? { thread_ts: threadTs } : {}) }),
    );
    return { channel: res.channel ?? channel, ts: res.ts! };
  }

  async update(ref: MessageRef, message: Message): Promise<void> {
    await this.call(() => this.client.chat.update({ channel: ref.channel, ts: ref.ts, text: renderMessage(message) }));
  }

  async notify(channel: string, user: string, message: Message, threadTs?: string): Promise<void> {
    await this.call(() => this.client.chat.postEphemeral({ channel, user, text: renderMessage(message), ...(threadTs ? { thread_ts: threadTs } : {}) }));
  }

  /** Files in one message (external upload flow, see upload.ts), with the comment as its text. */
  async upload(channel: string, threadTs: string | undefined, files: readonly UploadFile[], comment?: Message): Promise<void> {
    const initialComment = comment && comment.length > 0 ? renderMessage(comment) : undefined;
    await this.call(() =>
      uploadExternal(this.client, files, {
        channel,
        ...(threadTs ? { threadTs } : {}),
        ...(initialComment ? { initialComment } : {}),
      }, this.deps.upload),
    );
  }

  async usersCoveredBy(users: readonly string[], ids: readonly string[]): Promise<{ covered: Set<string>; unresolved: string[] }> {
    const direct = new Set(ids.filter((id) => !isUserGroupId(id)));
    const covered = new Set(users.filter((u) => direct.has(u)));
    const unresolved: string[] = [];
    if (covered.size === users.length) return { covered, unresolved };
    for (const group of ids.filter(isUserGroupId)) {
      const members = await this.groupMembers(group);
      if (!members) {
        unresolved.push(group);
        continue;
      }
      for (const u of users) if (members.has(u)) covered.add(u);
    }
    return { covered, unresolved };
  }

  /** A user group's members, cached for at most GROUP_CACHE_MS; undefined when Slack won't say. */
  private async groupMembers(group: string): Promise<Set<string> | undefined> {
    const now = this.deps.clock.now();
    const cached = this.groups.get(group);
    if (cached && now - cached.at < GROUP_CACHE_MS) return cached.users;
    try {
      const res = await this.call(() => this.client.usergroups.users.list({ usergroup: group }));
      const users = new Set(res.users ?? []);
      this.groups.set(group, { users, at: now });
      return users;
    } catch (err) {
      this.deps.logger.warn({ err, group }, 'could not read a user group');
      return undefined;
    }
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toChatError(err);
    }
  }
}

/** Slack user-group ids start with S; user ids with U or W. */
export function isUserGroupId(id: string): boolean {
  return /^S[A-Z0-9]+$/.test(id);
}
