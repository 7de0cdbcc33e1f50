import { createHash, randomBytes } from 'node:crypto';
import ExifReader from 'exifreader';
import sharp, { type PngOptions } from 'sharp';
import { describe, expect, it } from 'vitest';
import { MediaRejected, type ProcessedImage } from '../../src/core/ports.js';
import { MAX_OUTPUT_BYTES, createImageProcessor } from '../../src/media/images.js';
import {
  FIXTURE_CAMERA,
  animatedGif,
  animatedWebp,
  htmlAsJpg,
  jpegWithGps,
  noisyJpeg,
  noisyPng,
  pdfBytes,
  plainJpeg,
  plainPng,
  pngBomb,
  stillGif,
  truncatedJpeg,
  webp,
} from '../helpers/images.js';

const processor = createImageProcessor();

/** Awaits a refusal and returns it; fails the test if anything else (or nothing) was thrown. */
async function rejection(promise: Promise<unknown>): Promise<MediaRejected> {
  let thrown: unknown;
  try {
    await promise;
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(MediaRejected);
  const rejected = thrown as MediaRejected;
  // Words for a person: one line, no stack, no decoder jargon, no server paths.
  expect(rejected.reason).toBe(rejected.message);
  expect(rejected.reason).not.toMatch(/\n|vips|sharp|libpng|libjpeg|\/tmp|\/work|node_modules|\bat \w+ \(/i);
  return rejected;
}

function expandedTags(bytes: Buffer): ExifReader.ExpandedTags {
  try {
    return ExifReader.load(bytes, { expanded: true });
  } catch (error) {
    if (error instanceof Error && error.name === 'MetadataMissingError') return {};
    throw error;
  }
}

/** The markers of a JPEG's header segments, up to the first scan (SOS). */
function jpegMarkers(bytes: Buffer): number[] {
  expect(bytes.subarray(0, 2).toString('hex')).toBe('ffd8');
  const markers: number[] = [];
  let at = 2;
  while (at + 4 <= bytes.length) {
    expect(bytes[at]).toBe(0xff);
    const marker = bytes[at + 1] ?? 0;
    markers.push(marker);
    if (marker === 0xda) break; // SOS: entropy-coded data follows
    at += 2 + bytes.readUInt16BE(at + 2);
  }
  return markers;
}

async function pixel(bytes: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [...data.subarray(i, i + info.channels)];
}

function expectValidResult(result: ProcessedImage): void {
  expect(result.kind).toBe('image');
  expect(result.sha256).toBe(createHash('sha256').update(result.bytes).digest('hex'));
  expect(result.mime).toBe(result.format === 'jpeg' ? 'image/jpeg' : 'image/png');
}

/**
 * The pipeline as it was before the size limit, written out independently: one decode and one
 * encode (JPEG quality 88 flattened onto white, or a default PNG) unless told otherwise.
 */
async function singlePass(
  input: Buffer,
  output: 'jpeg' | 'png',
  encode: { quality?: number; png?: PngOptions } = {},
): Promise<Buffer> {
  const pipeline = sharp(input).autoOrient().toColourspace('srgb');
  return output === 'jpeg'
    ? pipeline.flatten({ background: '#ffffff' }).jpeg({ quality: encode.quality ?? 88, mozjpeg: false }).toBuffer()
    : pipeline.png(encode.png).toBuffer();
}

/** No APP1..APP15 segment (EXIF, XMP, ICC, IPTC…) and no COM segment at all. */
function expectNoJpegMetadataSegments(bytes: Buffer): void {
  expect(jpegMarkers(bytes).filter((m) => (m >= 0xe1 && m <= 0xef) || m === 0xfe)).toEqual([]);
}

async function expectNoMetadata(bytes: Buffer): Promise<void> {
  const meta = await sharp(bytes).metadata();
  expect(meta.exif).toBeUndefined();
  expect(meta.xmp).toBeUndefined();
  expect(meta.iptc).toBeUndefined();
  expect(meta.icc).toBeUndefined();
  expect(meta.comments).toBeUndefined();
  expect(meta.orientation).toBeUndefined();
  const tags = expandedTags(bytes);
  expect(tags.exif).toBeUndefined();
  expect(tags.gps).toBeUndefined();
  expect(tags.xmp).toBeUndefined();
  expect(tags.iptc).toBeUndefined();
  expect(tags.icc).toBeUndefined();
  expect(tags.pngText).toBeUndefined();
}

describe('image pipeline: metadata', () => {
  it('the GPS fixture really carries GPS, camera, date, orientation, XMP and ICC', async () => {
    const input = await jpegWithGps();
    const tags = expandedTags(input);
    expect(tags.gps?.Latitude).toBeCloseTo(51.5034, 3);
    expect(tags.gps?.Longitude).toBeCloseTo(-0.1275, 3);
    expect(tags.exif?.GPSLatitude).toBeDefined();
    expect(tags.exif?.Make?.description).toBe(FIXTURE_CAMERA.make);
    expect(tags.exif?.Model?.description).toBe(FIXTURE_CAMERA.model);
    expect(tags.exif?.DateTimeOriginal?.description).toBe('2024:05:01 12:34:56');
    expect(tags.exif?.Orientation?.value).toBe(6);
    expect(tags.xmp).toBeDefined();
    expect(tags.icc).toBeDefined();
  });

  it('strips EXIF (GPS included), XMP, IPTC and ICC from a JPEG and keeps it a JPEG', async () => {
    const input = await jpegWithGps();
    const result = await processor.processImage(input, 'suspect.jpg');
    expectValidResult(result);
    expect(result.format).toBe('jpeg');
    expect(result.sourceFormat).toBe('jpeg');
    expect((await sharp(result.bytes).metadata()).format).toBe('jpeg');
    await expectNoMetadata(result.bytes);
    // Belt and braces: no APP1..APP15 segment (EXIF, XMP, ICC, IPTC…) and no COM segment at all.
    const markers = jpegMarkers(result.bytes);
    expect(markers.filter((m) => (m >= 0xe1 && m <= 0xef) || m === 0xfe)).toEqual([]);
    expect(result.bytes.includes(Buffer.from(FIXTURE_CAMERA.make))).toBe(false);
    expect(result.bytes.includes(Buffer.from('DC 1234'))).toBe(false);
  });

  it('applies EXIF orientation 6 (rotate 90° clockwise): 64×48 stored becomes 48×64, the right way round', async () => {
    const result = await processor.processImage(await jpegWithGps({ orientation: 6 }), 'phone.jpg');
    expect([result.width, result.height]).toEqual([48, 64]);
    const meta = await sharp(result.bytes).metadata();
    expect([meta.width, meta.height]).toEqual([48, 64]);
    // Gradient: red grows with stored x, green with stored y. Turned clockwise, the stored
    // bottom-left corner (no red, full green) is now the top-left one, and so on.
    const [r1, g1] = await pixel(result.bytes, 0, 0);
    const [r2, g2] = await pixel(result.bytes, 47, 0);
    const [r3, g3] = await pixel(result.bytes, 0, 63);
    expect(r1).toBeLessThan(40);
    expect(g1).toBeGreaterThan(215);
    expect(r2).toBeLessThan(40);
    expect(g2).toBeLessThan(40);
    expect(r3).toBeGreaterThan(215);
    expect(g3).toBeGreaterThan(215);
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('EXIF orientation %i gives the displayed size', async (orientation) => {
    const result = await processor.processImage(await jpegWithGps({ orientation }), 'x.jpg');
    expect([result.width, result.height]).toEqual(orientation >= 5 ? [48, 64] : [64, 48]);
  });
});

describe('image pipeline: formats', () => {
  it('keeps a PNG a PNG (alpha included), without metadata', async () => {
    const result = await processor.processImage(await plainPng(64, 48, { alpha: true }), 'cctv.png');
    expectValidResult(result);
    expect(result).toMatchObject({ format: 'png', mime: 'image/png', sourceFormat: 'png', width: 64, height: 48 });
    const meta = await sharp(result.bytes).metadata();
    expect(meta.format).toBe('png');
    expect(meta.hasAlpha).toBe(true);
    await expectNoMetadata(result.bytes);
  });

  it('turns a WebP into a JPEG', async () => {
    const result = await processor.processImage(await webp(), 'x.webp');
    expectValidResult(result);
    expect(result).toMatchObject({ format: 'jpeg', mime: 'image/jpeg', sourceFormat: 'webp', width: 64, height: 48 });
    expect((await sharp(result.bytes).metadata()).format).toBe('jpeg');
    await expectNoMetadata(result.bytes);
  });

  it('flattens a transparent WebP onto white when it becomes a JPEG', async () => {
    const result = await processor.processImage(await webp({ alpha: true }), 'x.webp');
    expect(result.format).toBe('jpeg');
    const meta = await sharp(result.bytes).metadata();
    expect(meta.channels).toBe(3);
    // The right half was half-transparent: flattened onto white, it got lighter, not darker.
    const [, , blue] = await pixel(result.bytes, 60, 24);
    expect(blue).toBeGreaterThan(150);
  });

  it('turns a still GIF into a PNG', async () => {
    const result = await processor.processImage(await stillGif(), 'x.gif');
    expectValidResult(result);
    expect(result).toMatchObject({ format: 'png', mime: 'image/png', sourceFormat: 'gif', width: 64, height: 48 });
    expect((await sharp(result.bytes).metadata()).format).toBe('png');
    await expectNoMetadata(result.bytes);
  });

  it('goes by the bytes, not the name: a PNG called .pdf is processed as a PNG', async () => {
    const result = await processor.processImage(await plainPng(10, 10), 'report.pdf');
    expect(result.sourceFormat).toBe('png');
  });

  it('shrinks a 6000×4000 JPEG to a long edge of 4096', async () => {
    const result = await processor.processImage(await plainJpeg(6000, 4000), 'big.jpg');
    expect(result.width).toBe(4096);
    expect(result.height).toBeGreaterThanOrEqual(2730);
    expect(result.height).toBeLessThanOrEqual(2731);
    const meta = await sharp(result.bytes).metadata();
    expect([meta.width, meta.height]).toEqual([result.width, result.height]);
  });

  it('never enlarges, and honours a custom maxLongEdge', async () => {
    const small = await processor.processImage(await plainPng(20, 10), 'x.png');
    expect([small.width, small.height]).toEqual([20, 10]);
    const custom = await createImageProcessor({ maxLongEdge: 32 }).processImage(await plainPng(64, 48), 'x.png');
    expect([custom.width, custom.height]).toEqual([32, 24]);
  });

  it('is deterministic: the same input gives identical bytes and sha256 (the content hash depends on it)', async () => {
    const inputs = [await jpegWithGps(), await plainPng(64, 48, { alpha: true }), await webp(), await stillGif()];
    for (const input of inputs) {
      const a = await processor.processImage(input, 'a');
      const b = await createImageProcessor().processImage(Buffer.from(input), 'b');
      expect(b.sha256).toBe(a.sha256);
      expect(b.bytes.equals(a.bytes)).toBe(true);
    }
  });

  it('copes with a burst of uploads at once', async () => {
    const input = await plainJpeg(800, 600);
    const results = await Promise.all(Array.from({ length: 8 }, () => processor.processImage(input, 'x.jpg')));
    expect(new Set(results.map((r) => r.sha256)).size).toBe(1);
  });
});

describe('image pipeline: refusals', () => {
  it('refuses an animated GIF', async () => {
    const rejected = await rejection(processor.processImage(await animatedGif(), 'dance.gif'));
    expect(rejected.reason).toBe('animated GIFs aren\'t supported; post a still image');
  });

  it('refuses an animated WebP', async () => {
    const rejected = await rejection(processor.processImage(await animatedWebp(), 'dance.webp'));
    expect(rejected.reason).toMatch(/animated/);
  });

  it('refuses an HTML page named .jpg, saying it is a web page', async () => {
    const rejected = await rejection(processor.processImage(htmlAsJpg(), 'suspect.jpg'));
    expect(rejected.reason).toMatch(/web page/);
    expect(rejected.reason).toMatch(/HTML/);
  });

  it('refuses a PDF', async () => {
    const rejected = await rejection(processor.processImage(pdfBytes(), 'appeal.jpg'));
    expect(rejected.reason).toBe('it is a PDF, not an image');
  });

  it('refuses an empty file', async () => {
    const rejected = await rejection(processor.processImage(Buffer.alloc(0), 'empty.jpg'));
    expect(rejected.reason).toBe('the file is empty');
  });

  it('names other non-images it can recognise', async () => {
    const svg = Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>');
    expect((await rejection(processor.processImage(svg, 'x.png'))).reason).toMatch(/SVG/);
    const json = Buffer.from('{"ok":false,"error":"not_authed"}');
    expect((await rejection(processor.processImage(json, 'x.png'))).reason).toMatch(/JSON/);
    const text = Buffer.from('Suspect seen near the station at 10pm.\n');
    expect((await rejection(processor.processImage(text, 'x.png'))).reason).toMatch(/text file/);
    const zip = Buffer.concat([Buffer.from('504b0304140000000800', 'hex'), Buffer.alloc(64)]);
    expect((await rejection(processor.processImage(zip, 'x.jpg'))).reason).toMatch(/not an image/);
  });

  it('refuses a truncated JPEG as damaged, because of failOn (the header alone is fine)', async () => {
    const input = await truncatedJpeg();
    // The header is intact and, with failOn 'none', libjpeg would silently grey-fill the rest:
    // it is failOn that makes the pipeline refuse it.
    expect((await sharp(input).metadata()).width).toBe(320);
    await expect(sharp(input, { failOn: 'none' }).jpeg().toBuffer()).resolves.toBeInstanceOf(Buffer);
    const rejected = await rejection(processor.processImage(input, 'cut.jpg'));
    expect(rejected.reason).toBe('the image is damaged or incomplete');
    expect(rejected.cause).toBeInstanceOf(Error);
  });

  it('accepts a JPEG with a harmless libjpeg warning (extraneous bytes before a marker)', async () => {
    const good = await plainJpeg(64, 48);
    const app0End = 4 + good.readUInt16BE(4);
    const quirky = Buffer.concat([good.subarray(0, app0End), Buffer.from([1, 2, 3, 4]), good.subarray(app0End)]);
    await expect(sharp(quirky, { failOn: 'warning' }).jpeg().toBuffer()).rejects.toThrow(/extraneous/);
    const result = await processor.processImage(quirky, 'camera.jpg');
    expect([result.width, result.height]).toEqual([64, 48]);
  });

  it('refuses a 20000×20000 PNG from its header, naming the size', async () => {
    const bomb = await pngBomb();
    expect(bomb.length).toBeLessThan(1_000_000);
    const rejected = await rejection(processor.processImage(bomb, 'bomb.png'));
    expect(rejected.reason).toBe('the image is too large: 20000 × 20000 pixels; the limit is 50 megapixels');
  });

  it('honours a custom maxPixels', async () => {
    const rejected = await rejection(createImageProcessor({ maxPixels: 5000 }).processImage(await plainPng(100, 100), 'x.png'));
    expect(rejected.reason).toBe('the image is too large: 100 × 100 pixels; the limit is 0.005 megapixels');
  });

  it('refuses random bytes with MediaRejected, never another error', async () => {
    const magic = [
      Buffer.from('ffd8ffe0', 'hex'), // JPEG
      Buffer.from('89504e470d0a1a0a', 'hex'), // PNG
      Buffer.from('GIF89a', 'latin1'),
      Buffer.concat([Buffer.from('RIFF', 'latin1'), Buffer.from([0, 1, 0, 0]), Buffer.from('WEBPVP8 ', 'latin1')]),
      Buffer.alloc(0),
    ];
    for (const size of [1, 2, 7, 64, 1024, 100_000]) {
      for (const prefix of magic) {
        const bytes = Buffer.concat([prefix, randomBytes(size)]);
        await rejection(processor.processImage(bytes, 'noise.jpg'));
      }
    }
  });

  it('refuses a real image header followed by garbage', async () => {
    const good = await plainPng(64, 48);
    const broken = Buffer.concat([good.subarray(0, 33), randomBytes(500)]); // signature + IHDR, then noise
    await rejection(processor.processImage(broken, 'x.png'));
  });
});

describe('image pipeline: output size (at most 5 MB, so every network takes the approved bytes)', () => {
  it('MAX_OUTPUT_BYTES is X\'s 5 MB, and maxOutputBytes must be a positive integer', () => {
    expect(MAX_OUTPUT_BYTES).toBe(5 * 1024 * 1024);
    for (const maxOutputBytes of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => createImageProcessor({ maxOutputBytes })).toThrow(RangeError);
    }
  });

  it('a normal image is byte-for-byte the single encode it always was (no needless re-encode)', async () => {
    const cases: Array<[Buffer, 'jpeg' | 'png']> = [
      [await jpegWithGps(), 'jpeg'],
      [await plainJpeg(800, 600), 'jpeg'],
      [await webp({ alpha: true }), 'jpeg'],
      [await plainPng(64, 48, { alpha: true }), 'png'],
      [await stillGif(), 'png'],
    ];
    for (const [input, output] of cases) {
      const expected = await singlePass(input, output);
      const result = await processor.processImage(input, 'x');
      expectValidResult(result);
      expect(result.format).toBe(output);
      expect(result.bytes.equals(expected)).toBe(true);
      // The limit is inclusive: exactly the size still takes the normal encode.
      const atLimit = await createImageProcessor({ maxOutputBytes: expected.length }).processImage(input, 'x');
      expect(atLimit.bytes.equals(expected)).toBe(true);
    }
  });

  it('JPEG: lowers the quality first (88 → 80), at full size', async () => {
    const input = await noisyJpeg(1200, 900);
    const q88 = await singlePass(input, 'jpeg');
    const q80 = await singlePass(input, 'jpeg', { quality: 80 });
    expect(q80.length).toBeLessThan(q88.length);
    const result = await createImageProcessor({ maxOutputBytes: q80.length }).processImage(input, 'x.jpg');
    expectValidResult(result);
    expect([result.width, result.height]).toEqual([1200, 900]);
    expect(result.bytes.equals(q80)).toBe(true);
    await expectNoMetadata(result.bytes);
  });

  it('a 4000×3000 noisy phone JPEG (10 MB, GPS, orientation 6) comes out ≤ 5 MB, a JPEG, stripped, upright', async () => {
    const input = await noisyJpeg(4000, 3000, { orientation: 6 });
    expect(input.length).toBeGreaterThan(MAX_OUTPUT_BYTES);
    expect(expandedTags(input).gps?.Latitude).toBeCloseTo(51.5034, 3);
    const result = await processor.processImage(input, 'phone.jpg');
    expectValidResult(result);
    expect(result.bytes.length).toBeLessThanOrEqual(MAX_OUTPUT_BYTES);
    expect(result).toMatchObject({ format: 'jpeg', mime: 'image/jpeg', sourceFormat: 'jpeg' });
    // Turned upright (portrait), the shape kept, and not shrunk to nothing.
    expect(result.height).toBeGreaterThan(result.width);
    expect(result.height).toBeGreaterThanOrEqual(1024);
    expect(result.height).toBeLessThanOrEqual(4000);
    expect(Math.abs(result.width - (result.height * 3) / 4)).toBeLessThanOrEqual(1);
    const meta = await sharp(result.bytes).metadata();
    expect(meta.format).toBe('jpeg');
    expect([meta.width, meta.height]).toEqual([result.width, result.height]);
    await expectNoMetadata(result.bytes);
    expectNoJpegMetadataSegments(result.bytes);
    expect(result.bytes.includes(Buffer.from(FIXTURE_CAMERA.make))).toBe(false);
    expect(result.bytes.includes(Buffer.from('DC 1234'))).toBe(false);
  });

  it('JPEG: makes it smaller when quality 60 is not enough, keeping its shape', async () => {
    const maxOutputBytes = 150 * 1024;
    const input = await noisyJpeg(1200, 900, { orientation: 6 });
    expect((await singlePass(input, 'jpeg', { quality: 60 })).length).toBeGreaterThan(maxOutputBytes);
    const result = await createImageProcessor({ maxOutputBytes }).processImage(input, 'x.jpg');
    expectValidResult(result);
    expect(result.format).toBe('jpeg');
    expect(result.bytes.length).toBeLessThanOrEqual(maxOutputBytes);
    expect(result.height).toBeLessThan(1200);
    expect(result.height).toBeGreaterThanOrEqual(300); // never below a quarter of the long edge
    expect(Math.abs(result.width - (result.height * 3) / 4)).toBeLessThanOrEqual(1);
    const meta = await sharp(result.bytes).metadata();
    expect([meta.width, meta.height]).toEqual([result.width, result.height]);
    await expectNoMetadata(result.bytes);
    expectNoJpegMetadataSegments(result.bytes);
  });

  it('refuses, in plain words, an image that can\'t be made small enough', async () => {
    const input = await noisyJpeg(400, 300);
    const rejected = await rejection(createImageProcessor({ maxOutputBytes: 1000 }).processImage(input, 'x.jpg'));
    expect(rejected.reason).toBe(
      'the image is too large to post: even reduced, it stays over 1000 bytes (the most that can be posted); ' +
        'post a smaller or less detailed copy of it',
    );
  });

  it('PNG: maximum compression first, at full size', async () => {
    const input = await plainPng(640, 480);
    const normal = await singlePass(input, 'png');
    const max = await singlePass(input, 'png', { png: { compressionLevel: 9, adaptiveFiltering: true } });
    expect(max.length).toBeLessThan(normal.length);
    const result = await createImageProcessor({ maxOutputBytes: max.length }).processImage(input, 'x.png');
    expectValidResult(result);
    expect(result).toMatchObject({ format: 'png', mime: 'image/png', width: 640, height: 480 });
    expect(result.bytes.equals(max)).toBe(true);
  });

  it('PNG: a little smaller (×0.75) when that is enough, still a PNG', async () => {
    const maxOutputBytes = 1024 * 1024;
    const input = await noisyPng(800, 600);
    expect(input.length).toBeGreaterThan(maxOutputBytes);
    const result = await createImageProcessor({ maxOutputBytes }).processImage(input, 'x.png');
    expectValidResult(result);
    expect(result).toMatchObject({ format: 'png', mime: 'image/png', sourceFormat: 'png', width: 600, height: 450 });
    expect(result.bytes.length).toBeLessThanOrEqual(maxOutputBytes);
    expect((await sharp(result.bytes).metadata()).format).toBe('png');
    await expectNoMetadata(result.bytes);
  });

  it('a big noisy PNG (a photo saved as PNG, 12 MB) comes out ≤ 5 MB as a full-size JPEG, flattened onto white', async () => {
    const input = await noisyPng(2000, 1500, { alpha: true }); // right half fully transparent
    expect(input.length).toBeGreaterThan(MAX_OUTPUT_BYTES);
    const result = await processor.processImage(input, 'photo.png');
    expectValidResult(result);
    expect(result).toMatchObject({ format: 'jpeg', mime: 'image/jpeg', sourceFormat: 'png', width: 2000, height: 1500 });
    expect(result.bytes.length).toBeLessThanOrEqual(MAX_OUTPUT_BYTES);
    const meta = await sharp(result.bytes).metadata();
    expect(meta.format).toBe('jpeg');
    expect(meta.channels).toBe(3);
    for (const channel of await pixel(result.bytes, 1900, 750)) expect(channel).toBeGreaterThan(240);
    await expectNoMetadata(result.bytes);
    expectNoJpegMetadataSegments(result.bytes);
  });
});
