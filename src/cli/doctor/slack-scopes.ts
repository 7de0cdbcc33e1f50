/**
 * The bot-token scopes the bot needs: exactly manifest.yml's `oauth_config.scopes.bot`
 * (test/cli/doctor.test.ts checks the two agree). Kept in code because the built image
 * carries dist/ only, not the manifest.
 */
export const REQUIRED_BOT_SCOPES: readonly string[] = Object.freeze([
  'commands',
  'chat:write',
  'reactions:write',
  'reactions:read',
  'channels:history',
  'groups:history',
  'files:read',
  'files:write',
  'usergroups:read',
]);
