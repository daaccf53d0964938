//! Persistence for Ledgerdesk over SQLite (embedded default) and PostgreSQL (production).
//!
//! One repository layer serves both backends: SQL is written once with `$1` placeholders,
//! `ON CONFLICT` and `RETURNING`, and run through [`on!`] on whichever connection the
//! transaction holds. Where the dialects differ, the branch is in this crate only
//! (see `db.rs`). DDL lives in `migrations/{sqlite,postgres}`.
//!
//! Every write happens inside a [`Tx`]; on SQLite a write transaction is `BEGIN IMMEDIATE`,
//! so concurrent writers queue on the busy timeout instead of failing mid-way.

#[macro_use]
pub(crate) mod db;
#[macro_use]
pub mod bulk;
pub mod bench;

pub mod billruns;
pub mod catalog;
pub mod clocks;
pub mod customers;
pub mod desk;
pub mod idempotency;
pub mod invoices;
pub mod jobs;
pub mod kpi;
pub mod ledger;
pub mod orgs;
pub mod outbox;
pub mod payments;
pub mod portal;
pub mod retention;
pub mod sign_in;
pub mod subscriptions;
pub mod testing;
pub mod verify;

pub use db::{Backend, Db, Tx};

/// (organisation, id) pairs grouped by organisation, each group's ids sorted and without
/// repeats: the shape `select_in!` reads a batch in, one statement per organisation.
pub fn ids_by_org<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> std::collections::BTreeMap<&'a str, Vec<String>> {
    let mut by_org: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (org, id) in pairs {
        by_org.entry(org).or_default().push(id.to_string());
    }
    for ids in by_org.values_mut() {
        ids.sort();
        ids.dedup();
    }
    by_org
}

/// Errors of the store. `Conflict` is a unique-key violation: the caller decides whether it
/// means "already done" (exactly-once) or a user error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unique key violated: {0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    #[error("invalid database URL {0:?}: use sqlite://FILE or postgres://…")]
    BadUrl(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Maps unique violations to `Conflict`, leaving other errors as they are.
    pub fn from_sqlx(e: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(d) = &e {
            if d.is_unique_violation() {
                return StoreError::Conflict(d.message().to_string());
            }
        }
        StoreError::Db(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Generates an id suffix of 20 base62 characters: 8 of milliseconds since the epoch, then
/// 12 random (≈71 bits). Ids therefore sort by creation time, which cursor pagination
/// (newest first) relies on.
pub fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut out = [b'0'; 20];
    for slot in out[..8].iter_mut().rev() {
        *slot = ALPHABET[(millis % 62) as usize];
        millis /= 62;
    }
    let mut rng = rand::rng();
    for slot in out[8..].iter_mut() {
        *slot = ALPHABET[rng.random_range(0..ALPHABET.len())];
    }
    out.iter().map(|&b| b as char).collect()
}

/// A new random id of type `T` (one of `billing::ids`).
#[macro_export]
macro_rules! new_id {
    ($t:ty) => {
        <$t>::from_suffix(&$crate::random_suffix()).expect("random suffix is alphanumeric")
    };
}
