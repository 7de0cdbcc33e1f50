/**
 * `npm run bench`: prints figures, asserts nothing. `BENCH=slash,reach,publish,fanout,withdraw,audit`
 * (the default: all) chooses which.
 *
 * - slash: slash-command acknowledgement latency and throughput against bare Bolt apps.
 * - reach: one reach refresh for 1,000 and 10,000 live appeals against fake X and fake
 *   Slack (lookup calls vs the ⌈n/100⌉ floor, chat.update calls, wall time, RSS), and one
 *   appeal's X reads over 14 days on a simulated clock.
 * - publish: the real app, from the second approval to the post's link in the thread.
 * - fanout: the real app publishing to each network alone and to all four at once, with
 *   each fake answering after a fixed delay.
 * - withdraw: the real app taking an appeal down from all four networks, each fake answering
 *   its deletes after a fixed delay: total time against the slowest network's own time.
 * - audit: audit-trail appends per second, and `verifyAudit` over 100,000 entries.
 */
import { auditBench } from './audit.js';
import { fanoutBench } from './fanout.js';
import { publishBench } from './publish.js';
import { reachBench } from './reach.js';
import { slashBench } from './slash.js';
import { withdrawBench } from './withdraw.js';

const all = { slash: slashBench, reach: reachBench, publish: publishBench, fanout: fanoutBench, withdraw: withdrawBench, audit: auditBench };
const chosen = (process.env.BENCH ?? Object.keys(all).join(',')).split(',').map((s) => s.trim()) as Array<keyof typeof all>;

async function main(): Promise<void> {
  for (const name of chosen) {
    const run = all[name];
    if (!run) throw new Error(`BENCH: unknown benchmark "${name}" (${Object.keys(all).join(', ')})`);
    console.log(`\n=== ${name} ===`);
    await run();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
