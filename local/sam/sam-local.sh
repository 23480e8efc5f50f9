#!/usr/bin/env bash
# `make sam-local`: installs what is missing (docker.io, debootstrap), starts the Docker daemon when none answers,
# builds the functions' base image once (local/sam/image.sh), runs `sam build` for this machine's architecture,
# then every function under `sam local` (tests/sam_local/run.py).
# Usage: local/sam/sam-local.sh PYTHON SAM VENV_PYTHON [driver arguments...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="$1" sam="$2" venv_python="$3"
shift 3
fail() { echo "sam-local: $*" >&2; exit 1; }

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
  command -v apt-get >/dev/null && [[ $(id -u) == 0 ]] || fail "needs ${missing[*]} (install them, or run as root on Debian)"
  echo "sam-local: installing ${missing[*]}" >&2
  timeout 300 apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq \
    "${missing[@]}" >/dev/null || fail "could not install ${missing[*]}"
fi

if ! timeout 20 docker info >/dev/null 2>&1; then
  [[ $(id -u) == 0 ]] || fail "no Docker daemon answers, and starting one needs root"
  log=/var/log/flow-manager-dockerd.log
  echo "sam-local: starting dockerd (log $log)" >&2
  nohup dockerd >"$log" 2>&1 &
  for _ in $(seq 60); do timeout 5 docker info >/dev/null 2>&1 && break; sleep 1; done
  timeout 5 docker info >/dev/null 2>&1 || fail "dockerd did not start within 60 s: $(tail -1 "$log")"
fi

image="$("$here/image.sh" "$python")"
cd "$root"
# The template's functions are arm64; here they run in containers of this machine's architecture (README). Built
# apart from .aws-sam/build, which `sam deploy` takes: a deploy must never get this machine's binaries.
build=.aws-sam/sam-local
SAM_CLI_TELEMETRY=0 timeout 600 "$sam" build --build-dir "$build/build" --cache-dir "$build/cache" \
  --parameter-overrides "Architecture=$(uname -m | sed 's/aarch64/arm64/')" >/dev/null \
  || fail "sam build failed (run it alone to see why)"
exec timeout 900 "$venv_python" -m tests.sam_local.run --sam "$sam" --image "$image" --template "$build/build/template.yaml" "$@"
