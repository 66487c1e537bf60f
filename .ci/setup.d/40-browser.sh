# Debian's Chromium for the browser tests (driven by Playwright from PyPI with
# executable_path=/usr/bin/chromium; Playwright's own browser download is never used).
if ! command -v chromium >/dev/null 2>&1; then
    apt-get install -y -qq chromium >/dev/null
fi
export HC_REQUIRE_BROWSER=1
