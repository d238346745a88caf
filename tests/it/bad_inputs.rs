//! Malformed input: every file in `fixtures/bad/` (see `fixtures/README.md`), bytes no text
//! file can hold, a 50 MB contract, bad versions and ids on the command line, a garbage
//! database and a broken config. Each case must give a clear `Error: ` message naming the file
//! (and the line, when there is one), exit non-zero, and leave the database and every file
//! under `.gryt/` byte-for-byte as they were.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{Out, TestEnv};
use crate::golden;

/// Where a contract fixture is copied: the file of generation v1.0.0, which exists.
const CONTRACT: &str = ".gryt/generations/v1.0.0.yaml";
/// Where a pipeline fixture is copied; it runs as `gryt run bad`.
const PIPELINE: &str = ".gryt/pipelines/bad.yaml";

/// Pipeline fixtures marked `# bug:` — gryt accepts them today. They are checked by the
/// ignored tests named here instead of the table test, so the table stays green while the
/// bug is open; the list must match the markers, so no fixture is skipped silently.
const KNOWN_BUG_FIXTURES: &[&str] = &[];

/// One file of `fixtures/bad/`, with what its header comments promise.
struct Fixture {
    /// `contracts/alias.yaml`
    name: String,
    bytes: Vec<u8>,
    /// `# expect: TEXT` — a substring of the message gryt must print.
    expect: String,
    /// `# line: N` — the message must be `path:N: …`; `# line: none` — `path: …`.
    line: Option<usize>,
    /// `# bug: WHY` — gryt accepts the file today (see [`KNOWN_BUG_FIXTURES`]).
    bug: Option<String>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bad")
}

fn load_fixtures(kind: &str) -> Vec<Fixture> {
    let dir = fixtures_dir().join(kind);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            parse_fixture(
                &format!("{kind}/{}", p.file_name().unwrap().to_string_lossy()),
                &p,
            )
        })
        .collect()
}

fn parse_fixture(name: &str, path: &Path) -> Fixture {
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8(bytes.clone())
        .unwrap_or_else(|_| panic!("{name}: fixtures are UTF-8 (write odd bytes from the test)"));
    let mut lines = text.lines();
    let expect = lines
        .next()
        .and_then(|l| l.strip_prefix("# expect: "))
        .unwrap_or_else(|| panic!("{name}: the first line must be `# expect: …`"))
        .to_string();
    let line = match lines.next().and_then(|l| l.strip_prefix("# line: ")) {
        Some("none") => None,
        Some(n) => Some(
            n.parse()
                .unwrap_or_else(|_| panic!("{name}: bad `# line:` {n:?}")),
        ),
        None => panic!("{name}: the second line must be `# line: N` or `# line: none`"),
    };
    let bug = lines
        .next()
        .and_then(|l| l.strip_prefix("# bug: "))
        .map(str::to_string);
    assert!(!expect.trim().is_empty(), "{name}: empty `# expect:`");
    Fixture {
        name: name.to_string(),
        bytes,
        expect,
        line,
        bug,
    }
}

/// Everything a refused command must leave alone.
struct Before {
    db: Vec<u8>,
    files: Vec<(String, Vec<u8>)>,
}

fn before(env: &TestEnv) -> Before {
    Before {
        db: env.db_bytes(),
        files: files_snapshot(env),
    }
}

/// Everything under `.gryt/` except the database, like [`TestEnv::files_snapshot`], but safe
/// with the hostile files below: symlinks are recorded by target, never followed, and only
/// regular files are read (a FIFO would block, `/dev/zero` never ends).
fn files_snapshot(env: &TestEnv) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = p.to_string_lossy().into_owned();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let t = meta.file_type();
            if t.is_symlink() {
                let target = std::fs::read_link(&p).unwrap_or_default();
                out.push((name, format!("-> {}", target.display()).into_bytes()));
            } else if t.is_dir() {
                out.push((name, b"(dir)".to_vec()));
                walk(&p, out);
            } else if !t.is_file() {
                out.push((name, format!("({t:?})").into_bytes()));
            } else if !name.contains("gryt.db") {
                out.push((name, std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    let mut out = Vec::new();
    walk(&env.path(".gryt"), &mut out);
    out.sort();
    out
}

/// The checks every refusal must pass; returns the problems found (empty when all is well),
/// so table tests can report every failing fixture at once.
fn refusal_problems(
    env: &TestEnv,
    was: &Before,
    out: &Out,
    file: &str,
    expect: &str,
    line: Option<usize>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if out.code != 1 {
        problems.push(format!("exit code {} (expected 1)", out.code));
    }
    if out.stderr.contains("panicked") || out.stderr.contains("RUST_BACKTRACE") {
        problems.push("gryt panicked".to_string());
    }
    if !out.stderr.starts_with("Error: ") {
        problems.push("stderr does not start with `Error: `".to_string());
    }
    if !out.stdout.is_empty() {
        problems.push("something was printed on stdout".to_string());
    }
    // The message names the file, with the line when the problem has one, and the expected
    // text is on that same line of output. An empty `file`: the problem is not in a file.
    let located = match line {
        _ if file.is_empty() => String::new(),
        Some(n) => format!("{file}:{n}: "),
        None => format!("{file}: "),
    };
    if !out
        .stderr
        .lines()
        .any(|l| l.contains(&located) && l.contains(expect))
    {
        problems.push(format!(
            "no line of stderr contains both `{located}` and `{expect}`"
        ));
    }
    if env.db_bytes() != was.db {
        problems.push("the database changed".to_string());
    }
    if files_snapshot(env) != was.files {
        problems.push("files under .gryt/ changed".to_string());
    }
    problems
}

#[track_caller]
fn assert_refused(
    env: &TestEnv,
    was: &Before,
    out: &Out,
    file: &str,
    expect: &str,
    line: Option<usize>,
) {
    let problems = refusal_problems(env, was, out, file, expect, line);
    assert!(
        problems.is_empty(),
        "{}\n{}",
        problems.join("\n"),
        out.render()
    );
}

/// An initialised workspace whose generation v1.0.0 exists (so `generation update 1.0.0`
/// exercises a real update).
fn env_with_generation() -> TestEnv {
    let env = TestEnv::init();
    env.run(&["generation", "new", "1.0.0"]).ok();
    env
}

/// Writes `bytes` as the contract of v1.0.0 and runs `gryt generation update 1.0.0`.
fn update_with(env: &TestEnv, bytes: &[u8]) -> (Before, Out) {
    env.write(CONTRACT, bytes);
    let was = before(env);
    let out = env.run(&["generation", "update", "1.0.0"]);
    (was, out)
}

/// Writes `bytes` as `.gryt/pipelines/bad.yaml` and runs `gryt run bad` (with no current
/// evolution, a run that started would only be recorded; with one, it would decide it).
fn run_with(env: &TestEnv, bytes: &[u8]) -> (Before, Out) {
    env.write(PIPELINE, bytes);
    let was = before(env);
    let out = env.run(&["run", "bad"]);
    (was, out)
}

fn check_contract_fixture(env: &TestEnv, f: &Fixture) -> Vec<String> {
    let (was, out) = update_with(env, &f.bytes);
    refusal_problems(env, &was, &out, CONTRACT, &f.expect, f.line)
        .into_iter()
        .map(|p| format!("{}: {p}\n{}", f.name, out.render()))
        .collect()
}

fn check_pipeline_fixture(env: &TestEnv, f: &Fixture) -> Vec<String> {
    let (was, out) = run_with(env, &f.bytes);
    refusal_problems(env, &was, &out, PIPELINE, &f.expect, f.line)
        .into_iter()
        .map(|p| format!("{}: {p}\n{}", f.name, out.render()))
        .collect()
}

#[test]
fn bad_fixture_inventory() {
    let contracts = load_fixtures("contracts");
    let pipelines = load_fixtures("pipelines");
    assert!(contracts.len() >= 20, "only {} contracts", contracts.len());
    assert!(pipelines.len() >= 6, "only {} pipelines", pipelines.len());
    let marked: Vec<String> = contracts
        .iter()
        .chain(&pipelines)
        .filter(|f| f.bug.is_some())
        .map(|f| f.name.clone())
        .collect();
    assert_eq!(
        marked, KNOWN_BUG_FIXTURES,
        "`# bug:` markers vs KNOWN_BUG_FIXTURES"
    );
}

#[test]
fn bad_contract_fixtures_are_refused() {
    let env = env_with_generation();
    let fixtures = load_fixtures("contracts");
    let mut failures = Vec::new();
    for f in fixtures.iter().filter(|f| f.bug.is_none()) {
        failures.extend(check_contract_fixture(&env, f));
    }
    // The generation is still the placeholder `generation new` wrote.
    let show = env.run(&["generation", "show", "1.0.0", "--json"]).ok();
    assert_eq!(show.json()["changes"][0]["id"], "CHANGE-1");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn bad_pipeline_fixtures_are_refused() {
    let env = TestEnv::init();
    let fixtures = load_fixtures("pipelines");
    let mut failures = Vec::new();
    for f in fixtures.iter().filter(|f| f.bug.is_none()) {
        failures.extend(check_pipeline_fixture(&env, f));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A contract with several problems reports all of them, each with its line, in line order.
#[test]
fn bad_contract_reports_every_problem() {
    let env = env_with_generation();
    let text = "\
version: 1.2
colour: red
changes:
  - type: feature
    id: feat-1
    title: ''
  - type: add
    id: OK-1
    title: fine
  - type: fix
    id: OK-1
    title: again
";
    let (was, out) = update_with(&env, text.as_bytes());
    assert_refused(&env, &was, &out, CONTRACT, "invalid version `1.2`", Some(1));
    for (line, expect) in [
        (2, "unknown key `colour`"),
        (4, "unknown change type `feature`"),
        (5, "invalid change id `feat-1`"),
        (6, "title is empty"),
        (10, "duplicate change id OK-1 (first listed at line 7)"),
    ] {
        assert_refused(&env, &was, &out, CONTRACT, expect, Some(line));
    }
    golden!("bad_contract_many_problems", out);
}

#[test]
fn bad_contract_type_feature_golden() {
    let env = env_with_generation();
    let f = parse_fixture(
        "contracts/type-feature.yaml",
        &fixtures_dir().join("contracts/type-feature.yaml"),
    );
    let (_, out) = update_with(&env, &f.bytes);
    golden!("bad_contract_type_feature", out);
}

#[test]
fn bad_pipeline_step_list_golden() {
    let env = TestEnv::init();
    let f = parse_fixture(
        "pipelines/step-list.yaml",
        &fixtures_dir().join("pipelines/step-list.yaml"),
    );
    let (_, out) = run_with(&env, &f.bytes);
    golden!("bad_pipeline_step_list", out);
}

/// Bytes a committed text fixture cannot (or should not) hold.
#[test]
fn bad_contract_bytes_are_refused() {
    let env = env_with_generation();
    let good = env.read(CONTRACT);
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in good.encode_utf16() {
        utf16.extend(unit.to_le_bytes());
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "NUL byte in a title",
            good.replace("first change", "first\0change").into_bytes(),
            "the file contains NUL bytes; it is not text",
        ),
        (
            "invalid UTF-8 (a Latin-1 é)",
            good.replace("Describe", "D\u{1}scribe")
                .bytes()
                .map(|b| if b == 1 { 0xE9 } else { b })
                .collect(),
            "the file is not valid UTF-8 (first bad byte at offset",
        ),
        (
            "lone continuation byte",
            [b"version: 1.0.0\n".as_slice(), &[0x80], b"\n"].concat(),
            "the file is not valid UTF-8 (first bad byte at offset 15)",
        ),
        ("UTF-16 with a byte-order mark", utf16, "it is not text"),
    ];
    let mut failures = Vec::new();
    for (what, bytes, expect) in cases {
        let (was, out) = update_with(&env, &bytes);
        for p in refusal_problems(&env, &was, &out, CONTRACT, expect, None) {
            failures.push(format!("{what}: {p}\n{}", out.render()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A valid-looking contract of `size` bytes: many well-formed changes.
fn huge_contract(size: usize) -> Vec<u8> {
    let mut s = String::with_capacity(size + 100);
    s.push_str("version: 1.0.0\nchanges:\n");
    let mut i = 0;
    while s.len() < size {
        i += 1;
        s.push_str(&format!(
            "  - type: add\n    id: FEAT-{i}\n    title: Change number {i}\n"
        ));
    }
    s.into_bytes()
}

#[test]
fn bad_contract_of_50_mb_is_refused_quickly() {
    let env = env_with_generation();
    let (was, out, took) = {
        env.write(CONTRACT, huge_contract(50 * 1024 * 1024));
        let was = before(&env);
        let start = Instant::now();
        let out = env.run(&["generation", "update", "1.0.0"]);
        (was, out, start.elapsed())
    };
    assert_refused(
        &env,
        &was,
        &out,
        CONTRACT,
        "the file is larger than 1024 KiB",
        None,
    );
    // Generous for a debug build on a busy machine; reading all 50 MB and parsing it would
    // take far longer than reading the first MiB.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    golden!("bad_contract_too_large", out);
}

#[test]
fn bad_pipeline_of_50_mb_is_refused() {
    let env = TestEnv::init();
    let mut text = String::from("steps:\n");
    while text.len() < 50 * 1024 * 1024 {
        text.push_str("  - echo this is not a hand-written pipeline\n");
    }
    let (was, out) = run_with(&env, text.as_bytes());
    assert_refused(
        &env,
        &was,
        &out,
        PIPELINE,
        "the file is larger than 256 KiB",
        None,
    );
}

/// Just over the limit is refused; just under is read (and refused for its content only).
#[test]
fn bad_contract_size_limit_is_exact() {
    let env = env_with_generation();
    let limit = 1024 * 1024;
    let mut over = huge_contract(limit);
    over.resize(limit + 1, b'\n');
    let (was, out) = update_with(&env, &over);
    assert_refused(&env, &was, &out, CONTRACT, "larger than 1024 KiB", None);
    let mut at = huge_contract(limit - 200);
    at.resize(limit, b'\n');
    let (was, out) = update_with(&env, &at);
    assert!(!out.stderr.contains("larger than"), "{}", out.render());
    // It holds more than 10,000 changes, which is a problem of its own, with a line.
    assert_refused(
        &env,
        &was,
        &out,
        CONTRACT,
        "more than 10000 changes",
        Some(3),
    );
}

#[test]
fn bad_versions_on_the_command_line_are_usage_errors() {
    let env = env_with_generation();
    let was = before(&env);
    let cases = [
        ("1.2", "expected exactly three numbers X.Y.Z"),
        ("v1.2.3.4", "expected exactly three numbers X.Y.Z"),
        ("latest", "expected X.Y.Z with digits only"),
        ("", "expected X.Y.Z, for example 1.2.0 or v1.2.0"),
        ("01.2.3", "numbers must not have leading zeros"),
        ("1.2.3-rc.1", "no pre-release or build suffix"),
        ("V1.2.3", "expected X.Y.Z with digits only"),
        ("１.２.３", "expected X.Y.Z with digits only"),
    ];
    let mut failures = Vec::new();
    for (version, reason) in cases {
        for args in [
            vec!["generation", "new", version],
            vec!["generation", "update", version],
            vec!["generation", "show", version],
            vec!["evolution", "start", version, "--change", "CHANGE-1"],
            vec!["promote", version],
        ] {
            let out = env.run(&args);
            let wanted = format!("invalid value '{version}' for ");
            if out.code != 2
                || !out.stderr.contains(&wanted)
                || !out.stderr.contains(reason)
                || out.stderr.contains("panicked")
                || !out.stdout.is_empty()
            {
                failures.push(format!(
                    "{args:?}: want exit 2, `{wanted}` and `{reason}`\n{}",
                    out.render()
                ));
            }
        }
    }
    assert_eq!(env.db_bytes(), was.db);
    assert_eq!(files_snapshot(&env), was.files);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    golden!(
        "bad_cli_version_latest",
        env.run(&["generation", "new", "latest"])
    );
}

/// A value that can never be a change id is a usage error (exit 2) that says so — not
/// "has no change", whose hint (add it to the contract) would lead to a refused update.
#[test]
fn bad_change_id_for_evolution_start() {
    let env = env_with_generation();
    let was = before(&env);
    for change in ["feat-1", "FEAT_1", "ＦEAT-1", ""] {
        let out = env.run(&["evolution", "start", "1.0.0", "--change", change]);
        let problems = usage_problems(&env, &was, &out, "invalid change id");
        assert!(
            problems.is_empty(),
            "{change:?}: {problems:?}\n{}",
            out.render()
        );
        assert!(
            !out.stderr.contains("add the change to"),
            "{}",
            out.render()
        );
    }
    golden!(
        "bad_evolution_start_change_id",
        env.run(&["evolution", "start", "1.0.0", "--change", "feat-1"])
    );
}

/// What is wrong with a refused command-line argument: exit 2 (usage), the reason on stderr,
/// nothing on stdout, and nothing changed.
fn usage_problems(env: &TestEnv, was: &Before, out: &Out, expect: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if out.code != 2 {
        problems.push(format!("exit code {} (expected 2)", out.code));
    }
    if out.stderr.contains("panicked") || !out.stderr.contains(expect) {
        problems.push(format!("stderr lacks `{expect}` or shows a panic"));
    }
    if !out.stdout.is_empty() {
        problems.push("something was printed on stdout".to_string());
    }
    if env.db_bytes() != was.db || files_snapshot(env) != was.files {
        problems.push("something changed".to_string());
    }
    problems
}

#[test]
fn bad_pipeline_name_on_the_command_line() {
    let env = TestEnv::init();
    env.write_pipeline("ci", "true");
    let was = before(&env);
    for args in [
        &["run", "../ci"][..],
        &["run", "/etc/passwd"],
        &["run", "ci/../../x"],
        &["run", ".hidden"],
        &["run", ""],
        &["pipeline", "new", "../x"],
        &["generation", "new", "2.0.0", "-p", "a/b"],
    ] {
        let out = env.run(args);
        let problems = usage_problems(&env, &was, &out, "use letters, digits");
        assert!(
            problems.is_empty(),
            "{args:?}: {problems:?}\n{}",
            out.render()
        );
    }
}

#[test]
fn bad_pipeline_name_message_does_not_stutter() {
    let env = TestEnv::init();
    let out = env.run(&["run", "../x"]).fails(2);
    assert_eq!(
        out.stderr.matches("invalid").count(),
        1,
        "one `invalid`, not a stutter:\n{}",
        out.render()
    );
}

/// Deterministic noise (xorshift), so a failure reproduces.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

fn gryt_dir_entries(env: &TestEnv) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(env.path(".gryt"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Commands that open the database, on a database that is garbage or cut short.
#[test]
fn bad_database_is_reported_not_repaired() {
    let env = env_with_generation();
    env.write_pipeline("ci", "true");
    let real = env.db_bytes();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "random bytes",
            noise(real.len(), 0x9E37_79B9_7F4A_7C15),
            "file is not a database",
        ),
        (
            "text",
            b"hello, I am not a database\n".to_vec(),
            "file is not a database",
        ),
        (
            "the first half of a real database",
            real[..real.len() / 2].to_vec(),
            "database disk image is malformed",
        ),
    ];
    let commands: [&[&str]; 6] = [
        &["status"],
        &["generation", "list"],
        &["generation", "update", "1.0.0"],
        &["generation", "new", "2.0.0"],
        &["evolution", "start", "1.0.0", "--change", "CHANGE-1"],
        &["run", "ci"],
    ];
    let mut failures = Vec::new();
    for (what, bytes, reason) in &cases {
        env.write(".gryt/gryt.db", bytes);
        let entries = gryt_dir_entries(&env);
        let was = before(&env);
        for args in commands {
            let out = env.run(args);
            for p in refusal_problems(
                &env,
                &was,
                &out,
                "",
                ".gryt/gryt.db is not a gryt database",
                None,
            ) {
                failures.push(format!("{what}, {args:?}: {p}\n{}", out.render()));
            }
            if !out.stderr.contains(reason) {
                failures.push(format!("{what}, {args:?}: no `{reason}`\n{}", out.render()));
            }
            if gryt_dir_entries(&env) != entries {
                failures.push(format!(
                    "{what}, {args:?}: files appeared in .gryt/: {:?}",
                    gryt_dir_entries(&env)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    env.write(".gryt/gryt.db", noise(real.len(), 7));
    golden!("bad_db_garbage", env.run(&["status"]));
}

/// A zero-byte `gryt.db` (a crash, a full disk, a bad copy) must not be silently re-created
/// as an empty database, which would hide that the data is gone.
#[test]
fn bad_database_empty_file_is_not_recreated() {
    let env = env_with_generation();
    env.write(".gryt/gryt.db", b"");
    let out = env.run(&["status"]);
    assert_ne!(out.code, 0, "{}", out.render());
    assert!(out.stderr.starts_with("Error: "), "{}", out.render());
    assert!(out.stderr.contains("gryt.db"), "{}", out.render());
    assert_eq!(env.db_bytes(), b"", "the empty database was rewritten");
}

#[test]
fn bad_repo_config_is_reported_with_its_path() {
    let env = env_with_generation();
    let cases = [
        (
            "execution_mode: turbo\n",
            "invalid value `turbo` for execution_mode: expected one of local, hybrid, cloud",
        ),
        (
            "execution_mode: [local\n",
            "did not find expected ',' or ']'",
        ),
        ("- local\n", "expected a mapping of settings"),
        ("colour: red\n", "unknown config key `colour`"),
        (
            "cloud:\n  token: s3cret\n",
            "unknown config key `cloud.token`",
        ),
        (
            "promote:\n  min_evolutions: -1\n",
            "invalid value `-1` for promote.min_evolutions",
        ),
        ("user:\n  name: ''\n", "invalid value `` for user.name"),
        (
            "cloud:\n  url: ftp://example.com\n",
            "expected an http:// or https:// URL",
        ),
        ("cloud:\n  project: no-slash\n", "expected TEAM/PROJECT"),
    ];
    let mut failures = Vec::new();
    for (text, expect) in cases {
        env.write(".gryt/config", text);
        let was = before(&env);
        for args in [
            &["status"][..],
            &["generation", "update", "1.0.0"],
            &["generation", "new", "2.0.0"],
        ] {
            let out = env.run(args);
            for p in refusal_problems(&env, &was, &out, ".gryt/config", expect, None) {
                failures.push(format!("{text:?}, {args:?}: {p}\n{}", out.render()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    env.write(".gryt/config", "execution_mode: turbo\n");
    golden!("bad_config_value", env.run(&["status"]));
}

#[test]
fn bad_global_config_is_reported_with_its_path() {
    let env = env_with_generation();
    let global = env.home.join(".config/gryt/config");
    std::fs::create_dir_all(global.parent().unwrap()).unwrap();
    std::fs::write(&global, "execution_mode: sometimes\n").unwrap();
    let was = before(&env);
    let out = env.run(&["generation", "list"]);
    assert_refused(
        &env,
        &was,
        &out,
        "home/.config/gryt/config",
        "invalid value `sometimes` for execution_mode",
        None,
    );
}

/// `update --all` validates every file first: two bad files are both reported (each with
/// its line), and the good new file next to them is not imported either.
#[test]
fn bad_update_all_reports_every_bad_file() {
    let env = env_with_generation();
    env.run(&["generation", "new", "2.0.0"]).ok();
    env.write_contract("v3.0.0", &[("add", "NEW-1", "A fine new change")], "");
    env.write(
        CONTRACT,
        "version: 1.0.0\nchanges:\n  - type: feature\n    id: FEAT-1\n    title: x\n",
    );
    env.write(
        ".gryt/generations/v2.0.0.yaml",
        "version: 2.0.0\nchanges:\n  - type: add\n    id: FEAT-1\n    title: x\n  - type: fix\n    id: FEAT-1\n    title: y\n",
    );
    let was = before(&env);
    let out = env.run(&["generation", "update", "--all"]);
    assert_refused(
        &env,
        &was,
        &out,
        CONTRACT,
        "unknown change type `feature`",
        Some(3),
    );
    assert_refused(
        &env,
        &was,
        &out,
        ".gryt/generations/v2.0.0.yaml",
        "duplicate change id FEAT-1 (first listed at line 3)",
        Some(6),
    );
    let list = env.run(&["generation", "list", "--json"]).ok();
    assert_eq!(
        list.json().as_array().unwrap().len(),
        2,
        "v3.0.0 was imported"
    );
    golden!("bad_update_all_two_files", out);
}

/// With a current evolution, a broken pipeline must not start, fail or otherwise touch it:
/// the evolution stays pending and can still be proven once the file is fixed.
#[test]
fn bad_pipeline_leaves_the_current_evolution_pending() {
    let env = env_with_generation();
    env.run(&["evolution", "start", "1.0.0", "--change", "CHANGE-1"])
        .ok();
    let mut failures = Vec::new();
    for name in ["step-list.yaml", "cwd-parent.yaml", "timeout-words.yaml"] {
        let f = parse_fixture(name, &fixtures_dir().join("pipelines").join(name));
        failures.extend(check_pipeline_fixture(&env, &f));
        let was = before(&env);
        let out = env.run(&["evolution", "prove", "v1.0.0-rc.1", "--pipeline", "bad"]);
        failures.extend(
            refusal_problems(&env, &was, &out, PIPELINE, &f.expect, f.line)
                .into_iter()
                .map(|p| format!("prove with {name}: {p}\n{}", out.render())),
        );
    }
    let list = env.run(&["evolution", "list", "1.0.0", "--json"]).ok();
    assert_eq!(list.json()[0]["status"], "pending", "{}", list.stdout);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    env.write_pipeline("bad", "true");
    env.run(&["run", "bad"]).ok();
    let list = env.run(&["evolution", "list", "1.0.0", "--json"]).ok();
    assert_eq!(list.json()[0]["status"], "pass", "{}", list.stdout);
}

/// Runs gryt, killing it if it has not finished within a minute: a command that blocks on a
/// FIFO or reads `/dev/zero` forever must fail the test, not hang the suite.
fn run_or_kill(env: &TestEnv, args: &[&str]) -> Out {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = env
        .command(&env.repo, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gryt runs");
    let pipe = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = pipe(Box::new(child.stdout.take().unwrap()));
    let stderr = pipe(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gryt {args:?} did not finish: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    env.finish(std::process::Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    })
}

/// Puts something that is not a small regular file at `rel` (replacing what is there).
/// Created here: git cannot hold a FIFO, and a 1 MiB file is not worth committing.
#[cfg(unix)]
fn plant(env: &TestEnv, rel: &str, what: &str, limit: usize) {
    let p = env.path(rel);
    let _ = std::fs::remove_file(&p);
    let _ = std::fs::remove_dir_all(&p);
    match what {
        "symlink to /dev/zero" => std::os::unix::fs::symlink("/dev/zero", &p).unwrap(),
        "FIFO" => {
            let status = std::process::Command::new("mkfifo")
                .arg(&p)
                .status()
                .unwrap();
            assert!(status.success(), "mkfifo");
        }
        "file over the limit" => std::fs::write(&p, vec![b'#'; limit + 1]).unwrap(),
        "directory" => std::fs::create_dir(&p).unwrap(),
        "symlink loop" => std::os::unix::fs::symlink(p.file_name().unwrap(), &p).unwrap(),
        _ => unreachable!("{what}"),
    }
}

/// (what to plant, the message's reason)
#[cfg(unix)]
const HOSTILE: [(&str, &str); 5] = [
    (
        "symlink to /dev/zero",
        "it is a character device, not a regular file",
    ),
    ("FIFO", "it is a named pipe (FIFO), not a regular file"),
    ("file over the limit", "the file is larger than"),
    ("directory", "it is a directory, not a regular file"),
    ("symlink loop", "symbolic links"),
];

/// A contract file that is a device, a FIFO, too large, a directory or a symlink loop: every
/// command that reads it refuses it by name, changes nothing, and never hangs or grows.
#[cfg(unix)]
#[test]
fn bad_contract_not_a_regular_file() {
    let env = env_with_generation();
    let mut failures = Vec::new();
    for (what, reason) in HOSTILE {
        plant(&env, CONTRACT, what, 1024 * 1024);
        let was = before(&env);
        for args in [
            &["status"][..],
            &["promote", "1.0.0"],
            &["generation", "update", "1.0.0"],
        ] {
            let out = run_or_kill(&env, args);
            for p in refusal_problems(&env, &was, &out, CONTRACT, reason, None) {
                failures.push(format!("{what}, {args:?}: {p}\n{}", out.render()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    plant(&env, CONTRACT, "FIFO", 0);
    golden!(
        "bad_contract_fifo",
        run_or_kill(&env, &["generation", "update", "1.0.0"])
    );
}

#[cfg(unix)]
#[test]
fn bad_pipeline_not_a_regular_file() {
    let env = TestEnv::init();
    let mut failures = Vec::new();
    for (what, reason) in HOSTILE {
        plant(&env, PIPELINE, what, 256 * 1024);
        let was = before(&env);
        let out = run_or_kill(&env, &["run", "bad"]);
        for p in refusal_problems(&env, &was, &out, PIPELINE, reason, None) {
            failures.push(format!("{what}: {p}\n{}", out.render()));
        }
        let list = run_or_kill(&env, &["pipeline", "list"]).ok();
        if !list.stdout.contains(reason) {
            failures.push(format!(
                "{what}: `pipeline list` lacks the reason\n{}",
                list.render()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
