#!/usr/bin/env bash
# Builds the deployable code folder `dist/`: a static x86_64 musl binary
# (rustls, mimalloc, no emulator) plus `bootstrap` (and `profiles.toml`, if any). s.yaml's pre-deploy runs this.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target=x86_64-unknown-linux-musl
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  rustup target add "$target"
fi
if ! command -v musl-gcc >/dev/null 2>&1; then
  echo "musl-gcc not found: install it (Debian/Ubuntu: apt-get install musl-tools)" >&2
  exit 1
fi
CC_x86_64_unknown_linux_musl=musl-gcc \
  cargo build --release --locked --target "$target"
rm -rf dist
mkdir -p dist
cp "target/$target/release/oss-direct-upload" dist/oss-direct-upload
cp bootstrap dist/bootstrap
# Upload profiles ship beside bootstrap, where the function looks for them.
if [ -f profiles.toml ]; then cp profiles.toml dist/profiles.toml; fi
chmod +x dist/bootstrap dist/oss-direct-upload
# Check what ships before it is packaged, as the function will at start
# (`oss-direct-upload check`: the profile file beside the binary and every
# setting this shell exports; exit 2 stops the deploy). What s.yaml fills in at
# deploy time (bucket, region, role, the auth key) gets a stand-in here.
if [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ]; then
  OSS_BUCKET="${OSS_BUCKET:-build-check-bucket}" \
  OSS_REGION="${OSS_REGION:-cn-hangzhou}" \
  OSS_ROLE_ARN="${OSS_ROLE_ARN:-acs:ram::1234567890123456:role/build-check}" \
  AUTH_MODE="${AUTH_MODE:-fc-jwt}" \
  TRIGGER_USER_HEADER="${TRIGGER_USER_HEADER:-x-user-id}" \
    dist/oss-direct-upload check >/dev/null
  echo "dist/: oss-direct-upload check passed (configuration and profiles.toml, if any)"
fi
ls -l dist
