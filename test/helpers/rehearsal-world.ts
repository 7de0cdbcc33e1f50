/**
 * A RehearsalWorld filled directly, as the simulated networks would fill it after one appeal
 * went out everywhere: an X post with two images, a YouTube video, a Flickr album of three
 * photos and a Facebook post. Images are generated (gradients and flat colours): no real
 * person. Used by the view's unit tests and its real-browser test.
 */
import sharp from 'sharp';
import type { NetworkName } from '../../src/core/networks.js';
import { RehearsalWorld, type WorldMedia, type WorldPost } from '../../src/platforms/rehearsal/world.js';
import { plainPng } from './images.js';

export const APPEAL_ID = '7K3Q';
export const APPEAL_TEXT = 'Have you seen this man? He was last seen near Kings Cross at 14:20 wearing a red jacket. Call 101 quoting Ref 7K3Q.';

/** A flat-colour PNG with a lighter band, so a screenshot shows it is really drawn. */
export async function bandedPng(width: number, height: number, background: string): Promise<Buffer> {
  const band = await sharp({ create: { width, height: Math.max(1, Math.floor(height / 4)), channels: 3, background: '#ffffff' } }).png().toBuffer();
  return sharp({ create: { width, height, channels: 3, background } })
    .composite([{ input: band, top: Math.floor(height / 3), left: 0 }])
    .png()
    .toBuffer();
}

export function media(id: string, bytes: Buffer, mime = 'image/png', name = `${id}.png`): WorldMedia {
  return { id, mime, bytes, name };
}

export function post(network: NetworkName, postId: string, fields: Partial<WorldPost> = {}): WorldPost {
  const createdAt = fields.createdAt ?? 1_700_000_000_000;
  return {
    network,
    postId,
    url: `https://rehearsal.invalid/${network}/${postId}`,
    kind: network === 'youtube' ? 'video' : network === 'flickr' ? 'album' : 'post',
    text: APPEAL_TEXT,
    media: [],
    createdAt,
    views: 0,
    history: [{ at: createdAt, views: 0 }],
    replies: [],
    ...fields,
  };
}

export interface AppealWorld {
  world: RehearsalWorld;
  posts: Record<NetworkName, WorldPost>;
  /** Sets a post's views now (and its history), and tells the world. */
  setViews(network: NetworkName, views: number, at?: number): void;
}

/** One appeal, live on all four networks, posted at `createdAt`. */
export async function appealWorld(createdAt = 1_700_000_000_000): Promise<AppealWorld> {
  const world = new RehearsalWorld();
  const still1 = media('m-still-1', await bandedPng(320, 240, '#c0392b'), 'image/png', 'cam04-still.png');
  const still2 = media('m-still-2', await bandedPng(320, 240, '#2471a3'), 'image/png', 'cam05-still.png');
  const still3 = media('m-still-3', await plainPng(240, 240), 'image/png', 'cam06-still.png');
  const history = (views: number) => [{ at: createdAt, views: 0 }, { at: createdAt + 60_000, views: Math.floor(views / 2) }, { at: createdAt + 120_000, views }];
  const posts: Record<NetworkName, WorldPost> = {
    x: post('x', '1790000000000000001', { createdAt, media: [still1, still2], views: 1234, history: history(1234) }),
    youtube: post('youtube', 'dQw4w9WgXcQ', { createdAt: createdAt + 1, title: `Appeal: have you seen this man? (Ref ${APPEAL_ID})`, media: [still1], views: 321, history: history(321) }),
    flickr: post('flickr', '72177720300000000', { createdAt: createdAt + 2, kind: 'album', title: `Appeal Ref ${APPEAL_ID}`, media: [still1, still2, still3], views: 87, history: history(87) }),
    facebook: post('facebook', '1234567890_987654321', { createdAt: createdAt + 3, media: [still1], views: 4321, history: history(4321) }),
  };
  for (const p of Object.values(posts)) world.add(p);
  return {
    world,
    posts,
    setViews(network, views, at) {
      const p = posts[network];
      p.views = views;
      p.history.push({ at: at ?? (p.history[p.history.length - 1]?.at ?? createdAt) + 60_000, views });
      world.changed('views', p);
    },
  };
}
