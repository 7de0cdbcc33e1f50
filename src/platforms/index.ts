/**
 * The network registry: one line per network. A network is on when its credentials are
 * set (config.ts); adding one is a new file here, a line below, a fake and a contract run.
 *
 * Rehearsal mode (REHEARSAL=1) is decided first: every network is then a simulator
 * (rehearsal/simulator.ts) writing into the rehearsal world, whatever credentials are set,
 * and the real adapters' modules are never even imported (they load only on the real
 * branch), so nothing in this mode can reach a real network.
 */
import { enabledNetworks, type Config } from '../config.js';
import { NETWORK_LABELS, NETWORKS, type NetworkName } from '../core/networks.js';
import { systemClock, type Clock, type Logger, type Network } from '../core/ports.js';
import { createSimulatedNetwork } from './rehearsal/simulator.js';
import { RehearsalWorld } from './rehearsal/world.js';

export interface NetworkSetup {
  /** Rehearsal mode only: the public side the simulators write to (a new one when not given). */
  world?: RehearsalWorld;
  clock?: Clock;
  /** Draws the simulated posts' growth (default Math.random). */
  random?: () => number;
  /** The public-side view's address, for the simulated posts' links. */
  publicUrl?: () => string;
}

export async function createNetworks(config: Config, logger: Logger, setup: NetworkSetup = {}): Promise<Map<NetworkName, Network>> {
  if (config.rehearsal) return createRehearsalNetworks(config, logger, setup);

  const networks = new Map<NetworkName, Network>();
  if (config.networks.x) {
    const { createX } = await import('./x/index.js');
    networks.set('x', createX(config.networks.x, { logger: logger.child({ network: 'x' }) }));
  }
  if (config.networks.youtube) {
    const { createYouTube } = await import('./youtube/index.js');
    networks.set('youtube', createYouTube(config.networks.youtube, { logger: logger.child({ network: 'youtube' }) }));
  }
  if (config.networks.flickr) {
    const { createFlickr } = await import('./flickr/index.js');
    networks.set('flickr', createFlickr(config.networks.flickr, { logger: logger.child({ network: 'flickr' }) }));
  }
  if (config.networks.facebook) {
    const { createFacebook } = await import('./facebook/index.js');
    networks.set('facebook', createFacebook(config.networks.facebook, { logger: logger.child({ network: 'facebook' }) }));
  }
  return networks;
}

/** The start-up line of rehearsal mode: it names the real credentials it ignores. */
export function rehearsalNotice(config: Config): string {
  const ignored = enabledNetworks(config).map((n) => NETWORK_LABELS[n]);
  return ignored.length > 0
    ? `REHEARSAL=1: using simulated networks; the real ${ignored.join('/')} credentials are ignored`
    : 'REHEARSAL=1: using simulated networks; nothing is published';
}

function createRehearsalNetworks(config: Config, logger: Logger, setup: NetworkSetup): Map<NetworkName, Network> {
  const rehearsal = config.rehearsal!;
  const world = setup.world ?? new RehearsalWorld();
  const ignored = enabledNetworks(config);
  logger.warn({ rehearsal: true, simulated: NETWORKS, ignoredCredentials: ignored, failures: rehearsal.failures }, rehearsalNotice(config));
  const networks = new Map<NetworkName, Network>();
  for (const name of NETWORKS) {
    networks.set(name, createSimulatedNetwork(name, {
      world,
      clock: setup.clock ?? systemClock,
      failures: rehearsal.failures,
      logger: logger.child({ network: name, simulated: true }),
      ...(setup.random ? { random: setup.random } : {}),
      ...(setup.publicUrl ? { publicUrl: setup.publicUrl } : {}),
    }));
  }
  return networks;
}
