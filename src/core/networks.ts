/**
 * The public networks and exactly what each one would be sent for an appeal. The card
 * shows this content, the content hash covers it, and (later) publishing sends it: one
 * function so the three can never disagree.
 */
import twitterText from 'twitter-text';

export const NETWORKS = ['x', 'youtube', 'flickr', 'facebook'] as const;
export type NetworkName = (typeof NETWORKS)[number];

export const NETWORK_LABELS: Record<NetworkName, string> = {
  x: 'X',
  youtube: 'YouTube',
  flickr: 'Flickr',
  facebook: 'Facebook',
};

export function isNetworkName(s: string): s is NetworkName {
  return (NETWORKS as readonly string[]).includes(s);
}

export const X_MAX_WEIGHTED_LENGTH = 280;
/** X takes at most 4 images per post. */
export const X_MAX_IMAGES = 4;
const YOUTUBE_TITLE_MAX = 100;
const TITLE_MAX = 90;

/** The reference every post carries, so a post can be found again (and is not a hashtag). */
export const reference = (appealId: string): string => `Ref ${appealId}`;

export interface OutgoingContent {
  network: NetworkName;
  /** Title, where the network has one (YouTube, Flickr). */
  title?: string;
  /** The exact text that would be published. */
  text: string;
  /** SHA-256 of each processed image this network would get, in order. */
  media: string[];
  /** X only: twitter-text's weighted length of `text`, and of the author's text before fitting. */
  weightedLength?: number;
  /** Set when the author's text had to be shortened for this network. */
  shortened?: { from: number; limit: number };
  /** Set when this network will get nothing from this appeal as it stands. */
  skipped?: string;
}

export interface AppealContentInput {
  id: string;
  text: string;
  /** Processed images, in the order they were added: their SHA-256. */
  images: string[];
  /** Processed videos, in the order they were added: their SHA-256. */
  videos?: string[];
  targets: NetworkName[];
}

export function outgoingContent(input: AppealContentInput): OutgoingContent[] {
  return input.targets.map((network) => outgoingFor(network, input));
}

function outgoingFor(network: NetworkName, a: AppealContentInput): OutgoingContent {
  const ref = reference(a.id);
  switch (network) {
    case 'x': {
      const fitted = fitForX(a.text, ref);
      // Up to 4 images; an appeal with footage and no images: its video.
      const media = a.images.length > 0 ? a.images.slice(0, X_MAX_IMAGES) : (a.videos ?? []).slice(0, 1);
      return {
        network,
        text: fitted.text,
        media,
        weightedLength: fitted.weightedLength,
        ...(fitted.shortenedFrom !== undefined ? { shortened: { from: fitted.shortenedFrom, limit: X_MAX_WEIGHTED_LENGTH } } : {}),
      };
    }
    case 'facebook':
      return { network, text: `${a.text}\n\n${ref}`, media: a.images };
    case 'flickr':
      return {
        network,
        title: titleOf(a.text, TITLE_MAX),
        text: `${a.text}\n\n${ref}`,
        media: a.images,
        ...(a.images.length === 0 ? { skipped: 'Flickr needs at least one image' } : {}),
      };
    case 'youtube': {
      // YouTube refuses angle brackets in titles and descriptions; it takes one video a post.
      const video = a.videos?.[0];
      return {
        network,
        title: titleOf(a.text, YOUTUBE_TITLE_MAX).replace(/</g, '‹').replace(/>/g, '›'),
        text: `${a.text}\n\n${ref}`.replace(/</g, '‹').replace(/>/g, '›'),
        media: video ? [video] : [],
        ...(video ? {} : { skipped: 'YouTube needs a video' }),
      };
    }
  }
}

export function xWeightedLength(text: string): number {
  return twitterText.parseTweet(text).weightedLength;
}

/**
 * Fits the author's text and the reference into X's weighted 280. When too long, the text
 * is cut (at a word boundary where one is near) and ends with "…"; the reference is kept.
 */
export function fitForX(body: string, ref: string): { text: string; weightedLength: number; shortenedFrom?: number } {
  const join = (b: string) => `${b}\n\n${ref}`;
  const whole = join(body);
  const wholeLength = xWeightedLength(whole);
  if (wholeLength <= X_MAX_WEIGHTED_LENGTH) return { text: whole, weightedLength: wholeLength };

  // Grapheme clusters, so a cut never splits an emoji sequence (👨‍👩‍👧‍👦) or a keycap.
  const chars = Array.from(new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(body), (g) => g.segment);
  const fits = (n: number) => xWeightedLength(join(`${chars.slice(0, n).join('').trimEnd()}…`)) <= X_MAX_WEIGHTED_LENGTH;
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  let cut = chars.slice(0, lo).join('');
  const space = cut.search(/\s\S*$/);
  if (space > 0 && cut.length - space < 30) cut = cut.slice(0, space);
  const text = join(`${cut.trimEnd()}…`);
  return { text, weightedLength: xWeightedLength(text), shortenedFrom: xWeightedLength(body) };
}

function titleOf(text: string, max: number): string {
  const firstLine = text.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
  const chars = Array.from(firstLine);
  if (chars.length <= max) return firstLine;
  return `${chars.slice(0, max - 1).join('').trimEnd()}…`;
}
