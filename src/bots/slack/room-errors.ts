/**
 * Errors of the Slack adapter: a ChatError carries the Slack error code and plain words for
 * the room (never the token).
 */

export class ChatError extends Error {
  readonly code: string;
  constructor(code: string, readonly userMessage: string, options?: { cause?: unknown }) {
    super(`slack: ${code}`, options);
    this.name = 'ChatError';
    this.code = code;
  }
}

const PLAIN_WORDS: Record<string, string> = {
  not_in_channel: "I'm not a member of this channel: add me with /invite @Loudhailer, then try again",
  channel_not_found: "I can't see this channel: if it is private, add me with /invite @Loudhailer first",
  is_archived: 'this channel is archived',
  msg_too_long: 'the message is too long for Slack',
  invalid_blocks: 'Slack refused the card layout',
  ratelimited: 'Slack is rate-limiting me; try again in a minute',
  invalid_auth: 'my Slack token was refused (SLACK_BOT_TOKEN)',
  token_revoked: 'my Slack token was revoked (SLACK_BOT_TOKEN)',
  missing_scope: 'my Slack app lacks a permission (see manifest.yml)',
};

export function toChatError(err: unknown): ChatError {
  if (err instanceof ChatError) return err;
  const data = (err as { data?: { error?: string; needed?: string } } | undefined)?.data;
  const code = data?.error ?? (err as { code?: string } | undefined)?.code ?? 'unknown_error';
  let words = PLAIN_WORDS[code] ?? `Slack answered "${code}"`;
  if (code === 'missing_scope' && data?.needed) words = `my Slack app lacks the "${data.needed}" permission (see manifest.yml)`;
  return new ChatError(code, words, { cause: err });
}
