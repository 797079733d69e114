#!/usr/bin/env bash
# Installs what Chalk's tests need and a fresh Debian/Ubuntu machine lacks: a real redis-server,
# Chromium (for the browser tests), ffmpeg (the recorder composes lessons with it) and a MinIO server
# (the recorder's object storage). Safe to run again: it installs only what is missing.
set -euo pipefail

# MinIO is built from source with the Go toolchain (about 7 minutes the first time, then reused from
# GOPATH/bin). AGPL-3.0: tests run it as a separate process only; Chalk does not link it.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/lib/chromium/chromium ]; then
  need+=(chromium)
fi
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  need+=(ffmpeg)
fi

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to install: ${need[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "test dependencies: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  echo "test dependencies: installed ${need[*]}"
fi

# recorder/storage/miniotest looks for minio on PATH, then in GOBIN and GOPATH/bin.
gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH | cut -d: -f1)/bin"
if ! command -v minio >/dev/null 2>&1 && [ ! -x "$gobin/minio" ]; then
  echo "test dependencies: building the MinIO server ($MINIO_VERSION; several minutes the first time)"
  # Outside the module, so Chalk's go.mod is not touched.
  (cd / && GOFLAGS=-buildvcs=false go install "github.com/minio/minio@$MINIO_VERSION")
  echo "test dependencies: installed $gobin/minio"
fi

echo "test dependencies: all present"
