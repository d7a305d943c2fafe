#!/usr/bin/env bash
# Refresh the vendored front-end files from the npm registry, so that no install step of convenant needs npm:
#   - @rijkshuisstijl-community/components-css (EUPL-1.2) and @rijkshuisstijl-community/design-tokens (the
#     Rijkshuisstijl: see its LICENSE.md) -> app/web/static/vendor/rijkshuisstijl/ (served with the pages)
#   - axe-core (MPL-2.0) -> tests/browser/vendor/ (only the browser tests inject it)
#   - swagger-ui-dist (Apache-2.0) -> app/web/static/vendor/swagger-ui/ (the API's docs at /api/v1/docs, so that
#     the page asks nothing of a CDN)
# Usage: scripts/update-vendored.sh [COMPONENTS_VERSION TOKENS_VERSION AXE_VERSION SWAGGER_UI_VERSION]
#        (default: the pinned ones)
# It needs npm (only this script does). Commit what it changes, with the new versions in VERSIONS.
set -euo pipefail
cd "$(dirname "$0")/.."

components="${1:-12.0.0}"
tokens="${2:-11.1.0}"
axe="${3:-4.14.1}"
swagger="${4:-5.35.0}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@rijkshuisstijl-community/components-css@$components" \
   "@rijkshuisstijl-community/design-tokens@$tokens" "axe-core@$axe" "swagger-ui-dist@$swagger" >/dev/null)
for tgz in "$work"/*.tgz; do
  dir="${tgz%.tgz}"; mkdir -p "$dir"; tar xzf "$tgz" -C "$dir"
done
c="$work/rijkshuisstijl-community-components-css-$components/package"
t="$work/rijkshuisstijl-community-design-tokens-$tokens/package"
a="$work/axe-core-$axe/package"
s="$work/swagger-ui-dist-$swagger/package"

rhc=app/web/static/vendor/rijkshuisstijl
mkdir -p "$rhc" tests/browser/vendor
cp "$c/dist/index.css" "$rhc/components.css"
cp "$c/LICENSE.md" "$rhc/LICENSE-components-css.md"
cp "$t/dist/index.css" "$rhc/design-tokens.css"
cp "$t/LICENSE.md" "$rhc/LICENSE-design-tokens.md"
cat > "$rhc/VERSIONS" <<VERSIONS
@rijkshuisstijl-community/components-css $components (dist/index.css -> components.css, EUPL-1.2)
@rijkshuisstijl-community/design-tokens $tokens (dist/index.css -> design-tokens.css, class .rhc-theme; LICENSE-design-tokens.md)
Refreshed by scripts/update-vendored.sh; do not edit these files by hand.
VERSIONS

cp "$a/axe.min.js" tests/browser/vendor/axe.min.js
cp "$a/LICENSE" tests/browser/vendor/LICENSE-axe-core
cat > tests/browser/vendor/VERSIONS <<VERSIONS
axe-core $axe (axe.min.js, MPL-2.0: LICENSE-axe-core)
Refreshed by scripts/update-vendored.sh; do not edit these files by hand.
VERSIONS
swg=app/web/static/vendor/swagger-ui
mkdir -p "$swg"
cp "$s/swagger-ui-bundle.js" "$s/swagger-ui.css" "$s/favicon-32x32.png" "$s/swagger-ui-bundle.js.LICENSE.txt" "$swg/"
cp "$s/LICENSE" "$swg/LICENSE-swagger-ui"
cp "$s/NOTICE" "$swg/NOTICE-swagger-ui"
cat > "$swg/VERSIONS" <<VERSIONS
swagger-ui-dist $swagger (swagger-ui-bundle.js, swagger-ui.css, favicon-32x32.png; Apache-2.0: LICENSE-swagger-ui, NOTICE-swagger-ui, swagger-ui-bundle.js.LICENSE.txt)
Refreshed by scripts/update-vendored.sh; do not edit these files by hand.
VERSIONS
echo "vendored components-css $components, design-tokens $tokens, axe-core $axe, swagger-ui-dist $swagger"
