#!/usr/bin/env bash
# The main job: the extension in a real VS Code. Installs what is missing, packs the extension (.vsix, with the default
# model inside), installs it into code-server (VS Code served to a browser) whose state lives in .cache/vscode, and
# serves VS Code on http://127.0.0.1:${PORT:-8080}/ with a sample workspace open. Ctrl+C stops it.
#
#   npm start                      # sample workspace (a copy of test/e2e/workspace in .cache/workspace)
#   npm start -- /path/to/folder   # another folder
#   PORT=9000 npm start
#   PIE_MODEL=/path/model.gguf npm start   # another model ("pie.modelPath"); by default the one the extension ships
#
# Open the printed URL in a browser with WebGPU (Chrome or Edge 113+; Chromium on Linux may need
# --enable-unsafe-webgpu). WebGPU exists only in secure contexts: use 127.0.0.1 or localhost (an SSH tunnel for a
# remote machine: ssh -L 8080:127.0.0.1:8080 host), not a plain-http host name.
# The text generator of before is `npm run generate -- --prompt "..."` (node dist/cli.js generate).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
port=${PORT:-8080}

[ -d node_modules ] || npm ci --no-audit --no-fund
# No GPU driver yet and allowed to install one: the CPU drivers (SwiftShader with Debian's chromium, Mesa lavapipe),
# which the CLI and `npm test` use (the extension itself runs on the browser's WebGPU).
if [ "$(uname -s)" = Linux ] && [ ! -f .cache/lavapipe/lvp_icd.json ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  bash scripts/setup-cpu-gpu.sh
fi
entry=$(bash scripts/code-server.sh | tail -n 1)

echo "start: packing the extension"
out=$(npm run --silent package 2>&1) || { echo "$out" >&2; echo "start: npm run package failed" >&2; exit 1; }
vsix=$(echo "$out" | sed -n 's/.*Packaged: \(\S*\.vsix\).*/\1/p')

# "pie.modelPath": PIE_MODEL, or empty for the model packed into the extension (models/pie-code-tiny.gguf).
model=${PIE_MODEL:-}
if [ -n "$model" ]; then
  [ -f "$model" ] || { echo "start: PIE_MODEL=$model is not a file" >&2; exit 1; }
  model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")
fi

state="$root/.cache/vscode"
ws="${1:-$root/.cache/workspace}"
if [ $# -eq 0 ] && [ ! -d "$ws" ]; then cp -r test/e2e/workspace "$ws"; fi
[ -d "$ws" ] || { echo "start: $ws is not a folder" >&2; exit 1; }
ws=$(cd "$ws" && pwd)
mkdir -p "$state"/{user/User,extensions,home,tmp,xdg/config,xdg/data,xdg/cache,xdg/state,xdg/runtime}
chmod 700 "$state/xdg/runtime"
export HOME="$state/home" TMPDIR="$state/tmp" XDG_CONFIG_HOME="$state/xdg/config" XDG_DATA_HOME="$state/xdg/data" \
  XDG_CACHE_HOME="$state/xdg/cache" XDG_STATE_HOME="$state/xdg/state" XDG_RUNTIME_DIR="$state/xdg/runtime"
dirs=(--user-data-dir "$state/user" --extensions-dir "$state/extensions")

# User settings: pie.modelPath set on every start (PIE_MODEL or empty), everything else the user's own (a settings.json
# with comments is left alone, with a note).
node -e '
  const fs = require("fs");
  const [file, model] = process.argv.slice(1);
  let s = { "workbench.startupEditor": "none", "telemetry.telemetryLevel": "off", "extensions.autoCheckUpdates": false, "update.mode": "none", "git.openRepositoryInParentFolders": "never" };
  if (fs.existsSync(file)) {
    try { s = JSON.parse(fs.readFileSync(file, "utf8")); } catch { console.error(`start: ${file} is not plain JSON; set "pie.modelPath": "${model}" there yourself`); process.exit(0); }
  }
  s["pie.modelPath"] = model;
  fs.writeFileSync(file, JSON.stringify(s, null, 2) + "\n");
' "$state/user/User/settings.json" "$model"

node "$entry" "${dirs[@]}" --install-extension "$vsix" --force >/dev/null
echo "start: installed $(basename "$vsix") into .cache/vscode; model: ${model:-models/pie-code-tiny.gguf, packed into the extension}"
echo
echo "  Open http://127.0.0.1:$port/?folder=$ws"
echo "  (a browser with WebGPU; then type in a file, or run \"PIE: Show engine\" from the command palette)"
echo
exec node "$entry" --auth none --bind-addr "127.0.0.1:$port" "${dirs[@]}" --disable-telemetry --disable-update-check \
  --disable-workspace-trust --disable-getting-started-override "$ws"
