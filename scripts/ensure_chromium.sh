#!/usr/bin/env bash
# Makes sure Debian's chromium-headless-shell (the browser the dashboard's browser tests and
# benchmark drive through Playwright) is installed, and prints the path of its binary.
# Installs it with apt-get when missing (needs root or sudo; about 300 MB). One install at a
# time: parallel test workers each ask for it. Exit 3 with one clear line when it cannot.
set -euo pipefail

lock_dir="${TMPDIR:-/tmp}"
exec 9>"$lock_dir/orderflow-ensure-chromium.lock"
flock 9

find_binary() {
    dpkg -L chromium-headless-shell 2>/dev/null \
        | grep -E '^/usr/lib/chromium/(chromium-headless-shell|headless_shell)$' | while read -r f; do
            if [ -x "$f" ] && [ -f "$f" ]; then echo "$f"; break; fi
        done
}

bin="$(find_binary || true)"
if [ -z "$bin" ]; then
    echo "ensure_chromium.sh: installing chromium-headless-shell with apt-get ..." >&2
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "ensure_chromium.sh: ERROR: chromium-headless-shell missing and apt-get is not available; install a headless Chromium by hand and set ORDERFLOW_CHROMIUM to its binary" >&2
        exit 3
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
            echo "ensure_chromium.sh: ERROR: chromium-headless-shell missing and we are not root (no sudo) to apt-get install it" >&2
            exit 3
        fi
    fi
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium-headless-shell fonts-dejavu-core; } >&2; then
        echo "ensure_chromium.sh: ERROR: 'apt-get install chromium-headless-shell' failed; install it by hand" >&2
        exit 3
    fi
    bin="$(find_binary || true)"
    if [ -z "$bin" ]; then
        echo "ensure_chromium.sh: ERROR: chromium-headless-shell installed but no headless_shell binary found in 'dpkg -L chromium-headless-shell'" >&2
        exit 3
    fi
fi
echo "$bin"
