/**
 * Scheduled reach reports: node-cron fires `REPORT_CRON` in `TZ`; each firing hands its
 * slot time to the core's Reporter, which makes sure one replica posts it and none posts
 * it late. node-cron's own warnings go to our logger.
 */
import cron from 'node-cron';
import type { Logger } from './core/ports.js';
import type { Reporter } from './core/report.js';
import { waitAtMost } from './core/runs.js';

export interface ReportSchedule {
  /** The next slot, for logs. */
  next(): Date | null;
  /** Stops firing; waits at most `graceMs` for a report in flight. */
  stop(graceMs?: number): Promise<void>;
}

export function scheduleReports(opts: { cron: string; timeZone: string; channel: string; reporter: Reporter; logger: Logger }): ReportSchedule {
  const log = opts.logger.child({ component: 'reports' });
  const running = new Set<Promise<unknown>>();
  const task = cron.schedule(
    opts.cron,
    (ctx) => {
      const run = opts.reporter.runSlot(ctx.date.getTime(), opts.channel).catch((err: unknown) => log.error({ err }, 'scheduled report failed'));
      running.add(run);
      void run.finally(() => running.delete(run));
      return run;
    },
    {
      name: 'reach-report',
      timezone: opts.timeZone,
      logger: {
        info: (m) => log.debug({ cron: m }, 'node-cron'),
        debug: (m) => log.debug({ cron: String(m) }, 'node-cron'),
        warn: (m) => log.warn({ cron: m }, 'node-cron'),
        error: (m, err) => log.error({ cron: String(m), err }, 'node-cron'),
      },
    },
  );
  return {
    next: () => task.getNextRun(),
    stop: async (graceMs = 5_000) => {
      await task.destroy();
      // A report in flight may finish; one waiting to retry is not waited for.
      await waitAtMost(Promise.allSettled([...running]), graceMs);
    },
  };
}

/** Whether node-cron understands `expression` (5 fields, or 6 with seconds first). */
export function isCronExpression(expression: string): boolean {
  return cron.validate(expression);
}
