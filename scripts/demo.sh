#!/usr/bin/env bash
# gryt's main job, end to end, printing every command and its output.
#
#   scripts/demo.sh            the team flow: a local Gryt Cloud on 127.0.0.1 (embedded SQLite)
#                              and two developers, ann and bob, each with their own HOME,
#                              credentials and repository: pull → create → prove → push →
#                              promote, then the version lock refusing a second v2.0.0
#   scripts/demo.sh --local    the local flow, no server: contract → evolutions → run →
#                              promote, with a failing proof, immutability and a hotfix
#   --keep                     leave the temporary directory behind to poke at
#
# Runs unattended (no terminal needed) and exits 0 when everything behaved as shown; a
# command that exits with anything but what the demo expects stops it with an error.
set -euo pipefail

mode=team keep=no
for arg in "$@"; do
    case "$arg" in
    --local) mode=local ;;
    --keep) keep=yes ;;
    -h | --help)
        sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "usage: scripts/demo.sh [--local] [--keep]" >&2
        exit 2
        ;;
    esac
done

here="$(cd "$(dirname "$0")/.." && pwd)"
# The debug build: the one `cargo test` makes too, so the quick start's two commands build
# once (the release build, with LTO, is for installing).
cargo build --quiet --manifest-path "$here/Cargo.toml"
bin="$here/target/debug/gryt"
gryt() { "$bin" "$@"; }

# Nothing from the caller's environment may leak in: no real token, keyring, clock or config.
unset GRYT_TOKEN GRYT_NOW GRYT_SEED GRYT_HTTP_RETRIES GRYT_HTTP_TIMEOUT XDG_CONFIG_HOME XDG_DATA_HOME
export GRYT_KEYRING=off

work="$(mktemp -d)"
server_pid=
cleanup() {
    local code=$?
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ "$keep" = yes ]; then
        [ "$code" = 0 ] || echo "Kept $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$code"
}
trap cleanup EXIT

if [ -t 1 ]; then b=$'\033[1m'; d=$'\033[2m'; r=$'\033[0m'; else b='' d='' r=''; fi
who=
# Shows a command as one would type it: arguments with spaces or quotes are quoted.
shown() {
    local out= a
    for a in "$@"; do
        if [[ "$a" =~ ^[A-Za-z0-9_./:=@,+-]+$ ]]; then out+=" $a"; else out+=" \"${a//\"/\\\"}\""; fi
    done
    printf '%s' "${out# }"
}
step() { printf '\n%s%s$ %s%s\n' "$b" "${who:+[$who] }" "$*" "$r"; }
say() { printf '\n%s# %s%s\n' "$d" "$*" "$r"; }
run() {
    step "$(shown "$@")"
    "$@"
}
# Runs a command that must fail with exit code $1, and says so.
refused() {
    local want=$1 code=0
    shift
    step "$(shown "$@")"
    "$@" || code=$?
    if [ "$code" != "$want" ]; then
        echo "demo: expected exit $want from \`$(shown "$@")\`, got $code" >&2
        exit 1
    fi
    echo "(exit $code)"
}

new_repo() { # DIR NAME EMAIL
    mkdir -p "$1"
    git -C "$1" init -q -b main
    git -C "$1" config user.name "$2"
    git -C "$1" config user.email "$3"
    git -C "$1" commit -q --allow-empty -m init
}

# ---------------------------------------------------------------------------------------
local_demo() {
    HOME="$work/home"
    mkdir -p "$HOME"
    export HOME
    new_repo "$work/shop" "Dana Demo" dana@example.com
    cd "$work/shop"

    run gryt init
    run gryt generation new 1.0.0 --description "First release"

    step "edit .gryt/generations/v1.0.0.yaml (two changes, proven by pipeline ci)"
    cat >.gryt/generations/v1.0.0.yaml <<'YAML'
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
    run gryt status
    run gryt generation update 1.0.0

    step "write .gryt/pipelines/ci.yaml (the proof: a real check that passes or fails)"
    cat >.gryt/pipelines/ci.yaml <<'YAML'
steps:
  - name: build
    run: test -f app.sh
  - name: test
    run: sh app.sh | grep -q "hello"
YAML
    cat .gryt/pipelines/ci.yaml
    printf 'echo hello\n' >app.sh

    run gryt evolution start 1.0.0 --change FEAT-1
    run gryt run

    say "break the app, then try to prove BUG-7: the pipeline fails, so the evolution fails"
    printf 'echo goodbye\n' >app.sh
    run gryt evolution start 1.0.0 --change BUG-7
    refused 1 gryt run
    say "BUG-7 is not proven: the gates refuse the promotion and nothing changes"
    refused 5 gryt promote 1.0.0

    say "fix the app and prove BUG-7 again"
    printf 'echo hello\n' >app.sh
    run gryt evolution start 1.0.0 --change BUG-7
    run gryt run
    run gryt generation show 1.0.0
    run gryt promote 1.0.0
    run git tag -n9 v1.0.0

    say "a promoted generation never changes: editing its contract is refused"
    step "edit .gryt/generations/v1.0.0.yaml (Greet the user → Greet everyone)"
    sed -i.bak 's/Greet the user/Greet everyone/' .gryt/generations/v1.0.0.yaml
    refused 1 gryt generation update 1.0.0
    mv .gryt/generations/v1.0.0.yaml.bak .gryt/generations/v1.0.0.yaml
    run gryt hotfix 1.0.0 --issue BUG-9 --title "Handle unicode names"
    run gryt generation list
    run gryt audit
}

# ---------------------------------------------------------------------------------------
url=
start_cloud() {
    who=
    step "gryt cloud serve --listen 127.0.0.1:0 --data $work/cloud &"
    # RUST_LOG would override --log and could hide the line that carries the address.
    env -u RUST_LOG "$bin" cloud serve --listen 127.0.0.1:0 --data "$work/cloud" \
        --registration open --log info >"$work/cloud.log" 2>&1 &
    server_pid=$!
    local addr= i
    for i in $(seq 1 100); do
        addr=$(sed -n 's/.*gryt cloud listening addr=\([^ ]*\).*/\1/p' "$work/cloud.log" | head -n 1)
        [ -n "$addr" ] && break
        if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    if [ -z "$addr" ]; then
        echo "demo: the cloud did not start:" >&2
        cat "$work/cloud.log" >&2
        exit 1
    fi
    grep -m 1 'gryt cloud listening' "$work/cloud.log"
    url="http://$addr"
}

# `as NAME` switches to that developer: own HOME (so own credentials and global config) and
# own repository.
as() {
    who=$1
    export HOME="$work/$1/home"
    cd "$work/$1/repo"
}

developer() { # NAME
    mkdir -p "$work/$1/home"
    new_repo "$work/$1/repo" "$1" "$1@example.com"
    as "$1"
    # Registering also logs this device in: no separate `gryt cloud login`.
    step "printf '%s\\n' \"\$PASSWORD\" | gryt cloud register --url $url --username $1 --password-stdin"
    printf '%s\n' "password-$1" | gryt cloud register --url "$url" --username "$1" --password-stdin
    run gryt init
}

contract() { # VERSION DESCRIPTION ID TITLE
    step "edit .gryt/generations/v$1.yaml"
    cat >".gryt/generations/v$1.yaml" <<YAML
version: v$1
description: $2
pipeline_template: ci
changes:
  - type: add
    id: $3
    title: $4
YAML
    cat ".gryt/generations/v$1.yaml"
}

pipeline() {
    cat >.gryt/pipelines/ci.yaml <<'YAML'
steps:
  - name: build
    run: test -f app.sh
  - name: test
    run: sh app.sh | grep -q "hello"
YAML
    printf 'echo hello\n' >app.sh
}

team_demo() {
    say "a Gryt Cloud for the team, on this machine: SQLite in $work/cloud"
    start_cloud

    say "ann sets up the team: account, team acme, project acme/web, her repository linked in hybrid mode"
    developer ann
    run gryt cloud team create acme
    run gryt cloud project create acme/web
    run gryt cloud link acme/web
    run gryt config execution_mode hybrid

    say "bob gets an account; ann adds him to the team; bob links his repository"
    developer bob
    as ann
    run gryt cloud team add-member acme bob
    as bob
    run gryt cloud whoami
    run gryt cloud link acme/web
    run gryt config execution_mode hybrid

    say "ann: pull, create v1.0.0 with one change, prove it with a real pipeline, promote"
    as ann
    run gryt sync pull
    run gryt generation new 1.0.0 --description "First release"
    contract 1.0.0 "First release" FEAT-1 "Greet the user"
    run gryt generation update 1.0.0
    step "write .gryt/pipelines/ci.yaml and the app it checks"
    pipeline
    cat .gryt/pipelines/ci.yaml
    run gryt evolution start 1.0.0 --change FEAT-1
    run gryt run
    run gryt sync status 1.0.0
    say "promote in hybrid mode: pull → gates here → push → the cloud promotes → promoted and tagged here"
    run gryt promote 1.0.0
    run git tag -n9 v1.0.0
    run gryt sync status
    say "up to date: her cursor covers her own promotion, the only write since her last pull"

    say "bob: the cloud has ann's work; a pull brings it in, contract file included"
    as bob
    run gryt sync status
    run gryt sync pull
    run gryt generation list
    run gryt generation show 1.0.0

    say "bob: v1.1.0 (the pipeline and the app come with git in a real team; gryt syncs release state)"
    pipeline
    run gryt generation new 1.1.0 --description "Second release"
    contract 1.1.0 "Second release" FEAT-2 "Greet by name"
    run gryt generation update 1.1.0
    run gryt evolution start 1.1.0 --change FEAT-2
    run gryt run
    run gryt promote 1.1.0

    as ann
    run gryt sync pull
    run gryt generation list

    say "the version lock: ann and bob both draft v2.0.0; ann pushes first"
    run gryt generation new 2.0.0 --description "Ann's big release"
    contract 2.0.0 "Ann's big release" FEAT-3 "Search"
    run gryt generation update 2.0.0
    run gryt sync push
    as bob
    run gryt generation new 2.0.0 --description "Bob's big release"
    contract 2.0.0 "Bob's big release" FEAT-4 "Filters"
    run gryt generation update 2.0.0

    say "bob has not pulled: the cloud refuses his push (exit 3) and nothing changes"
    refused 3 gryt sync push
    say "gryt sync = pull, then push. The pull keeps bob's draft and records a conflict;"
    say "the push is refused (exit 3), naming who holds v2.0.0 and the next free versions"
    refused 3 gryt sync
    run gryt sync conflicts
    say "bob takes a free version; his contract file moves with it"
    run gryt generation rename 2.0.0 2.0.1
    run gryt sync
    run gryt generation list
    run gryt sync status

    as ann
    run gryt sync pull
    run gryt sync status
    run gryt sync log

    who=
    say "stop the cloud (SIGTERM: it finishes requests in flight, then exits)"
    step "kill $server_pid"
    kill "$server_pid"
    wait "$server_pid" || true
    server_pid=
    tail -n 1 "$work/cloud.log"
}

if [ "$mode" = local ]; then local_demo; else team_demo; fi

echo
echo "Done. Everything ran in $work$([ "$keep" = yes ] && echo " (kept)" || echo " (removed)")."
