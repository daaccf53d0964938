//! The OpenAPI document: served at /openapi.json, committed at docs/openapi.json and equal
//! to what the code generates (regenerate with
//! `UPDATE_OPENAPI=1 cargo nextest run -p ledgerdesk-web openapi`), and covering every
//! `/v1` route the router registers.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

fn generated() -> String {
    serde_json::to_string_pretty(&web::openapi::document()).expect("serialize") + "\n"
}

#[test]
fn openapi_committed_document_is_the_generated_one() {
    let path = committed_path();
    let now = generated();
    if std::env::var("UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(&path, &now).expect("write docs/openapi.json");
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; generate it with UPDATE_OPENAPI=1 cargo nextest run -p ledgerdesk-web openapi",
            path.display()
        )
    });
    assert!(
        committed.trim_end() == now.trim_end(),
        "docs/openapi.json is out of date; regenerate it with \
         UPDATE_OPENAPI=1 cargo nextest run -p ledgerdesk-web openapi"
    );
}

/// The `/v1` routes registered in the sources that build routers (src/routes.rs and the
/// modules it merges), as (method, path), read from the source.
fn registered_routes() -> BTreeSet<(String, String)> {
    let src: String = [
        "src/routes.rs",
        "src/payments.rs",
        "src/desk.rs",
        "src/desk_actions.rs",
        "src/desk_kpi.rs",
        "src/chat.rs",
        "src/jobs.rs",
        "src/events.rs",
    ]
    .iter()
    .map(|f| {
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(f))
            .unwrap_or_else(|e| panic!("read {f}: {e}"))
    })
    .collect();
    // `.route("PATH", get(h).post(h2)…)`, possibly spread over lines: take each `.route(`
    // call up to its matching parenthesis.
    let mut out = BTreeSet::new();
    let mut rest = src.as_str();
    while let Some(i) = rest.find(".route(") {
        let call = &rest[i + ".route(".len()..];
        let mut depth = 1;
        let mut end = 0;
        for (j, ch) in call.char_indices() {
            match ch {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let call = &call[..end];
        rest = &rest[i + 1..];
        let path = call.split('"').nth(1).expect("a path literal").to_string();
        if !path.starts_with("/v1") {
            continue;
        }
        let handlers = &call[call.find(',').expect("handlers") + 1..];
        // Method names are the calls at depth 0 of the handler chain: get(…).post(…).
        let mut depth = 0;
        let mut word = String::new();
        for ch in handlers.chars() {
            match ch {
                '(' => {
                    if depth == 0 {
                        let m = word.trim().trim_start_matches('.').to_string();
                        if ["get", "post", "delete", "put", "patch"].contains(&m.as_str()) {
                            out.insert((m, path.clone()));
                        }
                    }
                    depth += 1;
                    word.clear();
                }
                ')' => {
                    depth -= 1;
                    word.clear();
                }
                c if depth == 0 => word.push(c),
                _ => {}
            }
        }
    }
    out
}

#[test]
fn openapi_documents_every_v1_route() {
    let routes = registered_routes();
    // The parser must find the routes (guards against it silently finding none).
    assert!(routes.len() >= 40, "{routes:?}");
    assert!(routes.contains(&("delete".into(), "/v1/prices/{id}".into())));
    assert!(routes.contains(&("post".into(), "/v1/subscriptions/{id}/preview".into())));
    assert!(routes.contains(&("post".into(), "/v1/refunds/{id}/retry".into())));
    let doc = serde_json::to_value(web::openapi::document()).unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    let mut missing = Vec::new();
    for (method, path) in &routes {
        if paths.get(path).and_then(|p| p.get(method)).is_none() {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(
        missing.is_empty(),
        "not in the OpenAPI document: {missing:?}"
    );
    // And the document has nothing the router does not serve.
    let mut extra = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "delete", "put", "patch"] {
            if item.get(method).is_some() && !routes.contains(&(method.into(), path.clone())) {
                extra.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_served_at_openapi_json() {
    let srv = common::sqlite().await;
    let r = srv
        .http
        .get(format!("{}/openapi.json", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json")));
    let served: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        served,
        serde_json::to_value(web::openapi::document()).unwrap()
    );
    assert_eq!(served["info"]["title"], "Ledgerdesk API");
    assert!(served["openapi"].as_str().unwrap().starts_with("3."));
    assert!(served["components"]["securitySchemes"]["api_key"].is_object());
    assert!(served["paths"]["/v1/customers"]["post"].is_object());
}
