/**
 * The image pipeline: sniff → check → decode → auto-orient → strip → resize → re-encode.
 *
 * Everything an officer uploads is untrusted. The type comes from the magic bytes only (never
 * the filename or the declared MIME), dimensions are checked from the header before a pixel is
 * decoded, and the output is a fresh encode with no metadata at all (no EXIF/GPS, XMP, IPTC, ICC,
 * comments), so what is published can't leak where or on what device a picture was taken.
 *
 * The output is also made to fit the strictest network's size limit (X: 5 MB) here, at intake:
 * what two people approve is exactly what every network is sent, so it can't be shrunk later.
 * The image is decoded once to raw pixels; if the normal encode is too big, smaller encodes are
 * made from those pixels (see `fitToSize`).
 *
 * Buffers only: no temporary files.
 */
import { createHash } from 'node:crypto';
import { fileTypeFromBuffer } from 'file-type';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { MediaRejected, type ImageFormat, type ProcessedImage } from '../core/ports.js';
import { createLimiter, formatBytes } from './shared.js';

export interface ImageProcessor {
  /** Throws MediaRejected (plain words) for anything that is not an acceptable image. */
  processImage(input: Buffer, filename: string): Promise<ProcessedImage>;
}

export interface ImageProcessorOptions {
  /** Refuse images with more pixels than this (width × height), checked before decoding. Default 50 000 000. */
  maxPixels?: number;
  /** Shrink (never enlarge) so the longer edge is at most this many pixels. Default 4096. */
  maxLongEdge?: number;
  /**
   * The processed bytes are at most this long: a bigger encode is redone at lower quality and
   * then smaller, or the image is refused. Default MAX_OUTPUT_BYTES (X's limit for images).
   */
  maxOutputBytes?: number;
}

export const DEFAULT_MAX_PIXELS = 50_000_000;
export const DEFAULT_MAX_LONG_EDGE = 4096;
/** X accepts images of at most 5 MB; every network gets the same bytes, so this is the limit for all. */
export const MAX_OUTPUT_BYTES = 5 * 1024 * 1024;

/** JPEG quality of the re-encode: visually lossless for photos, roughly half the bytes of q95+. */
const JPEG_QUALITY = 88;
/**
 * Lower JPEG qualities tried, in order, when the JPEG_QUALITY encode is over the size limit.
 * Real photos at 4096 px nearly always fit by 80; 60 is still fine for a photo and is where
 * cutting quality stops paying (further steps cost visible blocking for ever-smaller savings),
 * so beyond it the image is made smaller instead, at quality 60.
 */
const JPEG_QUALITY_STEPS = [80, 70, 60] as const;
/** PNG encoder settings tried when the default PNG encode is over the size limit. */
const PNG_MAX_COMPRESSION = { compressionLevel: 9, adaptiveFiltering: true } as const;
/** Each scale-down step shrinks the long edge to at most this fraction of the previous step's. */
const SCALE_STEP = 0.75;
/**
 * The next step's size is predicted from the last encode's (bytes ≈ proportional to pixels) and
 * aimed a little under (on the long edge; 0.95² ≈ 90% of the bytes), so one step usually fits
 * without shrinking more than needed.
 */
const SCALE_AIM = 0.95;
/**
 * A JPEG is never shrunk below this fraction of its long edge (after maxLongEdge): 4096 → 1024.
 * With the 5 MB limit this is never reached (1024 × 1024 pixels are 3 MB uncompressed); it only
 * bounds the ladder for small custom limits, where the image is refused instead of posted tiny.
 */
const JPEG_MIN_SCALE = 0.25;
/**
 * A PNG is shrunk at most to this fraction of its long edge (one step). A PNG that is still too
 * big is a photo (or photo-like) saved as PNG: a JPEG of it at full size is then better than a
 * much smaller PNG (a CCTV still keeps its resolution), so the JPEG ladder takes over.
 */
const PNG_MIN_SCALE = 0.75;
/** A pathological image must not pin a libuv thread forever: the limit for decode and all encodes together. */
const PROCESS_TIMEOUT_SECONDS = 30;
/**
 * At most this many images are decoded at once by this processor. A 50-megapixel RGBA decode can
 * need ~200 MB; a burst of uploads should queue, not take the bot out of memory.
 */
const MAX_CONCURRENT = 2;

const SUPPORTED_HINT = 'post a JPEG, PNG, WebP or GIF';

type SourceFormat = 'jpeg' | 'png' | 'webp' | 'gif';

/** Allowed file-type extensions → our source format name (which is also sharp's format name). */
const ALLOWED: Readonly<Record<string, SourceFormat>> = { jpg: 'jpeg', png: 'png', webp: 'webp', gif: 'gif' };

const OUTPUT: Readonly<Record<SourceFormat, { format: ImageFormat; mime: ProcessedImage['mime'] }>> = {
  jpeg: { format: 'jpeg', mime: 'image/jpeg' },
  webp: { format: 'jpeg', mime: 'image/jpeg' },
  png: { format: 'png', mime: 'image/png' },
  gif: { format: 'png', mime: 'image/png' },
};

export function createImageProcessor(options: ImageProcessorOptions = {}): ImageProcessor {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxLongEdge = options.maxLongEdge ?? DEFAULT_MAX_LONG_EDGE;
  const maxOutputBytes = options.maxOutputBytes ?? MAX_OUTPUT_BYTES;
  if (!Number.isSafeInteger(maxPixels) || maxPixels < 1) throw new RangeError('maxPixels must be a positive integer');
  if (!Number.isSafeInteger(maxLongEdge) || maxLongEdge < 1) throw new RangeError('maxLongEdge must be a positive integer');
  if (!Number.isSafeInteger(maxOutputBytes) || maxOutputBytes < 1) {
    throw new RangeError('maxOutputBytes must be a positive integer');
  }
  const limits: Limits = { maxPixels, maxLongEdge, maxOutputBytes };

  // libvips keeps a cache of recent operations (default up to 50 MB / 100 operations) so that
  // repeating the same pipeline on the same input is free. A bot never processes the same upload
  // twice in a row, so the cache only pins decoded pixels of appeal images in memory long after
  // the request is over. Turn it off (process-wide; sharp has no per-instance cache).
  // Thread count per image (sharp.concurrency) stays at its default, one per core; the number of
  // images decoded at once is bounded by the limiter below and by the libuv thread pool.
  sharp.cache(false);

  const limit = createLimiter(MAX_CONCURRENT);

  return {
    async processImage(input: Buffer, _filename: string): Promise<ProcessedImage> {
      // `_filename` is deliberately unused: the name (and any declared MIME) says nothing
      // reliable about the bytes. It is never put into a reason either.
      const raw: unknown = input;
      if (!(raw instanceof Uint8Array)) throw new TypeError('processImage expects a Buffer');
      const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      const sourceFormat = await sniff(bytes);
      return limit(() => processKnownImage(bytes, sourceFormat, limits));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Sniffing: what the bytes are, from the bytes.

async function sniff(bytes: Buffer): Promise<SourceFormat> {
  if (bytes.length === 0) throw new MediaRejected('the file is empty');

  let detected: Awaited<ReturnType<typeof fileTypeFromBuffer>>;
  try {
    detected = await fileTypeFromBuffer(bytes);
  } catch (error) {
    // file-type parses container headers; a malformed one must still end as a plain refusal.
    throw new MediaRejected(`it is not an image we recognise; ${SUPPORTED_HINT}`, { cause: error });
  }

  if (detected) {
    const allowed = ALLOWED[detected.ext];
    if (allowed) return allowed;
    // file-type calls any XML (SVG included) "xml": let the text sniffer say which.
    const text = detected.ext === 'xml' ? describeText(bytes) : undefined;
    throw new MediaRejected(text ?? describeFileType(detected.ext));
  }

  throw new MediaRejected(describeText(bytes) ?? `it is not an image we recognise; ${SUPPORTED_HINT}`);
}

const VIDEO = new Set(['mp4', 'mov', 'm4v', 'webm', 'mkv', 'avi', '3gp', '3g2', 'mpg', 'mts', 'flv', 'wmv', 'ogv']);
const AUDIO = new Set(['mp3', 'm4a', 'aac', 'wav', 'ogg', 'oga', 'opus', 'flac', 'amr', 'wma', 'aif']);
const CAMERA_RAW = new Set(['cr2', 'cr3', 'nef', 'dng', 'arw', 'orf', 'rw2', 'raf', 'crw']);
const ARCHIVES = new Set(['zip', 'rar', '7z', 'gz', 'tar', 'bz2', 'xz', 'zst']);

/** Plain words for a file-type extension that is not on the allowlist. */
function describeFileType(ext: string): string {
  switch (ext) {
    case 'pdf':
      return 'it is a PDF, not an image';
    case 'apng':
      return 'animated PNGs aren\'t supported; post a still image';
    case 'heic':
    case 'heif':
      return 'it is a HEIC photo (the iPhone format), which isn\'t supported; export it as JPEG and post it again';
    case 'avif':
      return 'it is an AVIF image, which isn\'t supported; export it as JPEG or PNG and post it again';
    case 'tif':
      return `it is a TIFF image, which isn't supported; ${SUPPORTED_HINT}`;
    case 'bmp':
      return `it is a BMP image, which isn't supported; ${SUPPORTED_HINT}`;
    case 'psd':
      return `it is a Photoshop file, not a finished image; ${SUPPORTED_HINT}`;
    case 'docx':
      return 'it is a Word document, not an image';
    case 'xlsx':
      return 'it is a spreadsheet, not an image';
    case 'pptx':
      return 'it is a PowerPoint presentation, not an image';
    case 'exe':
    case 'elf':
    case 'mach':
      return 'it is a program, not an image';
  }
  if (VIDEO.has(ext)) return 'it is a video, not an image; post a still frame (a screenshot) as JPEG or PNG';
  if (AUDIO.has(ext)) return 'it is an audio file, not an image';
  if (CAMERA_RAW.has(ext)) return 'it is a camera RAW file; export it as JPEG and post it again';
  if (ARCHIVES.has(ext)) return `it is a compressed archive (${ext.toUpperCase()}), not an image`;
  return `it is a ${ext.toUpperCase()} file, not a supported image; ${SUPPORTED_HINT}`;
}

/**
 * A cheap look at the first bytes for things file-type doesn't name (it returns nothing for
 * text). Returns a reason, or undefined when the bytes don't look like text at all.
 */
function describeText(bytes: Buffer): string | undefined {
  let head = bytes.subarray(0, 1024);
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) head = head.subarray(3); // UTF-8 BOM
  let printable = 0;
  for (const byte of head) {
    if (byte === 0) return undefined; // text never has NULs (UTF-16 text is rare enough to ignore)
    if (byte === 0x09 || byte === 0x0a || byte === 0x0d || (byte >= 0x20 && byte !== 0x7f)) printable++;
  }
  if (head.length === 0 || printable / head.length < 0.95) return undefined;

  const text = head.toString('latin1').trimStart().toLowerCase();
  if (text.startsWith('<!doctype html') || text.startsWith('<html') || /<(html|head|body)[\s>]/.test(text)) {
    return 'it looks like a web page (HTML), not an image';
  }
  if (text.startsWith('<svg') || (text.startsWith('<') && text.includes('<svg'))) {
    return 'it is an SVG drawing, which isn\'t supported; export it as PNG and post it again';
  }
  if (text.startsWith('<?xml') || text.startsWith('<')) return 'it looks like an XML document, not an image';
  if (text.startsWith('{') || text.startsWith('[')) return 'it looks like a data file (JSON), not an image';
  return 'it looks like a text file, not an image';
}

// ---------------------------------------------------------------------------------------------
// Decoding and re-encoding.

/**
 * failOn 'error': a truncated or broken JPEG/PNG/GIF is refused, but benign libjpeg warnings that
 * real phone and camera files carry (e.g. "extraneous bytes before marker") don't refuse an
 * officer's genuine photo, as sharp's default 'warning' would. The pixels are fully re-encoded,
 * so nothing odd in the source bytes survives into what is published.
 */
const FAIL_ON = 'error' as const;

interface Limits {
  maxPixels: number;
  maxLongEdge: number;
  maxOutputBytes: number;
}

async function processKnownImage(input: Buffer, sourceFormat: SourceFormat, limits: Limits): Promise<ProcessedImage> {
  // The timeout covers the decode and every encode together; queueing for the limiter is not counted.
  const deadline = Date.now() + PROCESS_TIMEOUT_SECONDS * 1000;
  const { maxPixels, maxLongEdge } = limits;

  // Header only: nothing is decoded here. The pixel limit is lifted for this call only because
  // sharp would otherwise refuse without telling us the dimensions; it is checked just below and
  // enforced again (limitInputPixels) by the decode.
  let metadata: Metadata;
  try {
    metadata = await sharp(input, { failOn: FAIL_ON, limitInputPixels: false }).metadata();
  } catch (error) {
    throw new MediaRejected('the image is damaged or incomplete', { cause: error });
  }

  // sharp sniffs independently of file-type; a disagreement means a crafted or broken file.
  if (metadata.format !== sourceFormat) {
    throw new MediaRejected('the image is damaged or incomplete', {
      cause: new Error(`magic bytes say ${sourceFormat}, decoder says ${String(metadata.format)}`),
    });
  }
  const { width, height } = metadata;
  if (!(width > 0) || !(height > 0)) throw new MediaRejected('the image is damaged or incomplete');
  if (width * height > maxPixels) {
    throw new MediaRejected(
      `the image is too large: ${width} × ${height} pixels; the limit is ${formatMegapixels(maxPixels)} megapixels`,
    );
  }
  if ((metadata.pages ?? 1) > 1) {
    throw new MediaRejected(
      sourceFormat === 'gif'
        ? 'animated GIFs aren\'t supported; post a still image'
        : 'animated images aren\'t supported; post a still image',
    );
  }

  // The one decode: to raw 8-bit sRGB pixels, oriented and within maxLongEdge (and flattened onto
  // white when the output is a JPEG). Every encode below starts from these pixels, so a large
  // noisy image that needs several tries costs one decode, not one per try. Encoding them with
  // the first settings gives exactly the bytes a single decode-and-encode pipeline would.
  const output = OUTPUT[sourceFormat];
  let pipeline = sharp(input, { failOn: FAIL_ON, limitInputPixels: maxPixels, animated: false })
    .timeout({ seconds: secondsLeft(deadline) })
    .autoOrient();
  if (Math.max(width, height) > maxLongEdge) {
    pipeline = pipeline.resize({ width: maxLongEdge, height: maxLongEdge, fit: 'inside', withoutEnlargement: true });
  }
  pipeline = pipeline.toColourspace('srgb');
  if (output.format === 'jpeg') pipeline = pipeline.flatten({ background: '#ffffff' });

  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new MediaRejected(describeSharpError(error), { cause: error });
  }
  const pixels: Pixels = {
    data: decoded.data,
    width: decoded.info.width,
    height: decoded.info.height,
    channels: decoded.info.channels,
  };

  const encoded = await fitToSize(pixels, output.format, limits.maxOutputBytes, deadline);
  const { data, info } = encoded;
  return {
    kind: 'image',
    bytes: data,
    format: encoded.format,
    mime: encoded.format === 'jpeg' ? 'image/jpeg' : 'image/png',
    width: info.width,
    height: info.height,
    sha256: createHash('sha256').update(data).digest('hex'),
    sourceFormat,
  };
}

/** Decoded, oriented, 8-bit sRGB pixels (3 channels, or 4 with alpha). */
interface Pixels {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

type Encoding =
  | { format: 'jpeg'; quality: number; longEdge: number }
  | { format: 'png'; maxCompression: boolean; longEdge: number };

interface Encoded {
  format: ImageFormat;
  data: Buffer;
  info: OutputInfo;
}

/**
 * Encodes `pixels` as `format`, and if that is over `maxBytes` tries, in order, until one fits:
 *
 * - JPEG: quality 88 (the normal encode), then 80, 70, 60 at full size; then at quality 60, a
 *   smaller long edge per step (at most ×0.75 of the last, less when the last size says more is
 *   needed), down to a quarter of the long edge.
 * - PNG: the default encode (the normal one), then maximum compression; then, at maximum
 *   compression, ×0.75 of the long edge if the last size says that can fit. A PNG still too big
 *   is a photo saved as PNG: it goes through the JPEG ladder above (flattened onto white), from
 *   full size, and comes out as a JPEG.
 *
 * Bounded: at most 4 + 5 = 9 JPEG encodes (full size, then 3072, 2304, 1728, 1296, 1024 for a
 * 4096 long edge), after at most 3 PNG ones; 12 in the worst case, usually 1. What fits within
 * none of them is refused. Every encode starts from the same decoded pixels and, as before,
 * writes no metadata at all (no EXIF, XMP, IPTC, ICC or comments).
 */
async function fitToSize(pixels: Pixels, format: ImageFormat, maxBytes: number, deadline: number): Promise<Encoded> {
  const fullEdge = Math.max(pixels.width, pixels.height);
  const fits = (encoded: Encoded): boolean => encoded.data.length <= maxBytes;

  if (format === 'png') {
    let encoded = await encode(pixels, { format: 'png', maxCompression: false, longEdge: fullEdge }, deadline);
    if (fits(encoded)) return encoded;
    encoded = await encode(pixels, { format: 'png', maxCompression: true, longEdge: fullEdge }, deadline);
    if (fits(encoded)) return encoded;
    const minEdge = Math.max(1, Math.ceil(fullEdge * PNG_MIN_SCALE));
    let edge = fullEdge;
    for (;;) {
      const predicted = predictEdge(edge, encoded.data.length, maxBytes);
      // Not worth a (slow) PNG encode that is predicted not to fit: straight on to JPEG.
      if (predicted < minEdge || edge <= minEdge) break;
      edge = Math.max(minEdge, Math.min(Math.floor(edge * SCALE_STEP), predicted));
      encoded = await encode(pixels, { format: 'png', maxCompression: true, longEdge: edge }, deadline);
      if (fits(encoded)) return encoded;
    }
  }

  let encoded = await encode(pixels, { format: 'jpeg', quality: JPEG_QUALITY, longEdge: fullEdge }, deadline);
  if (fits(encoded)) return encoded;
  let quality: number = JPEG_QUALITY;
  for (const step of JPEG_QUALITY_STEPS) {
    quality = step;
    encoded = await encode(pixels, { format: 'jpeg', quality, longEdge: fullEdge }, deadline);
    if (fits(encoded)) return encoded;
  }
  const minEdge = Math.max(1, Math.ceil(fullEdge * JPEG_MIN_SCALE));
  let edge = fullEdge;
  while (edge > minEdge) {
    edge = Math.max(minEdge, Math.min(Math.floor(edge * SCALE_STEP), predictEdge(edge, encoded.data.length, maxBytes)));
    encoded = await encode(pixels, { format: 'jpeg', quality, longEdge: edge }, deadline);
    if (fits(encoded)) return encoded;
  }

  throw new MediaRejected(
    `the image is too large to post: even reduced, it stays over ${formatBytes(maxBytes)} (the most that can be ` +
      'posted); post a smaller or less detailed copy of it',
    { cause: new Error(`smallest encode: ${encoded.data.length} bytes at long edge ${edge}, quality ${quality}`) },
  );
}

/** The long edge at which an encode of `bytes` at `edge` should come in under `maxBytes`. */
function predictEdge(edge: number, bytes: number, maxBytes: number): number {
  return Math.floor(edge * Math.sqrt(maxBytes / bytes) * SCALE_AIM);
}

async function encode(pixels: Pixels, encoding: Encoding, deadline: number): Promise<Encoded> {
  const { data, width, height, channels } = pixels;
  // Our own pixels, already held to maxPixels by the decode: sharp's default input limit must not apply.
  let pipeline = sharp(data, { raw: { width, height, channels }, limitInputPixels: false }).timeout({
    seconds: secondsLeft(deadline),
  });
  if (encoding.longEdge < Math.max(width, height)) {
    pipeline = pipeline.resize({ width: encoding.longEdge, height: encoding.longEdge, fit: 'inside' });
  }
  // Without keepMetadata()/withMetadata()/keepExif()/keepIccProfile()/withXmp() sharp writes no
  // EXIF, XMP, IPTC, ICC or comments at all (and raw pixels carry none anyway); the tests check
  // that this stays true for every step of the ladder.
  if (encoding.format === 'jpeg') {
    // A no-op for pixels already flattened by the decode; needed for a PNG that becomes a JPEG.
    pipeline = pipeline.flatten({ background: '#ffffff' }).jpeg({ quality: encoding.quality, mozjpeg: false });
  } else {
    pipeline = encoding.maxCompression ? pipeline.png(PNG_MAX_COMPRESSION) : pipeline.png();
  }
  try {
    const { data: bytes, info } = await pipeline.toBuffer({ resolveWithObject: true });
    return { format: encoding.format, data: bytes, info };
  } catch (error) {
    throw new MediaRejected(describeSharpError(error), { cause: error });
  }
}

/** Whole seconds left before `deadline` for sharp's timeout (which takes whole seconds; 0 would mean none). */
function secondsLeft(deadline: number): number {
  const ms = deadline - Date.now();
  if (ms <= 0) {
    throw new MediaRejected('the image took too long to process; try a smaller copy of it', {
      cause: new Error(`over the ${PROCESS_TIMEOUT_SECONDS} s processing limit`),
    });
  }
  return Math.ceil(ms / 1000);
}

function describeSharpError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(message)) return 'the image is too large to process';
  if (/timeout/i.test(message)) return 'the image took too long to process; try a smaller copy of it';
  return 'the image is damaged or incomplete';
}

function formatMegapixels(pixels: number): string {
  return String(Number((pixels / 1_000_000).toPrecision(3))); // 50, 12.3, 0.005
}
