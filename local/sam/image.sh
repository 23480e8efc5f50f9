#!/usr/bin/env bash
# Builds the Lambda-compatible base image `sam local` runs the functions in, from Debian packages, this machine's
# Python 3.13 and the pins of versions.env, for machines that cannot pull public.ecr.aws/lambda/python:3.13.
# Prints the image's name. Built once: its tag is a hash of its inputs, and an image with that tag is reused.
# Usage: local/sam/image.sh PYTHON   (PYTHON: the python3.13 interpreter whose installation goes into the image)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="$1"
# shellcheck source=versions.env
source "$here/versions.env"

prefix="$("$python" -c 'import sys; print(sys.base_prefix)')"
version="$("$python" -c 'import platform; print(platform.python_version())')"
[[ "$version" == 3.13.* ]] || { echo "sam-local: Python 3.13 is needed for the image, $python is $version" >&2; exit 1; }
hash="$(cat "$here/versions.env" "$here/image.sh" <(echo "$version $(uname -m)") | sha256sum | cut -c1-12)"
image="flow-manager/lambda-python3.13:$hash"
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

echo "sam-local: building $image (Debian $DEBIAN_SUITE, Python $version, awslambdaric $AWSLAMBDARIC_VERSION)" >&2
work="$(mktemp -d /tmp/flow-manager-image.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
timeout 600 debootstrap --variant=minbase --include="$DEBIAN_PACKAGES" "$DEBIAN_SUITE" "$rootfs" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; echo "sam-local: debootstrap failed" >&2; exit 1; }
# What the official image holds at /var/lang: the interpreter and its standard library, without the machine's own
# site-packages (the runtime's packages go to /var/runtime, as in Lambda) nor CPython's test suite.
mkdir -p "$rootfs/var/lang" "$rootfs/var/runtime" "$rootfs/var/task" "$rootfs/opt"
tar -C "$prefix" --exclude='lib/python3.13/test' --exclude='lib/python3.13/site-packages/*' --exclude='__pycache__' \
  --exclude='lib/python3.13/idlelib' --exclude='lib/python3.13/tkinter' -cf - bin lib include \
  | tar -C "$rootfs/var/lang" -xf -
timeout 300 "$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile --only-binary=:all: \
  --target "$rootfs/var/runtime" --python-version 3.13 --platform "manylinux2014_$(uname -m)" \
  "awslambdaric==$AWSLAMBDARIC_VERSION" "boto3==$BOTO3_VERSION" "botocore==$BOTOCORE_VERSION"
cat >"$rootfs/var/runtime/bootstrap" <<'BOOT'
#!/bin/sh
# What Lambda's python3.13 runtime starts: the runtime interface client, with the handler SAM passes.
exec /var/lang/bin/python3.13 -m awslambdaric "$_HANDLER"
BOOT
chmod 755 "$rootfs/var/runtime/bootstrap"
rm -rf "$rootfs/var/cache/apt/archives"/*.deb "$rootfs/var/lib/apt/lists"/* "$rootfs/usr/share/doc" "$rootfs/usr/share/man"
# Lambda's search path: the function, then the layers, then the runtime's packages.
timeout 300 tar -C "$rootfs" -c . | timeout 300 docker import \
  --change 'ENV PATH=/var/lang/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
  --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
  --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
  --change 'ENV PYTHONPATH=/var/task:/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime' \
  --change 'ENV LANG=en_US.UTF-8' \
  --change 'ENV TZ=:UTC' \
  --change 'WORKDIR /var/task' \
  --change 'ENTRYPOINT ["/var/runtime/bootstrap"]' \
  - "$image" >/dev/null
echo "$image"
