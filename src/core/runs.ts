/**
 * Background runs keyed by id, as the withdrawer and the updater keep them: one run per key
 * at a time in this process, a sweeper that re-reads the store every few seconds (so a
 * restart or another replica's crash carries on), and a stop that waits a bounded time.
 */
export class Runs {
  readonly inFlight = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  get isStopped(): boolean {
    return this.stopped;
  }

  /**
   * Now and every `intervalMs` until stopped (the timer doesn't hold the process): reads the
   * members of a set in the store and starts each; a read that fails goes to `onError`.
   */
  sweepMembers(intervalMs: number, members: () => Promise<string[]>, start: (member: string) => void, onError: (err: unknown) => void): void {
    const tick = () => {
      if (!this.stopped) members().then((ms) => ms.forEach(start), onError);
    };
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  /** Waits until no run is in flight. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()]);
  }

  /** No new runs; waits for those in flight, at most `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await waitAtMost(Promise.allSettled([...this.inFlight.values()]), graceMs);
  }
}

/**
 * Waits for `work` to settle, but at most `ms` (the timer doesn't hold the process): how a
 * shutdown waits for work in flight without being held up by a long rate-limit wait.
 */
export async function waitAtMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((r) => {
    timer = setTimeout(r, ms);
    timer.unref();
  });
  try {
    await Promise.race([work.then(() => undefined, () => undefined), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
