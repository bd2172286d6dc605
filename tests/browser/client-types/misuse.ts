// Misuses the types must reject (tests/browser/client_types.test.mjs expects an error on each marked line).
import { upload, abort } from '../../../client/oss-direct-upload.js';

declare const file: File;
upload(file, { method: 'multipart' }); // ERROR: no such option (it is `methods`)
upload(file, { methods: ['sts'] }); // ERROR: sts is not a client method
upload(file, { token: getTokenPromise() }); // ERROR: a promise, not a function (the ali-oss refreshSTSToken mistake)
upload(file, { onProgress: (fraction: number) => fraction }); // ERROR: progress is an object
abort('key'); // ERROR: a File or a pending upload
upload(file).then((r) => r.url); // ERROR: the result has no url

declare function getTokenPromise(): Promise<string>;
