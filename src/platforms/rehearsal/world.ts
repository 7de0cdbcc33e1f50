/**
 * The rehearsal "public side": what the public would see on each network while an exercise
 * runs with REHEARSAL=1. The simulated networks (simulator.ts) write it; the public-side
 * view (`GET /rehearsal` on PORT) reads it. In memory only: a rehearsal leaves nothing
 * behind, and nothing in it ever reaches a real network.
 */
import type { NetworkName } from '../../core/networks.js';

export interface WorldMedia {
  /** Stable id within the world (served at /rehearsal/media/<id>). */
  id: string;
  mime: string;
  bytes: Buffer;
  name: string;
}

export interface WorldReply {
  id: string;
  text: string;
  at: number;
  withdrawnAt?: number;
}

/** One public post as a network shows it: an X post, a YouTube video, a Flickr album or photo, a Facebook post. */
export interface WorldPost {
  network: NetworkName;
  postId: string;
  /** The (simulated) public link. */
  url: string;
  /** "post", "video", "album", "photo". */
  kind: 'post' | 'video' | 'album' | 'photo';
  title?: string;
  text: string;
  media: WorldMedia[];
  createdAt: number;
  /** Views now (grows with time, fast early, decaying). */
  views: number;
  /** Views over time, oldest first. */
  history: Array<{ at: number; views: number }>;
  replies: WorldReply[];
  /** Set once withdrawn: the public no longer sees it. */
  withdrawnAt?: number;
}

export interface WorldListener {
  (event: { type: 'post' | 'views' | 'reply' | 'withdrawn'; post: WorldPost }): void;
}

/** The in-memory public side of a rehearsal. */
export class RehearsalWorld {
  private readonly byKey = new Map<string, WorldPost>();
  private readonly mediaById = new Map<string, WorldMedia>();
  private readonly listeners = new Set<WorldListener>();
  private readonly refreshers = new Set<() => void>();

  add(post: WorldPost): void {
    this.byKey.set(key(post.network, post.postId), post);
    for (const m of post.media) this.mediaById.set(m.id, m);
    this.emit('post', post);
  }

  get(network: NetworkName, postId: string): WorldPost | undefined {
    return this.byKey.get(key(network, postId));
  }

  /** Every post, newest first (withdrawn ones included, marked). */
  posts(): WorldPost[] {
    return [...this.byKey.values()].sort((a, b) => b.createdAt - a.createdAt);
  }

  media(id: string): WorldMedia | undefined {
    return this.mediaById.get(id);
  }

  /** Tells listeners a post changed (views, a reply, withdrawn). */
  changed(type: 'views' | 'reply' | 'withdrawn', post: WorldPost): void {
    this.emit(type, post);
  }

  /**
   * Brings every live post's views up to now (the simulators compute them from the time
   * since each post went up), telling listeners of those that changed. The app calls it
   * every few seconds, so the counters move between two reach reads; a reader may call it
   * too before reading.
   */
  refresh(): void {
    for (const r of this.refreshers) {
      try {
        r();
      } catch {
        // a simulator's failure never breaks a reader
      }
    }
  }

  /** Registers what `refresh` runs (each simulated network registers one). */
  onRefresh(refresher: () => void): () => void {
    this.refreshers.add(refresher);
    return () => this.refreshers.delete(refresher);
  }

  subscribe(listener: WorldListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(type: 'post' | 'views' | 'reply' | 'withdrawn', post: WorldPost): void {
    for (const l of this.listeners) {
      try {
        l({ type, post });
      } catch {
        // a listener's failure never breaks a simulated network
      }
    }
  }
}

function key(network: NetworkName, postId: string): string {
  return `${network}|${postId}`;
}
