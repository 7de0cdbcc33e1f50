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

  /** Runs `tick` now and every `intervalMs` until stopped (the timer doesn't hold the process). */
  sweepEvery(intervalMs: number, tick: () => void): void {
    const guarded = () => {
      if (!this.stopped) tick();
    };
    guarded();
    this.timer = setInterval(guarded, intervalMs);
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
    let t: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inFlight.values()]), new Promise<void>((r) => { t = setTimeout(r, graceMs); t.unref(); })]);
    clearTimeout(t);
  }
}
