/**
 * The image pipeline: sniff → check → decode → auto-orient → strip → resize → re-encode.
 *
 * Everything an officer uploads is untrusted. The type comes from the magic bytes only (never
 * the filename or the declared MIME), dimensions are checked from the header before a pixel is
 * decoded, and the output is a fresh encode with no metadata at all (no EXIF/GPS, XMP, IPTC, ICC,
 * comments), so what is published can't leak where or on what device a picture was taken.
 *
 * Buffers only: no temporary files.
 */
import { createHash } from 'node:crypto';
import { fileTypeFromBuffer } from 'file-type';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { MediaRejected, type ImageFormat, type MediaProcessor, type ProcessedImage } from '../core/ports.js';

export interface ImageProcessorOptions {
  /** Refuse images with more pixels than this (width × height), checked before decoding. Default 50 000 000. */
  maxPixels?: number;
  /** Shrink (never enlarge) so the longer edge is at most this many pixels. Default 4096. */
  maxLongEdge?: number;
}

export const DEFAULT_MAX_PIXELS = 50_000_000;
export const DEFAULT_MAX_LONG_EDGE = 4096;

/** JPEG quality of the re-encode: visually lossless for photos, roughly half the bytes of q95+. */
const JPEG_QUALITY = 88;
/** A pathological image must not pin a libuv thread forever. */
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

export function createImageProcessor(options: ImageProcessorOptions = {}): MediaProcessor {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxLongEdge = options.maxLongEdge ?? DEFAULT_MAX_LONG_EDGE;
  if (!Number.isSafeInteger(maxPixels) || maxPixels < 1) throw new RangeError('maxPixels must be a positive integer');
  if (!Number.isSafeInteger(maxLongEdge) || maxLongEdge < 1) throw new RangeError('maxLongEdge must be a positive integer');

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
      return limit(() => processKnownImage(bytes, sourceFormat, maxPixels, maxLongEdge));
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

async function processKnownImage(
  input: Buffer,
  sourceFormat: SourceFormat,
  maxPixels: number,
  maxLongEdge: number,
): Promise<ProcessedImage> {
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

  const output = OUTPUT[sourceFormat];
  let pipeline = sharp(input, { failOn: FAIL_ON, limitInputPixels: maxPixels, animated: false })
    .timeout({ seconds: PROCESS_TIMEOUT_SECONDS })
    .autoOrient();
  if (Math.max(width, height) > maxLongEdge) {
    pipeline = pipeline.resize({ width: maxLongEdge, height: maxLongEdge, fit: 'inside', withoutEnlargement: true });
  }
  // Without keepMetadata()/withMetadata()/keepExif()/keepIccProfile()/withXmp() sharp writes no
  // EXIF, XMP, IPTC, ICC or comments at all; the tests check that this stays true.
  pipeline = pipeline.toColourspace('srgb');
  pipeline =
    output.format === 'jpeg'
      ? pipeline.flatten({ background: '#ffffff' }).jpeg({ quality: JPEG_QUALITY, mozjpeg: false })
      : pipeline.png();

  let result: { data: Buffer; info: OutputInfo };
  try {
    result = await pipeline.toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new MediaRejected(describeSharpError(error), { cause: error });
  }

  const { data, info } = result;
  return {
    kind: 'image',
    bytes: data,
    format: output.format,
    mime: output.mime,
    width: info.width,
    height: info.height,
    sha256: createHash('sha256').update(data).digest('hex'),
    sourceFormat,
  };
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

// ---------------------------------------------------------------------------------------------

/** A minimal FIFO concurrency limiter. */
function createLimiter(max: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  // A finishing task hands its slot straight to the next waiter, so a newcomer can't slip in
  // between and push the count over `max`.
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else active--;
  };
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await task();
    } finally {
      release();
    }
  };
}
