//! The pages' sign-in limit over the database, on SQLite and PostgreSQL: five failures of
//! one surface and email in 15 minutes refuse the next attempt until the oldest leaves the
//! window; surfaces and emails (compared case-insensitively) count apart; a success clears
//! the count; two limiters on one database (two server processes, or one restarted) count
//! the same failures; recording a failure deletes rows no window looks at any more.

use chrono::{DateTime, Duration, Utc};
use store::{Backend, Db};
use web::ui::session::{SignInLimiter, MAX_FAILURES};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn rows(db: &Db) -> i64 {
    let sql = "SELECT COUNT(*) FROM sign_in_failures";
    match db {
        Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        Db::Pg(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

async fn the_limit_holds_across_processes_and_windows(db: Db) {
    let first = SignInLimiter::new(db.clone());
    let start = t("2026-03-01T10:00:00Z");
    for i in 0..MAX_FAILURES {
        let at = start + Duration::minutes(i);
        assert!(
            first.allowed("portal", "Anna@Alpha.example", at).await,
            "{i}"
        );
        first.failed("portal", " anna@alpha.EXAMPLE", at).await;
    }
    let after = start + Duration::minutes(5);
    assert!(!first.allowed("portal", "anna@alpha.example", after).await);
    // Another process on the same database (or this one restarted) sees the same count.
    let second = SignInLimiter::new(db.clone());
    assert!(!second.allowed("portal", "ANNA@alpha.example", after).await);
    // Other surfaces and addresses count apart.
    assert!(second.allowed("console", "anna@alpha.example", after).await);
    assert!(second.allowed("portal", "ben@alpha.example", after).await);
    // 15 minutes after the first failure it leaves the window: one more attempt.
    assert!(
        !second
            .allowed(
                "portal",
                "anna@alpha.example",
                start + Duration::seconds(899)
            )
            .await
    );
    let later = start + Duration::minutes(15);
    assert!(second.allowed("portal", "anna@alpha.example", later).await);
    second.failed("portal", "anna@alpha.example", later).await;
    assert!(!first.allowed("portal", "anna@alpha.example", later).await);

    // A success clears the address's count, and only on its surface.
    second.failed("console", "anna@alpha.example", later).await;
    first.succeeded("portal", "ANNA@alpha.example").await;
    for _ in 1..MAX_FAILURES {
        first.failed("portal", "anna@alpha.example", later).await;
    }
    assert!(first.allowed("portal", "anna@alpha.example", later).await);
    assert_eq!(
        rows(&db).await,
        MAX_FAILURES,
        "the console's one beside the portal's four"
    );

    // Recording a failure deletes every row older than the window, whoever's it is.
    let much_later = later + Duration::minutes(16);
    first
        .failed("console", "carl@alpha.example", much_later)
        .await;
    assert_eq!(rows(&db).await, 1);
    assert!(
        first
            .allowed("console", "anna@alpha.example", much_later)
            .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let (db, _) = store::testing::fresh(Backend::Sqlite).await.unwrap();
    the_limit_holds_across_processes_and_windows(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some((db, _)) = store::testing::fresh(Backend::Postgres).await else {
        eprintln!("LEDGERDESK_TEST_POSTGRES=off: PostgreSQL variant not run");
        return;
    };
    the_limit_holds_across_processes_and_windows(db).await;
}
