#!/bin/bash
# Record session rollouts with a given Codex release against the scripted mock model (offline).
#
#   scripts/record_rollouts.sh VERSION OUT_DIR [CASE...]
#
# Uses ../shared/tracegen (every driver with --save-home and TG_LOG_HEADERS=1, so requests.jsonl
# names the thread of each request) and the native binary under /work/oracles/VERSION. Each case
# lands in OUT_DIR/CASE/ (codex_home/sessions/..., requests.jsonl, the bundles). Import the result
# into the repository with scripts/import_rollouts.py, which rewrites the temporary paths.
set -u
VER=${1:?version}; OUT=${2:?out dir}; shift 2
TG=${TRACEGEN:-$(cd "$(dirname "$0")/../.." && pwd)/shared/tracegen}
export CODEX_BIN=${CODEX_BIN:-/work/oracles/$VER/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex}
export TG_LOG_HEADERS=1
L='model_auto_compact_token_limit=200'
R='model_providers.mock.capabilities.remote_compaction="v2"'
P='Please do the task.'
SEL=("$@")
want() { [ ${#SEL[@]} -eq 0 ] && return 0; for w in "${SEL[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1; }
go() {  # go NAME command... (OUT in the command is replaced by OUT_DIR/NAME)
  local name=$1; shift
  want "$name" || return 0
  local out=$OUT/$name; rm -rf "$out"
  local args=(); for x in "$@"; do [ "$x" = OUT ] && args+=("$out") || args+=("$x"); done
  echo "== $VER $name"
  (cd "$TG" && "${args[@]}" 2>&1 | grep -E 'bundle:|home saved|REDUCE FAILED|step |Traceback|Error' | head -20)
}
mkdir -p "$OUT"
go exec_basic                python3 run.py scenarios/exec_basic.py OUT --save-home --timeout 60 --prompt 'list files and compute 1+1'
go tools_terminal            python3 tools_run.py scenarios/tools_terminal.py OUT --save-home --timeout 60 --prompt "$P"
go compaction_local_midturn  python3 run.py scenarios/compaction_midturn.py OUT --save-home --timeout 60 --config "$L" --prompt "$P"
go compaction_remote_midturn python3 run.py scenarios/compaction_midturn.py OUT --save-home --timeout 60 --config "$L" --config "$R" --prompt "$P"
go compaction_local_manual   python3 compaction_run.py scenarios/compaction_turns.py OUT --save-home --step 'turn:First task: echo something.' --step compact --step 'turn:Second task: echo again.'
go compaction_remote_manual  python3 compaction_run.py scenarios/compaction_turns.py OUT --save-home --remote-compaction --step 'turn:First task: echo something.' --step compact --step 'turn:Second task: echo again.'
go agents_full               python3 tools_run.py scenarios/agents_full.py OUT --save-home --timeout 90 --enable multi_agent_v2 --prompt "$P"
go agents_v1                 python3 tools_run.py scenarios/agents_v1.py OUT --save-home --timeout 90 --prompt "$P"
go tools_multiturn_resume    python3 tools_run.py scenarios/tools_multiturn.py OUT --save-home --timeout 60 --prompt 'Turn one.' --resume 'Turn two.' --resume 'Turn three.'
go tools_multiturn_interrupt python3 tools_appserver.py scenarios/tools_multiturn.py OUT --save-home --turn 'Turn one.' --turn 'Turn two.' --turn 'Turn three.' --interrupt-turn 2
go tools_interrupt_INT       python3 tools_run.py scenarios/tools_interrupt.py OUT --save-home --kill-after 4 --kill-signal INT --prompt "$P"
go tools_interrupt_KILL      python3 tools_run.py scenarios/tools_interrupt.py OUT --save-home --kill-after 4 --kill-signal KILL --prompt "$P"
go tools_tool_errors         python3 tools_run.py scenarios/tools_tool_errors.py OUT --save-home --timeout 60 --prompt "$P"
go tools_fail_http500        python3 tools_run.py scenarios/tools_fail_http500.py OUT --save-home --timeout 60 --prompt "$P"
go tools_fail_stream         python3 tools_run.py scenarios/tools_fail_stream.py OUT --save-home --timeout 60 --retries 2 --prompt "$P"
go tools_fail_http500_retry  python3 tools_run.py scenarios/tools_fail_http500.py OUT --save-home --timeout 60 --retries 1 --prompt "$P"
