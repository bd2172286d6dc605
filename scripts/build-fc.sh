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
ls -l dist
