#!/usr/bin/env bash
# Fuzzes a local Gryt Cloud against its own OpenAPI description (GET /v1/openapi.json) with
# schemathesis: every answer must be a non-5xx, with a status, content type, headers and body
# the description lists for that operation, and protected routes must refuse requests
# without credentials.
#
#   scripts/fuzz-api.sh              50 examples per operation and phase
#   GRYT_FUZZ_EXAMPLES=N             another bound
#   GRYT_FUZZ_SEED=N                 replay a run (schemathesis prints its seed)
#   GRYT_FUZZ_DATABASE=URL           serve an empty PostgreSQL database (postgres://…) instead
#                                    of SQLite in the temporary directory
#   GRYT_FUZZ_LOG=FILTER             the server's log filter (default info; gryt=debug logs
#                                    why each request was rejected)
#   --keep                           leave the temporary directory (server log, reports)
#   -- ARGS...                       more `schemathesis run` options, e.g. -- --mode positive
#
# Everything happens in a temporary directory: a Python virtualenv with schemathesis (from
# PyPI), the server's data, its log. The server listens on 127.0.0.1 on a free port and is
# the only thing targeted. It has open registration; the script registers ann and bob and
# gives ann team acme with project web, holding the push example's records and the delete
# example's draft (what the description's examples name), then runs schemathesis with ann's
# token. Token revocation and logout run last, in passes with tokens of their own, so they
# cannot revoke the token the first pass uses. Exits non-zero on any finding.
set -euo pipefail

keep=no
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
    --keep) keep=yes ;;
    --)
        shift
        extra=("$@")
        break
        ;;
    -h | --help)
        sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "usage: scripts/fuzz-api.sh [--keep] [-- SCHEMATHESIS-ARGS...]" >&2
        exit 2
        ;;
    esac
    shift
done

examples=${GRYT_FUZZ_EXAMPLES:-50}
seed=${GRYT_FUZZ_SEED:-}
if ! [[ "$examples" =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz-api: GRYT_FUZZ_EXAMPLES must be a positive number, not \`$examples\`" >&2
    exit 2
fi
if [ -n "$seed" ] && ! [[ "$seed" =~ ^[0-9]+$ ]]; then
    echo "fuzz-api: GRYT_FUZZ_SEED must be a number, not \`$seed\`" >&2
    exit 2
fi
command -v python3 >/dev/null || {
    echo "fuzz-api: python3 is needed (with its venv module)" >&2
    exit 2
}

here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
server_pid=
started=$SECONDS
cleanup() {
    local code=$?
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ "$keep" = yes ]; then
        echo "Kept $work" >&2
    else
        rm -rf "$work"
    fi
    echo "fuzz-api: $((SECONDS - started)) s, exit $code" >&2
    exit "$code"
}
trap cleanup EXIT

echo "fuzz-api: installing schemathesis in a throwaway virtualenv" >&2
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
py="$work/venv/bin/python"
st="$work/venv/bin/schemathesis"
"$st" --version >&2

echo "fuzz-api: building gryt" >&2
cargo build --quiet --manifest-path "$here/Cargo.toml"
bin="$here/target/debug/gryt"

# RUST_LOG would override --log and could hide the line that carries the address.
storage=(--data "$work/data")
if [ -n "${GRYT_FUZZ_DATABASE:-}" ]; then
    storage=(--database "$GRYT_FUZZ_DATABASE")
fi
env -u RUST_LOG "$bin" cloud serve --listen 127.0.0.1:0 "${storage[@]}" \
    --registration open --log "${GRYT_FUZZ_LOG:-info}" >"$work/server.log" 2>&1 &
server_pid=$!
addr=
for _ in $(seq 1 100); do
    addr=$(sed -n 's/.*gryt cloud listening addr=\([^ ]*\).*/\1/p' "$work/server.log" | head -n 1)
    [ -n "$addr" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if ! [[ "$addr" =~ ^127\.0\.0\.1:[0-9]+$ ]]; then
    echo "fuzz-api: the server did not start on 127.0.0.1 (address: \`$addr\`):" >&2
    cat "$work/server.log" >&2
    exit 1
fi
base="http://$addr"
echo "fuzz-api: server at $base" >&2

# Makes the fixtures the description's examples name; prints a token of ann's per argument.
tokens() {
    "$py" - "$base" "$@" <<'PY'
import json, sys, urllib.request, urllib.error

base, devices = sys.argv[1], sys.argv[2:]

def call(method, path, body=None, token=None, ok=(200, 201, 204)):
    req = urllib.request.Request(base + path, method=method)
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if status not in ok:
        sys.exit(f"fuzz-api: {method} {path}: {status} {text}")
    return json.loads(text) if text else None

# ann's password is the description's example, so the login example logs in.
for user, password in (("ann", "correct horse"), ("bob", "password-bob")):
    call("POST", "/v1/accounts", {"username": user, "password": password}, ok=(201, 409))
def login(device):
    return call("POST", "/v1/auth/login",
                {"username": "ann", "password": "correct horse", "device": device})["token"]
first = login("setup")
call("POST", "/v1/teams", {"name": "acme"}, first, ok=(201, 409))
call("POST", "/v1/teams/acme/projects", {"name": "web"}, first, ok=(201, 409))
# The push example's generation and its passing evolution, so the promote example promotes,
# and a draft for the delete example to delete.
spec = call("GET", "/v1/openapi.json")
push = spec["paths"]["/v1/projects/{team}/{project}/push"]["post"]
example = push["requestBody"]["content"]["application/json"]["example"]
head = call("POST", "/v1/projects/acme/web/push", example, first)["head"]
delete = spec["paths"]["/v1/projects/{team}/{project}/generations/{id}"]
draft_id = next(p["example"] for p in delete["parameters"] if p.get("name") == "id")
draft = {"id": draft_id, "version": "v1.3.0", "status": "draft", "created_at": "2026-01-01T00:00:00Z",
         "changes": [{"type": "add", "id": "FEAT-002", "title": "Logout"}]}
call("POST", "/v1/projects/acme/web/push", {"base_seq": head, "idempotency_key": "fuzz-draft",
     "records": [{"kind": "generation", "base_revision": None, "record": draft}]}, first)
for d in devices:
    print(login(d))
PY
}

# What the description promises about answers, and that protected routes refuse requests
# without the token. (The data checks, negative_data_rejection and positive_data_acceptance,
# also judge business rules a schema cannot state, such as "the last owner cannot leave":
# add them with `-- --checks ...` when working on request schemas.)
checks=not_a_server_error,status_code_conformance,content_type_conformance
checks+=,response_schema_conformance,response_headers_conformance,ignored_auth
status=0
run_schemathesis() { # NAME TOKEN ARGS...
    local name=$1 token=$2
    shift 2
    echo "fuzz-api: $name" >&2
    local args=(
        run "$base/v1/openapi.json"
        --url "$base"
        --header "Authorization: Bearer $token"
        --checks "$checks"
        --max-examples "$examples"
        --max-redirects 0
        --request-timeout 30
        --workers 1
        --generation-database none
        --report junit --report-dir "$work/report-$name"
    )
    [ -n "$seed" ] && args+=(--seed "$seed")
    args+=("${extra[@]}")
    # In the temporary directory: schemathesis keeps a cache in its working directory and
    # reads a schemathesis.toml from there. No proxy from the caller's environment: it would
    # send loopback requests elsewhere.
    (cd "$work" && env -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u http_proxy -u https_proxy \
        -u all_proxy NO_PROXY='*' "$st" "${args[@]}" "$@") || status=1
}

# Every pass's token now: by the later passes the fuzzed logins have used up the address's
# login budget.
all=$(tokens fuzz fuzz-revoke fuzz-logout)
run_schemathesis main "$(sed -n 1p <<<"$all")" \
    --exclude-operation-id logout \
    --exclude-operation-id revokeToken \
    --exclude-operation-id revokeApiKey
# Revocation, with the keys it makes itself (the description links a new key to its
# revocation); it may end by revoking its own token.
run_schemathesis revoke "$(sed -n 2p <<<"$all")" \
    --include-operation-id createApiKey \
    --include-operation-id revokeToken \
    --include-operation-id revokeApiKey
run_schemathesis logout "$(sed -n 3p <<<"$all")" --include-operation-id logout \
    --phases examples,coverage,fuzzing

if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "fuzz-api: the server died:" >&2
    tail -n 50 "$work/server.log" >&2
    status=1
fi
if grep -q 'ERROR' "$work/server.log"; then
    echo "fuzz-api: the server logged errors:" >&2
    grep 'ERROR' "$work/server.log" | head -n 20 >&2
    status=1
fi
if [ "$status" = 0 ]; then
    echo "fuzz-api: no findings" >&2
else
    echo "fuzz-api: findings (see above)" >&2
fi
exit "$status"
