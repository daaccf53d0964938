//! Three `ledgerdesk worker` processes on one database never run a job twice: every job is
//! claimed once (one attempt), finished by exactly one of them, and every invoice is charged
//! exactly once. On PostgreSQL (SKIP LOCKED) and on SQLite (BEGIN IMMEDIATE).

use app::payments::PaymentMethodCreate;
use chrono::{DateTime, Utc};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use store::{Backend, Db};

const CUSTOMERS: usize = 120;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn count(db: &Db, sql: &str, org: &str) -> i64 {
    let mut tx = db.read().await.unwrap();
    let n: i64 = store::on!(&mut tx, c => sqlx::query_scalar::<_, i64>(sql).bind(org).fetch_one(c).await.unwrap());
    n
}

async fn three_workers(backend: Backend) {
    let Some((db, url)) = store::testing::fresh(backend).await else {
        eprintln!("LEDGERDESK_TEST_POSTGRES=off: PostgreSQL variant not run");
        return;
    };
    // Jobs are due at the wall clock's now, which the worker processes run at.
    let now = Utc::now();
    let org = app::orgs::create_org(&db, "Workers", "DE", t("2026-01-01T00:00:00Z"))
        .await
        .unwrap()
        .org_id;
    let ctx = app::Ctx::new(org.clone(), now);
    let gw = gateway::Gateway::Sandbox(gateway::Sandbox::new());
    for i in 0..CUSTOMERS {
        let c = app::customers::create(
            &db,
            &ctx,
            &app::customers::CustomerCreate {
                name: format!("Auto {i}"),
                currency: "EUR".into(),
                tax_exempt: true,
                collection_method: Some("charge_automatically".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        app::payments::attach_method(
            &db,
            &gw,
            &ctx,
            &PaymentMethodCreate {
                customer: c.id.clone(),
                kind: "card".into(),
                card: None,
                token: Some("tok_visa".into()),
                bank: None,
                set_default: None,
            },
        )
        .await
        .unwrap();
        app::invoicing::create(
            &db,
            &ctx,
            &app::invoicing::InvoiceCreate {
                customer: c.id.clone(),
                currency: None,
                lines: vec![app::invoicing::LineCreate {
                    description: Some("Plan".into()),
                    price: None,
                    quantity: None,
                    amount: Some(1_000 + i as i64),
                }],
                coupons: vec![],
                memo: None,
                finalize: true,
            },
        )
        .await
        .unwrap();
    }
    let q = "SELECT COUNT(*) FROM jobs WHERE org_id = $1 AND status = 'queued'";
    assert_eq!(count(&db, q, &org).await, CUSTOMERS as i64);

    let bin = env!("CARGO_BIN_EXE_ledgerdesk");
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(bin)
                .args([
                    "--database",
                    &url,
                    "worker",
                    "--exit-when-idle",
                    "--batch",
                    "3",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start worker")
        })
        .collect();
    let started = Instant::now();
    let mut succeeded = 0usize;
    for child in children {
        let out = child.wait_with_output().expect("worker output");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "worker failed: {err}");
        let line = err
            .lines()
            .find(|l| l.starts_with("jobs: "))
            .unwrap_or_else(|| panic!("no summary in {err}"));
        eprintln!("{line}");
        succeeded += line["jobs: ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse::<usize>()
            .unwrap();
        assert!(
            line.ends_with("0 to be retried, 0 failed, 0 lost to another worker"),
            "{line}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(120));
    assert_eq!(
        succeeded, CUSTOMERS,
        "each job finished by exactly one worker"
    );
    for (sql, want) in [
        (
            "SELECT COUNT(*) FROM jobs WHERE org_id = $1 AND status = 'succeeded' AND attempts = 1",
            CUSTOMERS,
        ),
        ("SELECT COUNT(*) FROM jobs WHERE org_id = $1", CUSTOMERS),
        (
            "SELECT COUNT(*) FROM payments WHERE org_id = $1 AND status = 'succeeded'",
            CUSTOMERS,
        ),
        ("SELECT COUNT(*) FROM payments WHERE org_id = $1", CUSTOMERS),
        (
            "SELECT COUNT(*) FROM invoices WHERE org_id = $1 AND status = 'paid'",
            CUSTOMERS,
        ),
    ] {
        assert_eq!(count(&db, sql, &org).await, want as i64, "{sql}");
    }
    let mut tx = db.read().await.unwrap();
    let v = store::verify::check_all(&mut tx).await.unwrap();
    assert!(v.is_empty(), "{v:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_run_each_job_once_postgres() {
    three_workers(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_run_each_job_once_sqlite() {
    three_workers(Backend::Sqlite).await;
}
