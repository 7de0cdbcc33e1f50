/**
 * The network registry: in rehearsal mode the real adapters are never loaded nor
 * constructed, whatever credentials are set; every network is a simulator instead, and
 * start-up says which real credentials it ignores.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { NETWORKS } from '../../src/core/networks.js';
import { createNetworks, rehearsalNotice } from '../../src/platforms/index.js';
import { RehearsalWorld } from '../../src/platforms/rehearsal/world.js';
import { captureLogger } from './contract.js';

/** Which real adapter modules were imported, and which adapters constructed. */
const real = vi.hoisted(() => ({ imported: [] as string[], constructed: [] as string[] }));

function stubModule(name: string, factory: string) {
  real.imported.push(name);
  return {
    [factory]: () => {
      real.constructed.push(name);
      return { name, reachBatchSize: 1, publish: () => { throw new Error(`the real ${name} adapter was used`); } };
    },
  };
}

vi.mock('../../src/platforms/x/index.js', () => stubModule('x', 'createX'));
vi.mock('../../src/platforms/youtube/index.js', () => stubModule('youtube', 'createYouTube'));
vi.mock('../../src/platforms/flickr/index.js', () => stubModule('flickr', 'createFlickr'));
vi.mock('../../src/platforms/facebook/index.js', () => stubModule('facebook', 'createFacebook'));

const slack = { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 's', APPROVERS: 'U1,U2' };
const allCredentials = {
  X_APP_KEY: 'k', X_APP_SECRET: 'REAL-X-SECRET', X_ACCESS_TOKEN: 'REAL-X-TOKEN', X_ACCESS_SECRET: 'REAL-X-ACCESS-SECRET', X_API_URL: 'http://127.0.0.1:9/2/',
  YOUTUBE_CLIENT_ID: 'id', YOUTUBE_CLIENT_SECRET: 'REAL-YT-SECRET', YOUTUBE_REFRESH_TOKEN: 'REAL-YT-REFRESH',
  FLICKR_API_KEY: 'k', FLICKR_API_SECRET: 'REAL-FLICKR-SECRET', FLICKR_OAUTH_TOKEN: 'REAL-FLICKR-TOKEN', FLICKR_OAUTH_SECRET: 'REAL-FLICKR-OAUTH',
  FACEBOOK_PAGE_ID: '123', FACEBOOK_PAGE_TOKEN: 'REAL-FB-TOKEN',
};

describe('createNetworks', () => {
  beforeEach(() => {
    real.imported.length = 0;
    real.constructed.length = 0;
  });

  it('REHEARSAL=1 with every real credential set: four simulators, the real adapters never imported nor constructed, one warning naming what is ignored', async () => {
    const config = loadConfig({ ...slack, ...allCredentials, REHEARSAL: '1' });
    const logger = captureLogger();
    const world = new RehearsalWorld();
    const networks = await createNetworks(config, logger, { world });
    expect([...networks.keys()]).toEqual([...NETWORKS]);
    for (const n of networks.values()) expect((n as { simulated?: boolean }).simulated).toBe(true);
    expect(real.imported).toEqual([]);
    expect(real.constructed).toEqual([]);

    const warnings = logger.lines.filter((l) => l.level === 'warn');
    expect(warnings.map((l) => l.msg)).toEqual(['REHEARSAL=1: using simulated networks; the real X/YouTube/Flickr/Facebook credentials are ignored']);
    expect(JSON.stringify(logger.lines)).not.toMatch(/REAL-/);

    // They write into the world they were given.
    await networks.get('facebook')!.publish({ appealId: '7K3Q', hash: 'h', text: 'Appeal.\n\nRef 7K3Q', media: [], reference: 'Ref 7K3Q' });
    expect(world.posts().map((p) => p.network)).toEqual(['facebook']);
  });

  it('REHEARSAL=1 with no credentials at all: all four simulated all the same', async () => {
    const config = loadConfig({ ...slack, REHEARSAL: '1', REHEARSAL_FAILURES: 'flickr' });
    const logger = captureLogger();
    const networks = await createNetworks(config, logger);
    expect([...networks.keys()]).toEqual([...NETWORKS]);
    expect(real.imported).toEqual([]);
    expect(rehearsalNotice(config)).toBe('REHEARSAL=1: using simulated networks; nothing is published');
    expect(logger.lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([rehearsalNotice(config)]);
    // REHEARSAL_FAILURES reaches the simulators.
    const flickr = networks.get('flickr')!;
    const png = { sha256: 'x', bytes: Buffer.from('png'), mime: 'image/png', name: 'a.png' };
    await expect(flickr.publish({ appealId: 'AB12', hash: 'h', text: 'A.\n\nRef AB12', media: [png], reference: 'Ref AB12' })).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('without REHEARSAL the real adapters are loaded and constructed, only for the networks with credentials (the mocks above are live)', async () => {
    const config = loadConfig({ ...slack, X_APP_KEY: 'k', X_APP_SECRET: 's', X_ACCESS_TOKEN: 't', X_ACCESS_SECRET: 'a', FACEBOOK_PAGE_ID: '1', FACEBOOK_PAGE_TOKEN: 'p' });
    const networks = await createNetworks(config, captureLogger());
    expect([...networks.keys()]).toEqual(['x', 'facebook']);
    expect(real.constructed).toEqual(['x', 'facebook']);
    expect(real.imported).toEqual(expect.arrayContaining(['x', 'facebook']));
    expect(real.imported).not.toContain('youtube');
  });
});
