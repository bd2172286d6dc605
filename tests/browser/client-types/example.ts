// An app's use of the browser client, type-checked against client/oss-direct-upload.d.ts
// (tsc --noEmit; tests/browser/client_types.test.mjs).
import { upload, pending, abort, UploadError } from '../../../client/oss-direct-upload.js';
import type { UploadOptions, UploadProgress, UploadResult, PendingUpload, UploadMethod } from '../../../client/oss-direct-upload.js';

declare function myToken(): Promise<string>;

export async function send(file: File, bar: HTMLProgressElement): Promise<string | null> {
  const pause = new AbortController();
  const options: UploadOptions = {
    baseUrl: 'https://fn.example.com/',
    profile: 'photo',
    signal: pause.signal,
    token: () => myToken(), // a plain () => Promise<string> is a token function
    onProgress: ({ loaded, total, method }: UploadProgress) => {
      bar.value = loaded / total;
      const m: UploadMethod = method;
      void m;
    },
    onRetry: (err, delayMs) => console.log(err.code, delayMs),
    methods: ['presign', 'multipart'],
    parallel: 6,
  };
  try {
    const result: UploadResult = await upload(file, options);
    return result.key;
  } catch (err) {
    if (err instanceof UploadError) {
      const stage: 'function' | 'oss' = err.stage;
      if (err.code === 'Paused') return null;
      if (err.code === 'ETagNotExposed' || (err.retryable && err.retryAfter > 0)) console.warn(stage, err.message, err.status);
    }
    throw err;
  }
}

export async function discardAll(): Promise<number> {
  let n = 0;
  const all: PendingUpload[] = pending();
  for (const up of all) {
    console.log(up.name, Math.round((up.sent / up.size) * 100) + '%', up.key, up.uploadId, up.partCount);
    if (await abort(up, { baseUrl: 'https://fn.example.com/', token: async ({ refresh }) => (refresh ? myToken() : 'cached') })) n++;
  }
  return n;
}
