/**
 * The footage pipeline: sniff → check size → remux with no metadata (no re-encode).
 *
 * Everything an officer uploads is untrusted. The type comes from the magic bytes only (never
 * the filename or the declared MIME): MP4 and MOV are accepted, anything else is refused in
 * plain words. The accepted file is remuxed by ffmpeg, stream copy only, into the same container
 * with only its video and audio tracks and none of its metadata: no GPS location, no camera
 * make/model, no creation dates (the movie/track/media header times are written as 0), no
 * titles or comments, no chapters, no timecode or Apple timed-metadata tracks, no cover art, no
 * subtitles, and no "encoder" tag of our own. The picture and the sound are copied bit for bit.
 *
 * What two people approve is exactly the processed bytes this returns.
 *
 * ffmpeg needs files: the upload is written to a private temporary directory (mode 0700) that is
 * always deleted afterwards. ffmpeg is started with an argument array (never a shell), reads
 * only the one local file (input format forced to MP4/MOV, only the `file` protocol allowed),
 * is killed when it runs over the time limit, and at most `concurrency` run at once.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileTypeFromBuffer } from 'file-type';
import { MediaRejected, type ProcessedVideo as CoreProcessedVideo } from '../core/ports.js';
import { createLimiter, formatBytes } from './shared.js';

/** A video after the footage pipeline: sniffed, size-checked and remuxed with no metadata. */
export type ProcessedVideo = CoreProcessedVideo & { sourceFormat: 'mp4' | 'mov' };

export interface VideoProcessorOptions {
  /** Refuse uploads longer than this many bytes (before anything is written to disk). Default 256 MB. */
  maxBytes?: number;
  /** Kill ffmpeg and refuse the video when one remux takes longer than this. Default 120 s. */
  timeoutMs?: number;
  /** The ffmpeg binary. Default: the one @ffmpeg-installer/ffmpeg installed. */
  ffmpegPath?: string;
  /** At most this many videos are remuxed at once (the rest queue). Default 1. */
  concurrency?: number;
  /** Where the private per-video temporary directories are made. Default os.tmpdir(). */
  tempDir?: string;
}

export type FfmpegCheck = { ok: true; version: string } | { ok: false; problem: string };

export interface VideoProcessor {
  /** Throws MediaRejected (plain words) for anything that is not an acceptable video. */
  processVideo(input: Buffer, filename: string): Promise<ProcessedVideo>;
  /** Whether ffmpeg can be run (for start-up and health checks); never throws. */
  check(): Promise<FfmpegCheck>;
}

export const DEFAULT_MAX_VIDEO_BYTES = 256 * 1024 * 1024;
export const DEFAULT_VIDEO_TIMEOUT_MS = 120_000;
export const DEFAULT_VIDEO_CONCURRENCY = 1;

/** How much of ffmpeg's stderr is kept (the start, where the input is described, and the end). */
const STDERR_HEAD_BYTES = 32 * 1024;
const STDERR_TAIL_BYTES = 16 * 1024;
/** `check()` must answer quickly even if the binary hangs. */
const CHECK_TIMEOUT_MS = 10_000;

const SUPPORTED_HINT = 'save or export it as MP4 and post it again';

type SourceFormat = 'mp4' | 'mov';

const OUTPUT: Readonly<Record<SourceFormat, { muxer: string; mime: ProcessedVideo['mime'] }>> = {
  mp4: { muxer: 'mp4', mime: 'video/mp4' },
  mov: { muxer: 'mov', mime: 'video/quicktime' },
};

export function createVideoProcessor(options: VideoProcessorOptions = {}): VideoProcessor {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_VIDEO_BYTES;
  const timeoutMs = options.timeoutMs ?? DEFAULT_VIDEO_TIMEOUT_MS;
  const concurrency = options.concurrency ?? DEFAULT_VIDEO_CONCURRENCY;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new RangeError('maxBytes must be a positive integer');
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) throw new RangeError('timeoutMs must be a positive integer');
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new RangeError('concurrency must be a positive integer');
  const tempParent = options.tempDir ?? tmpdir();
  const explicitPath = options.ffmpegPath;
  const ffmpeg = async (): Promise<string> => explicitPath ?? (await installedFfmpeg());

  const limit = createLimiter(concurrency);

  return {
    async processVideo(input: Buffer, _filename: string): Promise<ProcessedVideo> {
      // `_filename` is deliberately unused: the name says nothing reliable about the bytes,
      // and it is never put on the command line or into a reason.
      const raw: unknown = input;
      if (!(raw instanceof Uint8Array)) throw new TypeError('processVideo expects a Buffer');
      const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      if (bytes.length === 0) throw new MediaRejected('the file is empty');
      if (bytes.length > maxBytes) {
        throw new MediaRejected(
          `the video is too large (${formatBytes(bytes.length)}; the most that can be posted is ${formatBytes(maxBytes)}); ` +
            'post a shorter clip or a smaller copy of it',
        );
      }
      const sourceFormat = await sniff(bytes);
      const path = await ffmpeg();
      return limit(() => remux(bytes, sourceFormat, { ffmpegPath: path, timeoutMs, tempParent }));
    },

    async check(): Promise<FfmpegCheck> {
      let path: string;
      try {
        path = await ffmpeg();
      } catch (error) {
        return { ok: false, problem: error instanceof Error ? error.message : String(error) };
      }
      return checkFfmpeg(path);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The ffmpeg binary.

let installed: Promise<string> | undefined;

/**
 * The path of the ffmpeg that @ffmpeg-installer/ffmpeg installed. Loaded lazily: the package
 * throws (a bare string) when its platform binary is missing, and that must become a clear
 * problem from `check()`, not stop the whole bot from loading.
 */
function installedFfmpeg(): Promise<string> {
  installed ??= import('@ffmpeg-installer/ffmpeg').then(
    (module) => module.default.path,
    (error: unknown) => {
      throw new Error(
        `the bundled ffmpeg is missing (${error instanceof Error ? error.message : String(error)}); ` +
          'run `npm ci` so @ffmpeg-installer/ffmpeg installs the binary for this platform, ' +
          'or set the ffmpeg path to an ffmpeg binary',
        { cause: error },
      );
    },
  );
  return installed;
}

async function checkFfmpeg(path: string): Promise<FfmpegCheck> {
  let result: RunResult;
  try {
    result = await run(path, ['-hide_banner', '-version'], CHECK_TIMEOUT_MS);
  } catch (error) {
    return { ok: false, problem: describeSpawnError(path, error) };
  }
  if (result.timedOut) return { ok: false, problem: `ffmpeg at ${path} did not answer \`-version\` within ${CHECK_TIMEOUT_MS / 1000} s` };
  const version = /^ffmpeg version (\S+)/m.exec(result.stdout)?.[1];
  if (result.code !== 0 || !version) {
    const said = firstLine(result.stderr) ?? firstLine(result.stdout) ?? 'nothing';
    return {
      ok: false,
      problem:
        `${path} is not a working ffmpeg (\`-version\` exited with ${result.code ?? result.signal ?? '?'} and said: ${said}); ` +
        'run `npm ci` to reinstall @ffmpeg-installer/ffmpeg, or set the ffmpeg path to an ffmpeg binary',
    };
  }
  return { ok: true, version };
}

function describeSpawnError(path: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const fix = 'run `npm ci` so @ffmpeg-installer/ffmpeg installs its binary, or set the ffmpeg path to an ffmpeg binary';
  if (code === 'ENOENT') return `ffmpeg was not found at ${path}; ${fix}`;
  if (code === 'EACCES') return `ffmpeg at ${path} can't be run (permission denied); make it executable (chmod +x), or ${fix}`;
  const message = error instanceof Error ? error.message : String(error);
  return `ffmpeg at ${path} could not be started (${message}); ${fix}`;
}

// ---------------------------------------------------------------------------------------------
// Sniffing: what the bytes are, from the bytes.

async function sniff(bytes: Buffer): Promise<SourceFormat> {
  let detected: Awaited<ReturnType<typeof fileTypeFromBuffer>>;
  try {
    detected = await fileTypeFromBuffer(bytes);
  } catch (error) {
    // file-type parses container headers; a malformed one must still end as a plain refusal.
    throw new MediaRejected(`it is not an MP4 or MOV video; ${SUPPORTED_HINT}`, { cause: error });
  }
  if (detected?.ext === 'mp4' || detected?.ext === 'mov') return detected.ext;
  const looksLike = detected ? describeFileType(detected.ext, detected.mime) : describeText(bytes);
  if (!looksLike) throw new MediaRejected(`it is not an MP4 or MOV video (we can't tell what it is); ${SUPPORTED_HINT}`);
  throw new MediaRejected(`it is not an MP4 or MOV video (it looks like ${looksLike}); ${SUPPORTED_HINT}`);
}

const NAMED: Readonly<Record<string, string>> = {
  webm: 'a WebM video',
  mkv: 'a Matroska (MKV) video',
  avi: 'an AVI video',
  m4v: 'an M4V (iTunes) video',
  '3gp': 'a 3GP phone video',
  '3g2': 'a 3GP phone video',
  wmv: 'a Windows Media video',
  asf: 'a Windows Media video',
  flv: 'a Flash video',
  mpg: 'an MPEG video',
  mts: 'an AVCHD camcorder video',
  m2ts: 'an AVCHD camcorder video',
  ogv: 'an Ogg video',
  jpg: 'a JPEG image',
  png: 'a PNG image',
  gif: 'a GIF image',
  webp: 'a WebP image',
  heic: 'a HEIC photo',
  heif: 'a HEIC photo',
  avif: 'an AVIF image',
  pdf: 'a PDF document',
  docx: 'a Word document',
  xlsx: 'a spreadsheet',
  pptx: 'a PowerPoint presentation',
  zip: 'a ZIP archive',
  exe: 'a program',
  elf: 'a program',
  mach: 'a program',
  xml: 'an XML document',
};

/** "a WebM video", "an MP3 audio file", "a TIFF image", … for what file-type found. */
function describeFileType(ext: string, mime: string): string {
  const named = NAMED[ext];
  if (named) return named;
  const name = ext.toUpperCase();
  // Letters said with a leading vowel sound (A, E, F, H, I, L, M, N, O, R, S, X) take "an".
  const article = /^[AEFHILMNORSX]/.test(name) ? 'an' : 'a';
  if (mime.startsWith('video/')) return `${article} ${name} video`;
  if (mime.startsWith('audio/')) return `${article} ${name} audio file`;
  if (mime.startsWith('image/')) return `${article} ${name} image`;
  return `${article} ${name} file`;
}

/** file-type names nothing that is text: a cheap look at the first bytes for that. */
function describeText(bytes: Buffer): string | undefined {
  let head = bytes.subarray(0, 1024);
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) head = head.subarray(3); // UTF-8 BOM
  let printable = 0;
  for (const byte of head) {
    if (byte === 0) return undefined;
    if (byte === 0x09 || byte === 0x0a || byte === 0x0d || (byte >= 0x20 && byte !== 0x7f)) printable++;
  }
  if (head.length === 0 || printable / head.length < 0.95) return undefined;
  const text = head.toString('latin1').trimStart().toLowerCase();
  if (text.startsWith('<!doctype html') || text.startsWith('<html') || /<(html|head|body)[\s>]/.test(text)) {
    return 'a web page (HTML)';
  }
  if (text.startsWith('#extm3u')) return 'a streaming playlist, not the video itself';
  if (text.startsWith('{') || text.startsWith('[')) return 'a data file (JSON)';
  return 'a text file';
}

// ---------------------------------------------------------------------------------------------
// Remuxing.

interface RemuxSettings {
  ffmpegPath: string;
  timeoutMs: number;
  tempParent: string;
}

/**
 * The ffmpeg arguments for one remux, in order, and why:
 *
 * - `-hide_banner -nostdin -nostats`: no banner, never read stdin, no progress lines.
 * - `-xerror`: stop with an error at the first read error (a truncated or corrupt file is
 *   refused instead of being cut short silently).
 * - input options: `-f mov` forces the MP4/MOV demuxer (ffmpeg must not guess another format,
 *   e.g. a playlist that fetches other files); `-protocol_whitelist file` lets it open only
 *   local files, so no reference inside the file can make it fetch anything.
 * - `-map 0:V -map 0:a?`: the video tracks that are real video (not cover art or thumbnails,
 *   which can be JPEGs with their own EXIF) and the audio tracks, if any. Nothing else: no
 *   timecode track (the time of day it was filmed), no Apple timed-metadata track (location),
 *   no subtitles, no attachments. `-dn -sn` say the same again.
 * - `-map_metadata -1 -map_chapters -1`: no container, track or chapter metadata is copied
 *   (title, comment, location, make, model, creation_time, handler names, …). The display
 *   rotation is not metadata to ffmpeg (it is the track matrix) and is kept.
 * - `-c copy`: no re-encode: the picture and sound stay bit for bit as filmed.
 * - `-fflags +bitexact -flags:v +bitexact -flags:a +bitexact`: no "encoder" tag and no
 *   version strings of our own are written; with no creation_time left, every movie, track and
 *   media header time is 0.
 * - `-movflags +faststart`: the index (moov) goes at the front, so the file plays while it
 *   downloads.
 * - `-fs`: a cap on the output size. A valid file remuxes to about its own size; a crafted one
 *   whose index points at the same bytes again and again must not fill the disk.
 */
export function remuxArguments(input: string, output: string, format: SourceFormat, outputCapBytes: number): string[] {
  return [
    '-hide_banner', '-nostdin', '-nostats', '-xerror',
    '-f', 'mov', '-protocol_whitelist', 'file', '-i', `file:${input}`,
    '-map', '0:V', '-map', '0:a?', '-dn', '-sn',
    '-map_metadata', '-1', '-map_chapters', '-1',
    '-c', 'copy',
    '-fflags', '+bitexact', '-flags:v', '+bitexact', '-flags:a', '+bitexact',
    '-movflags', '+faststart',
    '-fs', String(outputCapBytes),
    '-f', OUTPUT[format].muxer, '-y', `file:${output}`,
  ];
}

async function remux(input: Buffer, sourceFormat: SourceFormat, settings: RemuxSettings): Promise<ProcessedVideo> {
  // mkdtemp makes the directory with mode 0700: only this user can list or read it.
  const dir = await mkdtemp(join(settings.tempParent, 'loudhailer-video-'));
  try {
    const inputPath = join(dir, 'input');
    const outputPath = join(dir, `output.${sourceFormat}`);
    await writeFile(inputPath, input, { mode: 0o600, flag: 'wx' });
    const outputCap = input.length * 2 + 1024 * 1024;
    const args = remuxArguments(inputPath, outputPath, sourceFormat, outputCap);

    let result: RunResult;
    try {
      result = await run(settings.ffmpegPath, args, settings.timeoutMs);
    } catch (error) {
      // Not the officer's file: ffmpeg itself is missing or broken. Not a MediaRejected.
      throw new Error(describeSpawnError(settings.ffmpegPath, error), { cause: error });
    }
    if (result.timedOut) {
      throw new MediaRejected('the video took too long to process; post a shorter clip', {
        cause: new Error(`ffmpeg was killed after ${settings.timeoutMs} ms`),
      });
    }
    if (result.code !== 0) {
      const cause = new Error(`ffmpeg exited with ${result.code ?? result.signal ?? '?'}: ${lastLines(result.stderr)}`);
      if (/Stream map '0:V' matches no streams/.test(result.stderr)) {
        throw new MediaRejected('there is no picture in this video (only sound, or nothing at all)', { cause });
      }
      throw new MediaRejected('the video is damaged or incomplete', { cause });
    }

    const bytes = await readFile(outputPath);
    if (bytes.length === 0 || bytes.length >= outputCap) {
      throw new MediaRejected('the video is damaged or incomplete', {
        cause: new Error(`remuxed output is ${bytes.length} bytes for ${input.length} bytes in`),
      });
    }
    const info = describeInput(result.stderr);
    return {
      kind: 'video',
      bytes,
      mime: OUTPUT[sourceFormat].mime,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      sourceFormat,
      ...info,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Duration and displayed size of the first video track, from ffmpeg's description of the input. */
export function describeInput(stderr: string): Pick<ProcessedVideo, 'durationSeconds' | 'width' | 'height'> {
  const start = stderr.indexOf('Input #0');
  if (start < 0) return {};
  const ends = [stderr.indexOf('Output #0', start), stderr.indexOf('Stream mapping:', start)].filter((i) => i >= 0);
  const section = stderr.slice(start, ends.length > 0 ? Math.min(...ends) : undefined);

  const info: Pick<ProcessedVideo, 'durationSeconds' | 'width' | 'height'> = {};
  const duration = /Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)/.exec(section);
  if (duration) {
    const seconds = Number(duration[1]) * 3600 + Number(duration[2]) * 60 + Number(duration[3]);
    if (Number.isFinite(seconds)) info.durationSeconds = seconds;
  }

  // The first video stream that is not cover art, and its own indented lines (metadata, side data).
  const lines = section.split(/\r?\n/);
  const at = lines.findIndex((line) => /^\s*Stream #0:\d+.*: Video: /.test(line) && !/\(attached pic\)/.test(line));
  if (at < 0) return info;
  const streamLine = lines[at] ?? '';
  const size = /, (\d{1,5})x(\d{1,5})[\s,]/.exec(streamLine);
  if (!size) return info;
  let width = Number(size[1]);
  let height = Number(size[2]);
  const indent = /^\s*/.exec(streamLine)?.[0].length ?? 0;
  // Its "Metadata:" and "Side data:" blocks follow, up to the next stream (or a less indented line).
  for (const line of lines.slice(at + 1)) {
    if (/^\s*Stream #/.test(line) || (/^\s*/.exec(line)?.[0].length ?? 0) < indent) break;
    const rotation = /displaymatrix: rotation of (-?[\d.]+) degrees/.exec(line) ?? /^\s*rotate\s*: (-?\d+)/.exec(line);
    if (rotation && Math.abs(Math.round(Number(rotation[1]) / 90)) % 2 === 1) {
      [width, height] = [height, width];
      break;
    }
  }
  if (width > 0 && height > 0) {
    info.width = width;
    info.height = height;
  }
  return info;
}

// ---------------------------------------------------------------------------------------------
// Running a program.

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs `file` with `args` (no shell), stdin closed, and collects (capped) output. Kills it with
 * SIGKILL after `timeoutMs`. Rejects only when it could not be started (ENOENT, EACCES, …).
 */
function run(file: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false, windowsHide: true });
    const stdout = new CappedText();
    const stderr = new CappedText();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.add(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.add(chunk));
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: stdout.text(), stderr: stderr.text(), timedOut });
    });
  });
}

/** Keeps the first STDERR_HEAD_BYTES and the last STDERR_TAIL_BYTES of a stream. */
class CappedText {
  private head: Buffer[] = [];
  private headLength = 0;
  private tail: Buffer = Buffer.alloc(0);
  private dropped = false;

  add(chunk: Buffer): void {
    if (this.headLength < STDERR_HEAD_BYTES) {
      const take = chunk.subarray(0, STDERR_HEAD_BYTES - this.headLength);
      this.head.push(take);
      this.headLength += take.length;
      chunk = chunk.subarray(take.length);
    }
    if (chunk.length === 0) return;
    const joined = Buffer.concat([this.tail, chunk]);
    if (joined.length > STDERR_TAIL_BYTES) this.dropped = true;
    this.tail = joined.subarray(Math.max(0, joined.length - STDERR_TAIL_BYTES));
  }

  text(): string {
    const head = Buffer.concat(this.head).toString('utf8');
    return this.dropped ? `${head}\n[…]\n${this.tail.toString('utf8')}` : head + this.tail.toString('utf8');
  }
}

function firstLine(text: string): string | undefined {
  return text.split(/\r?\n/).find((line) => line.trim() !== '')?.trim().slice(0, 200);
}

function lastLines(text: string): string {
  return text.trim().split(/\r?\n/).slice(-3).join(' | ').slice(0, 1000);
}
