/**
 * The network registry: one line per network. A network is on when its credentials are
 * set (config.ts); adding one is a new file here, a line below, a fake and a contract run.
 */
import type { Config } from '../config.js';
import type { NetworkName } from '../core/networks.js';
import type { Logger, Network } from '../core/ports.js';
import { createFacebook } from './facebook/index.js';
import { createFlickr } from './flickr/index.js';
import { createX } from './x/index.js';
import { createYouTube } from './youtube/index.js';

export function createNetworks(config: Config, logger: Logger): Map<NetworkName, Network> {
  const networks = new Map<NetworkName, Network>();
  if (config.networks.x) networks.set('x', createX(config.networks.x, { logger: logger.child({ network: 'x' }) }));
  if (config.networks.youtube) networks.set('youtube', createYouTube(config.networks.youtube, { logger: logger.child({ network: 'youtube' }) }));
  if (config.networks.flickr) networks.set('flickr', createFlickr(config.networks.flickr, { logger: logger.child({ network: 'flickr' }) }));
  if (config.networks.facebook) networks.set('facebook', createFacebook(config.networks.facebook, { logger: logger.child({ network: 'facebook' }) }));
  return networks;
}
