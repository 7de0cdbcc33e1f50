/**
 * Synthetic image fixtures for tests. Every picture here is generated (gradients, flat
 * colours and pseudo-random noise): no real person, no real place beyond a made-up GPS fix, nothing read from disk.
 *
 * Used by test/media and by end-to-end tests elsewhere; keep the signatures stable.
 */
import { createDeflate } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';

/** A fixed, fake GPS position (central London) written into `jpegWithGps()`. */
export const FIXTURE_GPS = { latitude: 51.503428, longitude: -0.1275 } as const;
export const FIXTURE_CAMERA = { make: 'Loudhailer Test Camera', model: 'Synthetic 1' } as const;

/**
 * Raw RGB pixels of an asymmetric gradient: red grows left→right, green grows top→bottom,
 * blue is constant. Asymmetric on purpose so a test can tell which way an image was rotated.
 */
export function gradientRaw(width: number, height: number): Buffer {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = Math.round((x / Math.max(1, width - 1)) * 255);
      raw[i + 1] = Math.round((y / Math.max(1, height - 1)) * 255);
      raw[i + 2] = 96;
    }
  }
  return raw;
}

function gradient(width: number, height: number): Sharp {
  return sharp(gradientRaw(width, height), { raw: { width, height, channels: 3 } });
}

/**
 * Adds the metadata an officer's phone would leak: EXIF Make/Model, DateTimeOriginal, GPS,
 * an EXIF orientation, an XMP packet and an ICC profile.
 */
function withPhoneMetadata(image: Sharp, orientation: number): Sharp {
  return image
    .withExif({
      IFD0: { Make: FIXTURE_CAMERA.make, Model: FIXTURE_CAMERA.model, Software: 'loudhailer-fixture' },
      IFD2: { DateTimeOriginal: '2024:05:01 12:34:56' },
      IFD3: {
        GPSLatitudeRef: 'N',
        GPSLatitude: '51/1 30/1 1234/100', // 51° 30' 12.34"
        GPSLongitudeRef: 'W',
        GPSLongitude: '0/1 7/1 3900/100', // 0° 7' 39.00"
      },
    })
    // Sets the EXIF Orientation tag (withExif alone would write 1) and embeds an sRGB ICC profile.
    .withMetadata({ orientation })
    .withXmp(
      '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' +
        '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="DC 1234 Fixture"/>' +
        '</rdf:RDF></x:xmpmeta>',
    );
}

/**
 * A 64×48 (stored) gradient JPEG carrying the metadata an officer's phone would leak:
 * EXIF Make/Model, DateTimeOriginal, GPS latitude/longitude, an EXIF orientation
 * (default 6: "rotate 90° clockwise to display", so it displays as 48×64), an XMP packet
 * and an ICC profile. test/media checks with exifreader that the GPS tags really are there.
 */
export async function jpegWithGps(options: { orientation?: number; width?: number; height?: number } = {}): Promise<Buffer> {
  const { orientation = 6, width = 64, height = 48 } = options;
  return withPhoneMetadata(gradient(width, height), orientation).jpeg({ quality: 90 }).toBuffer();
}

/** A gradient JPEG without metadata; large sizes are made by upscaling a small gradient (fast). */
export async function plainJpeg(width = 64, height = 48): Promise<Buffer> {
  const pipeline = width * height > 1_000_000
    ? sharp(await gradient(64, 48).png().toBuffer()).resize(width, height, { fit: 'fill' })
    : gradient(width, height);
  return pipeline.jpeg({ quality: 85 }).toBuffer();
}

/** A baseline 320×240 JPEG cut off at 60% of its bytes (as an interrupted upload would be). */
export async function truncatedJpeg(): Promise<Buffer> {
  const full = await gradient(320, 240).jpeg({ quality: 90 }).toBuffer();
  return full.subarray(0, Math.floor(full.length * 0.6));
}

/** The bytes of an HTML page (what a file download returns when its auth is wrong); name it .jpg. */
export function htmlAsJpg(): Buffer {
  return Buffer.from(
    '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Sign in | Slack</title></head>\n' +
      '<body><form action="/signin" method="post"><input name="email"></form></body>\n</html>\n',
    'utf8',
  );
}

/** A minimal one-page PDF document. */
export function pdfBytes(): Buffer {
  return Buffer.from(
    '%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n' +
      '2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n' +
      '3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>\nendobj\n' +
      'trailer\n<< /Root 1 0 R >>\n%%EOF\n',
    'latin1',
  );
}

// ---------------------------------------------------------------------------------------------
// PNG bomb: a valid PNG declaring 20000×20000 (400 megapixels) whose IDAT is deflated zeros.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(...parts: Buffer[]): number {
  let c = 0xffffffff;
  for (const part of parts) {
    for (const byte of part) c = (CRC_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typeBytes = Buffer.from(type, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeBytes, data));
  return Buffer.concat([length, typeBytes, data, crc]);
}

/** Deflates `rows` copies of `row` without ever holding the inflated image in memory. */
function deflateRows(row: Buffer, rows: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const deflate = createDeflate({ level: 9 });
    const out: Buffer[] = [];
    deflate.on('data', (chunk: Buffer) => out.push(chunk));
    deflate.on('end', () => resolve(Buffer.concat(out)));
    deflate.on('error', reject);
    let written = 0;
    const writeMore = (): void => {
      while (written < rows) {
        written++;
        if (!deflate.write(row)) {
          deflate.once('drain', writeMore);
          return;
        }
      }
      deflate.end();
    };
    writeMore();
  });
}

export const PNG_BOMB_SIZE = { width: 20_000, height: 20_000 } as const;
let pngBombCache: Promise<Buffer> | undefined;

/**
 * A real 20000×20000 8-bit greyscale PNG (400 megapixels, 400 MB once decoded) that is
 * only a few hundred KB on disk. Built once per test process and cached.
 */
export function pngBomb(): Promise<Buffer> {
  pngBombCache ??= (async () => {
    const { width, height } = PNG_BOMB_SIZE;
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(width, 0);
    ihdr.writeUInt32BE(height, 4);
    ihdr[8] = 8; // bit depth
    ihdr[9] = 0; // colour type: greyscale
    ihdr[10] = 0; // compression
    ihdr[11] = 0; // filter
    ihdr[12] = 0; // interlace: none
    const row = Buffer.alloc(1 + width); // filter byte 0 + a row of black pixels
    const idat = await deflateRows(row, height);
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      pngChunk('IHDR', ihdr),
      pngChunk('IDAT', idat),
      pngChunk('IEND', Buffer.alloc(0)),
    ]);
  })();
  return pngBombCache;
}

// ---------------------------------------------------------------------------------------------

function flat(width: number, height: number, background: string): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background } }).png().toBuffer();
}

/** A two-frame (red, blue) looping 32×32 animated GIF. */
export async function animatedGif(): Promise<Buffer> {
  const frames = [await flat(32, 32, '#ff0000'), await flat(32, 32, '#0000ff')];
  return sharp(frames, { join: { animated: true } }).gif({ loop: 0, delay: [200, 200] }).toBuffer();
}

/** A two-frame (red, blue) looping 32×32 animated WebP. */
export async function animatedWebp(): Promise<Buffer> {
  const frames = [await flat(32, 32, '#ff0000'), await flat(32, 32, '#0000ff')];
  return sharp(frames, { join: { animated: true } }).webp({ loop: 0, delay: [200, 200] }).toBuffer();
}

/** A single-frame 64×48 GIF. */
export function stillGif(width = 64, height = 48): Promise<Buffer> {
  return gradient(width, height).gif().toBuffer();
}

/** A gradient PNG; with `alpha`, the right half is half-transparent. */
export async function plainPng(width = 64, height = 48, options: { alpha?: boolean } = {}): Promise<Buffer> {
  if (!options.alpha) return gradient(width, height).png().toBuffer();
  const alpha = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) alpha[y * width + x] = x < width / 2 ? 255 : 128;
  }
  return gradient(width, height)
    .joinChannel(alpha, { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();
}

/** A 64×48 gradient WebP (lossy); with `alpha`, the right half is half-transparent. */
export async function webp(options: { alpha?: boolean; width?: number; height?: number } = {}): Promise<Buffer> {
  const { width = 64, height = 48 } = options;
  const source = options.alpha ? sharp(await plainPng(width, height, { alpha: true })) : gradient(width, height);
  return source.webp({ quality: 90 }).toBuffer();
}

// ---------------------------------------------------------------------------------------------
// Noise: the worst case for an encoder's size (every pixel independent, nothing to compress).

/**
 * `width × height × channels` bytes of deterministic pseudo-random noise (xorshift32 from
 * `seed`): the same fixture every run, and fast (a 4000×3000 RGB frame takes tens of ms).
 */
export function noiseRaw(width: number, height: number, channels = 3, seed = 1): Buffer {
  const raw = Buffer.alloc(width * height * channels);
  const words = new Uint32Array(raw.buffer, raw.byteOffset, Math.floor(raw.length / 4));
  let state = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[i] = state >>> 0;
  }
  for (let i = words.length * 4; i < raw.length; i++) raw[i] = (i * 131) & 0xff; // the last 0–3 bytes
  return raw;
}

/**
 * A random-noise JPEG (quality 92 by default: a 4000×3000 one is about 10 MB) carrying the same
 * phone metadata as `jpegWithGps` (GPS, camera, XMP, ICC) with EXIF orientation `orientation`
 * (default 1: stored the right way up).
 */
export function noisyJpeg(
  width: number,
  height: number,
  options: { orientation?: number; quality?: number; seed?: number } = {},
): Promise<Buffer> {
  const { orientation = 1, quality = 92, seed = 1 } = options;
  const image = sharp(noiseRaw(width, height, 3, seed), { raw: { width, height, channels: 3 } });
  return withPhoneMetadata(image, orientation).jpeg({ quality }).toBuffer();
}

/**
 * A random-noise PNG (about 3 bytes a pixel: incompressible). With `alpha`, an alpha channel
 * that is opaque on the left half and fully transparent on the right half.
 */
export function noisyPng(width: number, height: number, options: { alpha?: boolean; seed?: number } = {}): Promise<Buffer> {
  const { alpha = false, seed = 1 } = options;
  let image = sharp(noiseRaw(width, height, 3, seed), { raw: { width, height, channels: 3 } });
  if (alpha) {
    const mask = Buffer.alloc(width * height);
    for (let y = 0; y < height; y++) mask.fill(255, y * width, y * width + Math.floor(width / 2));
    image = image.joinChannel(mask, { raw: { width, height, channels: 1 } });
  }
  // Level 1: quick to make, and the size hardly differs on noise.
  return image.png({ compressionLevel: 1 }).toBuffer();
}
