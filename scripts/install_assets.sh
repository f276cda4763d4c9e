#!/usr/bin/env bash
# Install the console's front-end packages from the npm registry (set-up time only) and copy
# what the pages load into console/static/vendor/, which the console serves at /static/vendor/.
# At run time the pages load nothing from the internet. The development packages (eslint, run by
# `make lint`) stay in console/frontend/node_modules/. Idempotent; safe with CI=true and no
# standard input.
set -euo pipefail
cd "$(dirname "$0")/.."

FRONTEND=console/frontend
VENDOR=console/static/vendor

command -v npm >/dev/null 2>&1 || {
  echo "install_assets.sh: npm not found; install Node.js (>= 18) and npm first" >&2
  exit 1
}

npm_flags=(--no-audit --no-fund --loglevel=error)
if [[ -f "$FRONTEND/package-lock.json" ]]; then
  # Skip the reinstall when node_modules already matches the lock file.
  if [[ ! -f "$FRONTEND/node_modules/.package-lock.json" \
        || "$FRONTEND/package-lock.json" -nt "$FRONTEND/node_modules/.package-lock.json" \
        || ! -f "$FRONTEND/node_modules/leaflet/dist/leaflet.js" \
        || ! -x "$FRONTEND/node_modules/.bin/eslint" ]]; then
    echo "==> npm ci ($FRONTEND)"
    (cd "$FRONTEND" && npm ci --include=dev "${npm_flags[@]}" </dev/null)
  fi
else
  echo "==> npm install ($FRONTEND; no package-lock.json yet)"
  (cd "$FRONTEND" && npm install --include=dev "${npm_flags[@]}" </dev/null)
fi

src="$FRONTEND/node_modules/leaflet/dist"
[[ -f "$src/leaflet.js" && -f "$src/leaflet.css" ]] || {
  echo "install_assets.sh: $src/leaflet.js missing after npm install" >&2
  exit 1
}

# Copy into a fresh folder, then swap it in, so a running console never sees half a copy.
mkdir -p "$VENDOR"
tmp="$(mktemp -d "$VENDOR/.leaflet.XXXXXX")"
cp -R "$src/." "$tmp/"
rm -rf "$VENDOR/leaflet"
mv "$tmp" "$VENDOR/leaflet"
version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$FRONTEND/node_modules/leaflet/package.json" | head -1)"
echo "leaflet ${version:-?} -> $VENDOR/leaflet/"

# Leaflet-Geoman (the wall's map draws incident areas with it): its bundled script and stylesheet
# (icons inlined as data: URIs), swapped in the same way.
src="$FRONTEND/node_modules/@geoman-io/leaflet-geoman-free/dist"
[[ -f "$src/leaflet-geoman.js" && -f "$src/leaflet-geoman.css" ]] || {
  echo "install_assets.sh: $src/leaflet-geoman.js missing after npm install" >&2
  exit 1
}
tmp="$(mktemp -d "$VENDOR/.leaflet-geoman.XXXXXX")"
cp "$src/leaflet-geoman.js" "$src/leaflet-geoman.css" "$tmp/"
rm -rf "$VENDOR/leaflet-geoman"
mv "$tmp" "$VENDOR/leaflet-geoman"
version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$FRONTEND/node_modules/@geoman-io/leaflet-geoman-free/package.json" | head -1)"
echo "leaflet-geoman ${version:-?} -> $VENDOR/leaflet-geoman/"
