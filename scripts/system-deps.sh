#!/usr/bin/env bash
# Debian packages the tests need: chromium (browser end-to-end tests, driven by the playwright package;
# never `playwright install`, which downloads a browser) and poppler-utils (pdftotext/pdftoppm for PDF checks).
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: please install ${need[*]} (Debian: apt-get install ${need[*]}); browser/PDF tests need them." >&2
  exit 0
fi
echo "system-deps: installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
