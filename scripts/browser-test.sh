#!/usr/bin/env bash
# The web view in a real browser (tests/it/browser.rs): builds gryt, finds headless Chromium
# and chromedriver (Debian packages `chromium` and `chromium-driver`), and runs the ignored
# browser test. It starts a real `gryt cloud serve --listen 127.0.0.1:0`, makes an account,
# team and project and a workspace with v2.0.0 proven, then in the browser: signs in, opens
# the project and v2.0.0, runs `gryt promote` in the workspace, sees "promoted" appear
# without a reload, and signs out. Loopback only.
#
#   scripts/browser-test.sh                 # Chromium must be installed
#   scripts/browser-test.sh --install       # installs the two packages first (apt-get, root)
#   GRYT_BROWSER_SCREENSHOTS=DIR scripts/browser-test.sh   # keeps a PNG of each step in DIR
set -euo pipefail
cd "$(dirname "$0")/.."

find_one() {
    for name in "$@"; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

if [ "${1:-}" = "--install" ] && { ! find_one chromium chromium-browser >/dev/null || ! find_one chromedriver >/dev/null; }; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi

if ! chromium="$(find_one chromium chromium-browser)" || ! chromedriver="$(find_one chromedriver)"; then
    echo "error: Chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver," >&2
    echo "       or run $0 --install as root)" >&2
    exit 1
fi
echo "browser: $("$chromium" --version 2>/dev/null | head -1); driver: $("$chromedriver" --version | head -1)"

cargo build --locked --bin gryt
GRYT_CHROMIUM="$chromium" GRYT_CHROMEDRIVER="$chromedriver" \
    cargo test --locked --test it -- --ignored --exact browser::sign_in_follow_a_promotion_live_and_sign_out
