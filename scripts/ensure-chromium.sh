#!/usr/bin/env bash
# The console's browser test drives Debian's chromium through Playwright (never `playwright install`).
# Install it where we can (root + apt-get); otherwise say so: that one test then skips with its reason.
set -uo pipefail

if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    echo "OK: chromium $(chromium --version 2>/dev/null | awk '{print $2}') for the console browser test"
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ "${CHROMIUM_NO_INSTALL:-0}" != 1 ]; then
    echo "installing Debian's chromium for the console browser test (CHROMIUM_NO_INSTALL=1 skips this)..."
    if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1; then
        echo "OK: chromium installed"
        exit 0
    fi
    echo "NOTE: could not install chromium; the console browser test will be skipped"
    exit 0
fi
echo "NOTE: chromium is not installed (Debian/Ubuntu: sudo apt-get install -y chromium);"
echo "      the console browser test will be skipped"
exit 0
