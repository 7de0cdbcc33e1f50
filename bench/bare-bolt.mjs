/* global process */
// A bare Bolt app that only acks the slash command: the baseline for the ack benchmark.
// Bolt's own HTTPReceiver (signature check included), the same Web API fake, one listener.
import bolt from '@slack/bolt';

const { App, LogLevel } = bolt;
const app = new App({
  token: process.env.SLACK_BOT_TOKEN,
  signingSecret: process.env.SLACK_SIGNING_SECRET,
  botId: 'B0BOT',
  botUserId: 'UBOT',
  tokenVerificationEnabled: false,
  clientOptions: { slackApiUrl: process.env.SLACK_API_URL },
  logLevel: LogLevel.ERROR,
});
// BARE_REPLY: the text it acks with (empty: a bare ack), so it can be given the same reply as ours.
const reply = process.env.BARE_REPLY ?? '';
app.command(/.*/, async ({ ack }) => {
  await ack(reply ? { response_type: 'ephemeral', text: reply } : undefined);
});
const server = await app.start(Number(process.env.PORT ?? 0));
process.stdout.write(`${JSON.stringify({ msg: 'listening', port: server.address().port })}\n`);
process.on('SIGTERM', () => app.stop().then(() => process.exit(0)));
