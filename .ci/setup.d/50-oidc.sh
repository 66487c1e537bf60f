# A real OpenID Provider for the single sign-on browser test: the npm package
# oidc-provider (tests/web/oidc/package.json), installed into tests/web/oidc/node_modules
# and run on the machine's Node.js by the test itself, on 127.0.0.1.
if ! command -v npm >/dev/null 2>&1; then
    apt-get install -y -qq nodejs npm >/dev/null
fi
(cd tests/web/oidc && npm install --no-audit --no-fund --loglevel=error >/dev/null)
export HC_REQUIRE_OIDC=1
