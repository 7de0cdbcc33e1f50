/**
 * An in-memory Network for core tests: it keeps posts like a network does, counts calls,
 * and can be told to fail. Adapters are tested against wire-level fakes instead.
 */
import type { NetworkName } from '../../src/core/networks.js';
import { carriesReference } from '../../src/platforms/reference.js';
import { NetworkError, type Network, type PublishRequest, type PublishedPost, type ReachCount } from '../../src/core/ports.js';

export interface FakePost {
  id: string;
  text: string;
  media: string[];
  createdAt: number;
  deleted: boolean;
}

/** A reply made by `reply` (live: withdrawing it removes it from `replies`). */
export interface FakeReply {
  /** The parent post's id. */
  parent: string;
  text: string;
  /** The reply's own id (what `reply` returned as `postId`). */
  postId: string;
}

export class FakeNetwork implements Network {
  readonly posts: FakePost[] = [];
  readonly views = new Map<string, number>();
  /** Live replies, oldest first. */
  readonly replies: FakeReply[] = [];
  calls = { publish: 0, find: 0, reach: 0, withdraw: 0, reply: 0 };
  readIds = 0;
  /** Errors thrown by the next withdraw calls (of posts or replies), in order. */
  readonly withdrawErrors: Error[] = [];
  /** Awaited inside reply before anything else: a test can hold a reply in flight. */
  replyGate: (() => Promise<void>) | undefined;
  /** Errors thrown by the next reply calls, in order (nothing is replied then). */
  readonly replyErrors: Error[] = [];
  /** Errors thrown by the next publish calls, in order. */
  readonly publishErrors: NetworkError[] = [];
  /** When set, publish creates the post and then throws this (the answer was lost). */
  loseAnswer: NetworkError | undefined;
  /** Pause inside publish, to let concurrent callers pile up. */
  delayMs = 0;
  /** Awaited inside publish before anything else: a test can hold one appeal's publish open. */
  gate: ((req: PublishRequest) => Promise<void>) | undefined;
  /** When set, publish creates the post and waits on this before answering (the answer is slow). */
  answerGate: ((req: PublishRequest) => Promise<void>) | undefined;
  private seq = 1000;

  constructor(
    readonly name: NetworkName = 'x',
    readonly reachBatchSize = 100,
    private readonly now: () => number = Date.now,
  ) {}

  async publish(req: PublishRequest): Promise<PublishedPost> {
    this.calls.publish++;
    await this.gate?.(req);
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const err = this.publishErrors.shift();
    if (err) throw err;
    await req.fence?.();
    const post: FakePost = { id: String(++this.seq), text: req.text, media: req.media.map((m) => m.sha256), createdAt: this.now(), deleted: false };
    this.posts.push(post);
    await this.answerGate?.(req);
    if (this.loseAnswer) {
      const lost = this.loseAnswer;
      this.loseAnswer = undefined;
      throw lost;
    }
    return this.toPublished(post);
  }

  async findPublished(reference: string, since: number): Promise<PublishedPost | undefined> {
    this.calls.find++;
    const post = [...this.posts].reverse().find((p) => !p.deleted && p.createdAt >= since && carriesReference(p.text, reference));
    return post ? this.toPublished(post) : undefined;
  }

  async reach(postIds: readonly string[]): Promise<Map<string, ReachCount>> {
    if (postIds.length > this.reachBatchSize) throw new Error(`${postIds.length} ids in one call`);
    this.calls.reach++;
    this.readIds += postIds.length;
    const out = new Map<string, ReachCount>();
    for (const id of postIds) {
      const p = this.posts.find((x) => x.id === id && !x.deleted);
      if (p) out.set(id, { count: this.views.get(id) ?? 0, kind: 'views' });
    }
    return out;
  }

  /** A reply to a live post; a post that is gone (or never was) is a permanent not_found. */
  async reply(parent: PublishedPost, text: string): Promise<PublishedPost> {
    this.calls.reply++;
    await this.replyGate?.();
    const err = this.replyErrors.shift();
    if (err) throw err;
    if (!this.posts.some((p) => p.id === parent.postId && !p.deleted)) {
      throw new NetworkError({ network: this.name, code: 'not_found', userMessage: 'the post being replied to is gone', permanent: true, status: 404 });
    }
    const postId = String(++this.seq);
    this.replies.push({ parent: parent.postId, text, postId });
    return { postId, url: `https://x.example/status/${postId}`, createdAt: this.now(), extra: { replyTo: [parent.postId] } };
  }

  /** Deletes a post, or a reply (`extra.replyTo`); already gone is fine. */
  async withdraw(post: PublishedPost): Promise<void> {
    this.calls.withdraw++;
    const err = this.withdrawErrors.shift();
    if (err) throw err;
    if (post.extra?.replyTo?.length) {
      const i = this.replies.findIndex((r) => r.postId === post.postId);
      if (i >= 0) this.replies.splice(i, 1);
      return;
    }
    const p = this.posts.find((x) => x.id === post.postId);
    if (p) p.deleted = true;
  }

  /** Adds a live post directly (for reach tests). */
  seed(text: string, createdAt = this.now()): FakePost {
    const post: FakePost = { id: String(++this.seq), text, media: [], createdAt, deleted: false };
    this.posts.push(post);
    return post;
  }

  private toPublished(p: FakePost): PublishedPost {
    return { postId: p.id, url: `https://x.example/status/${p.id}`, createdAt: p.createdAt };
  }
}

export const rateLimited = (retryAfterMs: number) =>
  new NetworkError({ network: 'x', code: 'rate_limited', userMessage: 'X is rate-limiting posts', permanent: false, retryAfterMs });
export const duplicate = () =>
  new NetworkError({ network: 'x', code: 'duplicate', userMessage: 'X refused the post as a duplicate', permanent: true, status: 403 });
export const unavailable = () =>
  new NetworkError({ network: 'x', code: 'unavailable', userMessage: 'X is not answering', permanent: false, ambiguous: true, status: 503 });
