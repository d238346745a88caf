#!/usr/bin/env bash
# gryt's main job, end to end, in a throw-away repository: contract → evolutions → run →
# promote, with a failing proof along the way. Everything runs locally on the embedded
# SQLite store. Usage: scripts/demo.sh [--keep]
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --quiet --release --manifest-path "$here/Cargo.toml"
gryt="$here/target/release/gryt"

work="$(mktemp -d)"
if [ "${1:-}" != "--keep" ]; then trap 'rm -rf "$work"' EXIT; fi
cd "$work"

if [ -t 1 ]; then b=$'\033[1m'; r=$'\033[0m'; else b=''; r=''; fi
step() { printf '\n%s$ %s%s\n' "$b" "$*" "$r"; }
run() { step "$*"; "$@"; }

git init -q -b main && git -c user.name=demo -c user.email=demo@example.com commit -q --allow-empty -m init
git config user.name "Dana Demo" && git config user.email dana@example.com

run "$gryt" init
run "$gryt" generation new 1.0.0 --description "First release"

step "edit .gryt/generations/v1.0.0.yaml (two changes, proven by pipeline ci)"
cat > .gryt/generations/v1.0.0.yaml <<'YAML'
version: v1.0.0
description: First release
pipeline_template: ci
changes:
  - type: add
    id: FEAT-1
    title: Greet the user
  - type: fix
    id: BUG-7
    title: Do not crash on empty input
YAML
cat .gryt/generations/v1.0.0.yaml
run "$gryt" status
run "$gryt" generation update 1.0.0

step "write .gryt/pipelines/ci.yaml (the proof: a real check that passes or fails)"
cat > .gryt/pipelines/ci.yaml <<'YAML'
steps:
  - name: build
    run: test -f app.sh
  - name: test
    run: sh app.sh | grep -q "hello"
YAML
printf 'echo hello\n' > app.sh

run "$gryt" evolution start 1.0.0 --change FEAT-1
run "$gryt" run

step "break the app, then try to prove BUG-7 (the pipeline fails, so the evolution fails)"
printf 'echo goodbye\n' > app.sh
run "$gryt" evolution start 1.0.0 --change BUG-7
"$gryt" run || echo "(exit $? — the evolution failed)"
step "$gryt promote 1.0.0   # refused: BUG-7 is not proven"
"$gryt" promote 1.0.0 || echo "(exit $? — gates failed, nothing changed)"

step "fix the app and prove BUG-7 again"
printf 'echo hello\n' > app.sh
run "$gryt" evolution start 1.0.0 --change BUG-7
run "$gryt" run
run "$gryt" generation show 1.0.0
run "$gryt" promote 1.0.0
run git tag -n9 v1.0.0
step "$gryt generation update 1.0.0 after editing the promoted contract  # refused: immutable"
sed -i 's/Greet the user/Greet everyone/' .gryt/generations/v1.0.0.yaml
"$gryt" generation update 1.0.0 || echo "(exit $? — promoted generations never change)"
git checkout -q -- . 2>/dev/null || sed -i 's/Greet everyone/Greet the user/' .gryt/generations/v1.0.0.yaml
run "$gryt" hotfix 1.0.0 --issue BUG-9 --title "Handle unicode names"
run "$gryt" generation list
run "$gryt" audit

echo
echo "Done. The repository was in $work$([ "${1:-}" = "--keep" ] && echo " (kept)" || echo " (removed)")."
