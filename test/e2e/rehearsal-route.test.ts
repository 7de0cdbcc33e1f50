import { afterAll, describe, expect, it } from 'vitest';
import { startRoom, type Room } from './harness.js';

/**
 * The public-side view is wired into the real app's HTTP server (dist/main.js) in rehearsal
 * mode only: with REHEARSAL=1 /rehearsal is served on PORT beside /slack/events and
 * /healthz; without it /rehearsal is a 404 like any unknown path. (The page itself is tested
 * in test/platforms/rehearsal-view.test.ts and in a browser in rehearsal-view.test.ts.)
 */
describe('e2e: /rehearsal on the app’s port', () => {
  const rooms: Room[] = [];
  afterAll(async () => {
    for (const room of rooms) await room.close();
  });

  it('is served with REHEARSAL=1, and nothing is on it before an appeal', async () => {
    const room = await startRoom({ REHEARSAL: '1' });
    rooms.push(room);
    const page = await fetch(`${room.app.url}/rehearsal`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'nonce-/);
    const html = await page.text();
    expect(html).toContain('REHEARSAL — nothing here is public');
    expect(html.split('Nothing posted yet').length - 1).toBe(4);
    const state = (await (await fetch(`${room.app.url}/rehearsal/state.json`)).json()) as { rehearsal: boolean; posts: unknown[] };
    expect(state).toMatchObject({ rehearsal: true, posts: [] });
    expect((await fetch(`${room.app.url}/rehearsal/media/nope`)).status).toBe(404);
    expect((await fetch(`${room.app.url}/healthz`)).status).toBe(200);
  });

  it('is a 404 without REHEARSAL', async () => {
    const room = await startRoom();
    rooms.push(room);
    for (const path of ['/rehearsal', '/rehearsal/state.json', '/rehearsal/media/x']) {
      const res = await fetch(`${room.app.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text(), path).not.toContain('REHEARSAL');
    }
    expect((await fetch(`${room.app.url}/healthz`)).status).toBe(200);
  });
});
