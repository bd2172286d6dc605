"""Bench helper (scripts/bench.sh): one multipart upload of N parts through a
running `oss-direct-upload local`, timing each step the function drives.

Usage: bench-multipart.py FUNCTION_URL [PARTS] [PART_BYTES]
Prints `name value` lines: create/sign/upload/complete milliseconds.
Plain HTTP, as a browser would: create, sign every part in batches of 1000,
PUT the parts (8 at a time), complete.
"""
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests

fn = sys.argv[1]
parts = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
part_bytes = int(sys.argv[3]) if len(sys.argv) > 3 else 100 * 1024
s = requests.Session()
chunk = os.urandom(part_bytes)


def ms(t0):
    return (time.perf_counter() - t0) * 1000


t0 = time.perf_counter()
up = s.post(f"{fn}/v1/multipart", json={"filename": "bench.bin", "size": parts * part_bytes}, timeout=30)
up.raise_for_status()
up = up.json()
create_ms = ms(t0)

t0 = time.perf_counter()
urls = []
for start in range(1, parts + 1, 1000):
    numbers = list(range(start, min(start + 1000, parts + 1)))
    # No `size`: the client cuts its own 100 KiB parts, so URLs are not length-bound.
    r = s.post(f"{fn}/v1/multipart/sign", json={"key": up["key"], "uploadId": up["uploadId"],
                                                 "partNumbers": numbers}, timeout=30)
    r.raise_for_status()
    urls += [p["url"] for p in r.json()["parts"]]
sign_ms = ms(t0)


def put(i_url):
    i, url = i_url
    r = requests.put(url, data=chunk, timeout=60)
    r.raise_for_status()
    return {"partNumber": i + 1, "etag": r.headers["ETag"]}


t0 = time.perf_counter()
with ThreadPoolExecutor(8) as pool:
    done = list(pool.map(put, enumerate(urls)))
upload_ms = ms(t0)

t0 = time.perf_counter()
r = s.post(f"{fn}/v1/multipart/complete", json={"key": up["key"], "uploadId": up["uploadId"], "parts": done},
           timeout=120)
complete_ms = ms(t0)
if r.status_code != 200:
    sys.exit(f"complete failed: {r.status_code} {r.text[:300]}")
print(f"create_ms {create_ms:.1f}")
print(f"sign_ms {sign_ms:.1f}")
print(f"upload_ms {upload_ms:.0f}")
print(f"complete_ms {complete_ms:.1f}")
print(f"bytes {parts * part_bytes}")
