/**
 * The small interfaces (ports) the core needs. Adapters in src/store, src/media,
 * src/bots and src/platforms implement them; the core never imports an SDK.
 */

/** Persistence. Every method throws on a backend failure: nothing is swallowed into "not found". */
export interface Store {
  get<T>(key: string): Promise<T | undefined>;
  /** Sets a JSON-serialisable value; `ttlMs` makes it expire. */
  set<T>(key: string, value: T, ttlMs?: number): Promise<void>;
  /** Deletes a key; true when something was deleted. */
  delete(key: string): Promise<boolean>;
  /**
   * Atomic set-if-absent: exactly one caller, across processes and replicas, gets true
   * for a given key (until `ttlMs` passes, when given; without it the claim is forever).
   */
  claim(key: string, ttlMs?: number, owner?: string): Promise<boolean>;
  /**
   * Gives a claim up, so it can be claimed again. With `owner`, only if that owner still
   * holds it: a lease that expired and was taken by someone else is left alone.
   */
  release(key: string, owner?: string): Promise<void>;
  /**
   * Extends a claim held by `owner` to expire `ttlMs` from now. False when `owner` no longer
   * holds it (it expired and was taken, or was released): the holder has lost it.
   */
  renew(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Atomically adds a member to a set (idempotent). */
  addToSet(setKey: string, member: string): Promise<void>;
  /** Atomically removes a member from a set (idempotent). */
  removeFromSet(setKey: string, member: string): Promise<void>;
  /** The members of a set, in no particular order. */
  members(setKey: string): Promise<string[]>;
  close(): Promise<void>;
}

export type ImageFormat = 'jpeg' | 'png';

/** An image after the media pipeline: sniffed, decoded, auto-oriented, stripped and re-encoded. */
export interface ProcessedImage {
  kind: 'image';
  /** The processed bytes: what is hashed, stored and (later) published. */
  bytes: Buffer;
  format: ImageFormat;
  mime: 'image/jpeg' | 'image/png';
  width: number;
  height: number;
  /** Hex SHA-256 of `bytes`. */
  sha256: string;
  /** What the upload really was, from its magic bytes (e.g. "jpeg", "webp"). */
  sourceFormat: string;
}

/** Why a file was refused, in words a person reads in the thread. */
export class MediaRejected extends Error {
  readonly code = 'media_rejected';
  constructor(
    /** Plain words: "it is not an image (it looks like HTML)". */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
    this.name = 'MediaRejected';
  }
}

/** Footage after the media pipeline: sniffed, container metadata removed, not re-encoded. */
export interface ProcessedVideo {
  kind: 'video';
  /** The processed bytes: what is hashed, stored and published. */
  bytes: Buffer;
  mime: 'video/mp4' | 'video/quicktime';
  /** Hex SHA-256 of `bytes`. */
  sha256: string;
  sourceFormat: string;
  width?: number;
  height?: number;
  durationSeconds?: number;
}

export type ProcessedMedia = ProcessedImage | ProcessedVideo;

export interface MediaProcessor {
  /**
   * An image or a video, told apart by its magic bytes. Throws MediaRejected (plain words)
   * for anything that is not acceptable.
   */
  process(input: Buffer, filename: string): Promise<ProcessedMedia>;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** The subset of a structured logger the core uses (pino satisfies it). */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
  /** Whether a level would be written (pino has it): lets callers skip building a message. */
  isLevelEnabled?(level: string): boolean;
}

/** A message on a chat platform. */
export interface MessageRef {
  channel: string;
  ts: string;
}

/**
 * A chat platform as the core sees it (Slack now, Discord later). Messages are chat-neutral
 * (`Message`, `CardView`); the adapter renders and escapes them.
 */
export interface ChatRoom {
  readonly platform: 'slack' | 'discord';
  /** The bot's own user id: its reactions never count. */
  readonly botUserId: string;
  postCard(channel: string, card: import('./messages.js').CardView, threadTs?: string): Promise<MessageRef>;
  updateCard(ref: MessageRef, card: import('./messages.js').CardView): Promise<void>;
  /** Adds the bot's reactions (the approve and reject emoji) so approvers only have to click. */
  seedReactions(ref: MessageRef, emojis: string[]): Promise<void>;
  /** The reactions currently on a message: emoji name → user ids. */
  reactions(ref: MessageRef): Promise<Map<string, string[]>>;
  post(channel: string, threadTs: string | undefined, message: import('./messages.js').Message): Promise<MessageRef>;
  /** Replaces the text of a message the bot posted (the reach message). */
  update(ref: MessageRef, message: import('./messages.js').Message): Promise<void>;
  /** A message only `user` sees (Slack ephemeral). */
  notify(channel: string, user: string, message: import('./messages.js').Message, threadTs?: string): Promise<void>;
  /**
   * Which of `users` are covered by `ids` (user ids, or group/role ids expanded by the
   * platform, cached briefly). Groups whose membership couldn't be read are listed in
   * `unresolved` (their members are not in `covered`): the caller must not approve then.
   */
  usersCoveredBy(users: readonly string[], ids: readonly string[]): Promise<{ covered: Set<string>; unresolved: string[] }>;
  /**
   * Uploads files into a channel (in a thread when `threadTs` is given), with an optional
   * comment, in one message. Slack: the external upload flow (files.getUploadURLExternal →
   * POST the bytes → files.completeUploadExternal).
   */
  upload(channel: string, threadTs: string | undefined, files: readonly UploadFile[], comment?: import('./messages.js').Message): Promise<void>;
}

/** A file the bot uploads to the chat (an audit trail export, a report chart). */
export interface UploadFile {
  /** File name, with extension ("7K3Q-audit.csv"). */
  name: string;
  title: string;
  bytes: Buffer;
  mime: string;
}

/** Reach over time of one appeal, for a chart. */
export interface ChartSeries {
  /** Legend label, e.g. "#7K3Q". */
  label: string;
  /** Total views at each moment, oldest first (ms since the epoch). */
  points: ReadonlyArray<{ at: number; count: number }>;
}

/** Draws the reach chart of a report as a PNG (an adapter: SVG rendered with sharp). */
export interface ChartRenderer {
  reachChart(input: { title: string; series: readonly ChartSeries[]; from: number; to: number; timeZone: string }): Promise<Buffer>;
}

/** Fetches a file's bytes; throws MediaRejected (plain words) when it can't. */
export type FileSource = { name: string; fetch: () => Promise<Buffer> };

// ---------------------------------------------------------------- networks

/** A processed media file as it is published: exactly the bytes that were approved. */
export interface MediaFile {
  sha256: string;
  bytes: Buffer;
  mime: string;
  /** The name it was posted under (for logs and titles). */
  name: string;
}

/** Exactly what one network is sent for an appeal (from `outgoingContent`). */
export interface PublishRequest {
  appealId: string;
  /** The approved content hash: for logs and traceability. */
  hash: string;
  /** The exact text of the post, already fitted to the network and carrying `reference`. */
  text: string;
  /** Title, where the network has one. */
  title?: string;
  media: MediaFile[];
  /** The reference the text carries (e.g. "Ref 7K3Q"): how a post is found again. */
  reference: string;
  /**
   * Called right before each request that creates the post (after uploads and any wait):
   * throws when this worker may no longer publish (its lease lapsed). The adapter lets
   * that error through untouched and creates nothing.
   */
  fence?: () => Promise<void> | void;
}

/** A post on a network: what withdrawing it and reading its reach need. */
export interface PublishedPost {
  postId: string;
  /** The public link. */
  url: string;
  /** When the network says it was created (ms), if it says. */
  createdAt?: number;
  /** Ids of other things created with the post (media, albums) that withdrawing must remove. */
  extra?: Record<string, string[]>;
}

/** What a network tells of a post's reach. */
export interface ReachCount {
  /** Views where the network counts views; else engagements (labelled by `kind`). */
  count: number;
  kind: 'views' | 'engagements';
}

/**
 * A public network as the core sees it. Each adapter has one choke point for its calls:
 * it waits out rate limits (within reason), backs off on 5xx and network errors, and
 * never retries a permanent 4xx. What it can't resolve it throws as a NetworkError.
 */
export interface Network {
  readonly name: import('./networks.js').NetworkName;
  /** Most post ids one `reach` call takes. */
  readonly reachBatchSize: number;
  /**
   * Publishes one post (media first, then the post). A write whose outcome is unknown
   * (a timeout or 5xx after the request went out) is never blindly repeated: the adapter
   * looks for `reference` first, or throws NetworkError with `ambiguous: true`.
   */
  publish(req: PublishRequest): Promise<PublishedPost>;
  /**
   * Recovery: our own post carrying `reference` (as a whole word: "Ref 7K3Q" never matches
   * "Ref 7K3QX") created at or after `since` (ms), among the account's recent posts.
   */
  findPublished(reference: string, since: number): Promise<PublishedPost | undefined>;
  /**
   * Current reach of up to `reachBatchSize` posts, in one call where the network allows.
   * Posts the network no longer has are missing from the map.
   */
  reach(postIds: readonly string[]): Promise<Map<string, ReachCount>>;
  /**
   * Posts a follow-up ("found safe — thank you") as a reply to the appeal's post: a reply
   * post on X, a comment on the YouTube video, on the Flickr photos' first photo, on the
   * Facebook post. The result carries `extra.replyTo = [parent.postId]`, so `withdraw`
   * knows it is a reply. Not repeated blindly: an unknown outcome throws `ambiguous`.
   */
  reply(parent: PublishedPost, text: string): Promise<PublishedPost>;
  /**
   * Deletes a post (and its `extra` parts), or a reply made by `reply`; a post already gone
   * counts as done.
   */
  withdraw(post: PublishedPost): Promise<void>;
}

export type NetworkErrorCode =
  | 'rate_limited'
  | 'auth'
  | 'forbidden'
  | 'duplicate'
  | 'invalid'
  | 'not_found'
  | 'unavailable'
  | 'unknown';

/**
 * A network call that failed for good (or for now). `userMessage` is plain words for the
 * thread ("X refused the post as a duplicate of an earlier one"), never a secret.
 */
export class NetworkError extends Error {
  readonly network: string;
  readonly code: NetworkErrorCode;
  readonly userMessage: string;
  /** HTTP status, when there was a response. */
  readonly status?: number;
  /** When trying again makes sense: not before this many ms. */
  readonly retryAfterMs?: number;
  /** Trying the same request again can't help (auth, duplicate, invalid media). */
  readonly permanent: boolean;
  /** The write may have happened (timeout, 5xx after sending): look before repeating it. */
  readonly ambiguous: boolean;

  constructor(init: {
    network: string;
    code: NetworkErrorCode;
    userMessage: string;
    status?: number;
    retryAfterMs?: number;
    permanent: boolean;
    ambiguous?: boolean;
    cause?: unknown;
  }) {
    super(`${init.network}: ${init.userMessage}`, init.cause !== undefined ? { cause: init.cause } : undefined);
    this.name = 'NetworkError';
    this.network = init.network;
    this.code = init.code;
    this.userMessage = init.userMessage;
    if (init.status !== undefined) this.status = init.status;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    this.permanent = init.permanent;
    this.ambiguous = init.ambiguous ?? false;
  }
}
