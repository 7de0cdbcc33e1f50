/**
 * A wire-level fake of Slack for tests: a real HTTP server on 127.0.0.1 that speaks the Web API
 * (`POST /api/<method>`), the three-step external file upload, private file downloads and
 * response_url, plus helpers that drive an app the way Slack does (signed slash commands and
 * Events API deliveries).
 *
 * Shapes follow /work/shared/api-specs/slack (OpenAPI 2020 spec for the Web API methods, the
 * java-slack-sdk samples for events, slash commands and files.*External). Local copies of the
 * samples, and the subset of the OpenAPI spec used, live in test/fixtures/slack/.
 *
 * Like real Slack, Web API errors are HTTP 200 `{ok:false,error}`; only rate limits are HTTP 429.
 * The token is read from `Authorization: Bearer …` (or, as Slack also allows, a `token` form/query
 * param): missing → not_authed, wrong → invalid_auth.
 *
 *   const slack = await startFakeSlack({ botToken: 'xoxb-test' });
 *   // bot: SLACK_API_URL=slack.apiUrl, SLACK_BOT_TOKEN=xoxb-test, SLACK_SIGNING_SECRET=secret
 *   await slack.slashCommand(appUrl, secret, { text: 'draft …', userId: 'U1', channelId: 'C1' });
 *   const draft = await slack.waitFor((s) => s.messages('C1')[0]);
 *   await slack.react(appUrl, secret, { user: 'U2', channel: 'C1', ts: draft.ts, reaction: 'white_check_mark' });
 *   await slack.close();
 *
 * Socket Mode (slack-socket.ts): with `appToken` set, `apps.connections.open` (app token only)
 * hands out a WebSocket URL served on the same port, and the `socket*` helpers deliver slash
 * commands and events over it, resolving with the app's ack:
 *
 *   const slack = await startFakeSlack({ botToken: 'xoxb-test', appToken: 'xapp-test' });
 *   // bot: SLACK_APP_TOKEN=xapp-test, SLACK_API_URL=slack.apiUrl, no signing secret needed
 *   await slack.waitForSocketConnection();
 *   const { ack } = await slack.socketSlashCommand({ text: 'help', userId: 'U1', channelId: 'C1' });
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes, randomUUID } from 'node:crypto';
import { parseMultipart } from './multipart.js';
import { postSigned, type SignedPostResult } from './slack-signing.js';

export { parseMultipart };
import { FakeSocketMode, type SocketConnection, type SocketDelivery, type SocketSendOptions } from './slack-socket.js';

export { FakeSocketMode, SOCKET_ACK_TIMEOUT_MS, SOCKET_PING_INTERVAL_MS } from './slack-socket.js';
export type { SocketAck, SocketConnection, SocketDelivery, SocketSendOptions, SocketTicket } from './slack-socket.js';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

export interface FakeSlackOptions {
  botToken: string;
  /** The bot's user id (auth.test user_id, `user` of the bot's messages). Default 'UBOT'. */
  botUserId?: string;
  /** The bot id (auth.test bot_id, `bot_id` of the bot's messages). Default 'B0BOT'. */
  botId?: string;
  /** Default 'T0001'. */
  teamId?: string;
  /** Workspace subdomain used in permalinks and auth.test url. Default 'loudhailer-test'. */
  teamDomain?: string;
  /** Workspace name (auth.test team). Default 'Loudhailer Test'. */
  teamName?: string;
  /** The bot user's name (auth.test user, users.info name). Default 'loudhailer'. */
  botName?: string;
  /** api_app_id of inbound payloads and app_id of the bot's messages. Default 'A0APP'. */
  appId?: string;
  /** The legacy verification `token` field of inbound payloads. Default 'fake-verification-token'. */
  verificationToken?: string;
  /** OAuth scopes the bot token has (x-oauth-scopes header, `provided` of missing_scope). */
  scopes?: string[];
  /** App-level token (xapp-…) for Socket Mode: the only token apps.connections.open accepts
   * (others: not_allowed_token_type), and refused by every other method. Unset: no Socket Mode. */
  appToken?: string;
  /** How often the fake pings each Socket Mode connection (the SDK drops a connection 30 s after
   * the last ping from the server, once it has seen one). Default 10 000; 0 never pings. */
  socketPingIntervalMs?: number;
}

export type Params = Record<string, unknown>;

export interface ApiCall {
  method: string;
  /** Request parameters (query + body). Form values stay strings as sent ('true', '42');
   * JSON-string params (blocks, attachments, files, metadata, …) are parsed into objects.
   * The token is never included. */
  params: Params;
  /** Unix ms when the request arrived. */
  at: number;
  httpMethod: string;
  contentType: string;
  /** HTTP status answered (200 even for `ok:false`, 429 for rate limits). */
  status: number;
  ok: boolean;
  error?: string;
  /** Which known token authenticated the call (undefined: none, or an unknown one). */
  tokenType?: 'bot' | 'app';
}

export interface Reaction {
  name: string;
  count: number;
  users: string[];
}

export interface MessageEdit {
  at: number;
  /** Text/blocks after this edit. */
  text: string;
  blocks?: unknown[];
  /** Text/blocks before this edit. */
  previousText: string;
  previousBlocks?: unknown[];
  params: Params;
}

export interface StoredMessage {
  channel: string;
  ts: string;
  type: 'message';
  subtype?: string;
  text: string;
  user: string;
  bot_id?: string;
  app_id?: string;
  blocks?: unknown[];
  attachments?: unknown[];
  files?: SlackFile[];
  upload?: boolean;
  thread_ts?: string;
  parent_user_id?: string;
  reactions: Reaction[];
  edits: MessageEdit[];
  edited?: { user: string; ts: string };
  /** Params of the chat.postMessage call that created it (undefined for messages seeded by tests). */
  postParams?: Params;
}

export interface Ephemeral {
  channel: string;
  user: string;
  text: string;
  blocks?: unknown[];
  thread_ts?: string;
  message_ts: string;
  at: number;
}

/** A Slack file object (the usual subset of fields, see message_file_share.json). */
export interface SlackFile {
  id: string;
  created: number;
  timestamp: number;
  name: string;
  title: string;
  mimetype: string;
  filetype: string;
  pretty_type: string;
  user: string;
  user_team: string;
  editable: boolean;
  size: number;
  mode: string;
  is_external: boolean;
  external_type: string;
  is_public: boolean;
  public_url_shared: boolean;
  display_as_bot: boolean;
  username: string;
  url_private: string;
  url_private_download: string;
  permalink: string;
  permalink_public: string;
  has_rich_preview: boolean;
  file_access: string;
  channels?: string[];
  shares?: Record<string, Record<string, unknown[]>>;
  [extra: string]: unknown;
}

export interface AddFileInput {
  name: string;
  bytes: Buffer | Uint8Array | string;
  /** Default: guessed from the extension, else application/octet-stream. */
  mimetype?: string;
  /** Uploader. Default: the bot user. */
  user?: string;
  /** Report this size in the file object instead of the real byte count (lie about size). */
  size?: number;
  title?: string;
  /** Send the download body slowly: `true` = 64 bytes every 250 ms. */
  slow?: boolean | { chunkBytes?: number; intervalMs?: number };
  /** Wait this long before sending the download's status line and headers. */
  delayMs?: number;
  /** Answer authorised downloads with 302 to this URL instead of the bytes. */
  redirectTo?: string;
  /** Extra fields merged into the file object (e.g. original_w, thumb_360). */
  extra?: Record<string, unknown>;
}

export interface StoredFile {
  file: SlackFile;
  bytes: Buffer;
  options: AddFileInput;
}

export interface Upload {
  /** Opaque id in the upload_url. */
  uploadId: string;
  fileId: string;
  filename: string;
  /** `length` declared to files.getUploadURLExternal. */
  declaredLength: number;
  /** Bytes POSTed to the upload_url (undefined until then). */
  bytes?: Buffer;
  uploadContentType?: string;
  completed: boolean;
  title?: string;
  channel?: string;
  thread_ts?: string;
  initial_comment?: string;
  /** ts of the message the completed upload was shared in. */
  messageTs?: string;
}

export interface Download {
  fileId: string;
  path: string;
  httpMethod: string;
  authorized: boolean;
  status: number;
  at: number;
}

export interface ResponseUrlPost {
  id: string;
  body: Record<string, unknown>;
  at: number;
}

export interface FailureScript {
  /** `error` of the `{ok:false,error}` body. Default 'ratelimited' for 429, else 'fatal_error'. */
  error?: string;
  /** HTTP status. Default 429 when `retryAfter` is given, else 200. */
  status?: number;
  /** Seconds for Retry-After on a 429 (default 1). `null` sends a 429 without the header. */
  retryAfter?: number | null;
  /** How many consecutive calls fail. Default 1. */
  times?: number;
}

export interface Delivery {
  kind: 'event' | 'command' | 'url_verification';
  url: string;
  body: string;
  headers: Record<string, string>;
  status: number;
  text: string;
  elapsedMs: number;
  at: number;
}

export interface EventDelivery extends SignedPostResult {
  eventId: string;
  /** The envelope that was sent. */
  envelope: Record<string, unknown>;
}

export interface SlashCommandInput {
  text: string;
  userId: string;
  channelId: string;
  command?: string;
  userName?: string;
  channelName?: string;
}

export interface SlashCommandResult extends SignedPostResult {
  responseUrl: string;
  triggerId: string;
  payload: Record<string, string>;
}

export interface EventOptions {
  eventId?: string;
  retryNum?: number;
  retryReason?: string;
  /** Extra envelope fields (e.g. authed_users), merged last. */
  envelope?: Record<string, unknown>;
}

export interface ReactInput extends EventOptions {
  user: string;
  channel: string;
  ts: string;
  reaction: string;
  /** Default true: change the stored reactions first, as Slack would. false: only send the event
   * (forged or duplicate deliveries). */
  updateState?: boolean;
  /** Override item_user; null omits it (as for webhook-authored items). Default: the message's user. */
  itemUser?: string | null;
}

export interface ShareFilesInput extends EventOptions {
  user: string;
  channel: string;
  /** Thread root ts. Omit for a top-level share. */
  threadTs?: string;
  text?: string;
  files: Array<Omit<AddFileInput, 'user'>>;
  channelType?: string;
}

export interface ShareFilesResult extends EventDelivery {
  ts: string;
  files: SlackFile[];
}

export interface SendMessageInput extends EventOptions {
  user: string;
  channel: string;
  text: string;
  threadTs?: string;
  channelType?: string;
}

export type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Described in the timeout error. */
  description?: string;
}

/** Options of an events_api delivery over Socket Mode. */
export interface SocketEventOptions extends SocketSendOptions {
  eventId?: string;
  /** `retry_attempt` of the envelope. Default 0 (as Slack sends on a first delivery). */
  retryAttempt?: number;
  /** `retry_reason` of the envelope. Default '' on a first delivery, 'timeout' on a retry. */
  retryReason?: string;
  /** Use this envelope_id instead of a fresh one. */
  envelopeId?: string;
  /** Extra fields of the event_callback payload (e.g. authed_users), merged last. */
  envelope?: Record<string, unknown>;
}

export interface SocketEventDelivery extends SocketDelivery {
  eventId: string;
  /** The event_callback payload that was sent (the envelope's `payload`). */
  payload: Record<string, unknown>;
}

export interface SocketSlashCommandResult extends SocketDelivery {
  responseUrl: string;
  triggerId: string;
  payload: Record<string, string>;
}

export type SocketReactInput = Omit<ReactInput, 'retryNum' | 'retryReason' | 'envelope'> & SocketEventOptions;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** The Socket Mode method: app-level tokens only. */
const CONNECTIONS_OPEN = 'apps.connections.open';

/** The scopes the fake's bot token has unless `scopes` says otherwise (a superset of manifest.yml's). */
export const FAKE_SLACK_SCOPES: readonly string[] = Object.freeze([
  'chat:write', 'commands', 'reactions:read', 'reactions:write', 'files:read', 'files:write',
  'usergroups:read', 'users:read', 'channels:history', 'groups:history',
]);
const DEFAULT_SCOPES = FAKE_SLACK_SCOPES;

/** Scope each implemented method needs (for the missing_scope switch). */
const SCOPE_FOR: Record<string, string> = {
  'chat.postMessage': 'chat:write',
  'chat.update': 'chat:write',
  'chat.postEphemeral': 'chat:write',
  'chat.delete': 'chat:write',
  'reactions.add': 'reactions:write',
  'reactions.remove': 'reactions:write',
  'reactions.get': 'reactions:read',
  'usergroups.users.list': 'usergroups:read',
  'files.info': 'files:read',
  'files.getUploadURLExternal': 'files:write',
  'files.completeUploadExternal': 'files:write',
  'users.info': 'users:read',
  'conversations.replies': 'channels:history',
  'conversations.history': 'channels:history',
};

/** Form params that carry JSON, and the error Slack gives when they don't parse. */
const JSON_PARAMS: Record<string, string> = {
  blocks: 'invalid_blocks_format',
  attachments: 'invalid_attachments',
  files: 'invalid_arguments',
  metadata: 'invalid_metadata_format',
  unfurls: 'invalid_unfurls_format',
  view: 'invalid_arguments',
};

const FILE_TYPES: Record<string, [mimetype: string, filetype: string, pretty: string]> = {
  png: ['image/png', 'png', 'PNG'],
  jpg: ['image/jpeg', 'jpg', 'JPEG'],
  jpeg: ['image/jpeg', 'jpg', 'JPEG'],
  gif: ['image/gif', 'gif', 'GIF'],
  webp: ['image/webp', 'webp', 'WebP'],
  heic: ['image/heic', 'heic', 'HEIC'],
  svg: ['image/svg+xml', 'svg', 'SVG'],
  txt: ['text/plain', 'text', 'Plain Text'],
  csv: ['text/csv', 'csv', 'CSV'],
  json: ['application/json', 'json', 'JSON'],
  pdf: ['application/pdf', 'pdf', 'PDF'],
  mp4: ['video/mp4', 'mp4', 'MPEG 4 Video'],
  mov: ['video/quicktime', 'mov', 'QuickTime Movie'],
  zip: ['application/zip', 'zip', 'Zip'],
};

function fileTypeFor(name: string, mimetype?: string): { mimetype: string; filetype: string; pretty: string } {
  const ext = /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase() ?? '';
  const known = FILE_TYPES[ext];
  if (known) return { mimetype: mimetype ?? known[0], filetype: known[1], pretty: known[2] };
  const byMime = Object.values(FILE_TYPES).find(([m]) => m === mimetype);
  if (byMime) return { mimetype: byMime[0], filetype: byMime[1], pretty: byMime[2] };
  return { mimetype: mimetype ?? 'application/octet-stream', filetype: 'binary', pretty: 'Binary' };
}

class SlackApiError extends Error {
  constructor(readonly error: string, readonly extra: Record<string, unknown> = {}) {
    super(error);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}


/** Form-encodes like Slack does (%20 for spaces, not '+'). */
function formEncode(fields: Record<string, string>): string {
  return Object.entries(fields).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

function blockId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=';
  let out = '';
  for (const byte of randomBytes(4)) out += alphabet[byte % alphabet.length];
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

// ---------------------------------------------------------------------------------------------
// The fake
// ---------------------------------------------------------------------------------------------

interface PendingFailure extends FailureScript {
  remaining: number;
}

interface UserRecord {
  id: string;
  name: string;
  realName: string;
  displayName: string;
  isBot: boolean;
  deleted: boolean;
  tz: string;
}

export interface AddUserOptions {
  realName?: string;
  displayName?: string;
  isBot?: boolean;
  deleted?: boolean;
  tz?: string;
}

type Handler = (p: Params) => Record<string, unknown>;

export class FakeSlack {
  /** `http://127.0.0.1:PORT/api/` — give this to the bot as SLACK_API_URL / WebClient slackApiUrl. */
  readonly apiUrl: string;
  readonly origin: string;
  readonly botToken: string;
  readonly botUserId: string;
  readonly botId: string;
  readonly teamId: string;
  readonly teamDomain: string;
  readonly teamName: string;
  readonly botName: string;
  readonly appId: string;
  readonly verificationToken: string;
  readonly scopes: string[];

  /** Every Web API call, in the order answered. */
  readonly calls: ApiCall[] = [];
  readonly ephemerals: Ephemeral[] = [];
  readonly uploads: Upload[] = [];
  readonly downloads: Download[] = [];
  /** Accepted POSTs to response URLs. */
  readonly responses: ResponseUrlPost[] = [];
  /** Everything sent to the app (events, commands, url_verification). */
  readonly deliveries: Delivery[] = [];
  /** Messages removed by chat.delete. */
  readonly deletedMessages: StoredMessage[] = [];
  /** The app-level token apps.connections.open accepts (undefined: Socket Mode off). */
  readonly appToken: string | undefined;
  /** Socket Mode: issued URLs, connections, envelopes sent and their acks. */
  readonly socketMode: FakeSocketMode;

  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly channelMessages = new Map<string, StoredMessage[]>();
  /** `${channel} ${ts}` → message: lookups stay cheap with thousands of messages (benchmarks). */
  private readonly messageIndex = new Map<string, StoredMessage>();
  private readonly channelFailures = new Map<string, string>();
  private readonly channelNames = new Map<string, string>();
  private readonly failures = new Map<string, PendingFailure[]>();
  private readonly missingScopes = new Set<string>();
  /** Channels the bot is not a member of (doctor's REPORT_CHANNEL check), and whether each is private. */
  private readonly notMemberOf = new Map<string, { private: boolean }>();
  private readonly userGroups = new Map<string, string[]>();
  private readonly users = new Map<string, UserRecord>();
  private readonly files = new Map<string, StoredFile>();
  private readonly uploadSlots = new Map<string, Upload>();
  private readonly responseUrlUses = new Map<string, number>();
  private readonly sentEvents = new Map<string, string>();
  private readonly socketSentEvents = new Map<string, Record<string, unknown>>();
  private readonly handlers: Record<string, Handler>;
  private latencyMs = 0;
  private lastTsMicros = 0;
  private idCounter = 0;
  private closed = false;

  /** @internal Use startFakeSlack(). */
  constructor(server: Server, origin: string, opts: FakeSlackOptions) {
    this.server = server;
    this.origin = origin;
    this.apiUrl = `${origin}/api/`;
    this.botToken = opts.botToken;
    this.botUserId = opts.botUserId ?? 'UBOT';
    this.botId = opts.botId ?? 'B0BOT';
    this.teamId = opts.teamId ?? 'T0001';
    this.teamDomain = opts.teamDomain ?? 'loudhailer-test';
    this.teamName = opts.teamName ?? 'Loudhailer Test';
    this.botName = opts.botName ?? 'loudhailer';
    this.appId = opts.appId ?? 'A0APP';
    this.verificationToken = opts.verificationToken ?? 'fake-verification-token';
    this.scopes = opts.scopes ?? [...DEFAULT_SCOPES];
    this.appToken = opts.appToken;
    this.socketMode = new FakeSocketMode({ origin, appId: this.appId, ...(opts.socketPingIntervalMs !== undefined ? { pingIntervalMs: opts.socketPingIntervalMs } : {}) });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.closed || !this.socketMode.handleUpgrade(req, socket, head)) {
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      }
    });
    this.addUser(this.botUserId, this.botName, { isBot: true, realName: this.botName });
    this.handlers = {
      'auth.test': () => this.authTest(),
      'chat.postMessage': (p) => this.chatPostMessage(p),
      'chat.update': (p) => this.chatUpdate(p),
      'chat.postEphemeral': (p) => this.chatPostEphemeral(p),
      'chat.delete': (p) => this.chatDelete(p),
      'chat.getPermalink': (p) => this.chatGetPermalink(p),
      'reactions.add': (p) => this.reactionsAdd(p),
      'reactions.remove': (p) => this.reactionsRemove(p),
      'reactions.get': (p) => this.reactionsGet(p),
      'usergroups.users.list': (p) => this.usergroupsUsersList(p),
      'files.info': (p) => this.filesInfo(p),
      'files.getUploadURLExternal': (p) => this.filesGetUploadURLExternal(p),
      'files.completeUploadExternal': (p) => this.filesCompleteUploadExternal(p),
      'users.info': (p) => this.usersInfo(p),
      'conversations.replies': (p) => this.conversationsReplies(p),
      'conversations.history': (p) => this.conversationsHistory(p),
    };
  }

  // ----- lifecycle --------------------------------------------------------------------------

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.socketMode.close();
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await done;
  }

  // ----- scripting ---------------------------------------------------------------------------

  /**
   * The next `times` calls of `method` fail. Besides Web API method names, 'upload' (POSTs to
   * upload URLs), 'download' (file downloads) and 'response_url' are accepted; those answer
   * `status` (default 500) with a plain-text body.
   */
  failNext(method: string, script: FailureScript = {}): void {
    const queue = this.failures.get(method) ?? [];
    queue.push({ ...script, remaining: script.times ?? 1 });
    this.failures.set(method, queue);
  }

  /** Every call naming `channel` fails with `error` (channel_not_found, not_in_channel, is_archived…); null clears. */
  failChannel(channel: string, error: string | null = 'channel_not_found'): void {
    if (error === null) this.channelFailures.delete(channel);
    else this.channelFailures.set(channel, error);
  }

  /** Make `method` answer missing_scope (with `needed` and `provided`), or stop doing so. */
  setMissingScope(method: string, missing = true): void {
    if (missing) this.missingScopes.add(method);
    else this.missingScopes.delete(method);
  }

  /** Delay every Web API answer by `ms`. */
  setLatency(ms: number): void {
    this.latencyMs = Math.max(0, ms);
  }

  // ----- directory ---------------------------------------------------------------------------

  addUser(id: string, name: string, opts: AddUserOptions = {}): void {
    this.users.set(id, {
      id,
      name,
      realName: opts.realName ?? name,
      displayName: opts.displayName ?? name,
      isBot: opts.isBot ?? false,
      deleted: opts.deleted ?? false,
      tz: opts.tz ?? 'Europe/London',
    });
  }

  setUserGroup(id: string, users: string[]): void {
    this.userGroups.set(id, [...users]);
  }

  /** Name used as channel_name in slash commands. */
  addChannel(id: string, name: string): void {
    this.channelNames.set(id, name);
  }

  /**
   * The bot is not (or, with `member` true, again) a member of `channel`. Only
   * conversations.history reads membership (the fake lets the bot post anywhere): a public
   * channel answers `not_in_channel`, a private one `channel_not_found`, as Slack does for
   * a bot token. By default the bot is in every channel.
   */
  setBotMembership(channel: string, member: boolean, opts: { private?: boolean } = {}): void {
    if (member) this.notMemberOf.delete(channel);
    else this.notMemberOf.set(channel, { private: opts.private ?? false });
  }

  // ----- state accessors ---------------------------------------------------------------------

  callsTo(method: string): ApiCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Every stored message of `channel` (top-level and replies), in ts order. */
  messages(channel: string): StoredMessage[] {
    return [...(this.channelMessages.get(channel) ?? [])];
  }

  /** The thread root followed by its replies, in ts order; [] if there is no such root. */
  thread(channel: string, threadTs: string): StoredMessage[] {
    const all = this.channelMessages.get(channel) ?? [];
    const root = this.message(channel, threadTs);
    if (!root) return [];
    return [root, ...all.filter((m) => m.thread_ts === threadTs && m.ts !== threadTs)];
  }

  message(channel: string, ts: string): StoredMessage | undefined {
    return this.messageIndex.get(`${channel} ${ts}`);
  }

  /** The stored file (object + bytes) for a file id. */
  file(id: string): StoredFile | undefined {
    return this.files.get(id);
  }

  // ----- seeding -----------------------------------------------------------------------------

  /** Registers a file, as if `user` had uploaded it, and returns its Slack file object. */
  addFile(input: AddFileInput): SlackFile {
    return clone(this.createFile(this.nextId('F'), input));
  }

  private createFile(id: string, input: AddFileInput): SlackFile {
    const bytes = typeof input.bytes === 'string' ? Buffer.from(input.bytes) : Buffer.from(input.bytes);
    const { mimetype, filetype, pretty } = fileTypeFor(input.name, input.mimetype);
    const now = Math.floor(Date.now() / 1000);
    const user = input.user ?? this.botUserId;
    const encName = encodeURIComponent(input.name);
    const file: SlackFile = {
      id,
      created: now,
      timestamp: now,
      name: input.name,
      title: input.title ?? input.name,
      mimetype,
      filetype,
      pretty_type: pretty,
      user,
      user_team: this.teamId,
      editable: mimetype === 'text/plain',
      size: input.size ?? bytes.length,
      mode: mimetype === 'text/plain' ? 'snippet' : 'hosted',
      is_external: false,
      external_type: '',
      is_public: false,
      public_url_shared: false,
      display_as_bot: false,
      username: '',
      url_private: `${this.origin}/files-pri/${this.teamId}-${id}/${encName}`,
      url_private_download: `${this.origin}/files-pri/${this.teamId}-${id}/download/${encName}`,
      permalink: `https://${this.teamDomain}.slack.com/files/${user}/${id}/${encName}`,
      permalink_public: `https://slack-files.com/${this.teamId}-${id}-${randomBytes(5).toString('hex')}`,
      has_rich_preview: false,
      file_access: 'visible',
    };
    if (mimetype === 'text/plain') {
      // Snippet-mode files carry an edit link and a preview (see message_file_share.json).
      const text = bytes.toString('utf8');
      const lines = text.split('\n');
      Object.assign(file, {
        edit_link: `${file.permalink}/edit`,
        preview: lines.slice(0, 5).join('\n'),
        lines: lines.length,
        lines_more: Math.max(0, lines.length - 5),
        preview_is_truncated: lines.length > 5,
      });
    }
    Object.assign(file, input.extra ?? {});
    this.files.set(id, { file, bytes, options: input });
    return file;
  }

  /** Stores a message (e.g. a human's thread root) without sending any event. */
  addMessage(input: { channel: string; user: string; text: string; threadTs?: string; blocks?: unknown[]; ts?: string }): StoredMessage {
    const msg: StoredMessage = {
      channel: input.channel,
      ts: input.ts ?? this.nextTs(),
      type: 'message',
      text: input.text,
      user: input.user,
      reactions: [],
      edits: [],
    };
    if (input.blocks) msg.blocks = input.blocks;
    if (input.threadTs) this.attachToThread(msg, input.threadTs);
    this.store(msg);
    return msg;
  }

  /** A fresh response URL (`<origin>/response/<id>`), usable 5 times like Slack's. */
  responseUrl(): string {
    const id = `${this.nextId('')}${randomBytes(6).toString('hex')}`;
    this.responseUrlUses.set(id, 0);
    return `${this.origin}/response/${id}`;
  }

  // ----- driving the app (Slack → app) -------------------------------------------------------

  async slashCommand(appUrl: string, secret: string, input: SlashCommandInput): Promise<SlashCommandResult> {
    const { payload, responseUrl, triggerId } = this.slashCommandPayload(input);
    const body = formEncode(payload);
    const res = await this.deliver('command', appUrl, secret, body, 'application/x-www-form-urlencoded', {});
    return { ...res, responseUrl, triggerId, payload };
  }

  /** The fields of a slash command (form fields over HTTP, the `payload` object over Socket Mode). */
  private slashCommandPayload(input: SlashCommandInput): { payload: Record<string, string>; responseUrl: string; triggerId: string } {
    const responseUrl = this.responseUrl();
    const triggerId = `${Date.now()}${String(this.idCounter).padStart(4, '0')}.${this.teamId.replace(/\D/g, '') || '1'}.${randomBytes(16).toString('hex')}`;
    const payload: Record<string, string> = {
      token: this.verificationToken,
      team_id: this.teamId,
      team_domain: this.teamDomain,
      channel_id: input.channelId,
      channel_name: input.channelName ?? this.channelNameFor(input.channelId),
      user_id: input.userId,
      user_name: input.userName ?? this.users.get(input.userId)?.name ?? input.userId.toLowerCase(),
      command: input.command ?? '/appeal',
      text: input.text,
      api_app_id: this.appId,
      is_enterprise_install: 'false',
      response_url: responseUrl,
      trigger_id: triggerId,
    };
    return { payload, responseUrl, triggerId };
  }

  /** Wraps `event` in an event_callback envelope and POSTs it, signed, to the app. */
  async event(appUrl: string, secret: string, event: Record<string, unknown>, opts: EventOptions = {}): Promise<EventDelivery> {
    const { eventId, envelope } = this.eventCallback(event, opts);
    const body = JSON.stringify(envelope);
    this.sentEvents.set(eventId, body);
    const res = await this.deliver('event', appUrl, secret, body, 'application/json', this.retryHeaders(opts));
    return { ...res, eventId, envelope };
  }

  /** The event_callback wrapper of `event` (the HTTP body, or the Socket Mode envelope's payload). */
  private eventCallback(event: Record<string, unknown>, opts: { eventId?: string; envelope?: Record<string, unknown> }): { eventId: string; envelope: Record<string, unknown> } {
    const eventId = opts.eventId ?? this.nextId('Ev0');
    const envelope: Record<string, unknown> = {
      token: this.verificationToken,
      team_id: this.teamId,
      api_app_id: this.appId,
      event: { ...event, event_ts: typeof event.event_ts === 'string' ? event.event_ts : this.nextTs() },
      type: 'event_callback',
      event_id: eventId,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [
        { enterprise_id: null, team_id: this.teamId, user_id: this.botUserId, is_bot: true, is_enterprise_install: false },
      ],
      is_ext_shared_channel: false,
      event_context: `4-${Buffer.from(JSON.stringify({ et: event.type, tid: this.teamId, aid: this.appId })).toString('base64url')}`,
      context_team_id: this.teamId,
      context_enterprise_id: null,
      ...(opts.envelope ?? {}),
    };
    return { eventId, envelope };
  }

  /** Re-sends the identical envelope of an earlier event with X-Slack-Retry-Num/-Reason. */
  async resendEvent(appUrl: string, secret: string, eventId: string, retryNum = 1, retryReason = 'http_timeout'): Promise<EventDelivery> {
    const body = this.sentEvents.get(eventId);
    if (body === undefined) throw new Error(`resendEvent: no event ${eventId} was sent by this fake`);
    const res = await this.deliver('event', appUrl, secret, body, 'application/json', this.retryHeaders({ retryNum, retryReason }));
    return { ...res, eventId, envelope: JSON.parse(body) as Record<string, unknown> };
  }

  /** A user adds a reaction: stored reactions change first (unless updateState:false), then reaction_added. */
  async react(appUrl: string, secret: string, input: ReactInput): Promise<EventDelivery> {
    const msg = this.reactionTarget('react', input);
    if (input.updateState !== false && msg) this.addReaction(msg, input.reaction, input.user);
    return this.event(appUrl, secret, this.reactionEvent('reaction_added', input, msg), input);
  }

  /** A user removes a reaction: stored reactions change first (unless updateState:false), then reaction_removed. */
  async unreact(appUrl: string, secret: string, input: ReactInput): Promise<EventDelivery> {
    const msg = this.reactionTarget('unreact', input);
    if (input.updateState !== false && msg) this.removeReaction(msg, input.reaction, input.user);
    return this.event(appUrl, secret, this.reactionEvent('reaction_removed', input, msg), input);
  }

  /**
   * A user shares files (in a thread, if threadTs): registers the files, stores the message,
   * then sends a `message` event with subtype file_share (per MessageFileSharePayload.json).
   */
  async shareFiles(appUrl: string, secret: string, input: ShareFilesInput): Promise<ShareFilesResult> {
    const root = input.threadTs ? this.message(input.channel, input.threadTs) : undefined;
    if (input.threadTs && !root) {
      throw new Error(`shareFiles: no thread root ${input.channel}/${input.threadTs} in the fake (post or addMessage it first)`);
    }
    const text = input.text ?? '';
    const ts = this.nextTs();
    const files = input.files.map((f) => this.addFile({ ...f, user: input.user }));
    for (const f of files) this.recordShare(f.id, input.channel, ts, input.threadTs);
    const msg: StoredMessage = {
      channel: input.channel, ts, type: 'message', subtype: 'file_share', text, user: input.user,
      files, upload: true, reactions: [], edits: [],
    };
    if (input.threadTs) this.attachToThread(msg, input.threadTs);
    const blocks = this.richTextBlocks(text);
    if (blocks) msg.blocks = blocks;
    this.store(msg);
    const event: Record<string, unknown> = {
      type: 'message',
      text,
      files: files.map((f) => clone(f)),
      upload: true,
      user: input.user,
      display_as_bot: false,
      ts,
      ...(blocks ? { blocks } : {}),
      client_msg_id: randomUUID(),
      ...(input.threadTs ? { thread_ts: input.threadTs, parent_user_id: msg.parent_user_id } : {}),
      channel: input.channel,
      subtype: 'file_share',
      event_ts: ts,
      channel_type: input.channelType ?? 'channel',
    };
    const res = await this.event(appUrl, secret, event, input);
    return { ...res, ts, files };
  }

  /** A user posts a plain message (stored, then sent as a `message` event). */
  async sendMessage(appUrl: string, secret: string, input: SendMessageInput): Promise<EventDelivery & { ts: string }> {
    if (input.threadTs && !this.message(input.channel, input.threadTs)) {
      throw new Error(`sendMessage: no thread root ${input.channel}/${input.threadTs} in the fake`);
    }
    const msg = this.addMessage({ channel: input.channel, user: input.user, text: input.text, ...(input.threadTs ? { threadTs: input.threadTs } : {}) });
    const blocks = this.richTextBlocks(input.text);
    if (blocks) msg.blocks = blocks;
    const event: Record<string, unknown> = {
      type: 'message',
      text: input.text,
      user: input.user,
      ts: msg.ts,
      ...(blocks ? { blocks } : {}),
      client_msg_id: randomUUID(),
      ...(input.threadTs ? { thread_ts: input.threadTs, parent_user_id: msg.parent_user_id } : {}),
      team: this.teamId,
      channel: input.channel,
      event_ts: msg.ts,
      channel_type: input.channelType ?? 'channel',
    };
    const res = await this.event(appUrl, secret, event, input);
    return { ...res, ts: msg.ts };
  }

  async urlVerification(appUrl: string, secret: string, challenge = randomBytes(24).toString('base64url')): Promise<SignedPostResult & { challenge: string }> {
    const body = JSON.stringify({ token: this.verificationToken, challenge, type: 'url_verification' });
    const res = await this.deliver('url_verification', appUrl, secret, body, 'application/json', {});
    return { ...res, challenge };
  }

  // ----- driving the app over Socket Mode ----------------------------------------------------

  /** Resolves once the app has a Socket Mode connection open (at least `count` opened in all). */
  waitForSocketConnection(opts: { count?: number; timeoutMs?: number } = {}): Promise<SocketConnection> {
    return this.socketMode.waitForConnection(opts);
  }

  /** Sends `{type:'disconnect', reason}` to the app's open connections (Slack refreshing them). */
  socketDisconnect(reason = 'refresh_requested'): number {
    return this.socketMode.disconnect(reason);
  }

  /**
   * A slash command over Socket Mode: envelope `slash_commands` with the same fields as the HTTP
   * form as its payload. Resolves with the delivery, whose `ack.payload` is the app's answer.
   */
  async socketSlashCommand(input: SlashCommandInput, opts: SocketSendOptions = {}): Promise<SocketSlashCommandResult> {
    const { payload, responseUrl, triggerId } = this.slashCommandPayload(input);
    const envelope = { envelope_id: randomUUID(), type: 'slash_commands', accepts_response_payload: true, payload };
    const delivery = await this.socketMode.send(envelope, opts);
    return { ...delivery, responseUrl, triggerId, payload };
  }

  /** Wraps `event` in an event_callback payload and delivers it in an `events_api` envelope. */
  async socketEvent(event: Record<string, unknown>, opts: SocketEventOptions = {}): Promise<SocketEventDelivery> {
    const { eventId, envelope: payload } = this.eventCallback(event, opts);
    this.socketSentEvents.set(eventId, payload);
    return this.sendEventsApi(eventId, payload, opts);
  }

  /**
   * Delivers the same event_callback payload again (same event_id) in a new envelope, as Slack
   * retries (`opts.envelopeId` re-uses an earlier envelope's id instead).
   */
  async socketResendEvent(eventId: string, retryAttempt = 1, retryReason = 'timeout', opts: SocketSendOptions & { envelopeId?: string } = {}): Promise<SocketEventDelivery> {
    const payload = this.socketSentEvents.get(eventId);
    if (!payload) throw new Error(`socketResendEvent: no event ${eventId} was sent over Socket Mode by this fake`);
    return this.sendEventsApi(eventId, payload, { ...opts, retryAttempt, retryReason });
  }

  /** socket counterpart of react(): stored reactions change first (unless updateState:false). */
  async socketReact(input: SocketReactInput): Promise<SocketEventDelivery> {
    const msg = this.reactionTarget('socketReact', input);
    if (input.updateState !== false && msg) this.addReaction(msg, input.reaction, input.user);
    return this.socketEvent(this.reactionEvent('reaction_added', input, msg), input);
  }

  /** socket counterpart of unreact(). */
  async socketUnreact(input: SocketReactInput): Promise<SocketEventDelivery> {
    const msg = this.reactionTarget('socketUnreact', input);
    if (input.updateState !== false && msg) this.removeReaction(msg, input.reaction, input.user);
    return this.socketEvent(this.reactionEvent('reaction_removed', input, msg), input);
  }

  private async sendEventsApi(eventId: string, payload: Record<string, unknown>, opts: SocketEventOptions): Promise<SocketEventDelivery> {
    const retryAttempt = opts.retryAttempt ?? 0;
    const envelope = {
      envelope_id: opts.envelopeId ?? randomUUID(),
      payload,
      type: 'events_api',
      accepts_response_payload: false,
      retry_attempt: retryAttempt,
      retry_reason: opts.retryReason ?? (retryAttempt > 0 ? 'timeout' : ''),
    };
    const delivery = await this.socketMode.send(envelope, opts);
    return { ...delivery, eventId, payload };
  }

  /**
   * Polls `predicate(this)` every ~20 ms until it returns a truthy value (which is returned).
   * A predicate that throws counts as "not yet" (so expect() can be used inside); on timeout the
   * error names the last thrown error and the last few Web API calls.
   */
  async waitFor<T>(predicate: (fake: FakeSlack) => T | Promise<T>, opts: WaitForOptions = {}): Promise<Truthy<T>> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const interval = opts.intervalMs ?? 20;
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    for (;;) {
      try {
        const v = await predicate(this);
        if (v) return v as Truthy<T>;
        lastError = undefined;
      } catch (e) {
        lastError = e;
      }
      if (Date.now() >= deadline) break;
      await sleep(interval);
    }
    const recent = this.calls.slice(-8).map((c) => {
      const brief = JSON.stringify(c.params);
      return `  ${new Date(c.at).toISOString().slice(11, 23)} ${c.method} → ${c.status} ${c.ok ? 'ok' : c.error} ${brief.length > 200 ? `${brief.slice(0, 200)}…` : brief}`;
    });
    const lines = [
      `FakeSlack.waitFor timed out after ${timeoutMs} ms${opts.description ? ` waiting for ${opts.description}` : ''}.`,
      ...(lastError !== undefined ? [`Last predicate error: ${lastError instanceof Error ? lastError.message : String(lastError)}`] : []),
      `Web API calls: ${this.calls.length} in total${recent.length ? `, the last ${recent.length}:` : '.'}`,
      ...recent,
      ...(this.deliveries.length ? [`Last delivery to the app: ${this.describeDelivery(this.deliveries[this.deliveries.length - 1])}`] : []),
    ];
    throw new Error(lines.join('\n'));
  }

  // ----- HTTP plumbing -----------------------------------------------------------------------

  /** @internal */
  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    this.route(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`fake slack error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      } else {
        res.destroy();
      }
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    const path = url.pathname;
    const api = /^\/api\/([A-Za-z0-9_.]+)$/.exec(path);
    if (api?.[1]) return this.handleApi(req, res, api[1], url.searchParams);
    const upload = /^\/upload\/([A-Za-z0-9_-]+)$/.exec(path);
    if (upload?.[1] && req.method === 'POST') return this.handleUpload(req, res, upload[1]);
    const dl = /^\/files-pri\/([A-Z0-9]+)-([A-Z0-9]+)\/(?:download\/)?[^/]+$/.exec(path);
    if (dl?.[1] && dl[2] && (req.method === 'GET' || req.method === 'HEAD')) return this.handleDownload(req, res, dl[1], dl[2], path);
    const resp = /^\/response\/([A-Za-z0-9]+)$/.exec(path);
    if (resp?.[1] && req.method === 'POST') return this.handleResponseUrl(req, res, resp[1]);
    if (path === '/' && req.method === 'GET') {
      // What following the login redirect of an unauthorised file download ends on.
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!DOCTYPE html><html><head><title>Slack</title></head><body><h1>Sign in to Slack</h1></body></html>');
      return;
    }
    await readBody(req);
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('Not Found');
  }

  private async handleApi(req: IncomingMessage, res: ServerResponse, method: string, query: URLSearchParams): Promise<void> {
    const at = Date.now();
    const raw = await readBody(req);
    const contentType = req.headers['content-type'] ?? '';
    const params: Params = Object.fromEntries(query.entries());
    let parseError: string | undefined;
    try {
      Object.assign(params, this.parseApiBody(raw, contentType));
    } catch (e) {
      parseError = e instanceof SlackApiError ? e.error : 'invalid_form_data';
    }
    if (!parseError) {
      for (const [key, errorCode] of Object.entries(JSON_PARAMS)) {
        const v = params[key];
        if (typeof v === 'string' && /^\s*[[{]/.test(v)) {
          try {
            params[key] = JSON.parse(v) as unknown;
          } catch {
            parseError ??= errorCode;
          }
        }
      }
    }
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const token = bearer ?? (typeof params.token === 'string' ? params.token : undefined);
    delete params.token;

    if (this.latencyMs > 0) await sleep(this.latencyMs);

    let status = 200;
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      'x-oauth-scopes': this.scopes.join(','),
    };
    let body: Record<string, unknown>;
    const isBot = token === this.botToken;
    const isApp = token !== undefined && token === this.appToken;
    // An app-level token has one scope, and only apps.connections.open takes it.
    if (isApp) headers['x-oauth-scopes'] = 'connections:write';
    const failure = isBot || (isApp && method === CONNECTIONS_OPEN) ? this.takeFailure(method) : undefined;
    if (token === undefined) {
      body = { ok: false, error: 'not_authed' };
    } else if (!isBot && !isApp) {
      body = { ok: false, error: 'invalid_auth' };
    } else if (failure) {
      status = failure.status ?? (failure.retryAfter !== undefined ? 429 : 200);
      if (status === 429 && failure.retryAfter !== null) headers['retry-after'] = String(failure.retryAfter ?? 1);
      body = { ok: false, error: failure.error ?? (status === 429 ? 'ratelimited' : 'fatal_error') };
    } else if (parseError) {
      body = { ok: false, error: parseError };
    } else if (method === CONNECTIONS_OPEN || isApp) {
      // Bot tokens can't open Socket Mode connections; app-level tokens can do nothing else.
      body = method === CONNECTIONS_OPEN && isApp ? { ok: true, url: this.socketMode.issueUrl() } : { ok: false, error: 'not_allowed_token_type' };
    } else if (!this.handlers[method]) {
      body = { ok: false, error: 'unknown_method' };
    } else if (this.missingScopes.has(method)) {
      const needed = SCOPE_FOR[method] ?? 'unknown';
      body = { ok: false, error: 'missing_scope', needed, provided: this.scopes.filter((s) => s !== needed).join(',') };
    } else {
      try {
        body = { ok: true, ...this.handlers[method](params) };
      } catch (e) {
        if (!(e instanceof SlackApiError)) throw e;
        body = { ok: false, error: e.error, ...e.extra };
      }
    }
    const call: ApiCall = {
      method, params, at, httpMethod: req.method ?? 'POST', contentType, status, ok: body.ok === true,
    };
    if (typeof body.error === 'string') call.error = body.error;
    if (isBot || isApp) call.tokenType = isBot ? 'bot' : 'app';
    this.calls.push(call);
    res.writeHead(status, headers);
    res.end(JSON.stringify(body));
  }

  private parseApiBody(raw: Buffer, contentType: string): Params {
    if (raw.length === 0) return {};
    const ct = contentType.toLowerCase();
    if (ct.startsWith('application/json')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new SlackApiError('invalid_json');
      }
      if (!isRecord(parsed)) throw new SlackApiError('json_not_object');
      return { ...parsed };
    }
    if (ct.startsWith('multipart/form-data')) {
      const out: Params = {};
      for (const part of parseMultipart(raw, contentType)) {
        if (part.name === undefined) continue;
        out[part.name] = part.filename !== undefined ? Buffer.from(part.data) : part.data.toString('utf8');
      }
      return out;
    }
    return Object.fromEntries(new URLSearchParams(raw.toString('utf8')).entries());
  }

  private takeFailure(method: string): PendingFailure | undefined {
    const queue = this.failures.get(method);
    const head = queue?.[0];
    if (!queue || !head) return undefined;
    head.remaining -= 1;
    if (head.remaining <= 0) queue.shift();
    return head;
  }

  private answerScriptedFailure(res: ServerResponse, failure: PendingFailure): void {
    const status = failure.status ?? (failure.retryAfter !== undefined ? 429 : 500);
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (status === 429 && failure.retryAfter !== null) headers['retry-after'] = String(failure.retryAfter ?? 1);
    res.writeHead(status, headers);
    res.end(failure.error ?? (status === 429 ? 'ratelimited' : 'Internal Server Error'));
  }

  private async handleUpload(req: IncomingMessage, res: ServerResponse, uploadId: string): Promise<void> {
    const raw = await readBody(req);
    const slot = this.uploadSlots.get(uploadId);
    if (!slot) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not Found');
      return;
    }
    const failure = this.takeFailure('upload');
    if (failure) return this.answerScriptedFailure(res, failure);
    const ct = req.headers['content-type'] ?? 'application/octet-stream';
    let bytes = raw;
    if (ct.toLowerCase().startsWith('multipart/form-data')) {
      const parts = parseMultipart(raw, ct);
      const filePart = parts.find((p) => p.filename !== undefined) ?? parts[0];
      bytes = filePart ? Buffer.from(filePart.data) : Buffer.alloc(0);
    }
    slot.bytes = bytes;
    slot.uploadContentType = ct;
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`OK - ${bytes.length}`);
  }

  private async handleDownload(req: IncomingMessage, res: ServerResponse, team: string, fileId: string, path: string): Promise<void> {
    await readBody(req);
    const stored = team === this.teamId ? this.files.get(fileId) : undefined;
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const authorized = bearer === this.botToken;
    const record: Download = { fileId, path, httpMethod: req.method ?? 'GET', authorized, status: 0, at: Date.now() };
    this.downloads.push(record);
    if (!stored) {
      record.status = 404;
      res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<html><body>File not found</body></html>');
      return;
    }
    if (!authorized) {
      // Slack answers unauthenticated requests for private files with a redirect to its login page.
      record.status = 302;
      res.writeHead(302, { location: `${this.origin}/?redirect=login`, 'content-type': 'text/html; charset=utf-8' });
      res.end();
      return;
    }
    const failure = this.takeFailure('download');
    if (failure) {
      record.status = failure.status ?? (failure.retryAfter !== undefined ? 429 : 500);
      return this.answerScriptedFailure(res, failure);
    }
    const opts = stored.options;
    if (opts.redirectTo) {
      record.status = 302;
      res.writeHead(302, { location: opts.redirectTo });
      res.end();
      return;
    }
    if (opts.delayMs) await sleep(opts.delayMs);
    if (this.closed || res.destroyed) return;
    record.status = 200;
    const headers: Record<string, string | number> = {
      'content-type': stored.file.mimetype,
      'content-length': stored.bytes.length,
    };
    if (path.includes('/download/')) headers['content-disposition'] = `attachment; filename="${stored.file.name.replace(/"/g, '')}"`;
    res.writeHead(200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (!opts.slow) {
      res.end(stored.bytes);
      return;
    }
    const chunk = typeof opts.slow === 'object' ? opts.slow.chunkBytes ?? 64 : 64;
    const interval = typeof opts.slow === 'object' ? opts.slow.intervalMs ?? 250 : 250;
    for (let off = 0; off < stored.bytes.length; off += chunk) {
      if (this.closed || res.destroyed) return;
      res.write(stored.bytes.subarray(off, off + chunk));
      await sleep(interval);
    }
    if (!res.destroyed) res.end();
  }

  private async handleResponseUrl(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const raw = await readBody(req);
    const uses = this.responseUrlUses.get(id);
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body));
    };
    if (uses === undefined) return json(404, { ok: false, error: 'expired_url' });
    if (uses >= 5) return json(404, { ok: false, error: 'used_url' });
    const failure = this.takeFailure('response_url');
    if (failure) return this.answerScriptedFailure(res, failure);
    const ct = (req.headers['content-type'] ?? '').toLowerCase();
    let body: unknown;
    try {
      if (ct.startsWith('application/x-www-form-urlencoded')) {
        const payload = new URLSearchParams(raw.toString('utf8')).get('payload');
        body = payload === null ? undefined : JSON.parse(payload);
      } else {
        body = JSON.parse(raw.toString('utf8'));
      }
    } catch {
      body = undefined;
    }
    if (!isRecord(body)) return json(400, { ok: false, error: 'invalid_payload' });
    this.responseUrlUses.set(id, uses + 1);
    this.responses.push({ id, body, at: Date.now() });
    json(200, { ok: true });
  }

  // ----- Web API methods ---------------------------------------------------------------------

  private authTest(): Record<string, unknown> {
    return {
      url: `https://${this.teamDomain}.slack.com/`,
      team: this.teamName,
      user: this.botName,
      team_id: this.teamId,
      user_id: this.botUserId,
      bot_id: this.botId,
      is_enterprise_install: false,
    };
  }

  private chatPostMessage(p: Params): Record<string, unknown> {
    const channel = this.resolveChannel(this.requireChannel(p));
    const text = str(p.text) ?? '';
    const blocks = this.checkBlocks(p.blocks);
    const attachments = Array.isArray(p.attachments) ? p.attachments : undefined;
    if (text === '' && !blocks?.length && !attachments?.length) throw new SlackApiError('no_text');
    if (text.length > 40_000) throw new SlackApiError('msg_too_long');
    const msg: StoredMessage = {
      channel, ts: this.nextTs(), type: 'message', text, user: this.botUserId, bot_id: this.botId, app_id: this.appId,
      reactions: [], edits: [], postParams: p,
    };
    if (blocks) msg.blocks = withBlockIds(blocks);
    if (attachments) msg.attachments = attachments;
    const threadTs = str(p.thread_ts);
    if (threadTs) this.attachToThread(msg, threadTs);
    this.store(msg);
    return { channel, ts: msg.ts, message: this.botMessageView(msg) };
  }

  private chatUpdate(p: Params): Record<string, unknown> {
    const channel = this.requireChannel(p);
    const msg = this.requireMessage(channel, str(p.ts));
    if (msg.user !== this.botUserId) throw new SlackApiError('cant_update_message');
    const text = str(p.text);
    const blocks = this.checkBlocks(p.blocks);
    if (text === undefined && blocks === undefined && p.attachments === undefined) throw new SlackApiError('no_text');
    if (text !== undefined && text.length > 40_000) throw new SlackApiError('msg_too_long');
    const edit: MessageEdit = {
      at: Date.now(), text: text ?? msg.text, previousText: msg.text, params: p,
    };
    if (msg.blocks) edit.previousBlocks = msg.blocks;
    if (text !== undefined) msg.text = text;
    // Per the chat.update docs: omitted blocks are kept; an empty array removes them.
    if (blocks !== undefined) {
      if (blocks.length) msg.blocks = withBlockIds(blocks);
      else delete msg.blocks;
    }
    if (Array.isArray(p.attachments)) msg.attachments = p.attachments;
    if (msg.blocks) edit.blocks = msg.blocks;
    msg.edits.push(edit);
    msg.edited = { user: this.botUserId, ts: this.nextTs() };
    const message: Record<string, unknown> = { ...this.botMessageView(msg), edited: msg.edited };
    return { channel, ts: msg.ts, text: msg.text, message };
  }

  private chatPostEphemeral(p: Params): Record<string, unknown> {
    const channel = this.requireChannel(p);
    const user = str(p.user);
    if (!user) throw new SlackApiError('user_not_in_channel');
    const text = str(p.text) ?? '';
    const blocks = this.checkBlocks(p.blocks);
    if (text === '' && !blocks?.length && !(Array.isArray(p.attachments) && p.attachments.length)) throw new SlackApiError('no_text');
    const eph: Ephemeral = { channel, user, text, message_ts: this.nextTs(), at: Date.now() };
    if (blocks) eph.blocks = blocks;
    const threadTs = str(p.thread_ts);
    if (threadTs) eph.thread_ts = threadTs;
    this.ephemerals.push(eph);
    return { message_ts: eph.message_ts };
  }

  private chatDelete(p: Params): Record<string, unknown> {
    const channel = this.requireChannel(p);
    const msg = this.requireMessage(channel, str(p.ts));
    if (msg.user !== this.botUserId) throw new SlackApiError('cant_delete_message');
    const list = this.channelMessages.get(channel) ?? [];
    list.splice(list.indexOf(msg), 1);
    this.messageIndex.delete(`${channel} ${msg.ts}`);
    this.deletedMessages.push(msg);
    return { channel, ts: msg.ts };
  }

  private chatGetPermalink(p: Params): Record<string, unknown> {
    const channel = this.requireChannel(p);
    const msg = this.requireMessage(channel, str(p.message_ts));
    return { channel, permalink: this.permalink(msg) };
  }

  private reactionsAdd(p: Params): Record<string, unknown> {
    const { msg, name } = this.reactionArgs(p);
    if (msg.reactions.find((r) => r.name === name)?.users.includes(this.botUserId)) throw new SlackApiError('already_reacted');
    this.addReaction(msg, name, this.botUserId);
    return {};
  }

  private reactionsRemove(p: Params): Record<string, unknown> {
    const { msg, name } = this.reactionArgs(p);
    if (!msg.reactions.find((r) => r.name === name)?.users.includes(this.botUserId)) throw new SlackApiError('no_reaction');
    this.removeReaction(msg, name, this.botUserId);
    return {};
  }

  private reactionsGet(p: Params): Record<string, unknown> {
    const channel = str(p.channel);
    const ts = str(p.timestamp);
    if (!channel || !ts) throw new SlackApiError('no_item_specified');
    this.checkChannel(channel);
    const msg = this.requireMessage(channel, ts);
    return { type: 'message', channel, message: { ...this.messageView(msg), permalink: this.permalink(msg) } };
  }

  private usergroupsUsersList(p: Params): Record<string, unknown> {
    const id = str(p.usergroup);
    if (!id) throw new SlackApiError('invalid_arguments');
    const users = this.userGroups.get(id);
    if (!users) throw new SlackApiError('no_such_subteam');
    return { users: [...users] };
  }

  private filesInfo(p: Params): Record<string, unknown> {
    const stored = this.files.get(str(p.file) ?? '');
    if (!stored) throw new SlackApiError('file_not_found');
    return { file: clone(stored.file), comments: [], response_metadata: { next_cursor: '' } };
  }

  private filesGetUploadURLExternal(p: Params): Record<string, unknown> {
    const filename = str(p.filename);
    const length = Number(str(p.length));
    if (!filename || !Number.isInteger(length) || length <= 0) throw new SlackApiError('invalid_arguments');
    const fileId = this.nextId('F');
    const uploadId = `${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
    const slot: Upload = { uploadId, fileId, filename, declaredLength: length, completed: false };
    this.uploadSlots.set(uploadId, slot);
    this.uploads.push(slot);
    return { upload_url: `${this.origin}/upload/${uploadId}`, file_id: fileId };
  }

  private filesCompleteUploadExternal(p: Params): Record<string, unknown> {
    const list = p.files;
    if (!Array.isArray(list) || list.length === 0) throw new SlackApiError('invalid_arguments');
    const channel = str(p.channel_id) ?? str(p.channels);
    if (channel) this.checkChannel(channel);
    const threadTs = str(p.thread_ts);
    const initialComment = str(p.initial_comment);
    const slots: Array<{ slot: Upload; title?: string }> = [];
    for (const entry of list) {
      if (!isRecord(entry) || typeof entry.id !== 'string') throw new SlackApiError('invalid_arguments');
      const slot = this.uploads.find((u) => u.fileId === entry.id);
      if (!slot || !slot.bytes || slot.completed) throw new SlackApiError('file_not_found');
      slots.push({ slot, ...(typeof entry.title === 'string' ? { title: entry.title } : {}) });
    }
    const ts = channel ? this.nextTs() : undefined;
    const files: SlackFile[] = [];
    for (const { slot, title } of slots) {
      slot.completed = true;
      if (title !== undefined) slot.title = title;
      if (channel) slot.channel = channel;
      if (threadTs) slot.thread_ts = threadTs;
      if (initialComment !== undefined) slot.initial_comment = initialComment;
      if (ts) slot.messageTs = ts;
      const file = this.createFile(slot.fileId, {
        name: slot.filename, bytes: slot.bytes ?? Buffer.alloc(0), user: this.botUserId, ...(title !== undefined ? { title } : {}),
      });
      if (channel && ts) this.recordShare(file.id, channel, ts, threadTs);
      files.push(clone(file));
    }
    if (channel && ts) {
      const msg: StoredMessage = {
        channel, ts, type: 'message', text: initialComment ?? '', user: this.botUserId, bot_id: this.botId, app_id: this.appId,
        files, upload: true, reactions: [], edits: [], postParams: p,
      };
      if (threadTs) this.attachToThread(msg, threadTs);
      this.store(msg);
    }
    return { files };
  }

  private usersInfo(p: Params): Record<string, unknown> {
    const u = this.users.get(str(p.user) ?? '');
    if (!u) throw new SlackApiError('user_not_found');
    const profile: Record<string, unknown> = {
      title: '', phone: '', skype: '',
      real_name: u.realName, real_name_normalized: u.realName,
      display_name: u.displayName, display_name_normalized: u.displayName,
      fields: null, status_text: '', status_emoji: '', status_expiration: 0,
      avatar_hash: `g${shortHash(u.id)}`, team: this.teamId,
      image_48: `https://secure.gravatar.com/avatar/${shortHash(u.id)}.jpg?s=48`,
    };
    if (u.isBot) {
      profile.bot_id = this.botId;
      profile.api_app_id = this.appId;
      profile.always_active = true;
    }
    return {
      user: {
        id: u.id, team_id: this.teamId, name: u.name, deleted: u.deleted, color: '9f69e7',
        real_name: u.realName, tz: u.tz, tz_label: 'Greenwich Mean Time', tz_offset: 0, profile,
        is_admin: false, is_owner: false, is_primary_owner: false, is_restricted: false, is_ultra_restricted: false,
        is_bot: u.isBot, is_app_user: false, updated: 1_700_000_000,
      },
    };
  }

  private conversationsReplies(p: Params): Record<string, unknown> {
    const channel = this.requireChannel(p);
    const ts = str(p.ts);
    if (!ts || !this.message(channel, ts)) throw new SlackApiError('thread_not_found');
    const msgs = this.thread(channel, ts);
    return { messages: msgs.map((m) => this.messageView(m)), has_more: false, response_metadata: { next_cursor: '' } };
  }

  /**
   * conversations.history (channels:history / groups:history): the channel's top-level
   * messages, newest first, `limit` of them (default 100, at most 999). A bot that is not in
   * the channel gets `not_in_channel` (public) or `channel_not_found` (private).
   */
  private conversationsHistory(p: Params): Record<string, unknown> {
    const channel = this.requireChannel(p);
    const outside = this.notMemberOf.get(channel);
    if (outside) throw new SlackApiError(outside.private ? 'channel_not_found' : 'not_in_channel');
    const limit = Math.min(999, Math.max(1, Number(str(p.limit) ?? 100) || 100));
    const top = (this.channelMessages.get(channel) ?? []).filter((m) => !m.thread_ts || m.thread_ts === m.ts);
    const newest = [...top].reverse();
    const page = newest.slice(0, limit);
    return { messages: page.map((m) => this.messageView(m)), has_more: newest.length > limit, pin_count: 0, response_metadata: { next_cursor: '' } };
  }

  // ----- internals ---------------------------------------------------------------------------

  private requireChannel(p: Params): string {
    const channel = str(p.channel);
    if (!channel) throw new SlackApiError('channel_not_found');
    this.checkChannel(channel);
    return channel;
  }

  private checkChannel(channel: string): void {
    const err = this.channelFailures.get(channel);
    if (err) throw new SlackApiError(err);
  }

  /** Posting to a user id goes to the app's DM with that user. */
  private resolveChannel(channel: string): string {
    return /^[UW][A-Z0-9]+$/.test(channel) ? `D${channel.slice(1)}` : channel;
  }

  private requireMessage(channel: string, ts: string | undefined): StoredMessage {
    const msg = ts ? this.message(channel, ts) : undefined;
    if (!msg) throw new SlackApiError('message_not_found');
    return msg;
  }

  private reactionArgs(p: Params): { msg: StoredMessage; name: string } {
    const channel = str(p.channel);
    const ts = str(p.timestamp);
    if (!channel || !ts) throw new SlackApiError('no_item_specified');
    this.checkChannel(channel);
    const msg = this.requireMessage(channel, ts);
    const name = str(p.name);
    if (!name || !/^[a-z0-9_+'-]+(::skin-tone-[2-6])?$/.test(name)) throw new SlackApiError('invalid_name');
    return { msg, name };
  }

  private checkBlocks(v: unknown): unknown[] | undefined {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length > 50) throw new SlackApiError('invalid_blocks');
    for (const b of v) if (!isRecord(b) || typeof b.type !== 'string') throw new SlackApiError('invalid_blocks');
    return v;
  }

  private reactionTarget(helper: string, input: ReactInput): StoredMessage | undefined {
    if (input.updateState === false) return this.message(input.channel, input.ts);
    const msg = this.message(input.channel, input.ts);
    if (!msg) throw new Error(`${helper}: no message ${input.channel}/${input.ts} in the fake (pass updateState:false to send the event anyway)`);
    return msg;
  }

  private reactionEvent(type: string, input: ReactInput, msg: StoredMessage | undefined): Record<string, unknown> {
    const itemUser = input.itemUser === undefined ? msg?.user : input.itemUser;
    return {
      type,
      user: input.user,
      item: { type: 'message', channel: input.channel, ts: input.ts },
      reaction: input.reaction,
      ...(itemUser ? { item_user: itemUser } : {}),
      event_ts: this.nextTs(),
    };
  }

  private addReaction(msg: StoredMessage, name: string, user: string): void {
    let r = msg.reactions.find((x) => x.name === name);
    if (!r) {
      r = { name, count: 0, users: [] };
      msg.reactions.push(r);
    }
    if (!r.users.includes(user)) {
      r.users.push(user);
      r.count = r.users.length;
    }
  }

  private removeReaction(msg: StoredMessage, name: string, user: string): void {
    const r = msg.reactions.find((x) => x.name === name);
    if (!r) return;
    r.users = r.users.filter((u) => u !== user);
    r.count = r.users.length;
    if (r.count === 0) msg.reactions.splice(msg.reactions.indexOf(r), 1);
  }

  private attachToThread(msg: StoredMessage, threadTs: string): void {
    msg.thread_ts = threadTs;
    const root = this.message(msg.channel, threadTs);
    if (root) msg.parent_user_id = root.user;
  }

  private store(msg: StoredMessage): void {
    const list = this.channelMessages.get(msg.channel) ?? [];
    const last = list[list.length - 1];
    list.push(msg);
    if (last && last.ts > msg.ts) list.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
    this.channelMessages.set(msg.channel, list);
    this.messageIndex.set(`${msg.channel} ${msg.ts}`, msg);
  }

  private recordShare(fileId: string, channel: string, ts: string, threadTs?: string): void {
    const stored = this.files.get(fileId);
    if (!stored) return;
    const f = stored.file;
    f.channels = [...new Set([...(f.channels ?? []), channel])];
    const kind = channel.startsWith('C') ? 'public' : 'private';
    const shares = f.shares ?? {};
    const byChannel = shares[kind] ?? {};
    const entry: Record<string, unknown> = {
      reply_users: [], reply_users_count: 0, reply_count: 0, ts,
      channel_name: this.channelNameFor(channel), team_id: this.teamId, share_user_id: f.user, source: 'UNKNOWN',
    };
    if (threadTs) entry.thread_ts = threadTs;
    byChannel[channel] = [...(byChannel[channel] ?? []), entry];
    shares[kind] = byChannel;
    f.shares = shares;
  }

  /** A message as Slack's APIs return it (reactions only when there are any). */
  private messageView(m: StoredMessage): Record<string, unknown> {
    const out: Record<string, unknown> = { type: 'message' };
    if (m.subtype) out.subtype = m.subtype;
    out.text = m.text;
    out.user = m.user;
    if (m.bot_id) out.bot_id = m.bot_id;
    if (m.app_id) out.app_id = m.app_id;
    out.ts = m.ts;
    out.team = this.teamId;
    if (m.blocks) out.blocks = clone(m.blocks);
    if (m.attachments) out.attachments = clone(m.attachments);
    if (m.files) out.files = clone(m.files);
    if (m.upload !== undefined) out.upload = m.upload;
    if (m.edited) out.edited = { ...m.edited };
    const isReply = m.thread_ts !== undefined && m.thread_ts !== m.ts;
    const replies = isReply ? [] : (this.channelMessages.get(m.channel) ?? []).filter((x) => x.thread_ts === m.ts && x.ts !== m.ts);
    if (isReply) {
      out.thread_ts = m.thread_ts;
      if (m.parent_user_id) out.parent_user_id = m.parent_user_id;
    } else if (replies.length) {
      const replyUsers = [...new Set(replies.map((r) => r.user))];
      Object.assign(out, {
        thread_ts: m.ts, reply_count: replies.length, reply_users_count: replyUsers.length, reply_users: replyUsers,
        latest_reply: replies[replies.length - 1]?.ts, is_locked: false, subscribed: false,
      });
    }
    if (m.reactions.length) out.reactions = m.reactions.map((r) => ({ name: r.name, users: [...r.users], count: r.count }));
    return out;
  }

  /** The `message` of chat.postMessage / chat.update answers: the message plus bot_profile. */
  private botMessageView(m: StoredMessage): Record<string, unknown> {
    return {
      ...this.messageView(m),
      bot_profile: {
        id: this.botId, deleted: false, name: this.botName, updated: 1_700_000_000, app_id: this.appId,
        icons: {
          image_36: 'https://a.slack-edge.com/80588/img/plugins/app/bot_36.png',
          image_48: 'https://a.slack-edge.com/80588/img/plugins/app/bot_48.png',
          image_72: 'https://a.slack-edge.com/80588/img/plugins/app/service_72.png',
        },
        team_id: this.teamId,
      },
    };
  }

  private permalink(m: StoredMessage): string {
    const base = `https://${this.teamDomain}.slack.com/archives/${m.channel}/p${m.ts.replace('.', '')}`;
    return m.thread_ts && m.thread_ts !== m.ts ? `${base}?thread_ts=${m.thread_ts}&cid=${m.channel}` : base;
  }

  private richTextBlocks(text: string): unknown[] | undefined {
    if (!text) return undefined;
    return [{
      type: 'rich_text', block_id: blockId(),
      elements: [{ type: 'rich_text_section', elements: [{ type: 'text', text }] }],
    }];
  }

  private channelNameFor(id: string): string {
    const known = this.channelNames.get(id);
    if (known) return known;
    if (id.startsWith('D')) return 'directmessage';
    if (id.startsWith('G')) return 'privategroup';
    return id.toLowerCase();
  }

  private retryHeaders(opts: EventOptions): Record<string, string> {
    if (opts.retryNum === undefined) return {};
    return { 'x-slack-retry-num': String(opts.retryNum), 'x-slack-retry-reason': opts.retryReason ?? 'http_timeout' };
  }

  private async deliver(kind: Delivery['kind'], url: string, secret: string, body: string, contentType: string, headers: Record<string, string>): Promise<SignedPostResult> {
    const res = await postSigned(url, secret, body, contentType, headers);
    this.deliveries.push({ kind, url, body, headers, status: res.status, text: res.text, elapsedMs: res.elapsedMs, at: Date.now() });
    return res;
  }

  private describeDelivery(d: Delivery | undefined): string {
    if (!d) return '';
    return `${d.kind} → HTTP ${d.status} ${d.text.slice(0, 200)}`;
  }

  /** Unique, increasing Slack timestamps ('1700000000.000100' form) following the wall clock. */
  nextTs(): string {
    const micros = Math.max(Date.now() * 1000, this.lastTsMicros + 100);
    this.lastTsMicros = micros;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  }

  private nextId(prefix: string): string {
    this.idCounter += 1;
    return `${prefix}${this.idCounter.toString(36).toUpperCase().padStart(prefix === 'F' ? 9 : 8, '0')}`;
  }
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** Slack gives every block without a block_id a random one. */
function withBlockIds(blocks: unknown[]): unknown[] {
  return blocks.map((b) => (isRecord(b) && typeof b.block_id !== 'string' ? { ...b, block_id: blockId() } : clone(b)));
}

function shortHash(s: string): string {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h.toString(16).padStart(8, '0').slice(0, 12);
}

/** Starts a fake Slack on 127.0.0.1 with a random port. Call close() when done. */
export async function startFakeSlack(opts: FakeSlackOptions): Promise<FakeSlack> {
  const holder: { fake?: FakeSlack } = {};
  const server = createServer((req, res) => {
    if (holder.fake) holder.fake.handleRequest(req, res);
    else {
      res.writeHead(503);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const fake = new FakeSlack(server, `http://127.0.0.1:${port}`, opts);
  holder.fake = fake;
  return fake;
}
