#!/usr/bin/env bash
# Make sure Debian's Chromium is installed (/usr/bin/chromium): the UI tests drive it headless through
# Playwright (the PyPI package), never a browser Playwright downloads itself.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
echo "Chromium is not installed: installing it from Debian's packages" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
test -x /usr/bin/chromium
