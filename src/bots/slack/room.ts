/**
 * The ChatRoom port on Slack's Web API. All calls go through one WebClient, which honours
 * `Retry-After` on 429s; Slack errors become ChatErrors carrying plain words for the room.
 */
import type { WebClient } from '@slack/web-api';
import type { CardView, Message } from '../../core/messages.js';
import type { ChatRoom, Clock, Logger, MessageRef } from '../../core/ports.js';
import { normalizeEmoji } from '../../core/service.js';
import { renderCard } from './cards.js';
import { renderMessage } from './text.js';

/** How long a user group's membership is trusted before it is fetched again. */
export const GROUP_CACHE_MS = 60_000;

export class ChatError extends Error {
  readonly code: string;
  constructor(code: string, readonly userMessage: string, options?: { cause?: unknown }) {
    super(`slack: ${code}`, options);
    this.name = 'ChatError';
    this.code = code;
  }
}

const PLAIN_WORDS: Record<string, string> = {
  not_in_channel: "I'm not a member of this channel: add me with /invite @Loudhailer, then try again",
  channel_not_found: "I can't see this channel: if it is private, add me with /invite @Loudhailer first",
  is_archived: 'this channel is archived',
  msg_too_long: 'the message is too long for Slack',
  invalid_blocks: 'Slack refused the card layout',
  ratelimited: 'Slack is rate-limiting me; try again in a minute',
  invalid_auth: 'my Slack token was refused (SLACK_BOT_TOKEN)',
  token_revoked: 'my Slack token was revoked (SLACK_BOT_TOKEN)',
  missing_scope: 'my Slack app lacks a permission (see manifest.yml)',
};

export function toChatError(err: unknown): ChatError {
  if (err instanceof ChatError) return err;
  const data = (err as { data?: { error?: string; needed?: string } } | undefined)?.data;
  const code = data?.error ?? (err as { code?: string } | undefined)?.code ?? 'unknown_error';
  let words = PLAIN_WORDS[code] ?? `Slack answered "${code}"`;
  if (code === 'missing_scope' && data?.needed) words = `my Slack app lacks the "${data.needed}" permission (see manifest.yml)`;
  return new ChatError(code, words, { cause: err });
}

export class SlackRoom implements ChatRoom {
  readonly platform = 'slack' as const;
  private readonly groups = new Map<string, { users: Set<string>; at: number }>();

  constructor(
    private readonly client: WebClient,
    readonly botUserId: string,
    private readonly deps: { logger: Logger; clock: Clock },
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
