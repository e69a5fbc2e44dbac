#!/usr/bin/env bash
# Opens a wideprobe report.html in headless Chromium, fails on console errors or
# images that did not load, and saves a full-page screenshot beside it.
#   docs/check-report-html.sh runs/reproduce-quick/report.html
# Needs chromium (or google-chrome) on PATH; the CI machine has none, so this is the
# documented manual check of issue 6 (the test suite checks the HTML's structure and
# that every inlined PNG decodes).
set -euo pipefail
report="$(realpath "$1")"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
[ -n "$browser" ] || { echo "no chromium/google-chrome on PATH" >&2; exit 2; }
shot="${report%.html}.png"
log="$(mktemp)"
"$browser" --headless=new --disable-gpu --no-sandbox --enable-logging=stderr --v=0 \
    --window-size=1280,6000 --screenshot="$shot" "file://$report" 2>"$log" || true
if grep -E "CONSOLE|Uncaught|ERR_FILE_NOT_FOUND|Failed to load" "$log"; then
    echo "report.html logged errors (above)" >&2
    exit 1
fi
# Every <img> must carry an inline PNG (no external files that could be missing).
images=$(grep -o '<img ' "$report" | wc -l)
inline=$(grep -o 'src="data:image/png;base64,' "$report" | wc -l)
[ "$images" -eq "$inline" ] || { echo "$images images, $inline inlined" >&2; exit 1; }
echo "ok: $images figures inlined; screenshot $shot"
