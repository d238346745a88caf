//! docs/openapi.json describes exactly the routes the server has: every (method, path) of the
//! route table is in it and it has no other; the server serves that very file; it parses,
//! every `$ref` resolves, every path parameter is declared, and what it says about
//! authentication is what the server does.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::harness::TestServer;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn description() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    let text = std::fs::read_to_string(path).expect("docs/openapi.json");
    serde_json::from_str(&text).expect("docs/openapi.json is JSON")
}

/// (method, path, operation) of every operation in the description.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut out = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_string(), path.clone(), op.clone()));
            }
        }
    }
    out
}

fn routes() -> BTreeSet<(String, String)> {
    gryt::server::routes()
        .into_iter()
        .map(|(m, p)| (m.as_str().to_ascii_lowercase(), p.to_string()))
        .collect()
}

#[test]
fn the_description_has_every_route_and_no_other() {
    let served = routes();
    assert!(served.len() >= 25, "the route table: {served:?}");
    let doc = description();
    let described: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let undescribed: Vec<_> = served.difference(&described).collect();
    let unserved: Vec<_> = described.difference(&served).collect();
    assert!(
        undescribed.is_empty() && unserved.is_empty(),
        "routes missing from docs/openapi.json: {undescribed:?}\n\
         described but not routed: {unserved:?}"
    );
}

#[test]
fn the_server_serves_the_description_without_credentials() {
    let s = TestServer::start();
    let r = s.client().get("/v1/openapi.json");
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json,
        description(),
        "the served description is docs/openapi.json"
    );
}

/// Every `"$ref"` in `value`, with where it was found.
fn refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push((at.to_string(), r.clone())),
                    _ => refs(v, &format!("{at}/{k}"), out),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refs(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

#[test]
fn the_description_is_well_formed() {
    let doc = description();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "an OpenAPI 3 document"
    );
    let mut found = Vec::new();
    refs(&doc, "", &mut found);
    assert!(found.len() > 100, "{} refs", found.len());
    for (at, r) in &found {
        assert!(resolve(&doc, r).is_some(), "{at}: {r} does not resolve");
    }
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let name = format!("{} {path}", method.to_uppercase());
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: operationId"));
        assert!(ids.insert(id.to_string()), "{name}: operationId {id} twice");
        // Path parameters: each `{name}` of the template declared, and no other.
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_string)
            .collect();
        let declared: BTreeSet<String> = doc["paths"][&path]["parameters"]
            .as_array()
            .into_iter()
            .chain(op["parameters"].as_array())
            .flatten()
            .map(|p| match p.get("$ref").and_then(Value::as_str) {
                Some(r) => resolve(&doc, r).expect("resolves").clone(),
                None => p.clone(),
            })
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().expect("name").to_string())
            .collect();
        assert_eq!(in_template, declared, "{name}: path parameters");
        // Answers: a success, and every error the JSON error body.
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|k| k.starts_with('2')),
            "{name}: no success answer"
        );
        for (status, response) in responses {
            let response = match response.get("$ref").and_then(Value::as_str) {
                Some(r) => resolve(&doc, r).expect("resolves"),
                None => response,
            };
            let schema = &response["content"]["application/json"]["schema"];
            if status.starts_with('4') || status.starts_with('5') {
                let error = schema["$ref"] == "#/components/schemas/Error"
                    || resolve(&doc, schema["$ref"].as_str().unwrap_or("#/none"))
                        .is_some_and(|s| s["allOf"][0]["$ref"] == "#/components/schemas/Error");
                assert!(error, "{name} {status}: not the error body");
            }
        }
    }
    // The error codes are the server's.
    for code in doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("codes")
    {
        let parsed: gryt::api::ErrorCode =
            serde_json::from_value(code.clone()).unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!(parsed.as_str(), code);
    }
}

/// Every route answers `401 unauthorized` without credentials exactly when the description
/// says it needs them.
#[test]
fn the_description_says_which_routes_need_credentials() {
    let doc = description();
    let s = TestServer::start();
    let c = s.client();
    for (method, path, op) in operations(&doc) {
        let secured = op
            .get("security")
            .unwrap_or(&doc["security"])
            .as_array()
            .is_some_and(|s| !s.is_empty());
        let url = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let r = match method.as_str() {
            "get" => c.get(&url),
            "delete" => c.delete(&url),
            "post" => c.post(&url, json!({})),
            other => panic!("{other} {path}: no such method in the route table"),
        };
        assert_eq!(
            r.status == 401,
            secured,
            "{} {path}: {} {}",
            method.to_uppercase(),
            r.status,
            r.json
        );
    }
}
