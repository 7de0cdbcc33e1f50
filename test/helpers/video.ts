/**
 * Synthetic video fixtures for tests, made by the bundled ffmpeg: a 64×48 test pattern at 10 fps
 * (H.264 when the build has libx264, else MPEG-4 part 2), by default with a short sine tone. No
 * real person or place: the "phone" metadata is made up (a GPS fix in central London, an
 * iPhone 12, a date).
 *
 * Each distinct set of options is generated once per process and cached (tens of ms, ~10 KB).
 * Used by test/media and by tests elsewhere (`tinyMp4`); keep the signatures stable.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';

const execFileAsync = promisify(execFile);

export const FFMPEG_PATH: string = ffmpegInstaller.path;

/** The metadata `withMetadata` writes. */
export const VIDEO_FIXTURE_METADATA = {
  location: '+51.5074-000.1278/',
  creationTime: '2024-05-01T10:00:00Z',
  make: 'Apple',
  model: 'iPhone 12',
  title: 'Loudhailer fixture title',
  comment: 'Loudhailer fixture comment',
  /** A recording timecode (time of day), written as a QuickTime timecode (tmcd) track. */
  timecode: '10:11:12:03',
} as const;

/** Byte strings that must be gone after stripping (all present in a `withMetadata` video). */
export const VIDEO_FIXTURE_LEAKS = ['+51.5074', 'iPhone', 'Apple', '2024-05-01', 'Loudhailer fixture'] as const;

/** 2024-05-01T10:00:00Z in QuickTime time (seconds since 1904-01-01 UTC), as mvhd/tkhd/mdhd store it. */
export const FIXTURE_QUICKTIME_TIME = Date.UTC(2024, 4, 1, 10) / 1000 + 2_082_844_800;

export interface MakeVideoOptions {
  container: 'mp4' | 'mov';
  /** Length in seconds. Default 1. */
  seconds?: number;
  /** Writes the phone metadata above (GPS location, creation time, make, model, title, comment). */
  withMetadata?: boolean;
  /**
   * How the metadata is written: 'keys' (default) as Apple-style `mdta` keys, the way iPhones
   * do and the only way this ffmpeg's MP4 muxer keeps make/model/location as text; 'udta' as
   * classic QuickTime user-data atoms (©xyz, ©mak, ©mod, ©day), MOV only. Either way the
   * creation time is also in the movie, track and media headers (as a binary number).
   */
  metadataStyle?: 'keys' | 'udta';
  /** Adds a timecode (tmcd) track carrying VIDEO_FIXTURE_METADATA.timecode (MOV only). */
  withTimecode?: boolean;
  /** Leaves out the audio track. */
  silent?: boolean;
  /** Marks the video track as rotated (the track matrix, as a phone filming upright does). */
  rotate?: 90 | 180 | 270;
  /** Puts the index (moov) before the media data. Default false (ffmpeg's default: index last). */
  faststart?: boolean;
}

const cache = new Map<string, Promise<Buffer>>();

function cached(key: string, make: () => Promise<Buffer>): Promise<Buffer> {
  let made = cache.get(key);
  if (!made) {
    made = make();
    made.catch(() => cache.delete(key));
    cache.set(key, made);
  }
  return made;
}

/** A small, valid MP4 or MOV (cached per options). Callers must not modify the returned buffer. */
export function makeVideo(options: MakeVideoOptions): Promise<Buffer> {
  const key = JSON.stringify([
    options.container,
    options.seconds ?? 1,
    options.withMetadata ?? false,
    options.metadataStyle ?? 'keys',
    options.withTimecode ?? false,
    options.silent ?? false,
    options.rotate ?? 0,
    options.faststart ?? false,
  ]);
  return cached(key, () => generate(options));
}

/**
 * A small, valid MP4 (1 s of the test pattern, 64×48, H.264, yuv420p, no sound, index first:
 * a few kilobytes), made once per process.
 */
export function tinyMp4(): Promise<Buffer> {
  return makeVideo({ container: 'mp4', silent: true, faststart: true });
}

let videoCodec: Promise<string> | undefined;

/** libx264 when this ffmpeg build has it (the npm static build does), else mpeg4. */
export function fixtureVideoCodec(): Promise<string> {
  videoCodec ??= execFileAsync(FFMPEG_PATH, ['-hide_banner', '-encoders']).then(
    ({ stdout }) => (/^\s*V\S*\s+libx264\s/m.test(stdout) ? 'libx264' : 'mpeg4'),
    () => 'mpeg4',
  );
  return videoCodec;
}

async function generate(options: MakeVideoOptions): Promise<Buffer> {
  const { container } = options;
  const seconds = options.seconds ?? 1;
  const style = options.metadataStyle ?? 'keys';
  if (style === 'udta' && container !== 'mov') throw new Error("metadataStyle 'udta' is for MOV only");
  if (options.withTimecode && container !== 'mov') throw new Error('withTimecode is for MOV only');
  if (options.rotate && (options.withMetadata || options.withTimecode)) {
    throw new Error('rotate is not combined with withMetadata or withTimecode');
  }
  const codec = await fixtureVideoCodec();

  const args = ['-hide_banner', '-nostdin', '-v', 'error', '-y'];
  args.push('-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10');
  if (!options.silent) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=8000');
  args.push('-t', String(seconds), '-pix_fmt', 'yuv420p');
  args.push('-c:v', codec, ...(codec === 'libx264' ? ['-preset', 'ultrafast', '-crf', '35'] : ['-q:v', '10']));
  if (!options.silent) args.push('-c:a', 'aac', '-b:a', '16k');
  const movflags: string[] = [];
  if (options.faststart) movflags.push('+faststart');
  if (options.withMetadata) {
    const m = VIDEO_FIXTURE_METADATA;
    args.push(
      '-metadata', `location=${m.location}`,
      '-metadata', `creation_time=${m.creationTime}`,
      '-metadata', `make=${m.make}`,
      '-metadata', `model=${m.model}`,
      '-metadata', `title=${m.title}`,
      '-metadata', `comment=${m.comment}`,
    );
    if (style === 'keys') {
      // What an iPhone writes, as mdta keys (with use_metadata_tags every tag becomes a key).
      args.push('-metadata', `com.apple.quicktime.location.ISO6709=${m.location}`);
      movflags.push('+use_metadata_tags');
    } else {
      args.push('-metadata', `date=${m.creationTime}`); // ©day
    }
  }
  if (movflags.length > 0) args.push('-movflags', movflags.join(''));
  if (options.withTimecode) args.push('-timecode', VIDEO_FIXTURE_METADATA.timecode);

  const dir = await mkdtemp(join(tmpdir(), 'loudhailer-fixture-'));
  try {
    const out = join(dir, `fixture.${container}`);
    args.push('-f', container, out);
    await execFileAsync(FFMPEG_PATH, args);
    if (!options.rotate) return await readFile(out);
    // This ffmpeg writes the rotation matrix only when remuxing, not when encoding.
    const rotated = join(dir, `rotated.${container}`);
    await execFileAsync(FFMPEG_PATH, [
      '-hide_banner', '-nostdin', '-v', 'error', '-y', '-i', out,
      '-map', '0', '-c', 'copy', '-metadata:s:v:0', `rotate=${options.rotate}`,
      ...(options.faststart ? ['-movflags', '+faststart'] : []),
      '-f', container, rotated,
    ]);
    return await readFile(rotated);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Cuts the end off a video (keeps `fraction` of it): a download that stopped part way. */
export function truncated(video: Buffer, fraction = 0.6): Buffer {
  return Buffer.from(video.subarray(0, Math.floor(video.length * fraction)));
}

/** A WebM or AVI clip (same picture, half a second), for refusals. */
export function makeOtherVideo(format: 'webm' | 'avi'): Promise<Buffer> {
  return cached(`other:${format}`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loudhailer-fixture-'));
    try {
      const out = join(dir, `fixture.${format}`);
      const codec =
        format === 'webm' ? ['-c:v', 'libvpx', '-deadline', 'realtime', '-b:v', '100k'] : ['-c:v', 'mpeg4', '-q:v', '10'];
      await execFileAsync(FFMPEG_PATH, [
        '-hide_banner', '-nostdin', '-v', 'error', '-y',
        '-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-t', '0.5', '-pix_fmt', 'yuv420p',
        ...codec, '-f', format, out,
      ]);
      return await readFile(out);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Reading an MP4/MOV's atoms, so tests can check the header times and which tracks are left.

export interface Atom {
  type: string;
  /** Offset of the atom's header in the file. */
  start: number;
  /** Offset of its payload (after the 8- or 16-byte header). */
  body: number;
  end: number;
}

const CONTAINER_ATOMS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'udta', 'edts', 'dinf']);

/** Every atom in the file, depth first (descending into the usual containers). */
export function atoms(bytes: Buffer, start = 0, end = bytes.length): Atom[] {
  const found: Atom[] = [];
  let at = start;
  while (at + 8 <= end) {
    let size = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    let body = at + 8;
    if (size === 1) {
      if (at + 16 > end) break;
      size = Number(bytes.readBigUInt64BE(at + 8));
      body = at + 16;
    } else if (size === 0) {
      size = end - at;
    }
    if (size < body - at || at + size > end) break; // truncated or malformed: stop
    found.push({ type, start: at, body, end: at + size });
    if (CONTAINER_ATOMS.has(type)) found.push(...atoms(bytes, body, at + size));
    at += size;
  }
  return found;
}

/** Creation and modification times of every mvhd/tkhd/mdhd (QuickTime seconds since 1904). */
export function headerTimes(bytes: Buffer): Array<{ type: string; created: number; modified: number }> {
  return atoms(bytes)
    .filter((atom) => atom.type === 'mvhd' || atom.type === 'tkhd' || atom.type === 'mdhd')
    .map((atom) => {
      const version = bytes[atom.body];
      return version === 1
        ? {
            type: atom.type,
            created: Number(bytes.readBigUInt64BE(atom.body + 4)),
            modified: Number(bytes.readBigUInt64BE(atom.body + 12)),
          }
        : { type: atom.type, created: bytes.readUInt32BE(atom.body + 4), modified: bytes.readUInt32BE(atom.body + 8) };
    });
}

/** The handler type of each track (`vide`, `soun`, `tmcd`, `meta`, `text`, …). */
export function trackKinds(bytes: Buffer): string[] {
  const all = atoms(bytes);
  return all
    .filter((atom) => atom.type === 'trak')
    .map((trak) => {
      const hdlr = all.find((a) => a.type === 'hdlr' && a.start > trak.start && a.end <= trak.end);
      return hdlr ? bytes.toString('latin1', hdlr.body + 8, hdlr.body + 12) : '?';
    });
}

async function withFile<T>(bytes: Buffer, extension: string, use: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'loudhailer-probe-'));
  try {
    const file = join(dir, `clip.${extension}`);
    await writeFile(file, bytes);
    return await use(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Whether this ffmpeg decodes every frame of `bytes` without a word (`ffmpeg -v error -i … -f null -`). */
export function decodes(bytes: Buffer, extension: string): Promise<{ ok: boolean; errors: string }> {
  return withFile(bytes, extension, async (file) => {
    try {
      const { stderr } = await execFileAsync(FFMPEG_PATH, ['-hide_banner', '-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-']);
      return { ok: stderr.trim() === '', errors: stderr };
    } catch (error) {
      return { ok: false, errors: String((error as { stderr?: unknown }).stderr ?? error) };
    }
  });
}

/** `ffmpeg -i` on `bytes`: the stream and metadata description ffmpeg prints (for assertions). */
export function probe(bytes: Buffer, extension: string): Promise<string> {
  return withFile(bytes, extension, async (file) => {
    try {
      await execFileAsync(FFMPEG_PATH, ['-hide_banner', '-nostdin', '-i', file]);
      return '';
    } catch (error) {
      // With no output named ffmpeg exits 1 after describing the input: that is the description.
      return String((error as { stderr?: unknown }).stderr ?? '');
    }
  });
}
