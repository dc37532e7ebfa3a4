#!/usr/bin/env bash
# `just test` runs this first: the report's headless-browser test (crates/birds-report/tests/browser.rs) needs
# Chromium. Found (chromium, chromium-browser, google-chrome, or $BIRDS_CHROMIUM): nothing to do. Missing: install
# Debian's `chromium` when we can (root, or passwordless sudo, with apt-get); otherwise say in one line what to run
# and stop, instead of letting the test fail after the build. BIRDS_SKIP_BROWSER=1 skips the browser test
# (it then says so), and this check with it.
set -euo pipefail

if [[ "${BIRDS_SKIP_BROWSER:-0}" == "1" ]]; then
  exit 0
fi
if [[ -n "${BIRDS_CHROMIUM:-}" ]]; then
  if [[ -x "$BIRDS_CHROMIUM" ]] || command -v "$BIRDS_CHROMIUM" >/dev/null 2>&1; then
    exit 0
  fi
  echo "test: BIRDS_CHROMIUM=$BIRDS_CHROMIUM is not an executable; point it at a Chromium binary or unset it" >&2
  exit 1
fi
for bin in chromium chromium-browser google-chrome; do
  if command -v "$bin" >/dev/null 2>&1; then
    exit 0
  fi
done

hint="test: Chromium is needed for the report's browser test: run \`sudo apt-get install chromium\` (Debian/Ubuntu), set BIRDS_CHROMIUM=<binary>, or set BIRDS_SKIP_BROWSER=1 to skip that test"
sudo=()
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "$hint" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "$hint" >&2
  exit 1
fi
echo "test: installing chromium (Debian) for the report's headless-browser test"
export DEBIAN_FRONTEND=noninteractive
if ! { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq chromium >/dev/null; }; then
  echo "test: installing chromium with apt-get failed; $hint" >&2
  exit 1
fi
command -v chromium >/dev/null 2>&1 || { echo "test: apt-get installed chromium, but it is not on PATH; $hint" >&2; exit 1; }
echo "test: chromium installed ($(chromium --version 2>/dev/null || echo 'version unknown'))"
