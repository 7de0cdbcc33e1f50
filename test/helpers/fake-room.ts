/**
 * An in-memory ChatRoom for service-level tests: it keeps messages and reactions the way a
 * chat platform does (a set of users per emoji per message) and records what the bot sent.
 */
import { createHash } from 'node:crypto';
import type { CardView, Message } from '../../src/core/messages.js';
import { plain } from '../../src/core/messages.js';
import type { ChatRoom, MediaProcessor, MessageRef, ProcessedMedia, UploadFile } from '../../src/core/ports.js';
import { MediaRejected } from '../../src/core/ports.js';

export interface FakeMessage {
  ts: string;
  channel: string;
  threadTs?: string;
  card?: CardView;
  text?: string;
  reactions: Map<string, Set<string>>;
}

/** Files the bot uploaded in one message. */
export interface FakeUpload {
  channel: string;
  threadTs?: string;
  files: UploadFile[];
  /** The comment as plain text (undefined when there was none). */
  comment?: string;
}

export class FakeRoom implements ChatRoom {
  readonly platform = 'slack' as const;
  readonly botUserId = 'UBOT';
  readonly messages: FakeMessage[] = [];
  readonly notes: Array<{ user: string; text: string }> = [];
  /** Group id → members; a group id mapped to 'fail' can't be read. */
  readonly groups = new Map<string, string[] | 'fail'>();
  private seq = 0;

  private add(channel: string, threadTs: string | undefined, fields: Partial<FakeMessage>): MessageRef {
    const ts = `1700000000.${String(++this.seq).padStart(6, '0')}`;
    this.messages.push({ ts, channel, ...(threadTs ? { threadTs } : {}), reactions: new Map(), ...fields });
    return { channel, ts };
  }

  message(ts: string): FakeMessage {
    const m = this.messages.find((x) => x.ts === ts);
    if (!m) throw new Error(`no message ${ts}`);
    return m;
  }

  cards(): FakeMessage[] {
    return this.messages.filter((m) => m.card);
  }

  texts(): string[] {
    return this.messages.filter((m) => m.text !== undefined).map((m) => m.text!);
  }

  react(ts: string, user: string, emoji: string, on: boolean): void {
    const m = this.message(ts);
    const users = m.reactions.get(emoji) ?? new Set<string>();
    if (on) users.add(user);
    else users.delete(user);
    m.reactions.set(emoji, users);
  }

  async postCard(channel: string, card: CardView, threadTs?: string): Promise<MessageRef> {
    return this.add(channel, threadTs, { card });
  }

  async updateCard(ref: MessageRef, card: CardView): Promise<void> {
    this.message(ref.ts).card = card;
  }

  async seedReactions(ref: MessageRef, emojis: string[]): Promise<void> {
    for (const e of emojis) this.react(ref.ts, this.botUserId, e, true);
  }

  async reactions(ref: MessageRef): Promise<Map<string, string[]>> {
    return new Map([...this.message(ref.ts).reactions].map(([k, v]) => [k, [...v]]));
  }

  /** The next this many thread posts fail, as a chat platform's outage would. */
  failNextPosts = 0;

  async post(channel: string, threadTs: string | undefined, message: Message): Promise<MessageRef> {
    if (this.failNextPosts > 0) {
      this.failNextPosts--;
      throw new Error('the chat platform is unavailable');
    }
    return this.add(channel, threadTs, { text: plain(message) });
  }

  /** Edits of bot messages (the reach message), in order. */
  readonly edits: Array<{ ts: string; text: string }> = [];

  async update(ref: MessageRef, message: Message): Promise<void> {
    const text = plain(message);
    this.message(ref.ts).text = text;
    this.edits.push({ ts: ref.ts, text });
  }

  async notify(_channel: string, user: string, message: Message): Promise<void> {
    this.notes.push({ user, text: plain(message) });
  }

  /** Uploads, in order. */
  readonly uploads: FakeUpload[] = [];
  /** The next this many uploads fail, as a chat platform's outage would. */
  failNextUploads = 0;

  async upload(channel: string, threadTs: string | undefined, files: readonly UploadFile[], comment?: Message): Promise<void> {
    if (this.failNextUploads > 0) {
      this.failNextUploads--;
      throw new Error('the chat platform is unavailable');
    }
    this.uploads.push({
      channel,
      ...(threadTs ? { threadTs } : {}),
      files: files.map((f) => ({ ...f, bytes: Buffer.from(f.bytes) })),
      ...(comment ? { comment: plain(comment) } : {}),
    });
  }

  async usersCoveredBy(users: readonly string[], ids: readonly string[]): Promise<{ covered: Set<string>; unresolved: string[] }> {
    const covered = new Set(users.filter((u) => ids.includes(u)));
    const unresolved: string[] = [];
    for (const id of ids) {
      const g = this.groups.get(id);
      if (g === 'fail') unresolved.push(id);
      else if (g) for (const u of users) if (g.includes(u)) covered.add(u);
    }
    return { covered, unresolved };
  }
}

/**
 * A media processor that accepts any bytes starting with "IMG" as a 1×1 PNG of those bytes,
 * and any starting with "VID" as an MP4 of those bytes.
 */
export const fakeMedia: MediaProcessor = {
  async process(input: Buffer): Promise<ProcessedMedia> {
    const sha256 = createHash('sha256').update(input).digest('hex');
    if (input.subarray(0, 3).equals(Buffer.from('VID'))) return { kind: 'video', bytes: input, mime: 'video/mp4', sha256, sourceFormat: 'mp4' };
    if (!input.subarray(0, 3).equals(Buffer.from('IMG'))) throw new MediaRejected('it is not an image');
    return {
      kind: 'image', bytes: input, format: 'png', mime: 'image/png', width: 1, height: 1,
      sha256: createHash('sha256').update(input).digest('hex'), sourceFormat: 'png',
    };
  },
};
