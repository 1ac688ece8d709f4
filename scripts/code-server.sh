#!/usr/bin/env bash
# Ensures code-server (a real VS Code served to a browser) is installed in .cache/code-server and prints the path of
# its launcher on the last line of standard output. Used by the e2e tests (test/e2e) and by `npm start`.
#
#   bash scripts/code-server.sh            # install if absent, print the launcher
#   bash scripts/code-server.sh --check    # print the launcher if installed, else exit 1 naming what is missing
#
# code-server 4.100.x is VS Code 1.100 and runs on Node 20 (4.101+ need a newer Node). It installs from the npm
# registry but builds native modules (kerberos, node-pty, spdlog, ...), and two of its install steps want hosts that
# may be unreachable here:
#   - argon2 tries a prebuilt from GitHub, then compiles from source (fine: needs a C++ toolchain and python3);
#   - @vscode/ripgrep's postinstall downloads `rg` from GitHub and fails without it. It first looks for the archive in
#     $TMPDIR/vscode-ripgrep-cache-<version>/, so we seed that cache with Debian's own ripgrep 13 (apt `ripgrep`).
#     VS Code needs rg for quick open's file list and for search.
# apt packages needed (installed when run as root with apt-get): build-essential python3 pkg-config libkrb5-dev ripgrep.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
VERSION=${PIE_CODE_SERVER_VERSION:-4.100.3}
dest="$root/.cache/code-server"
launcher="$dest/node_modules/code-server/out/node/entry.js"
marker="$dest/.installed-$VERSION"

if [ -f "$marker" ] && [ -f "$launcher" ]; then
  echo "$launcher"
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  msg="code-server $VERSION is not installed in .cache/code-server: bash scripts/code-server.sh installs it (from the npm registry; as root it also apt-gets g++ make python3 pkg-config libkrb5-dev ripgrep)"
  [ -f "$root/.cache/code-server-install.log" ] && msg="$msg; the last attempt's log is .cache/code-server-install.log"
  echo "$msg" >&2
  exit 1
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" != 20 ]; then
  echo "code-server.sh: code-server $VERSION requires Node 20; this is Node $(node --version)" >&2
  exit 1
fi

# System packages for the native builds, and ripgrep.
need=()
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
command -v python3 >/dev/null || need+=(python3)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v rg >/dev/null || need+=(ripgrep)
[ -f /usr/include/gssapi/gssapi.h ] || need+=(libkrb5-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "code-server.sh: apt-get install ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "code-server.sh: missing system packages: ${need[*]} (Debian: apt-get install ${need[*]})" >&2
    exit 1
  fi
fi

echo "code-server.sh: installing code-server $VERSION into .cache/code-server (about 3-5 minutes)" >&2
start=$(date +%s)
stage="$root/.cache/code-server.partial"
work=$(mktemp -d)
trap 'rm -rf "$work" "$stage"' EXIT
rm -rf "$stage"
mkdir -p "$stage"
export TMPDIR="$work"
log="$root/.cache/code-server-install.log"

# 1. Fetch the package and its own dependencies without running any install script, to learn the pinned versions.
npm install --prefix "$stage" --ignore-scripts --no-audit --no-fund --no-save "code-server@$VERSION" >"$log" 2>&1 ||
  { tail -n 30 "$log" >&2; echo "code-server.sh: npm install failed (full log: $log)" >&2; exit 1; }

# 2. Seed @vscode/ripgrep's download cache with Debian's rg, for each version that code-server pins, under the asset
#    name that version asks for on linux-x64 (its tag is in its lib/postinstall.js).
for v in $(node -e '
  const fs = require("fs"), vs = new Set();
  for (const f of process.argv.slice(1)) {
    if (!fs.existsSync(f)) continue;
    for (const [k, p] of Object.entries(JSON.parse(fs.readFileSync(f, "utf8")).packages || {}))
      if (k.endsWith("node_modules/@vscode/ripgrep") && p.version) vs.add(p.version);
  }
  console.log([...vs].join(" "));
' "$stage"/node_modules/code-server/lib/vscode/npm-shrinkwrap.json "$stage"/node_modules/code-server/lib/vscode/extensions/npm-shrinkwrap.json); do
  cache="$work/vscode-ripgrep-cache-$v"
  mkdir -p "$cache/rg" "$work/pack"
  (cd "$work/pack" && npm pack --silent "@vscode/ripgrep@$v" >/dev/null && tar -xzf vscode-ripgrep-"$v".tgz package/lib/postinstall.js)
  tag=$(sed -n "s/^const VERSION = '\(.*\)';/\1/p" "$work/pack/package/lib/postinstall.js")
  cp "$(command -v rg)" "$cache/rg/rg"
  tar -czf "$cache/ripgrep-$tag-x86_64-unknown-linux-musl.tar.gz" -C "$cache/rg" rg
  rm -rf "$work/pack"
done

# 3. Run the install scripts: argon2 (compiles), then code-server's postinstall (installs VS Code's own modules).
# code-server's postinstall refuses to run as root under npm unless unsafe-perm is set; node-pty's runs
# `npx node-gyp configure` (for a compile_commands.json), which needs npx's yes when a user .npmrc says `yes=false`.
if ! npm_config_unsafe_perm=true npm_config_yes=true npm rebuild --prefix "$stage" --foreground-scripts >>"$log" 2>&1; then
  grep -E 'error|ERR' "$log" | tail -n 30 >&2
  echo "code-server.sh: building code-server's native modules failed (full log: $log)" >&2
  exit 1
fi
[ -f "$stage/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg" ] ||
  { echo "code-server.sh: ripgrep was not installed into code-server (full log: $log)" >&2; exit 1; }

rm -rf "$dest"
mv "$stage" "$dest"
touch "$marker"
echo "code-server.sh: installed code-server $VERSION in $(( $(date +%s) - start )) s ($(du -sh "$dest" | cut -f1))" >&2
echo "$launcher"
