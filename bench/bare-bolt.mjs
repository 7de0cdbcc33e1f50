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
app.command(/.*/, async ({ ack }) => {
  await ack({ response_type: 'ephemeral', text: 'ok' });
});
const server = await app.start(Number(process.env.PORT ?? 0));
process.stdout.write(`${JSON.stringify({ msg: 'listening', port: server.address().port })}\n`);
process.on('SIGTERM', () => app.stop().then(() => process.exit(0)));
