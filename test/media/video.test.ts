import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaRejected } from '../../src/core/ports.js';
import { createVideoProcessor, remuxArguments, type ProcessedVideo } from '../../src/media/video.js';
import { plainJpeg } from '../helpers/images.js';
import {
  FFMPEG_PATH,
  FIXTURE_QUICKTIME_TIME,
  VIDEO_FIXTURE_LEAKS,
  VIDEO_FIXTURE_METADATA,
  atoms,
  decodes,
  headerTimes,
  makeOtherVideo,
  makeVideo,
  probe,
  tinyMp4,
  trackKinds,
  truncated,
  type MakeVideoOptions,
} from '../helpers/video.js';

const execFileAsync = promisify(execFile);

/** Every test's temporary directories go under here, so a test can see that none are left. */
let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'loudhailer-video-test-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A fresh, empty parent for the processor's temporary directories. */
async function tempParent(): Promise<string> {
  return mkdtemp(join(scratch, 'parent-'));
}

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
  // Words for a person: one line, no stack, no ffmpeg jargon, no server paths.
  expect(rejected.reason).toBe(rejected.message);
  expect(rejected.reason).not.toMatch(/\n|ffmpeg|moov|atom|demux|\/tmp|\/work|node_modules|\bat \w+ \(/i);
  return rejected;
}

/** Writes an executable shell script standing in for ffmpeg. */
async function fakeFfmpeg(body: string): Promise<string> {
  const dir = await mkdtemp(join(scratch, 'fake-'));
  const path = join(dir, 'ffmpeg');
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

/** Shell: sets $input to the path after `-i` (without its `file:` prefix). */
const FIND_INPUT = `input=""; prev=""; for a in "$@"; do if [ "$prev" = "-i" ]; then input="\${a#file:}"; fi; prev="$a"; done`;

describe('the video processor', () => {
  const processor = createVideoProcessor();

  describe('check()', () => {
    it('reports the version of the bundled ffmpeg', async () => {
      const result = await processor.check();
      expect(result).toEqual({ ok: true, version: expect.stringMatching(/\S/) });
      const { stdout } = await execFileAsync(FFMPEG_PATH, ['-version']);
      expect(stdout).toContain(`ffmpeg version ${(result as { version: string }).version}`);
    });

    it('says clearly what is wrong with a bad ffmpeg path, and how to fix it', async () => {
      const missing = await createVideoProcessor({ ffmpegPath: join(scratch, 'no-such-ffmpeg') }).check();
      expect(missing).toEqual({ ok: false, problem: expect.stringContaining('ffmpeg was not found at') });
      expect((missing as { problem: string }).problem).toMatch(/npm ci.*or set the ffmpeg path/);

      const notExecutable = join(scratch, 'not-executable');
      await writeFile(notExecutable, 'not a program');
      const denied = await createVideoProcessor({ ffmpegPath: notExecutable }).check();
      expect(denied).toEqual({ ok: false, problem: expect.stringContaining('permission denied') });
      expect((denied as { problem: string }).problem).toContain('chmod +x');

      const notFfmpeg = await createVideoProcessor({ ffmpegPath: await fakeFfmpeg('echo "something else" >&2; exit 3') }).check();
      expect(notFfmpeg).toEqual({ ok: false, problem: expect.stringContaining('is not a working ffmpeg') });
      expect((notFfmpeg as { problem: string }).problem).toContain('something else');
    });
  });

  describe('stripping', () => {
    const cases: Array<{ name: string; options: MakeVideoOptions; mime: ProcessedVideo['mime'] }> = [
      { name: 'an MP4', options: { container: 'mp4', withMetadata: true }, mime: 'video/mp4' },
      { name: 'a MOV with iPhone-style metadata keys', options: { container: 'mov', withMetadata: true }, mime: 'video/quicktime' },
      {
        name: 'a MOV with QuickTime user data and a timecode track',
        options: { container: 'mov', withMetadata: true, metadataStyle: 'udta', withTimecode: true },
        mime: 'video/quicktime',
      },
    ];

    for (const { name, options, mime } of cases) {
      describe(name, () => {
        let original: Buffer;
        let processed: ProcessedVideo;
        beforeAll(async () => {
          original = await makeVideo(options);
          processed = await processor.processVideo(original, `clip.${options.container}`);
        });

        it('starts out with the location, device, date and title in it (the fixture is real)', async () => {
          for (const leak of VIDEO_FIXTURE_LEAKS) expect(original.includes(leak), leak).toBe(true);
          expect(headerTimes(original).map((t) => t.created)).toContain(FIXTURE_QUICKTIME_TIME);
          const description = await probe(original, options.container);
          expect(description).toContain(VIDEO_FIXTURE_METADATA.location);
          expect(description).toContain(VIDEO_FIXTURE_METADATA.model);
          if (options.withTimecode) expect(trackKinds(original)).toContain('tmcd');
        });

        it('has none of it afterwards, not even as bytes', () => {
          for (const leak of VIDEO_FIXTURE_LEAKS) expect(processed.bytes.includes(leak), leak).toBe(false);
          expect(processed.bytes.includes('Lavf')).toBe(false); // no "encoder" tag of ours either
        });

        it('writes every movie, track and media header time as 0', () => {
          const times = headerTimes(processed.bytes);
          expect(times.map((t) => t.type)).toContain('mvhd');
          for (const time of times) expect(time, time.type).toMatchObject({ created: 0, modified: 0 });
        });

        it('keeps only the picture and the sound', async () => {
          expect(trackKinds(processed.bytes)).toEqual(['vide', 'soun']);
          expect(processed.bytes.includes('tmcd')).toBe(false);
          const description = await probe(processed.bytes, options.container);
          expect(description).not.toMatch(/location|creation_time|make|model|title|comment|encoder|timecode|date/i);
          expect(description).toMatch(/Stream #0:0.*Video: /);
          expect(description).toMatch(/Stream #0:1.*Audio: /);
        });

        it('is still a playable video that decodes without an error', async () => {
          const result = await decodes(processed.bytes, options.container);
          expect(result.errors).toBe('');
          expect(result.ok).toBe(true);
        });

        it('describes what it returns, with the hash of exactly those bytes', () => {
          expect(processed).toMatchObject({ kind: 'video', mime, sourceFormat: options.container, width: 64, height: 48 });
          expect(processed.sha256).toBe(createHash('sha256').update(processed.bytes).digest('hex'));
          expect(processed.durationSeconds).toBeGreaterThan(0.9);
          expect(processed.durationSeconds).toBeLessThan(1.5);
        });

        it('keeps the container, with the index first so it plays while downloading', () => {
          const top = atoms(processed.bytes).map((a) => a.type);
          expect(top[0]).toBe('ftyp');
          expect(top.indexOf('moov')).toBeGreaterThan(-1);
          expect(top.indexOf('moov')).toBeLessThan(top.indexOf('mdat'));
          const brand = processed.bytes.toString('latin1', 8, 12);
          expect(brand).toBe(options.container === 'mov' ? 'qt  ' : 'isom');
        });
      });
    }

    it('gives exactly the bytes a clip without any metadata gives (nothing of it survives)', async () => {
      for (const container of ['mp4', 'mov'] as const) {
        const plain = await processor.processVideo(await makeVideo({ container }), 'plain');
        const tagged = await processor.processVideo(await makeVideo({ container, withMetadata: true }), 'tagged');
        expect(tagged.sha256, container).toBe(plain.sha256);
      }
      const udta = await processor.processVideo(
        await makeVideo({ container: 'mov', withMetadata: true, metadataStyle: 'udta', withTimecode: true }),
        'udta',
      );
      const plainMov = await processor.processVideo(await makeVideo({ container: 'mov' }), 'plain');
      expect(udta.sha256).toBe(plainMov.sha256);
    });

    it('copies the picture and sound bit for bit (no re-encode)', async () => {
      const original = await makeVideo({ container: 'mp4', withMetadata: true });
      const processed = await processor.processVideo(original, 'clip.mp4');
      const packets = async (bytes: Buffer): Promise<string> => {
        const dir = await mkdtemp(join(scratch, 'md5-'));
        const file = join(dir, 'clip.mp4');
        await writeFile(file, bytes);
        const { stdout } = await execFileAsync(FFMPEG_PATH, ['-v', 'error', '-i', file, '-map', '0', '-c', 'copy', '-f', 'framemd5', '-']);
        await rm(dir, { recursive: true, force: true });
        return stdout.split('\n').filter((line) => !line.startsWith('#')).join('\n');
      };
      expect(await packets(processed.bytes)).toBe(await packets(original));
    });

    it('keeps the rotation of a clip filmed upright, and reports its size as shown', async () => {
      const original = await makeVideo({ container: 'mov', rotate: 90 });
      expect(await probe(original, 'mov')).toMatch(/displaymatrix: rotation of -?90/);
      const processed = await processor.processVideo(original, 'upright.mov');
      expect(await probe(processed.bytes, 'mov')).toMatch(/displaymatrix: rotation of -?90/);
      expect(processed).toMatchObject({ width: 48, height: 64 });
    });

    it('handles a clip without sound', async () => {
      const processed = await processor.processVideo(await makeVideo({ container: 'mp4', silent: true }), 'quiet.mp4');
      expect(trackKinds(processed.bytes)).toEqual(['vide']);
      expect((await decodes(processed.bytes, 'mp4')).ok).toBe(true);
    });

    it('goes by the bytes, not the name', async () => {
      const mov = await makeVideo({ container: 'mov' });
      const processed = await processor.processVideo(mov, 'clip.mp4');
      expect(processed).toMatchObject({ sourceFormat: 'mov', mime: 'video/quicktime' });
      const mp4 = await processor.processVideo(await makeVideo({ container: 'mp4' }), 'notes.txt');
      expect(mp4.sourceFormat).toBe('mp4');
    });

    it('uses a fixed, shell-free ffmpeg command line that copies and drops all metadata', () => {
      const args = remuxArguments('/t/input', '/t/output.mp4', 'mp4', 1000);
      expect(args).toEqual([
        '-hide_banner', '-nostdin', '-nostats', '-xerror',
        '-f', 'mov', '-protocol_whitelist', 'file', '-i', 'file:/t/input',
        '-map', '0:V', '-map', '0:a?', '-dn', '-sn',
        '-map_metadata', '-1', '-map_chapters', '-1',
        '-c', 'copy',
        '-fflags', '+bitexact', '-flags:v', '+bitexact', '-flags:a', '+bitexact',
        '-movflags', '+faststart',
        '-fs', '1000',
        '-f', 'mp4', '-y', 'file:/t/output.mp4',
      ]);
    });
  });

  describe('refusals, in plain words', () => {
    it('refuses a text file named .mp4', async () => {
      const text = Buffer.from('Witness statement, draft 2.\nNot a video at all.\n'.repeat(20));
      const rejected = await rejection(processor.processVideo(text, 'clip.mp4'));
      expect(rejected.reason).toBe('it is not an MP4 or MOV video (it looks like a text file); save or export it as MP4 and post it again');
    });

    it('refuses a web page and a JPEG', async () => {
      const html = Buffer.from('<!doctype html><html><body>Sign in</body></html>');
      expect((await rejection(processor.processVideo(html, 'clip.mp4'))).reason).toContain('(it looks like a web page (HTML))');
      const jpeg = await plainJpeg();
      expect((await rejection(processor.processVideo(jpeg, 'clip.mov'))).reason).toContain('(it looks like a JPEG image)');
    });

    it('refuses WebM and AVI video', async () => {
      const webm = await makeOtherVideo('webm');
      expect((await rejection(processor.processVideo(webm, 'clip.mp4'))).reason).toBe(
        'it is not an MP4 or MOV video (it looks like a WebM video); save or export it as MP4 and post it again',
      );
      const avi = await makeOtherVideo('avi');
      expect((await rejection(processor.processVideo(avi, 'clip.mp4'))).reason).toContain('(it looks like an AVI video)');
    });

    it('refuses bytes it cannot name', async () => {
      const noise = Buffer.alloc(4096);
      for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919 + 13) % 251;
      noise[5] = 0; // binary, not text
      expect((await rejection(processor.processVideo(noise, 'clip.mp4'))).reason).toBe(
        "it is not an MP4 or MOV video (we can't tell what it is); save or export it as MP4 and post it again",
      );
    });

    it('refuses an empty file', async () => {
      expect((await rejection(processor.processVideo(Buffer.alloc(0), 'clip.mp4'))).reason).toBe('the file is empty');
    });

    it('refuses a truncated MP4 (its index at the end is missing)', async () => {
      const clip = truncated(await makeVideo({ container: 'mp4' }));
      const layout = atoms(await makeVideo({ container: 'mp4' })).map((a) => a.type);
      expect(layout.indexOf('mdat')).toBeLessThan(layout.indexOf('moov')); // ffmpeg's default: the index last
      expect((await rejection(processor.processVideo(clip, 'clip.mp4'))).reason).toBe('the video is damaged or incomplete');
    });

    it('refuses a truncated MP4 whose index is at the front (the pictures are cut off)', async () => {
      const whole = await processor.processVideo(await makeVideo({ container: 'mp4' }), 'whole.mp4'); // faststart
      const clip = truncated(whole.bytes, 0.7);
      expect((await rejection(processor.processVideo(clip, 'clip.mp4'))).reason).toBe('the video is damaged or incomplete');
    });

    it('refuses an MP4 header followed by garbage', async () => {
      const header = (await makeVideo({ container: 'mp4' })).subarray(0, 32);
      const garbage = Buffer.concat([header, Buffer.alloc(2000, 0x5a)]);
      expect((await rejection(processor.processVideo(garbage, 'clip.mp4'))).reason).toBe('the video is damaged or incomplete');
    });

    it('refuses an MP4 with sound but no picture', async () => {
      const dir = await mkdtemp(join(scratch, 'audio-'));
      const file = join(dir, 'sound.mp4');
      await execFileAsync(FFMPEG_PATH, [
        '-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=8000', '-t', '0.5', '-c:a', 'aac', '-f', 'mp4', file,
      ]);
      const sound = await readFile(file);
      const rejected = await rejection(processor.processVideo(sound, 'clip.mp4'));
      expect(rejected.reason).toBe('there is no picture in this video (only sound, or nothing at all)');
    });

    it('refuses a video over the size limit, saying the size and the limit', async () => {
      const clip = await makeVideo({ container: 'mp4' });
      const small = createVideoProcessor({ maxBytes: 4096 });
      const rejected = await rejection(small.processVideo(clip, 'clip.mp4'));
      expect(rejected.reason).toMatch(/^the video is too large \(\d+(\.\d+)? KB; the most that can be posted is 4 KB\); post a shorter clip/);
      await expect(createVideoProcessor().processVideo(clip, 'clip.mp4')).resolves.toMatchObject({ kind: 'video' });
    });

    it('says 256 MB is the default limit', async () => {
      const big = Buffer.allocUnsafe(256 * 1024 * 1024 + 1);
      const rejected = await rejection(processor.processVideo(big, 'huge.mp4'));
      expect(rejected.reason).toBe(
        'the video is too large (256 MB; the most that can be posted is 256 MB); post a shorter clip or a smaller copy of it',
      );
    });
  });

  describe('temporary files and the ffmpeg process', () => {
    it('leaves no temporary directory behind, after success and after a refusal', async () => {
      const parent = await tempParent();
      const local = createVideoProcessor({ tempDir: parent });
      await local.processVideo(await makeVideo({ container: 'mov', withMetadata: true }), 'clip.mov');
      expect(await readdir(parent)).toEqual([]);
      await rejection(local.processVideo(truncated(await makeVideo({ container: 'mp4' })), 'clip.mp4'));
      expect(await readdir(parent)).toEqual([]);
    });

    it('writes the upload into a private (0700) directory, as a private (0600) file', async () => {
      const parent = await tempParent();
      const record = join(scratch, `modes-${Date.now()}`);
      const ffmpegPath = await fakeFfmpeg(
        `${FIND_INPUT}\nstat -c '%a' "$(dirname "$input")" "$input" > '${record}'\nexit 1`,
      );
      const local = createVideoProcessor({ ffmpegPath, tempDir: parent });
      await rejection(local.processVideo(await makeVideo({ container: 'mp4' }), 'clip.mp4'));
      expect((await readFile(record, 'utf8')).trim().split('\n')).toEqual(['700', '600']);
      expect(await readdir(parent)).toEqual([]);
    });

    it('kills ffmpeg when it runs over the time limit, refuses the video and cleans up', async () => {
      const parent = await tempParent();
      const pidFile = join(scratch, `pid-${Date.now()}`);
      const ffmpegPath = await fakeFfmpeg(`echo $$ > '${pidFile}'\nexec sleep 30`);
      const local = createVideoProcessor({ ffmpegPath, tempDir: parent, timeoutMs: 300 });
      const started = Date.now();
      const rejected = await rejection(local.processVideo(await makeVideo({ container: 'mp4' }), 'clip.mp4'));
      expect(rejected.reason).toBe('the video took too long to process; post a shorter clip');
      expect(Date.now() - started).toBeLessThan(5000);
      const pid = Number((await readFile(pidFile, 'utf8')).trim());
      expect(() => process.kill(pid, 0)).toThrow(); // gone
      expect(await readdir(parent)).toEqual([]);
    });

    it('runs one ffmpeg at a time by default', async () => {
      const log = join(scratch, `concurrency-${Date.now()}`);
      const ffmpegPath = await fakeFfmpeg(`echo start >> '${log}'\nsleep 0.2\necho end >> '${log}'\nexit 1`);
      const local = createVideoProcessor({ ffmpegPath });
      const clip = await makeVideo({ container: 'mp4' });
      await Promise.all([1, 2, 3].map(() => rejection(local.processVideo(clip, 'clip.mp4'))));
      expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual(['start', 'end', 'start', 'end', 'start', 'end']);
    });

    it('runs several at once when allowed', async () => {
      const log = join(scratch, `concurrency2-${Date.now()}`);
      const ffmpegPath = await fakeFfmpeg(`echo start >> '${log}'\nsleep 0.3\necho end >> '${log}'\nexit 1`);
      const local = createVideoProcessor({ ffmpegPath, concurrency: 2 });
      const clip = await makeVideo({ container: 'mp4' });
      await Promise.all([1, 2].map(() => rejection(local.processVideo(clip, 'clip.mp4'))));
      expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual(['start', 'start', 'end', 'end']);
    });

    it('fails loudly, not as a refusal of the officer\'s file, when ffmpeg is missing', async () => {
      const local = createVideoProcessor({ ffmpegPath: join(scratch, 'no-such-ffmpeg') });
      const error = await local.processVideo(await makeVideo({ container: 'mp4' }), 'clip.mp4').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(MediaRejected);
      expect((error as Error).message).toContain('ffmpeg was not found at');
    });

    it('checks its options', () => {
      expect(() => createVideoProcessor({ maxBytes: 0 })).toThrow(RangeError);
      expect(() => createVideoProcessor({ timeoutMs: -1 })).toThrow(RangeError);
      expect(() => createVideoProcessor({ concurrency: 0.5 })).toThrow(RangeError);
    });
  });

  describe('the fixtures', () => {
    it('are small and quick to make', async () => {
      const started = Date.now();
      const fresh = await Promise.all([
        makeVideo({ container: 'mp4', seconds: 2, withMetadata: true }),
        makeVideo({ container: 'mov', seconds: 2, withMetadata: true }),
      ]);
      expect(Date.now() - started).toBeLessThan(10_000);
      for (const clip of fresh) expect(clip.length).toBeLessThan(100 * 1024);
      expect(await makeVideo({ container: 'mp4', seconds: 2, withMetadata: true })).toBe(fresh[0]); // cached
    });

    it('include tinyMp4(): a silent MP4 with its index first, which the processor accepts', async () => {
      const tiny = await tinyMp4();
      expect(tiny.length).toBeLessThan(20 * 1024);
      expect(trackKinds(tiny)).toEqual(['vide']);
      const layout = atoms(tiny).map((a) => a.type);
      expect(layout.indexOf('moov')).toBeLessThan(layout.indexOf('mdat'));
      expect(await processor.processVideo(tiny, 'tiny.mp4')).toMatchObject({ sourceFormat: 'mp4', width: 64, height: 48 });
      expect(await tinyMp4()).toBe(tiny);
    });
  });
});
