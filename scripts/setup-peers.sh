#!/usr/bin/env bash
# Installs the test peers: a Python venv with Alibaba's official SDKs (PyPI)
# and the npm packages (ali-oss, playwright-core, js-yaml; Uppy 5 and 6 for
# the browser tests; TypeScript and esbuild for the browser client).
# Idempotent; re-runs are fast.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
stamp_py=".venv/.requirements-stamp"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! cmp -s tests/peers/requirements.txt "$stamp_py" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/peers/requirements.txt
  cp tests/peers/requirements.txt "$stamp_py"
fi
if [ ! -d tests/peers/node_modules/ali-oss ] || [ ! -d tests/peers/node_modules/js-yaml ] || [ tests/peers/package.json -nt tests/peers/node_modules/.stamp ]; then
  (cd tests/peers && npm install --no-audit --no-fund --loglevel=error)
  touch tests/peers/node_modules/.stamp
fi
# Uppy 5 and 6 (real clients for the Companion-style /s3 routes), one folder
# each: their @uppy/core peers conflict, so one tree cannot hold both.
for dir in tests/browser/uppy/v5 tests/browser/uppy/v6; do
  if [ ! -d "$dir/node_modules/@uppy/aws-s3" ] || [ "$dir/package.json" -nt "$dir/node_modules/.stamp" ]; then
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
    touch "$dir/node_modules/.stamp"
  fi
done
# TypeScript and esbuild for the browser client (client/): tsc checks its
# declarations, esbuild measures its minified size (client_types.test.mjs).
for dir in tests/browser/client-types; do
  if [ ! -x "$dir/node_modules/.bin/tsc" ] || [ "$dir/package.json" -nt "$dir/node_modules/.stamp" ]; then
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
    touch "$dir/node_modules/.stamp"
  fi
done
