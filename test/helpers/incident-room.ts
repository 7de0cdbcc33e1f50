/**
 * A service-level incident room for the core tests of what follows publishing (withdrawal,
 * updates): an in-memory SQLite store, the fake room, fake X and Facebook, approvers UAPP1-3
 * (two needed), instant withdraw pauses; and how an appeal gets published in it.
 */
import type { Appeal } from '../../src/core/appeal.js';
import { systemClock, type Logger, type Store } from '../../src/core/ports.js';
import { AppealService, keys } from '../../src/core/service.js';
import { openStore } from '../../src/store/index.js';
import { FakeNetwork } from './fake-network.js';
import { fakeMedia, FakeRoom } from './fake-room.js';

export const CHANNEL = 'CINC';
export const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

export interface IncidentRoom {
  store: Store;
  room: FakeRoom;
  x: FakeNetwork;
  fb: FakeNetwork;
  service: AppealService;
  /** Adds `user`'s reaction on the message and tells the service, as a reaction event would. */
  react(ts: string, user: string, emoji?: string): Promise<void>;
  /** Drafts `text` as UAUTHOR, approved by UAPP1 and UAPP2, and waits until it is published. */
  publishedAppeal(text: string): Promise<Appeal>;
  close(): Promise<void>;
}

export async function openIncidentRoom(): Promise<IncidentRoom> {
  const store = await openStore('sqlite://:memory:');
  const room = new FakeRoom();
  const x = new FakeNetwork('x');
  const fb = new FakeNetwork('facebook', 50);
  const service = new AppealService({
    store, room, media: fakeMedia, clock: systemClock, logger: silent,
    policy: { approvers: ['UAPP1', 'UAPP2', 'UAPP3'], seniors: [], required: 2, approveEmoji: 'white_check_mark', rejectEmoji: 'x' },
    enabledNetworks: ['x', 'facebook'],
    networks: new Map([['x' as const, x], ['facebook' as const, fb]]),
    recheckDelaysMs: [],
    withdrawSleep: async () => undefined,
  });
  const react = async (ts: string, user: string, emoji = 'white_check_mark') => {
    room.react(ts, user, emoji, true);
    await service.reaction({ channel: CHANNEL, ts, user, emoji, added: true });
  };
  return {
    store, room, x, fb, service, react,
    publishedAppeal: async (text) => {
      const before = new Set(await store.members(keys.appeals(CHANNEL)));
      await service.draft({ channel: CHANNEL, user: 'UAUTHOR', text });
      const id = (await store.members(keys.appeals(CHANNEL))).find((i) => !before.has(i))!;
      const card = (await store.get<Appeal>(keys.appeal(id)))!.cards[0]!.ts;
      await react(card, 'UAPP1');
      await react(card, 'UAPP2');
      await service.publisher.idle();
      return (await store.get<Appeal>(keys.appeal(id)))!;
    },
    close: async () => {
      await service.publisher.stop();
      await service.withdrawer.stop();
      await service.updater.stop();
      await store.close();
    },
  };
}
