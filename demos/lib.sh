# Shared by the demos (sourced, not run): find weft, a tmux server of the demo's own, panes that run
# weft or a shell, keys and typing, waiting for text, and --watch / --record.
#
# A demo sources this with its name, then builds its panes and checks its end state:
#
#   . "$(dirname "$0")/lib.sh" offline-merge "$@"
#
# Modes: headless (the default, as CI runs it), --watch (attach so you can follow it) and --record
# (record with asciinema and render docs/NAME.svg with svg-term from npm: npm i -g svg-term-cli, or
# SVG_TERM=path/to/svg-term). Everything lives in a temporary directory that is removed on exit.
# shellcheck shell=bash

set -euo pipefail
demo_name=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mode=${1:-headless}
case "$mode" in
  headless | --watch | --record) ;;
  *) echo "usage: demos/$demo_name [--watch | --record]" >&2; exit 2 ;;
esac

WEFT=${WEFT:-}
if [ -z "$WEFT" ]; then
  for c in "$here/../target/debug/weft" "${CARGO_TARGET_DIR:-/nonexistent}/debug/weft"; do
    [ -x "$c" ] && WEFT=$c && break
  done
fi
WEFT=${WEFT:-$(command -v weft || true)}
[ -n "$WEFT" ] && [ -x "$WEFT" ] || { echo "weft not found: build it (cargo build) or set WEFT=path" >&2; exit 2; }
WEFT=$(cd "$(dirname "$WEFT")" && pwd)/$(basename "$WEFT")
command -v tmux >/dev/null || { echo "this demo needs tmux" >&2; exit 2; }
if [ "$mode" = "--record" ]; then
  command -v asciinema >/dev/null || { echo "--record needs asciinema" >&2; exit 2; }
fi

# The terminal every demo is drawn in (and recorded at).
cols=164
rows=40
tmp=$(mktemp -d)
sock="weft-demo-$$"
relay_pid=
rec_pid=
cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null || true
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null || true
  [ -n "$rec_pid" ] && kill "$rec_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
export WEFT_KEYRING=off
# `weft` in the panes' shells is the binary under test.
mkdir -p "$tmp/bin"
ln -s "$WEFT" "$tmp/bin/weft"
# Keep finished panes on screen. (A recording attaches at the demo's own size, so nothing resizes.)
printf 'set -g remain-on-exit on\nset -g status off\n' >"$tmp/tmux.conf"

# weft as one person: `as ana ls` runs `weft ls` in ana's home.
as() {
  local who=$1
  shift
  WEFT_HOME="$tmp/$who" "$WEFT" "$@"
}

# The wallet address a command printed.
address_in() { grep -o '0x[0-9a-fA-F]\{40\}' | head -1; }

# A relay on a free port; sets $relay to its ws:// address.
start_relay() {
  "$WEFT" relay --listen 127.0.0.1:0 >"$tmp/relay.log" 2>&1 &
  relay_pid=$!
  for _ in $(seq 50); do grep -q "listening on" "$tmp/relay.log" 2>/dev/null && break; sleep 0.1; done
  relay=$(grep -o 'ws://[0-9.:]*' "$tmp/relay.log" | head -1)
  [ -n "$relay" ] || { echo "the relay did not start" >&2; cat "$tmp/relay.log" >&2; exit 1; }
}

# The command that runs weft (with arguments) in a pane as one person.
app_cmd() {
  local who=$1
  shift
  echo "env WEFT_HOME=$tmp/$who WEFT_KEYRING=off TERM=xterm-256color $WEFT $*"
}

# The command that runs a shell in a pane as one person, prompt `who$ `. Each prompt adds a line to
# a file, so `run` knows when a command has finished.
shell_cmd() {
  local who=$1 pane=$2
  : >"$tmp/prompts-$pane"
  cat >"$tmp/$who.rc" <<EOF
PS1='$who\$ '
PROMPT_COMMAND='echo >>$tmp/prompts-$pane'
HISTFILE=/dev/null
EOF
  echo "env -i PATH=$tmp/bin:/usr/bin:/bin HOME=$tmp/$who WEFT_HOME=$tmp/$who WEFT_KEYRING=off TERM=xterm-256color LANG=C.UTF-8 bash --noprofile --rcfile $tmp/$who.rc -i"
}

# The first pane, 0.
new_session() {
  tmux -L "$sock" -f "$tmp/tmux.conf" new-session -d -s demo -x "$cols" -y "$rows" "$1"
}

# One more pane: split PANE (-h: side by side, -v: one above the other) and run CMD.
split() {
  local how=$1 pane=$2 cmd=$3
  tmux -L "$sock" split-window "$how" -t "demo:0.$pane" "$cmd"
}

# Press tmux keys in a pane, one at a time (so Esc is never read as Alt).
keys() {
  local pane=$1
  shift
  for k in "$@"; do tmux -L "$sock" send-keys -t "demo:0.$pane" "$k"; sleep 0.25; done
}

# Send text as typed. (tmux reads a `;` that ends an argument as a command separator, so that one
# goes as its key code.)
send_text() {
  local pane=$1 text=$2
  if [ "${text: -1}" = ";" ]; then
    [ ${#text} -gt 1 ] && tmux -L "$sock" send-keys -t "demo:0.$pane" -l -- "${text%;}"
    tmux -L "$sock" send-keys -t "demo:0.$pane" -H 3b
  else
    tmux -L "$sock" send-keys -t "demo:0.$pane" -l -- "$text"
  fi
}

# Type text into a pane: at once when headless, at a readable pace when someone watches.
type_in() {
  local pane=$1 text=$2
  if [ "$mode" = "headless" ]; then
    send_text "$pane" "$text"
  else
    local i
    for ((i = 0; i < ${#text}; i += 3)); do
      send_text "$pane" "${text:i:3}"
      sleep 0.04
    done
  fi
  sleep 0.3
}

# A pause for whoever watches; nothing when headless.
pause() { [ "$mode" = "headless" ] || sleep "$1"; }

screen() { tmux -L "$sock" capture-pane -p -J -t "demo:0.$1"; }

show_panes() {
  local p
  for p in $(tmux -L "$sock" list-panes -t demo -F '#{pane_index}' 2>/dev/null); do
    echo "--- pane $p" >&2
    screen "$p" >&2 || true
  done
}

# Wait until a pane shows TEXT (a grep pattern), or fail showing every pane.
wait_for() {
  local pane=$1 text=$2
  for _ in $(seq 300); do
    screen "$pane" | grep -q -- "$text" && return 0
    sleep 0.1
  done
  echo "pane $pane never showed: $text" >&2
  show_panes
  return 1
}

prompts() { wc -l <"$tmp/prompts-$1"; }
entered=()

# Wait until the shell in PANE shows a prompt after the last command `enter` gave it (at first: its
# first prompt).
wait_prompt() {
  local pane=$1
  for _ in $(seq 600); do
    [ "$(prompts "$pane")" -gt "${entered[$pane]:-0}" ] && return 0
    sleep 0.1
  done
  echo "the shell in pane $pane did not come back" >&2
  show_panes
  return 1
}

# Type a command line into the shell in PANE and press Enter (to open the app, or answer a prompt:
# `wait_prompt PANE` waits for it to end). `run` also waits.
enter() {
  entered[$1]=$(prompts "$1")
  type_in "$1" "$2"
  tmux -L "$sock" send-keys -t "demo:0.$1" Enter
}
run() {
  enter "$1" "$2"
  wait_prompt "$1"
  pause 1.5
}

# Fail with a message (and every pane, for a clue).
fail() {
  echo "$demo_name: $*" >&2
  show_panes
  exit 1
}

# After the panes exist: start recording, or attach for --watch.
follow() {
  if [ "$mode" = "--record" ]; then
    asciinema rec --overwrite -q -i 2 --cols "$cols" --rows "$rows" \
      -c "tmux -L $sock attach -t demo" "$tmp/demo.cast" </dev/null >/dev/null 2>&1 &
    rec_pid=$!
    sleep 1
  elif [ "$mode" = "--watch" ]; then
    (sleep 1; tmux -L "$sock" attach -t demo) &
  fi
}

# At the end: stop watching or recording; with --record, render docs/NAME.svg.
finish() {
  pause 2
  tmux -L "$sock" detach-client -s demo 2>/dev/null || true
  if [ -n "$rec_pid" ]; then
    wait "$rec_pid" 2>/dev/null || true
    rec_pid=
    local svg_term=${SVG_TERM:-svg-term} out="$here/../docs/$demo_name.svg"
    # End on the demo's last screen, not on tmux saying it detached.
    awk '/detached \(from session/ { exit } { print }' "$tmp/demo.cast" >"$tmp/trimmed.cast"
    if ! command -v "$svg_term" >/dev/null; then
      cp "$tmp/trimmed.cast" "$here/../docs/$demo_name.cast"
      echo "recorded docs/$demo_name.cast; svg-term is not installed (npm i -g svg-term-cli), so no SVG" >&2
      return 0
    fi
    "$svg_term" --in "$tmp/trimmed.cast" --out "$out" --window --width "$cols" --height "$rows"
    echo "wrote docs/$demo_name.svg"
  fi
}
