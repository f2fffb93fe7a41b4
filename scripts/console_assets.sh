#!/bin/sh
# The console's browser libraries: npm packages at pinned versions, installed into a build
# location, and their minified builds copied to recsvc/console/static/vendor/ (git-ignored;
# the wheel and the image carry them, and nothing loads from the internet at run time).
# Used by the Makefile and deploy/ecs/Dockerfile: change a version here only.
# Usage: console_assets.sh NODE_DIR [DEST]
set -eu
NODE_DIR=${1:?usage: console_assets.sh NODE_DIR [DEST]}
DEST=${2:-recsvc/console/static/vendor}
PACKAGES="chart.js@4.6.1 htmx.org@2.0.11"

mkdir -p "$NODE_DIR" "$DEST"
# shellcheck disable=SC2086  # one word per package
npm install --prefix "$NODE_DIR" --no-audit --no-fund --silent --save-exact $PACKAGES
# Without the source-map comment: the .map files are not served.
sed '/^\/\/# sourceMappingURL=/d' "$NODE_DIR/node_modules/chart.js/dist/chart.umd.min.js" \
    > "$DEST/chart.umd.min.js"
cp "$NODE_DIR/node_modules/htmx.org/dist/htmx.min.js" "$DEST/htmx.min.js"
echo "$PACKAGES" > "$DEST/VERSIONS"
