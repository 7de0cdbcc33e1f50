import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { requireBuild, ROOT } from './harness.js';

const run = promisify(execFile);

/**
 * `npm run demo` is the newcomer's first command: it must play one appeal through, with no
 * accounts, and print the thread as a person reads it.
 */
describe('npm run demo', () => {
  it('plays an appeal through in rehearsal mode and prints the thread: drafted, approved, live on every network, reach, a report, withdrawn', async () => {
    requireBuild();
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'demo/run.ts', '--once'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
      timeout: 170_000,
      maxBuffer: 10 * 1024 * 1024,
    });
    const thread = stdout.slice(stdout.indexOf('The thread, as the room reads it'));
    expect(thread.length).toBeGreaterThan(0);
    for (const label of ['X', 'YouTube', 'Flickr', 'Facebook']) expect(thread).toMatch(new RegExp(`live on ${label}`));
    expect(thread).toContain('Sgt. Priya Shah');
    expect(thread).toContain('cam04-still.jpg');
    expect(thread).toMatch(/approved/);
    expect(thread).toMatch(/Reach of #[A-Z0-9]+/);
    expect(thread).toContain('withdrawn everywhere');
    expect(thread).toContain('Should the media be told?');
    expect(thread).toContain('REHEARSAL');
    expect(stdout).toMatch(/📊 reach-\d{8}-\d{4}\.png/);
    expect(stdout).toMatch(/Public side .*: http:\/\/127\.0\.0\.1:\d+\/rehearsal/);
    // Mentions and emoji are turned into what a person reads.
    expect(thread).not.toMatch(/<@U[A-Z0-9]+>/);
    expect(thread).not.toContain(':white_check_mark:');
  }, 180_000);
});
