/**
 * The media pipeline as the core sees it: images and footage, told apart by their magic
 * bytes (never by the file name), each sent through its own processor.
 */
import { fileTypeFromBuffer } from 'file-type';
import { MediaRejected, type MediaProcessor, type ProcessedMedia, type ProcessedVideo } from '../core/ports.js';
import type { ImageProcessor } from './images.js';

export interface VideoProcessor {
  /** Throws MediaRejected (plain words) for anything that is not an acceptable video. */
  processVideo(input: Buffer, filename: string): Promise<ProcessedVideo>;
}

/** Containers that are footage (file-type's names); everything else goes to the image pipeline. */
const VIDEO_TYPES = new Set(['mp4', 'mov', 'm4v', '3gp', '3g2', 'avi', 'webm', 'mkv', 'mpg', 'flv', 'wmv', 'asf', 'mts', 'm2ts']);

export function createMediaProcessor(parts: { images: ImageProcessor; videos?: VideoProcessor }): MediaProcessor {
  return {
    async process(input: Buffer, filename: string): Promise<ProcessedMedia> {
      const type = input.length > 0 ? await fileTypeFromBuffer(input).catch(() => undefined) : undefined;
      if (type && VIDEO_TYPES.has(type.ext)) {
        if (!parts.videos) throw new MediaRejected("footage isn't accepted by this bot (its video processing is off)");
        return parts.videos.processVideo(input, filename);
      }
      return parts.images.processImage(input, filename);
    },
  };
}
