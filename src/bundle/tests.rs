use super::*;

#[test]
fn layout_paths_are_classified() {
    assert_eq!(classify("manifest.json"), Ok(Kind::Manifest));
    assert_eq!(
        classify("records/evolutions-000002.jsonl"),
        Ok(Kind::Records(RecordsKind::Evolutions))
    );
    assert_eq!(
        classify("contracts/v1.2.0.yaml"),
        Ok(Kind::Contract("1.2.0".parse().unwrap()))
    );
    assert_eq!(
        classify("pipelines/build.yaml"),
        Ok(Kind::Pipeline("build".into()))
    );
}

#[test]
fn hostile_and_unknown_paths_are_refused() {
    for path in [
        "../x",
        "/etc/passwd",
        "records/../../x",
        "./manifest.json",
        "contracts/../../evil.yaml",
    ] {
        let e = classify(path).unwrap_err();
        assert!(e.contains("outside the bundle"), "{path}: {e}");
    }
    for path in [
        "x",
        "records/generations.jsonl",
        "records/generations-1.jsonl",
        "records/tombstones-000001.jsonl",
        "contracts/1.2.0.yaml",
        "contracts/vnot-a-version.yaml",
        "pipelines/a b.yaml",
        "pipelines/build.yml",
        "other/manifest.json",
    ] {
        let e = classify(path).unwrap_err();
        assert!(e.contains("not part of"), "{path}: {e}");
    }
}

/// An entry larger than its limit stops being read at the limit: a bomb is refused, not
/// hashed to the end.
#[test]
fn an_entry_over_its_limit_is_refused() {
    let data = vec![0u8; 4096];
    let mut reader = Hashing {
        inner: &data[..],
        hasher: Sha256::new(),
        read: 0,
        limit: 1000,
    };
    let err = std::io::copy(&mut reader, &mut std::io::sink()).unwrap_err();
    assert!(
        err.to_string().contains("larger than gryt accepts"),
        "{err}"
    );

    let mut reader = Hashing {
        inner: &data[..],
        hasher: Sha256::new(),
        read: 0,
        limit: 4096,
    };
    assert_eq!(
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap(),
        4096
    );
    assert_eq!(hex(&reader.hasher.finalize()), hex(&Sha256::digest(&data)));
}
