import { describe, expect, it } from 'vitest';
import { appealHash } from '../../src/core/appeal.js';
import { fitForX, outgoingContent, X_MAX_WEIGHTED_LENGTH, xWeightedLength } from '../../src/core/networks.js';

describe('X text', () => {
  it('keeps short text whole, with the reference (not a hashtag)', () => {
    const r = fitForX('Have you seen this man?', 'Ref 7K3Q');
    expect(r.text).toBe('Have you seen this man?\n\nRef 7K3Q');
    expect(r.text).not.toMatch(/#7K3Q/);
    expect(r.shortenedFrom).toBeUndefined();
  });

  it('fits long text into the weighted 280, keeping the reference, and says it shortened it', () => {
    const long = 'Officers investigating a serious assault near the station want to speak to this man. '.repeat(6);
    const r = fitForX(long, 'Ref 7K3Q');
    expect(r.weightedLength).toBeLessThanOrEqual(X_MAX_WEIGHTED_LENGTH);
    expect(r.weightedLength).toBe(xWeightedLength(r.text));
    expect(r.text.endsWith('…\n\nRef 7K3Q')).toBe(true);
    expect(r.shortenedFrom).toBe(xWeightedLength(long));
  });

  it('never cuts inside an emoji sequence', () => {
    const family = '👨‍👩‍👧‍👦';
    for (let pad = 0; pad < 12; pad++) {
      const r = fitForX(`${'a'.repeat(pad)}${family.repeat(200)}`, 'Ref 7K3Q');
      expect(r.weightedLength).toBeLessThanOrEqual(X_MAX_WEIGHTED_LENGTH);
      const body = r.text.slice(0, r.text.indexOf('…'));
      expect(body.replace(/^a*/, '').split(family).every((x) => x === '')).toBe(true);
    }
  });

  it('counts CJK characters and URLs the way X does (twitter-text)', () => {
    expect(xWeightedLength('短')).toBe(2);
    expect(xWeightedLength('https://www.example.police.uk/appeals/very/long/path/to/page')).toBe(23);
    const r = fitForX('短'.repeat(200), 'Ref 7K3Q');
    expect(r.weightedLength).toBeLessThanOrEqual(280);
  });
});

describe('outgoing content and its hash', () => {
  const base = { id: '7K3Q', text: 'Have you seen this man?', media: [], targets: ['x', 'facebook'] as ('x' | 'facebook' | 'flickr' | 'youtube')[] };
  const img = (sha: string) => ({ sha256: sha, name: `${sha}.jpg`, mime: 'image/jpeg', width: 1, height: 1, bytes: 1, sourceFormat: 'jpeg', addedBy: 'U', addedAt: 0 });

  it('X gets at most 4 images; Flickr needs one; YouTube needs a video', () => {
    const out = outgoingContent({ id: '7K3Q', text: 't', images: ['a', 'b', 'c', 'd', 'e'], targets: ['x', 'flickr', 'youtube', 'facebook'] });
    expect(out.find((o) => o.network === 'x')!.media).toEqual(['a', 'b', 'c', 'd']);
    expect(out.find((o) => o.network === 'facebook')!.media).toHaveLength(5);
    expect(out.find((o) => o.network === 'youtube')!.skipped).toBeTruthy();
    expect(outgoingContent({ id: '7K3Q', text: 't', images: [], targets: ['flickr'] })[0]!.skipped).toBeTruthy();
  });

  it('changes with the text, the media, their order and the targets, and nothing else', () => {
    const h = appealHash(base);
    expect(appealHash({ ...base })).toBe(h);
    expect(appealHash({ ...base, targets: ['facebook', 'x'] })).toBe(h); // order of targets is not content
    expect(appealHash({ ...base, text: 'Have you seen this man? ' })).not.toBe(h);
    expect(appealHash({ ...base, targets: ['x'] })).not.toBe(h);
    const one = appealHash({ ...base, media: [img('a')] });
    expect(one).not.toBe(h);
    expect(appealHash({ ...base, media: [img('a'), img('b')] })).not.toBe(appealHash({ ...base, media: [img('b'), img('a')] }));
    expect(appealHash({ ...base, media: [{ ...img('a'), name: 'renamed.jpg' }] })).toBe(one); // names are not published
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    // With no network targeted at all, the text and the id still make the hash.
    const none = { ...base, targets: [] };
    expect(appealHash({ ...none, text: 'Something else entirely' })).not.toBe(appealHash(none));
    expect(appealHash({ ...none, id: 'BBBB' })).not.toBe(appealHash(none));
  });
});

describe('what each network gets from an appeal with images and a video', () => {
  const input = { id: '7K3Q', text: 'CCTV of the suspect', images: ['i1', 'i2', 'i3', 'i4', 'i5'], videos: ['v1'], targets: ['x', 'youtube', 'flickr', 'facebook'] as const };
  const out = Object.fromEntries(outgoingContent({ ...input, targets: [...input.targets] }).map((o) => [o.network, o]));

  it('YouTube gets the video; X up to 4 images; Flickr and Facebook the images', () => {
    expect(out.youtube!.media).toEqual(['v1']);
    expect(out.youtube!.skipped).toBeUndefined();
    expect(out.x!.media).toEqual(['i1', 'i2', 'i3', 'i4']);
    expect(out.flickr!.media).toEqual(input.images);
    expect(out.facebook!.media).toEqual(input.images);
  });

  it('X gets the video when the appeal has footage and no images', () => {
    const [x] = outgoingContent({ id: '7K3Q', text: 'Footage only', images: [], videos: ['v1'], targets: ['x'] });
    expect(x!.media).toEqual(['v1']);
  });

  it('YouTube is skipped, with the reason, when there is no video', () => {
    const [yt] = outgoingContent({ id: '7K3Q', text: 'No footage', images: ['i1'], targets: ['youtube'] });
    expect(yt!.skipped).toBe('YouTube needs a video');
    expect(yt!.media).toEqual([]);
  });

  it('the content hash covers the video', () => {
    const base = { id: '7K3Q', text: 't', targets: ['youtube' as const] };
    const media = (sha: string) => [{ kind: 'video' as const, sha256: sha, name: 'a.mp4', mime: 'video/mp4', width: 0, height: 0, bytes: 1, sourceFormat: 'mp4', addedBy: 'U', addedAt: 0 }];
    expect(appealHash({ ...base, media: media('v1') })).not.toBe(appealHash({ ...base, media: media('v2') }));
  });
});
