/**
 * `loudhailer auth youtube|flickr|x|facebook`: runs the network's OAuth flow from a terminal and
 * ends by printing the exact lines to put in `.env`. Nothing is written anywhere else: no file,
 * no log, and no secret in any message but those final lines.
 *
 * Settings read straight from the environment (and `.env`, which main.ts loads), besides the
 * network's own credentials (asked for when unset):
 *   YouTube   GOOGLE_AUTH_URL (default https://accounts.google.com/o/oauth2/v2/auth), GOOGLE_TOKEN_URL
 *   Flickr    FLICKR_OAUTH_URL (default https://www.flickr.com/services/oauth/)
 *   X         X_API_URL (the OAuth endpoints are next to it: …/2/ → …/oauth/)
 *   Facebook  FACEBOOK_APP_ID, FACEBOOK_APP_SECRET, FACEBOOK_USER_TOKEN, FACEBOOK_PAGE_ID, FACEBOOK_GRAPH_URL
 *
 * Exit code 0 with the lines printed; 1 when the flow failed (one plain reason: a refusal says
 * which setting or step, an unreachable API says unreachable); 2 for bad usage or a malformed setting.
 */
import { AuthFailure, envValue, Session, transportCause, type AuthIO, type EnvLine } from './common.js';
import { facebookAuth } from './facebook.js';
import { flickrAuth } from './flickr.js';
import { xAuth } from './x.js';
import { youtubeAuth } from './youtube.js';

export type { AuthIO } from './common.js';

const FLOWS: Record<string, (s: Session) => Promise<EnvLine[]>> = {
  youtube: youtubeAuth,
  flickr: flickrAuth,
  x: xAuth,
  facebook: facebookAuth,
};

export const AUTH_USAGE = 'usage: loudhailer auth youtube|flickr|x|facebook (runs the network\'s sign-in and prints the lines to put in .env)';

export async function runAuth(network: string | undefined, env: NodeJS.ProcessEnv, io: AuthIO): Promise<number> {
  const flow = network !== undefined && Object.hasOwn(FLOWS, network) ? FLOWS[network] : undefined;
  if (!flow) {
    io.out.write(network === undefined ? AUTH_USAGE : `loudhailer auth: unknown network "${network.slice(0, 40)}". ${AUTH_USAGE}`);
    return 2;
  }
  const s = new Session(network!, env, io);
  try {
    const lines = await flow(s);
    s.say('');
    s.say('Put these lines in .env (replacing any old ones), keep them secret, then run `loudhailer doctor` to check them:');
    s.say('');
    for (const [name, value] of lines) s.say(`${name}=${envValue(value)}`);
    return 0;
  } catch (err) {
    if (err instanceof AuthFailure) {
      s.say(`auth ${network}: ${err.exitCode === 2 ? '' : 'failed: '}${s.redact(err.message)}`);
      return err.exitCode;
    }
    const cause = transportCause(err);
    const message = err instanceof Error ? err.message : String(err);
    s.say(`auth ${network}: failed: ${cause ? `a request got no answer (${cause})` : s.redact(message).slice(0, 300)}`);
    return 1;
  } finally {
    s.close();
  }
}
