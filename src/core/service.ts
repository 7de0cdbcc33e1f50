/**
 * The appeal service: drafting, media, approval, status. Chat adapters turn platform
 * events into calls here; everything the room sees goes out through the ChatRoom port.
 */
import {
  appealHash,
  appealOutgoing,
  currentCard,
  isVideo,
  transition,
  type Appeal,
  type MediaItem,
} from './appeal.js';
import { AuditLog, entryHash, SYSTEM_ACTOR, toCsv, toJsonLines } from './audit.js';
import type { ApprovalDecision } from './approval.js';
import { shortHash } from './content.js';
import { allocateAppealId, isAppealId, showId } from './ids.js';
import { KeyedLock, type Lease } from './lock.js';
import { code, link, msg, plain, strong, user, userList, type CardView, type Message, type Part } from './messages.js';
import { NETWORK_LABELS, type NetworkName } from './networks.js';
import { publishKeys, Publisher, type PublicationRecord } from './publisher.js';
import { Withdrawer, withdrawKeys } from './withdraw.js';
import {
  MediaRejected,
  type ChatRoom,
  type Clock,
  type FileSource,
  type Logger,
  type MediaProcessor,
  type MessageRef,
  type ChartRenderer,
  type Network,
  type Store,
} from './ports.js';
import { Reporter } from './report.js';
import { notCountedNote, normalizeEmoji, reactionVerdict, readCard, sameMembers, type ApprovalPolicy, type Reactor } from './reactions.js';
import { updateKeys, Updater, type AppealUpdate } from './update.js';
import { UpdateFlow } from './update-flow.js';
import { commandText, errorWords, preview, time } from './words.js';
import type { Command } from './commands.js';

export { normalizeEmoji, type ApprovalPolicy };

export interface ServiceDeps {
  store: Store;
  room: ChatRoom;
  media: MediaProcessor;
  clock: Clock;
  logger: Logger;
  policy: ApprovalPolicy;
  /** Networks with credentials: the default targets. */
  enabledNetworks: NetworkName[];
  /** The network adapters publishing goes to (none: approvals are recorded, nothing is published). */
  networks?: ReadonlyMap<NetworkName, Network>;
  /** How long a publish lease lasts before another worker may take over (default 15 s). */
  publishLeaseMs?: number;
  /** The pause between delete attempts (tests make it instant). */
  withdrawSleep?: (ms: number) => Promise<void>;
  /** Most images one appeal takes. */
  maxImages?: number;
  /** Pauses before re-checking approvals that couldn't be checked (default 2 s, 10 s, 30 s). */
  recheckDelaysMs?: number[];
  /** Draws report charts (none: reports are tables). */
  chart?: ChartRenderer;
  /** The time zone reports show times in (TZ; default UTC). */
  timeZone?: string;
}

export const keys = {
  appeal: (id: string) => `appeal:${id}`,
  idClaim: (id: string) => `appeal-id:${id}`,
  card: (channel: string, ts: string) => `card:${channel}:${ts}`,
  thread: (channel: string, ts: string) => `thread:${channel}:${ts}`,
  media: (sha256: string) => `media:${sha256}`,
  /** The ids of a channel's appeals. */
  appeals: (channel: string) => `appeals:${channel}`,
};

interface CardIndex {
  id: string;
  hash: string;
  /** Set on an update's card: which update of the appeal. */
  update?: number;
}

const DEFAULT_MAX_IMAGES = 10;
/** One video an appeal: YouTube takes one per post. */
const MAX_VIDEOS = 1;
/** When approvals can't be checked, try again after these pauses. */
const DEFAULT_RECHECK_DELAYS_MS = [2_000, 10_000, 30_000];


export class AppealService {
  private readonly lock: KeyedLock;
  private readonly log: Logger;
  private helpText: Message | undefined;
  readonly publisher: Publisher;
  readonly withdrawer: Withdrawer;
  readonly audit: AuditLog;
  readonly reporter: Reporter;
  readonly updater: Updater;
  private readonly updates: UpdateFlow;

  constructor(private readonly deps: ServiceDeps) {
    this.lock = new KeyedLock(deps.store, deps.clock);
    this.log = deps.logger;
    this.audit = new AuditLog({ store: deps.store, clock: deps.clock, lock: this.lock, logger: deps.logger });
    // What every background worker shares.
    const common = { store: deps.store, room: deps.room, clock: deps.clock, logger: deps.logger, audit: this.audit };
    const networks = deps.networks ?? new Map();
    const sleep = deps.withdrawSleep ? { sleep: deps.withdrawSleep } : {};
    this.publisher = new Publisher({
      ...common,
      networks,
      lock: this.lock,
      cardView: (a, revision, hash) => this.cardView(a, revision, hash),
      ...(deps.publishLeaseMs !== undefined ? { leaseMs: deps.publishLeaseMs } : {}),
    });
    this.reporter = new Reporter({ ...common, timeZone: deps.timeZone ?? 'UTC', ...(deps.chart ? { chart: deps.chart } : {}) });
    this.updater = new Updater({
      ...common,
      networks,
      refreshCard: (u, appeal, results) => deps.room.updateCard({ channel: appeal.channel, ts: u.card.ts }, this.updates.cardView(u, appeal, results)),
      ...sleep,
    });
    this.withdrawer = new Withdrawer({ ...common, networks, ...sleep });
    this.updates = new UpdateFlow({
      ...common,
      policy: deps.policy,
      lock: this.lock,
      updater: this.updater,
      indexCard: (channel, ts, entry) => deps.store.set<CardIndex>(keys.card(channel, ts), entry),
      seed: (appeal, ref) => this.seed(appeal, ref),
      say: (appeal, message) => this.say(appeal, message),
    });
  }

  // ---------------------------------------------------------------- commands

  /**
   * Runs a command that answers at once (everything but drafting), and records it in the
   * audit trail with who asked, in which channel, and what the bot answered.
   */
  async execute(cmd: Exclude<Command, { kind: 'draft' }>, ctx: { channel: string; user: string }): Promise<Message> {
    const id = 'id' in cmd ? cmd.id : undefined;
    const known = id !== undefined && (await this.loadIn(id, ctx.channel)) !== undefined;
    const entry = { ...(known ? { appeal: id } : {}), actor: ctx.user, detail: `${commandText(cmd)} (in ${ctx.channel})` };
    if (cmd.kind === 'audit' && known) {
      // Recorded first, so the export includes who asked for it.
      await this.audit.record({ ...entry, action: 'audit_export' });
      return this.run(cmd, ctx);
    }
    const reply = await this.run(cmd, ctx);
    // A withdrawal is in the trail already, before anything came down; this is the command and its answer.
    const action = cmd.kind === 'retry' ? 'retry' : 'command';
    await this.audit.record({ ...entry, action, reason: plain(reply) });
    return reply;
  }

  private async run(cmd: Exclude<Command, { kind: 'draft' }>, ctx: { channel: string; user: string }): Promise<Message> {
    switch (cmd.kind) {
      case 'help':
        return this.help();
      case 'invalid':
        return msg`${cmd.problem}. ${strong('/appeal help')} lists the commands.`;
      case 'status':
        return this.status(cmd.id, ctx.channel);
      case 'list':
        return this.list(ctx.channel);
      case 'retry':
        return this.retry(cmd.id, cmd.network, ctx);
      case 'withdraw':
        return this.withdraw(cmd.id, cmd.reason, ctx);
      case 'audit':
        return this.auditExport(cmd.id, ctx);
      case 'report':
        return this.report(ctx);
      case 'update':
        return this.draftUpdate(cmd.id, cmd.text, ctx);
    }
  }

  /** The help text; it depends only on the configuration, so it is built once. */
  help(): Message {
    this.helpText ??= Object.freeze(this.buildHelp());
    return this.helpText;
  }

  private buildHelp(): Message {
    const { required, approveEmoji, rejectEmoji } = this.deps.policy;
    return msg`${strong('Loudhailer: public appeals, approved by two colleagues')}
${code('/appeal [to:x,flickr] <text>')} draft an appeal; post images as replies in its thread
${code('/appeal status <id>')} where an appeal stands
${code('/appeal list')} recent appeals
${code('/appeal retry <id> [network]')} publish again where publishing failed (never where it succeeded)
${code('/appeal withdraw <id> [reason]')} take an appeal down from every network now (the author or one approver)
${code('/appeal update <id> <text>')} a follow-up ("found safe, thank you"), replied on every network once ${required} colleagues approve it
${code('/appeal report')} the reach report of every live appeal, with a chart, here and now
${code('/appeal audit <id>')} the appeal's audit trail as files in its thread (JSON Lines and CSV)
${code('/appeal help')} this help
Approvers react :${approveEmoji}: on the newest card to approve (${required} needed, never the author), :${rejectEmoji}: to reject. Once approved it is published at once, and the thread shows the links and the live reach.`;
  }

  /** Where an appeal stands; only in its own channel (incident rooms may be private). */
  async status(id: string, channel: string): Promise<Message> {
    const appeal = await this.loadIn(id, channel);
    if (!appeal) return this.unknown(id);
    const card = currentCard(appeal);
    const targets = appeal.targets.map((t) => NETWORK_LABELS[t]).join(', ') || 'no networks';
    const videos = appeal.media.filter(isVideo).length;
    const images = appeal.media.length - videos;
    const media = `${images} image${images === 1 ? '' : 's'}${videos > 0 ? ` and ${videos} video${videos === 1 ? '' : 's'}` : ''}`;
    const lines: Part[] = msg`${strong(showId(appeal.id))}: ${strong(appeal.state)} · drafted by ${user(appeal.author)} at ${time(appeal.createdAt)}
Targets: ${targets} · ${media} · card ${card?.revision ?? 0} · hash ${code(shortHash(card?.hash ?? appealHash(appeal)))}
`;
    if (appeal.state === 'draft') {
      lines.push(...msg`Approvals: ${appeal.pendingApprovers.length} of ${this.deps.policy.required}`);
      if (appeal.pendingApprovers.length > 0) lines.push(' (', ...userList(appeal.pendingApprovers), ')');
    } else if (appeal.approval) {
      lines.push('Approved by ', ...userList(appeal.approval.approvers), ` at ${time(appeal.approval.at)}`);
    } else if (appeal.rejection) {
      lines.push('Rejected by ', user(appeal.rejection.by), ` at ${time(appeal.rejection.at)}`);
    }
    if (appeal.approval) {
      const records = await this.publisher.records(appeal);
      for (const out of this.publisher.publishable(appeal)) {
        const label = NETWORK_LABELS[out.network];
        const r = records.get(out.network);
        const gone = appeal.state === 'withdrawn' ? await this.deps.store.get<number>(withdrawKeys.gone(appeal.id, out.network)) : undefined;
        if (gone !== undefined) lines.push(`\n${label}: removed at ${time(gone)}`);
        else if (r?.state === 'published' && appeal.state === 'withdrawn') lines.push(...msg`\n${label}: being removed: ${link(r.url, r.url.replace(/^https?:\/\//, ''))}`);
        else if (r?.state === 'published') lines.push(...msg`\n${label}: live since ${time(r.at)}: ${link(r.url, r.url.replace(/^https?:\/\//, ''))}`);
        else if (r?.state === 'failed') lines.push(...msg`\n${label}: failed at ${time(r.at)}: ${r.reason}${r.retryAt !== undefined ? ` (tried again by itself at ${time(r.retryAt)})` : ''}`);
        else if (appeal.state === 'withdrawn') lines.push(`\n${label}: not published`);
        else lines.push(`\n${label}: publishing…`);
      }
    }
    if (appeal.withdrawal) {
      lines.push(...msg`\nWithdrawn by ${user(appeal.withdrawal.by)} at ${time(appeal.withdrawal.at)}${appeal.withdrawal.reason ? ` (${appeal.withdrawal.reason})` : ''}`);
    }
    const updates = (await this.deps.store.get<number>(updateKeys.count(id))) ?? 0;
    for (let n = 1; n <= updates; n++) {
      const u = await this.deps.store.get<AppealUpdate>(updateKeys.update(id, n));
      if (u) lines.push(`\nUpdate ${n} (${u.state === 'published' ? 'posted' : u.state}): ${preview(u.text, 60)}`);
    }
    return lines;
  }

  /** This channel's appeals, newest first. */
  async list(channel: string): Promise<Message> {
    const ids = await this.deps.store.members(keys.appeals(channel));
    const appeals = (await Promise.all(ids.map((id) => this.load(id)))).filter((a): a is Appeal => a !== undefined);
    appeals.sort((a, b) => b.createdAt - a.createdAt);
    if (appeals.length === 0) return msg`No appeals in this channel yet. ${code('/appeal <text>')} drafts one.`;
    const shown = appeals.slice(0, 15);
    const out: Part[] = msg`${strong('Recent appeals')} (newest first)`;
    for (const a of shown) {
      const approvals = a.state === 'draft' ? ` · ${a.pendingApprovers.length}/${this.deps.policy.required} approvals` : '';
      out.push(...msg`\n${strong(showId(a.id))} ${a.state}${approvals} · ${preview(a.text, 60)}`);
    }
    if (appeals.length > shown.length) out.push(`\n… and ${appeals.length - shown.length} older`);
    return out;
  }

  // ---------------------------------------------------------------- drafting

  /**
   * Drafts an appeal and posts its card (with the approve and reject reactions seeded).
   * Returns a message for the author only when something went wrong.
   */
  async draft(input: { channel: string; user: string; text: string; targets?: NetworkName[] }): Promise<Message | undefined> {
    const enabled = this.deps.enabledNetworks;
    if (input.targets) {
      const off = input.targets.filter((t) => !enabled.includes(t));
      if (off.length > 0) {
        await this.audit.record({ actor: input.user, action: 'command', detail: `/appeal to:${input.targets.join(',')} ${input.text} (in ${input.channel})`, reason: 'refused: network not configured; nothing drafted' });
        return msg`${off.map((t) => NETWORK_LABELS[t]).join(', ')} ${off.length > 1 ? "aren't" : "isn't"} configured here. Configured: ${enabled.map((t) => NETWORK_LABELS[t]).join(', ') || 'none'}. Nothing was drafted.`;
      }
    }
    const id = await allocateAppealId((candidate) => this.deps.store.claim(keys.idClaim(candidate)));
    const now = this.deps.clock.now();
    const draft: Appeal = {
      id,
      state: 'draft',
      platform: this.deps.room.platform,
      channel: input.channel,
      author: input.user,
      threadTs: '',
      text: input.text,
      targets: input.targets ?? enabled,
      media: [],
      cards: [],
      pendingApprovers: [],
      createdAt: now,
      updatedAt: now,
    };
    const log = this.log.child({ appeal: id });
    const hash = appealHash(draft);
    let ref: MessageRef;
    try {
      ref = await this.deps.room.postCard(input.channel, this.cardView(draft, 1, hash));
    } catch (err) {
      log.warn({ err }, 'could not post the appeal card');
      await this.audit.record({ actor: input.user, action: 'command', detail: `/appeal ${input.text} (in ${input.channel})`, reason: `the card couldn't be posted (${errorWords(err)}); nothing drafted` });
      return msg`Couldn't post the appeal card here: ${errorWords(err)}. Nothing was drafted.`;
    }
    const appeal: Appeal = { ...draft, threadTs: ref.ts, cards: [{ ts: ref.ts, hash, revision: 1, postedAt: now }] };
    await this.save(appeal);
    await this.deps.store.set<CardIndex>(keys.card(input.channel, ref.ts), { id, hash });
    await this.deps.store.set(keys.thread(input.channel, ref.ts), id);
    await this.deps.store.addToSet(keys.appeals(input.channel), id);
    log.info({ channel: input.channel, author: input.user, targets: appeal.targets, hash }, 'appeal drafted');
    await this.audit.record({ appeal: id, actor: input.user, action: 'drafted', hash, detail: `/appeal ${input.targets ? `to:${input.targets.join(',')} ` : ''}${input.text} (in ${input.channel}; card 1)` });
    await this.seed(appeal, ref);
    return undefined;
  }

  // ---------------------------------------------------------------- media

  /** Files posted in a thread: if it is an appeal's thread, they are processed and attached. */
  async addFiles(input: { channel: string; threadTs: string; user: string; files: FileSource[] }): Promise<void> {
    const id = await this.deps.store.get<string>(keys.thread(input.channel, input.threadTs));
    if (!id) return;
    const before = await this.load(id);
    if (!before) return;
    const log = this.log.child({ appeal: id });
    if (before.state !== 'draft') {
      await this.say(before, msg`${showId(id)} is ${before.state}: files posted now are not added to it. Draft a new appeal for new material.`);
      return;
    }

    const accepted: MediaItem[] = [];
    for (const file of input.files) {
      try {
        const bytes = await file.fetch();
        const media = await this.deps.media.process(bytes, file.name);
        await this.deps.store.set(keys.media(media.sha256), media.bytes.toString('base64'));
        accepted.push({
          ...(media.kind === 'video' ? { kind: 'video' as const } : {}),
          sha256: media.sha256,
          name: file.name,
          mime: media.mime,
          width: media.width ?? 0,
          height: media.height ?? 0,
          bytes: media.bytes.length,
          sourceFormat: media.sourceFormat,
          addedBy: input.user,
          addedAt: this.deps.clock.now(),
        });
        log.info({ file: file.name, kind: media.kind, sha256: media.sha256, bytes: media.bytes.length }, 'media processed');
      } catch (err) {
        await this.audit.record({ appeal: id, actor: input.user, action: 'media_refused', detail: `file ${file.name} not attached`, reason: err instanceof MediaRejected ? err.reason : 'processing failed' });
        if (err instanceof MediaRejected) {
          log.info({ file: file.name, reason: err.reason }, 'file refused');
          await this.say(before, msg`Couldn't attach ${code(file.name)} to ${showId(id)}: ${err.reason}. Nothing was added from it.`);
        } else {
          log.error({ err, file: file.name }, 'file processing failed');
          await this.say(before, msg`Couldn't attach ${code(file.name)} to ${showId(id)}: something went wrong on our side. Nothing was added from it; try posting it again.`);
        }
      }
    }
    if (accepted.length === 0) return;

    try {
      await this.lock.run(id, async (lease) => {
        const appeal = await this.load(id);
        if (!appeal) return;
        if (appeal.state !== 'draft') {
          await this.say(appeal, msg`${showId(id)} was ${appeal.state} meanwhile: ${accepted.map((m) => m.name).join(', ')} not added.`);
          return;
        }
        const max = this.deps.maxImages ?? DEFAULT_MAX_IMAGES;
        const known = new Set(appeal.media.map((m) => m.sha256));
        const fresh: MediaItem[] = [];
        const count = (video: boolean) => [...appeal.media, ...fresh].filter((m) => isVideo(m) === video).length;
        for (const m of accepted) {
          if (known.has(m.sha256)) {
            await this.say(appeal, msg`${code(m.name)} is already attached to ${showId(id)}.`);
          } else if (isVideo(m) && count(true) >= MAX_VIDEOS) {
            await this.say(appeal, msg`${showId(id)} already has a video: an appeal takes one (YouTube gets one video per post). ${code(m.name)} not added; draft another appeal for more footage.`);
          } else if (!isVideo(m) && count(false) >= max) {
            await this.say(appeal, msg`${showId(id)} already has ${max} images, the most one appeal takes: ${code(m.name)} not added.`);
          } else {
            known.add(m.sha256);
            fresh.push(m);
          }
        }
        if (fresh.length === 0) return;
        await this.postNewCard(appeal, { ...appeal, media: [...appeal.media, ...fresh] }, lease, log);
      });
    } catch (err) {
      log.error({ err }, 'adding media failed');
      await this.say(before, msg`Couldn't add ${accepted.map((m) => m.name).join(', ')} to ${showId(id)}: something went wrong on our side. The current card is the newest one that counts; post the files again.`);
    }
  }

  /** Posts a fresh card in the thread for changed content; older cards stop counting. */
  private async postNewCard(before: Appeal, changed: Appeal, lease: Lease, log: Logger): Promise<void> {
    const previous = currentCard(changed);
    const revision = (previous?.revision ?? 0) + 1;
    const hash = appealHash(changed);
    const now = this.deps.clock.now();
    const ref = await this.deps.room.postCard(changed.channel, this.cardView(changed, revision, hash), changed.threadTs);
    const appeal: Appeal = {
      ...changed,
      cards: [...changed.cards, { ts: ref.ts, hash, revision, postedAt: now }],
      pendingApprovers: [],
      pendingSeniorMissing: true,
      updatedAt: now,
    };
    await this.save(appeal, lease);
    await this.deps.store.set<CardIndex>(keys.card(appeal.channel, ref.ts), { id: appeal.id, hash });
    log.info({ revision, hash, media: appeal.media.length }, 'new card posted');
    const added = appeal.media.filter((m) => !before.media.some((b) => b.sha256 === m.sha256));
    for (const m of added) {
      await this.audit.record({ appeal: appeal.id, actor: m.addedBy, action: 'media_added', hash: m.sha256, detail: `${isVideo(m) ? 'video' : 'image'} ${m.name} (${m.mime}, ${m.bytes} bytes, metadata removed; sha256 ${m.sha256})` });
    }
    await this.audit.record({ appeal: appeal.id, actor: SYSTEM_ACTOR, action: 'card', hash, detail: `card ${revision} posted; earlier approvals no longer count` });
    if (previous) {
      await this.deps.room
        .updateCard({ channel: appeal.channel, ts: previous.ts }, { ...this.cardView(before, previous.revision, previous.hash), supersededBy: revision })
        .catch((err: unknown) => log.warn({ err }, 'could not mark the old card superseded'));
    }
    await this.seed(appeal, ref);
  }

  // ---------------------------------------------------------------- approval

  /** A reaction added to or removed from a message: drives the approval rule. */
  async reaction(input: { channel: string; ts: string; user: string; emoji: string; added: boolean }): Promise<void> {
    const { policy, room } = this.deps;
    const emoji = normalizeEmoji(input.emoji);
    if (emoji !== policy.approveEmoji && emoji !== policy.rejectEmoji) return;
    if (input.user === room.botUserId) return;
    const card = await this.deps.store.get<CardIndex>(keys.card(input.channel, input.ts));
    if (!card) return;
    const trigger = { ...input, emoji };
    const n = card.update;
    await this.evaluateWithRetries(card.id, n === undefined
      ? (attempt) => this.evaluate(card.id, trigger, attempt)
      : (attempt) => this.updates.evaluate(card.id, n, trigger, attempt));
  }

  /**
   * Evaluates the card's reactions; when that fails (Slack or the store briefly unavailable)
   * or a group's membership couldn't be read, it tries again a little later. Evaluating is
   * idempotent (it reads the reactions afresh), so a retry can never double-count.
   */
  private async evaluateWithRetries(id: string, evaluate: (attempt: { firstAttempt: boolean; lastAttempt: boolean }) => Promise<'done' | 'incomplete'>): Promise<void> {
    const delays = this.deps.recheckDelaysMs ?? DEFAULT_RECHECK_DELAYS_MS;
    const log = this.log.child({ appeal: id });
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= delays.length;
      try {
        const outcome = await evaluate({ firstAttempt: attempt === 0, lastAttempt: last });
        if (outcome !== 'incomplete' || last) return;
      } catch (err) {
        if (last) {
          log.error({ err }, 'checking approvals failed');
          const appeal = await this.load(id).catch(() => undefined);
          if (appeal) await this.say(appeal, msg`Couldn't check the approvals of ${showId(id)} just now: something went wrong on our side. The next reaction on the card checks again.`);
          return;
        }
        log.warn({ err, attempt }, 'checking approvals failed; trying again');
      }
      await new Promise((r) => setTimeout(r, delays[attempt]));
    }
  }

  private async evaluate(id: string, trigger: Reactor, attempt: { firstAttempt: boolean; lastAttempt: boolean }): Promise<'done' | 'incomplete'> {
    const { policy, room } = this.deps;
    return this.lock.run(id, async (lease) => {
      const appeal = await this.load(id);
      if (!appeal) return 'done';
      const log = this.log.child({ appeal: appeal.id });
      const notes = attempt.firstAttempt && trigger.added;
      const notify = (m: Message) =>
        room.notify(trigger.channel, trigger.user, m, appeal.threadTs).catch((err: unknown) => log.warn({ err }, 'ephemeral note failed'));
      const current = currentCard(appeal);
      const onCard = appeal.cards.find((c) => c.ts === trigger.ts);
      const audited = (reason: string) =>
        attempt.firstAttempt
          ? this.audit.record({
              appeal: appeal.id,
              actor: trigger.user,
              action: 'reaction',
              ...(onCard ? { hash: onCard.hash } : {}),
              detail: `:${trigger.emoji}: ${trigger.added ? 'added to' : 'removed from'} card ${onCard?.revision ?? '?'}`,
              reason,
            })
          : Promise.resolve();

      if (appeal.state !== 'draft') {
        // Approvals are read from the card's reactions, so a ✅ whose own event arrives after
        // an earlier event already approved the card may be one of the approvals counted.
        if (trigger.added && trigger.emoji === policy.approveEmoji && onCard && appeal.approval?.hash === onCard.hash
          && appeal.approval.approvers.includes(trigger.user) && appeal.state !== 'withdrawn') {
          await audited(`counted: one of the approvals of card ${onCard.revision} already recorded`);
          return 'done';
        }
        await audited(`not counted: the appeal is already ${appeal.state}`);
        if (notes) await notify(msg`${showId(appeal.id)} is already ${appeal.state}: your reaction changes nothing.`);
        return 'done';
      }
      if (!current || current.ts !== trigger.ts) {
        await audited(`not counted: card ${onCard?.revision ?? '?'} is out of date (the newest is card ${current?.revision ?? 0})`);
        if (notes) await notify(msg`That card of ${showId(appeal.id)} is out of date: the draft changed since. React on the newest card (card ${current?.revision ?? 0}) in the thread.`);
        log.info({ user: trigger.user, emoji: trigger.emoji, ts: trigger.ts }, 'reaction on a superseded card ignored');
        return 'done';
      }

      const reading = await readCard(room, policy, {
        channel: appeal.channel,
        ts: current.ts,
        author: appeal.author,
        contributors: [...new Set(appeal.media.map((m) => m.addedBy))],
        cardHash: current.hash,
        currentHash: appealHash(appeal),
      }, trigger);
      const { decision, unresolved } = reading;
      await audited(reactionVerdict(trigger, reading, policy));
      const note = notes ? notCountedNote(trigger, reading, policy, showId(appeal.id)) : undefined;
      if (note) {
        await notify(note);
        log.info({ user: trigger.user, emoji: trigger.emoji }, 'reaction not counted');
      }
      if (decision.status === 'pending' && decision.incomplete) {
        log.warn({ groups: unresolved }, 'approver group membership unavailable: nothing is approved until it can be read');
        if (attempt.lastAttempt || attempt.firstAttempt) {
          await this.say(appeal, msg`Couldn't read the members of approver group ${unresolved.join(', ')} from the chat platform, so ${showId(appeal.id)} can't be approved right now (it stays a draft). ${attempt.lastAttempt ? 'The next reaction on the card checks again.' : 'Checking again shortly.'}`);
        }
      }
      await this.apply(appeal, decision, lease, log);
      return decision.status === 'pending' && decision.incomplete ? 'incomplete' : 'done';
    });
  }

  private async apply(appeal: Appeal, decision: ApprovalDecision, lease: Lease, log: Logger): Promise<void> {
    const now = this.deps.clock.now();
    const card = currentCard(appeal)!;
    const ref = { channel: appeal.channel, ts: card.ts };
    switch (decision.status) {
      case 'approved': {
        const approved: Appeal = {
          ...transition(appeal, 'approved', now),
          pendingApprovers: decision.approvers,
          approval: { hash: card.hash, approvers: decision.approvers, at: now },
        };
        // In the pending set before it is approved: a crash right after saving still publishes.
        await lease.check();
        await this.deps.store.addToSet(publishKeys.pending, appeal.id);
        await this.save(approved, lease);
        log.info({ approvers: decision.approvers, hash: card.hash }, 'appeal approved');
        await this.audit.record({ appeal: appeal.id, actor: SYSTEM_ACTOR, action: 'approved', hash: card.hash, detail: `approved by ${decision.approvers.join(', ')} for card ${card.revision}` });
        await this.deps.room.updateCard(ref, this.cardView(approved, card.revision, card.hash)).catch((err: unknown) => log.warn({ err }, 'card update failed'));
        const going = this.publisher.publishable(approved).filter((o) => this.deps.networks?.has(o.network)).map((o) => NETWORK_LABELS[o.network]);
        await this.say(approved, msg`:${this.deps.policy.approveEmoji}: ${strong(`${showId(appeal.id)} approved`)} by ${userList(decision.approvers)} for exactly the content of card ${card.revision} (hash ${code(shortHash(card.hash))}).${going.length > 0 ? ` Publishing to ${going.join(', ')} now.` : ' No network is configured to publish it to.'}`);
        this.publisher.start(appeal.id);
        return;
      }
      case 'rejected': {
        const rejected: Appeal = { ...transition(appeal, 'rejected', now), rejection: { by: decision.by, at: now, hash: card.hash } };
        await this.save(rejected, lease);
        log.info({ by: decision.by }, 'appeal rejected');
        await this.audit.record({ appeal: appeal.id, actor: decision.by, action: 'rejected', hash: card.hash, detail: `rejected on card ${card.revision}` });
        await this.deps.room.updateCard(ref, this.cardView(rejected, card.revision, card.hash)).catch((err: unknown) => log.warn({ err }, 'card update failed'));
        await this.say(rejected, msg`:${this.deps.policy.rejectEmoji}: ${strong(`${showId(appeal.id)} rejected`)} by ${user(decision.by)}. Nothing will be published.`);
        return;
      }
      case 'pending': {
        if (sameMembers(decision.approvers, appeal.pendingApprovers) && decision.seniorMissing === (appeal.pendingSeniorMissing ?? true)) return;
        const pending: Appeal = { ...appeal, pendingApprovers: decision.approvers, pendingSeniorMissing: decision.seniorMissing, updatedAt: now };
        await this.save(pending, lease);
        log.info({ approvers: decision.approvers, missing: decision.missing, seniorMissing: decision.seniorMissing }, 'approvals changed');
        await this.deps.room.updateCard(ref, this.cardView(pending, card.revision, card.hash)).catch((err: unknown) => log.warn({ err }, 'card update failed'));
        return;
      }
    }
  }

  // ---------------------------------------------------------------- publishing

  /**
   * `/appeal retry <id> [network]`: publishes again where publishing failed, never where it
   * succeeded. The author or an approver may ask; the content is the approved content.
   */
  async retry(id: string, network: NetworkName | undefined, ctx: { channel: string; user: string }): Promise<Message> {
    const appeal = await this.loadIn(id, ctx.channel);
    if (!appeal) return this.unknown(id);
    const refused = await this.authorOrApprover(appeal, ctx.user, 'retry its publishing', 'Nothing was retried');
    if (refused) return refused;
    if (appeal.state === 'draft' || appeal.state === 'rejected' || appeal.state === 'withdrawn' || !appeal.approval) {
      return msg`${showId(id)} is ${appeal.state}: there is no approved publishing to retry.`;
    }
    const outgoing = this.publisher.publishable(appeal);
    if (network && !outgoing.some((o) => o.network === network)) {
      return msg`${showId(id)} isn't published on ${NETWORK_LABELS[network]}: its targets are ${appeal.targets.map((t) => NETWORK_LABELS[t]).join(', ')}.`;
    }
    const records = await this.publisher.records(appeal);
    const live = (n: NetworkName) => records.get(n)?.state === 'published' && records.get(n)?.hash === appeal.approval!.hash;
    const wanted = outgoing.map((o) => o.network).filter((n) => !network || n === network);
    const again = wanted.filter((n) => !live(n));
    if (again.length === 0) {
      const r = records.get(wanted[0]!) as Extract<PublicationRecord, { state: 'published' }> | undefined;
      return network && r
        ? msg`${showId(id)} is already live on ${NETWORK_LABELS[network]}: ${link(r.url, r.url.replace(/^https?:\/\//, ''))}. Nothing was posted again.`
        : msg`${showId(id)} is already live everywhere it goes. Nothing was posted again.`;
    }
    this.log.info({ appeal: id, by: ctx.user, networks: again }, 'retry requested');
    // Asked for in the store, so a busy worker or a crash can't lose it; it still looks for
    // the post before posting (the attempt marker), and never re-posts a published network.
    await this.deps.store.addToSet(publishKeys.pending, id);
    for (const n of again) await this.deps.store.set(publishKeys.retry(id, n), true);
    this.publisher.start(id, again, true);
    return msg`Retrying ${showId(id)} on ${again.map((n) => NETWORK_LABELS[n]).join(', ')}; the result comes in the appeal's thread.`;
  }

  /**
   * `/appeal withdraw <id> [reason]`: one person suffices (the author or an approver): the
   * appeal is withdrawn at once (nothing more is published or approved) and its posts come
   * down on every network, each confirmed in the thread.
   */
  async withdraw(id: string, reason: string | undefined, ctx: { channel: string; user: string }): Promise<Message> {
    const found = await this.loadIn(id, ctx.channel);
    if (!found) return this.unknown(id);
    const refused = await this.authorOrApprover(found, ctx.user, 'withdraw it', 'Nothing was withdrawn');
    if (refused) return refused;
    if (found.state === 'rejected') return msg`${showId(id)} was rejected: nothing of it was published.`;
    const outcome = await this.lock.run(id, async (lease) => {
      const appeal = await this.load(id);
      if (!appeal) return 'gone' as const;
      if (appeal.state === 'withdrawn') return 'already' as const;
      if (appeal.state === 'rejected') return 'rejected' as const;
      const now = this.deps.clock.now();
      const withdrawn: Appeal = { ...transition(appeal, 'withdrawn', now), withdrawal: { by: ctx.user, at: now, ...(reason ? { reason } : {}) } };
      // In the trail before anything comes down, so the record reads in the order it happened.
      await this.audit.record({ appeal: id, actor: ctx.user, action: 'withdraw', detail: `withdrawn (was ${appeal.state})`, ...(reason ? { reason } : {}) });
      // In the set first: a crash right after still takes everything down.
      await lease.check();
      await this.deps.store.addToSet(publishKeys.withdrawing, id);
      await this.save(withdrawn, lease);
      await this.deps.store.removeFromSet(publishKeys.pending, id);
      const card = currentCard(withdrawn);
      if (card) {
        await this.deps.room.updateCard({ channel: withdrawn.channel, ts: card.ts }, this.cardView(withdrawn, card.revision, card.hash)).catch(() => undefined);
      }
      await this.say(withdrawn, msg`:no_entry: ${strong(`${showId(id)} withdrawn`)} by ${user(ctx.user)}${reason ? ` (${reason})` : ''}. Its posts are being removed from every network now; nothing more will be published.`);
      return 'withdrawn' as const;
    });
    if (outcome === 'gone') return this.unknown(id);
    if (outcome === 'rejected') return msg`${showId(id)} was rejected: nothing of it was published.`;
    this.log.info({ appeal: id, by: ctx.user, reason }, 'withdrawal requested');
    void this.withdrawer.start(id);
    return outcome === 'already'
      ? msg`${showId(id)} is already withdrawn; anything still live is being removed (the thread says when each network is done).`
      : msg`Withdrawing ${showId(id)} from every network; the thread confirms each one.`;
  }

  // ---------------------------------------------------------------- updates

  /**
   * `/appeal update <id> <text>`: drafts a follow-up, posted as a reply on every network
   * where the appeal is live once two colleagues approve its card (the appeal's rule).
   */
  async draftUpdate(id: string, text: string, ctx: { channel: string; user: string }): Promise<Message> {
    const appeal = await this.loadIn(id, ctx.channel);
    if (!appeal) return this.unknown(id);
    return this.updates.draft(appeal, text, ctx.user);
  }

  // ---------------------------------------------------------------- reports

  /** `/appeal report`: the reach report, posted now in this channel. */
  async report(ctx: { channel: string; user: string }): Promise<Message> {
    try {
      await this.reporter.post(ctx.channel, 'Reach report', ctx.user);
    } catch (err) {
      this.log.warn({ err }, 'on-demand report failed');
      return msg`Couldn't post the reach report here: ${errorWords(err)}. Try again shortly.`;
    }
    return msg`Reach report posted in this channel.`;
  }

  // ---------------------------------------------------------------- audit

  /**
   * `/appeal audit <id>`: the appeal's audit trail, uploaded to its thread as JSON Lines
   * (entries exactly as stored, hashes included) and CSV. Anyone in the channel may ask:
   * the thread is already theirs to read.
   */
  async auditExport(id: string, ctx: { channel: string; user: string }): Promise<Message> {
    const appeal = await this.loadIn(id, ctx.channel);
    if (!appeal) return this.unknown(id);
    const entries = await this.audit.forAppeal(id);
    const head = await this.audit.head();
    const bad = entries.filter((e) => entryHash(e) !== e.entryHash).map((e) => e.seq);
    const stamp = new Date(this.deps.clock.now()).toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
    const name = `${appeal.id}-audit-${stamp}`;
    const first = entries[0]?.seq;
    const last = entries.at(-1)?.seq;
    const comment = msg`:ledger: ${strong(`Audit trail of ${showId(id)}`)}, asked for by ${user(ctx.user)}: ${entries.length} entries${first !== undefined ? ` (log entries ${first}–${last})` : ''}. ${
      bad.length === 0 ? 'Every entry matches its hash.' : `${bad.length} entr${bad.length === 1 ? 'y does' : 'ies do'} NOT match their hash: ${bad.slice(0, 10).join(', ')}.`
    } Log head at export: entry ${head.seq}, hash ${code(head.hash.slice(0, 16))}. The whole chain is checked with ${code('npm run audit:verify')}.`;
    try {
      await this.deps.room.upload(appeal.channel, appeal.threadTs, [
        { name: `${name}.jsonl`, title: `${showId(id)} audit trail (JSON Lines)`, bytes: Buffer.from(toJsonLines(entries)), mime: 'application/x-ndjson' },
        { name: `${name}.csv`, title: `${showId(id)} audit trail (CSV)`, bytes: Buffer.from(toCsv(entries)), mime: 'text/csv' },
      ], comment);
    } catch (err) {
      this.log.warn({ err, appeal: id }, 'audit upload failed');
      return msg`Couldn't upload the audit trail of ${showId(id)}: ${errorWords(err)}. Nothing was changed; try again shortly.`;
    }
    return msg`The audit trail of ${showId(id)} (${entries.length} entries) is in the appeal's thread.`;
  }

  // ---------------------------------------------------------------- helpers

  /** Undefined when `user` is the appeal's author or an approver; else the refusal to send. */
  private async authorOrApprover(appeal: Appeal, user: string, what: string, nothing: string): Promise<Message | undefined> {
    if (appeal.author === user) return undefined;
    const { policy, room } = this.deps;
    const { covered, unresolved } = await room.usersCoveredBy([user], [...policy.approvers, ...policy.seniors]);
    if (covered.has(user)) return undefined;
    return unresolved.length > 0
      ? msg`Couldn't check that you are an approver (the chat platform didn't give the members of ${unresolved.join(', ')}). ${nothing}; try again shortly or ask the author.`
      : msg`Only the author of ${showId(appeal.id)} or an approver can ${what}. ${nothing}.`;
  }

  cardView(appeal: Appeal, revision: number, hash: string): CardView {
    const names = new Map(appeal.media.map((m) => [m.sha256, m.name]));
    const { policy } = this.deps;
    const notes: string[] = [];
    if (appeal.targets.length === 0) notes.push('No networks are configured yet: an approval is recorded, but nothing can be published.');
    return {
      appealId: appeal.id,
      state: appeal.state,
      author: appeal.author,
      revision,
      text: appeal.text,
      outgoing: appealOutgoing(appeal).map((o) => ({
        network: o.network,
        label: NETWORK_LABELS[o.network],
        ...(o.title !== undefined ? { title: o.title } : {}),
        text: o.text,
        media: o.media.map((sha) => names.get(sha) ?? sha.slice(0, 8)),
        ...(o.weightedLength !== undefined ? { length: { weighted: o.weightedLength, limit: 280 } } : {}),
        ...(o.shortened ? { warning: `The text is ${o.shortened.from}/${o.shortened.limit} for X: X gets the shortened text shown here. Shorten the appeal to choose the cut yourself.` } : {}),
        ...(o.network === 'x' ? xWarning(appeal, o.media.length) : {}),
        ...(o.skipped ? { skipped: o.skipped } : {}),
      })),
      media: appeal.media.map((m) => ({ name: m.name, format: m.mime, width: m.width, height: m.height, bytes: m.bytes })),
      notes,
      approvals: {
        required: policy.required,
        counted: appeal.pendingApprovers,
        seniorRequired: policy.seniors.length > 0,
        seniorMissing: policy.seniors.length > 0 && appeal.state === 'draft' && (appeal.pendingSeniorMissing ?? true),
      },
      approveEmoji: policy.approveEmoji,
      rejectEmoji: policy.rejectEmoji,
      hash,
      ...(appeal.approval ? { approvedBy: appeal.approval.approvers } : {}),
      ...(appeal.rejection ? { rejectedBy: appeal.rejection.by } : {}),
    };
  }

  private async seed(appeal: Appeal, ref: MessageRef): Promise<void> {
    const { approveEmoji, rejectEmoji } = this.deps.policy;
    try {
      await this.deps.room.seedReactions(ref, [approveEmoji, rejectEmoji]);
    } catch (err) {
      this.log.warn({ err, appeal: appeal.id }, 'could not seed reactions');
      await this.say(appeal, msg`Couldn't add the reactions to the card: approvers can still react with :${approveEmoji}: themselves.`);
    }
  }

  /** Posts in the appeal's thread; a failure is logged, never thrown at the caller. */
  private async say(appeal: Appeal, message: Message): Promise<void> {
    await this.deps.room.post(appeal.channel, appeal.threadTs, message).catch((err: unknown) => {
      this.log.warn({ err, appeal: appeal.id }, 'could not post in the thread');
    });
  }

  private unknown(id: string): Message {
    return msg`No appeal ${showId(id)} in this channel.${isAppealId(id) ? '' : ' Appeal ids are 4 to 8 letters and digits, like #7K3Q.'} ${code('/appeal list')} shows recent ones.`;
  }

  async load(id: string): Promise<Appeal | undefined> {
    if (!isAppealId(id)) return undefined;
    return this.deps.store.get<Appeal>(keys.appeal(id));
  }

  private async loadIn(id: string, channel: string): Promise<Appeal | undefined> {
    const appeal = await this.load(id);
    return appeal?.channel === channel ? appeal : undefined;
  }

  /** Saves an appeal; under the appeal's lock, only while the lease is still ours. */
  private async save(appeal: Appeal, lease?: Lease): Promise<void> {
    await lease?.check();
    await this.deps.store.set(keys.appeal(appeal.id), appeal);
  }
}

/** What the card says when X can't take all of an appeal's media. */
function xWarning(appeal: Appeal, sent: number): { warning: string } | Record<string, never> {
  const images = appeal.media.filter((m) => !isVideo(m)).length;
  const videos = appeal.media.length - images;
  if (images > sent) return { warning: `X takes ${sent} images per post: the first ${sent} go to X.` };
  if (images > 0 && videos > 0) return { warning: 'X takes images or one video in a post, not both: X gets the images.' };
  return {};
}
