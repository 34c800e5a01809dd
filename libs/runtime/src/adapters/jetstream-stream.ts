import {
  JetStreamApiCodes,
  JetStreamApiError,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';

/**
 * Creates a file-storage stream capturing `subject` unless it exists; fails if a stream of that name captures
 * other subjects (two deployments configured with one stream name must not share it silently). Several processes
 * may call it at once: the one whose `add` loses the race uses the stream the winner made.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  name: string,
  subject: string,
  config: Partial<StreamConfig> = {},
): Promise<void> {
  let subjects: readonly string[] | undefined;
  try {
    subjects = (await jsm.streams.info(name)).config.subjects;
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
    try {
      subjects = (await jsm.streams.add({ storage: StorageType.File, ...config, name, subjects: [subject] }))
        .config.subjects;
    } catch (addError) {
      subjects = (await jsm.streams.info(name).catch(() => Promise.reject(addError))).config.subjects;
    }
  }
  if (!subjects?.includes(subject))
    throw new Error(
      `stream ${name} exists but does not capture ${subject} (it captures ${subjects?.join(', ')})`,
    );
}
