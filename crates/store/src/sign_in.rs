//! Failed sign-ins to the pages (table `sign_in_failures`), for their rate limit: counted,
//! recorded and cleared per surface (`portal`, `console`) and email. The rule itself (how
//! many, in what window) is the caller's (`web::ui::session`). Emails are compared trimmed
//! and lower-cased, so `Anna@X.example ` and `anna@x.example` share one count.

use crate::{Result, Tx};
use chrono::{DateTime, Utc};

/// The form an email is kept in.
fn key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// How many failures of (`surface`, `email`) were recorded after `since`.
pub async fn failures_since(
    tx: &mut Tx,
    surface: &str,
    email: &str,
    since: DateTime<Utc>,
) -> Result<i64> {
    let email = key(email);
    Ok(
        on!(tx, c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sign_in_failures WHERE surface = $1 AND email = $2 AND failed_at > $3")
        .bind(surface).bind(&email).bind(since).fetch_one(c).await?),
    )
}

/// Records a failure of (`surface`, `email`) at `at`, and deletes every failure (of any
/// surface and email) at or before `forget_before`, which no count looks at any more.
pub async fn record_failure(
    tx: &mut Tx,
    surface: &str,
    email: &str,
    at: DateTime<Utc>,
    forget_before: DateTime<Utc>,
) -> Result<()> {
    let email = key(email);
    on!(tx, c => sqlx::query("DELETE FROM sign_in_failures WHERE failed_at <= $1")
        .bind(forget_before).execute(c).await?.rows_affected());
    on!(tx, c => sqlx::query("INSERT INTO sign_in_failures (surface, email, failed_at) VALUES ($1, $2, $3)")
        .bind(surface).bind(&email).bind(at).execute(c).await?.rows_affected());
    Ok(())
}

/// Forgets the failures of (`surface`, `email`) (a successful sign-in).
pub async fn clear_failures(tx: &mut Tx, surface: &str, email: &str) -> Result<()> {
    let email = key(email);
    on!(tx, c => sqlx::query("DELETE FROM sign_in_failures WHERE surface = $1 AND email = $2")
        .bind(surface).bind(&email).execute(c).await?.rows_affected());
    Ok(())
}
