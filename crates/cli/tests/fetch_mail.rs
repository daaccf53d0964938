//! `ledgerdesk fetch-mail` takes a Maildir's new messages into the desk (a redelivered
//! message is recognised), moves them to cur/, and `verify` then names a tampered audit
//! chain — on SQLite and on PostgreSQL.

use std::process::Command;
use store::{Backend, Db};

fn run(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ledgerdesk"))
        .args(["--database", url])
        .args(args)
        .output()
        .expect("run ledgerdesk");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn message(id: &str, subject: &str) -> String {
    format!(
        "From: Ada <ada@example.com>\r\nTo: billing@acme.test\r\nSubject: {subject}\r\n\
         Message-ID: <{id}>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\nHello.\r\n"
    )
}

async fn fetch(backend: Backend) {
    let Some((db, url)) = store::testing::fresh(backend).await else {
        eprintln!("LEDGERDESK_TEST_POSTGRES=off: PostgreSQL variant not run");
        return;
    };
    let now = chrono::Utc::now();
    let org = app::orgs::create_org(&db, "Mail test", "DE", now)
        .await
        .expect("org")
        .org_id;
    let dir = std::env::temp_dir().join(store::testing::unique_name("maildir"));
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("new/1.host"),
        message("a1@example.com", "Invoice wrong"),
    )
    .unwrap();
    std::fs::write(dir.join("new/2.host"), message("a2@example.com", "Refund")).unwrap();
    std::fs::write(dir.join("new/3.host"), "no headers at all").unwrap();
    let maildir = dir.to_str().unwrap();
    let (ok, err) = run(&url, &["fetch-mail", "--maildir", maildir, "--org", &org]);
    assert!(ok, "{err}");
    assert!(err.contains("2 message(s) stored, 1 refused"), "{err}");
    assert_eq!(std::fs::read_dir(dir.join("new")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(dir.join("cur")).unwrap().count(), 3);

    // The same message delivered again is a duplicate, not a second ticket.
    std::fs::write(
        dir.join("new/4.host"),
        message("a1@example.com", "Invoice wrong"),
    )
    .unwrap();
    let (ok, err) = run(&url, &["fetch-mail", "--maildir", maildir, "--org", &org]);
    assert!(ok, "{err}");
    let ctx = app::Ctx::new(org.clone(), now);
    let list =
        app::desk::tickets::list(&db, &app::desk::StaffCtx::api_key(ctx), Default::default())
            .await
            .unwrap();
    assert_eq!(list.data.len(), 2);
    let (ok, err) = run(
        &url,
        &[
            "fetch-mail",
            "--maildir",
            "/nonexistent/maildir",
            "--org",
            &org,
        ],
    );
    assert!(!ok && err.contains("maildir"), "{err}");

    // verify re-hashes the audit chain: a rewritten entry is named.
    let (ok, err) = run(&url, &["verify"]);
    assert!(ok, "{err}");
    let sctx = app::desk::StaffCtx::api_key(app::Ctx::new(org.clone(), now));
    app::desk::settings::save_policy(
        &db,
        &sctx,
        app::desk::settings::PolicyInput {
            name: "Default".into(),
            priority: None,
            category: None,
            first_response_secs: Some(3600),
            resolution_secs: None,
        },
    )
    .await
    .unwrap();
    let sql = "UPDATE audit_log SET actor = 'someone_else'";
    match &db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Db::Pg(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .unwrap();
    let (ok, err) = run(&url, &["verify"]);
    assert!(!ok && err.contains("VIOLATION audit_chain"), "{err}");
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_mail_sqlite() {
    fetch(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_mail_postgres() {
    fetch(Backend::Postgres).await;
}
