// Types for oss-direct-upload.js, the browser client of an oss-direct-upload function.

/** How a file goes to OSS: one form POST, one presigned PUT, or presigned parts. */
export type UploadMethod = 'post-policy' | 'presign' | 'multipart';

/** Progress of one upload, in bytes of the file. */
export interface UploadProgress {
  loaded: number;
  total: number;
  method: UploadMethod;
}

export interface UploadOptions {
  /** The function's base URL, e.g. `https://fn.example.com/` (default: relative to the page). */
  baseUrl?: string;
  /** The upload profile (see `GET /v1/config`); default `default`. */
  profile?: string;
  /**
   * The bearer token for `jwt` / `fc-jwt` deployments. Called once per upload and
   * again, with `refresh: true`, when the function answers 401: return a fresh token then.
   */
  token?: (request: { refresh: boolean }) => string | Promise<string>;
  /** Aborting it pauses the upload: `upload()` rejects with code `Paused`; call `upload()` again to resume. */
  signal?: AbortSignal;
  onProgress?: (progress: UploadProgress) => void;
  /** Called before a transient failure is retried, with the wait in milliseconds. */
  onRetry?: (error: UploadError, delayMs: number) => void;
  /** The methods the caller accepts (default all three); the profile's methods narrow them. */
  methods?: UploadMethod[];
  /** Files larger than this go up in parts when multipart is allowed (default 8 MiB). */
  multipartAbove?: number;
  /** Parts sent at once (default 4). */
  parallel?: number;
  /** Attempts at the whole upload (default 3); each part also gets 5. */
  attempts?: number;
  /** The Content-Type to declare (default the file's type, else application/octet-stream). */
  contentType?: string;
}

export interface UploadResult {
  /** The object key the function chose (under the caller's prefix). */
  key: string;
  method: UploadMethod;
  size: number;
}

/**
 * Why an upload failed. `code` is the function's error code (`ContentTypeNotAllowed`,
 * `FileTooLarge`, `InvalidToken`, …), OSS's (`RequestTimeTooSkewed`, `SignatureDoesNotMatch`,
 * `AccessDenied`, …) or the client's: `ETagNotExposed` (the bucket's CORS rule hides `ETag`),
 * `NetworkError`, `Paused`, `Aborted`.
 */
export declare class UploadError extends Error {
  readonly name: 'UploadError';
  readonly code: string;
  /** The HTTP status, 0 when there was no answer. */
  readonly status: number;
  /** Seconds the function asked to wait (429, `Retry-After`), else 0. */
  readonly retryAfter: number;
  /** Who answered: the function (permission) or OSS (the bytes). */
  readonly stage: 'function' | 'oss';
  /** Whether trying again may succeed. */
  readonly retryable: boolean;
}

/** A multipart upload this browser remembers (localStorage: key and uploadId, never a token or URL). */
export interface PendingUpload {
  key: string;
  uploadId: string;
  partSize: number;
  partCount: number;
  /** Bytes OSS held at the last count. */
  sent: number;
  name: string;
  size: number;
  type: string;
  lastModified: number;
}

/**
 * Uploads `file` straight to OSS. Picks a POST policy, a presigned PUT or presigned
 * multipart from the deployment's config and the file's size. Calling it again for the
 * same file resumes an unfinished multipart upload (also after a reload).
 */
export declare function upload(file: File, options?: UploadOptions): Promise<UploadResult>;

/** Unfinished multipart uploads this browser remembers. */
export declare function pending(): PendingUpload[];

/**
 * Stops the upload of `file` if it is running and aborts it at OSS (its parts are dropped).
 * Resolves with whether there was a multipart upload to abort.
 */
export declare function abort(
  file: File | PendingUpload,
  options?: Pick<UploadOptions, 'baseUrl' | 'token'>,
): Promise<boolean>;
