//! Connections, transactions and the one place where SQLite and PostgreSQL differ.

use crate::{Result, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool to either backend.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// A write (or consistent read) transaction on either backend. Dropped without
/// [`Tx::commit`], it rolls back.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Pg(sqlx::Transaction<'static, Postgres>),
}

/// Runs one expression on the transaction's connection, whichever backend it is: inside,
/// `$c` is `&mut SqliteConnection` or `&mut PgConnection`. The expression is compiled once
/// per backend, so row types must decode from both (plain `#[derive(FromRow)]` structs do).
#[macro_export]
macro_rules! on {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            $crate::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::Tx::Pg(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

impl Db {
    /// Connects to `sqlite://FILE` (created if missing; WAL, busy timeout, foreign keys) or
    /// `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db> {
        Self::connect_in_schema(url, None).await
    }

    /// As [`Db::connect`]; on PostgreSQL, `schema` (created if missing) becomes the search
    /// path, so tests can each have a clean namespace in one database.
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> Result<Db> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                // (Until `poll_when_busy` replaces it once the connection is set up.)
                .busy_timeout(BUSY_WAIT)
                .foreign_keys(true)
                // 32 MiB of page cache per connection (SQLite's default is 2 MiB): bill runs touch
                // large indexes.
                .pragma("cache_size", "-32768")
                // Rows come from sqlx's worker thread through a bounded channel; at the
                // default 50 a large result ping-pongs between threads every 50 rows.
                .row_buffer_size(4096)
                // A commit that finds the WAL past this many pages (64 MiB) checkpoints it;
                // the bill run checkpoints from its reader between chunks instead
                // (`Db::checkpoint_passive`), so its commits rarely do.
                .pragma("wal_autocheckpoint", "16384")
                .pragma("mmap_size", "1073741824");
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .after_connect(|conn, _| Box::pin(async move { poll_when_busy(conn).await }))
                // A connection to a local file does not go stale: no ping (a round trip
                // through the connection's worker thread) before every use.
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(opts)
                .await?;
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let mut opts = PgConnectOptions::from_str(url)?;
            if let Some(schema) = schema {
                let setup = PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(opts.clone())
                    .await?;
                sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                    .execute(&setup)
                    .await?;
                setup.close().await;
                opts = opts.options([("search_path", schema)]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(16)
                // Ping a connection before use only when it has been idle a while (the server
                // may have closed it meanwhile), not before every use: under load the ping
                // was one more round trip per transaction.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for > Duration::from_secs(10) {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(opts)
                .await?;
            Ok(Db::Pg(pool))
        } else {
            Err(StoreError::BadUrl(url.to_string()))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Pg(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations of this backend. Returns how many ran.
    /// Refreshes the planner's statistics. Without them SQLite answers "this customer's
    /// invoices, newest first" by walking the organisation's index, a scan of every row;
    /// `serve` runs this at start and every hour, the benchmarks after loading their data.
    pub async fn optimize(&self) -> Result<()> {
        match self {
            Db::Sqlite(p) => {
                sqlx::query("PRAGMA optimize=0x10002").execute(p).await?;
            }
            Db::Pg(p) => {
                sqlx::query("ANALYZE").execute(p).await?;
            }
        }
        Ok(())
    }

    pub async fn migrate(&self) -> Result<usize> {
        match self {
            Db::Sqlite(p) => {
                let m = sqlx::migrate!("./migrations/sqlite");
                let before = applied(self).await;
                m.run(p).await?;
                Ok(applied(self).await.saturating_sub(before))
            }
            Db::Pg(p) => {
                let m = sqlx::migrate!("./migrations/postgres");
                let before = applied(self).await;
                m.run(p).await?;
                Ok(applied(self).await.saturating_sub(before))
            }
        }
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn begin(&self) -> Result<Tx> {
        match self {
            Db::Sqlite(p) => Ok(Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?)),
            Db::Pg(p) => Ok(Tx::Pg(p.begin().await?)),
        }
    }

    /// Starts a read-only transaction that sees one snapshot throughout: plain `BEGIN` on
    /// SQLite (WAL readers keep the snapshot of their first read and never queue behind
    /// writers), `REPEATABLE READ READ ONLY` on PostgreSQL (whose default, READ COMMITTED,
    /// would give each statement a newer snapshot).
    pub async fn read(&self) -> Result<Tx> {
        match self {
            Db::Sqlite(p) => Ok(Tx::Sqlite(p.begin().await?)),
            Db::Pg(p) => Ok(Tx::Pg(
                p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            )),
        }
    }

    /// SQLite: copies committed WAL frames into the database file without waiting for
    /// readers or writers (`wal_checkpoint(PASSIVE)`), so that a long series of writes (the
    /// bill run) does not pay for checkpoints inside its commits. Nothing on PostgreSQL.
    pub async fn checkpoint_passive(&self) -> Result<()> {
        if let Db::Sqlite(p) = self {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_all(p)
                .await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Pg(p) => p.close().await,
        }
    }
}

/// How long a statement waits for another connection's write lock before it fails with
/// "database is locked" (as `busy_timeout` would).
const BUSY_WAIT: Duration = Duration::from_secs(30);

/// Replaces SQLite's `busy_timeout` handler on `conn` with one that polls every 200 µs
/// (then every millisecond). SQLite's own backs off to 100 ms sleeps, so a writer waiting
/// for the lock slept on long after it was free: with two job workers in one process, 9
/// charge batches in 99 waited 0.1–1 s for a lock the other held for tens of milliseconds
/// (docs/PERFORMANCE.md). Polling costs a wake-up per interval only while a connection
/// waits.
async fn poll_when_busy(conn: &mut sqlx::SqliteConnection) -> std::result::Result<(), sqlx::Error> {
    /// `n`: how many times this wait has slept already. The first 1,000 sleeps (0.2 s) are
    /// of 200 µs, the rest of 1 ms.
    fn busy(n: i32) -> bool {
        let n = n.max(0) as u32;
        let (short, long) = (Duration::from_micros(200), Duration::from_millis(1));
        let waited = short * n.min(1_000) + long * n.saturating_sub(1_000);
        if waited >= BUSY_WAIT {
            return false;
        }
        std::thread::sleep(if n < 1_000 { short } else { long });
        true
    }
    crate::bulk::on_handle(conn, |c| c.busy_handler(Some(busy)))
        .await
        .map_err(|e| sqlx::Error::Configuration(Box::new(e)))
}

async fn applied(db: &Db) -> usize {
    let sql = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
    let n: std::result::Result<i64, _> = match db {
        Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await,
        Db::Pg(p) => sqlx::query_scalar(sql).fetch_one(p).await,
    };
    n.unwrap_or(0) as usize
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Pg(t) => t.commit().await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Pg(_) => Backend::Postgres,
        }
    }

    /// Locks a row for update where the backend needs it: `FOR UPDATE` on PostgreSQL;
    /// nothing on SQLite, where `BEGIN IMMEDIATE` already holds the write lock.
    pub fn for_update(&self) -> &'static str {
        match self {
            Tx::Sqlite(_) => "",
            Tx::Pg(_) => " FOR UPDATE",
        }
    }
}

/// Inserts `rows` in chunks of `chunk` with multi-row `VALUES`, on either backend.
/// `$push` binds one row's columns in the order of `$head`'s column list. Evaluates to the
/// number of rows inserted. Conflicts surface as [`crate::StoreError::Conflict`].
#[macro_export]
macro_rules! insert_rows {
    ($tx:expr, $head:expr, $rows:expr, $chunk:expr, |$b:ident, $r:ident| $push:block) => {{
        let mut inserted: u64 = 0;
        for part in $rows.chunks($chunk) {
            inserted += $crate::on!($tx, c => {
                let mut qb = sqlx::QueryBuilder::new($head);
                qb.push_values(part, |mut $b, $r| $push);
                qb.build().execute(c).await.map_err($crate::StoreError::from_sqlx)?.rows_affected()
            });
        }
        inserted
    }};
}

/// PostgreSQL bulk insert with one array parameter per column:
/// `INSERT INTO t (a, b) SELECT * FROM UNNEST($1::text[], $2::int8[])`. Each `$f` maps a
/// row to that column's value. One statement, one plan, whatever the row count — far
/// cheaper than a multi-row `VALUES` with a parameter per value.
#[macro_export]
macro_rules! pg_unnest {
    ($conn:expr, $sql:expr, $rows:expr, $($f:expr),+ $(,)?) => {{
        let q = sqlx::query($sql);
        $( let q = q.bind($rows.iter().map($f).collect::<Vec<_>>()); )+
        q.execute($conn).await.map_err($crate::StoreError::from_sqlx)?.rows_affected()
    }};
}

/// `SELECT … WHERE org_id = ? AND <col> IN (ids) …` on either backend: PostgreSQL binds the
/// ids as one array (`= ANY($2)`, one plan whatever their number), SQLite gets IN lists of
/// at most 1,000 parameters. `$head` ends with `org_id = `; `$tail` follows the IN test.
#[macro_export]
macro_rules! select_in {
    ($tx:expr, $row:ty, $head:expr, $org:expr, $col:expr, $ids:expr, $tail:expr) => {{
        let ids: &[String] = $ids;
        let mut out: Vec<$row> = Vec::new();
        match $tx {
            $crate::Tx::Pg(t) => {
                let sql = format!("{}$1 AND {} = ANY($2){}", $head, $col, $tail);
                out = sqlx::query_as::<_, $row>(&sql)
                    .bind($org)
                    .bind(ids)
                    .fetch_all(&mut **t)
                    .await?;
            }
            $crate::Tx::Sqlite(t) => {
                for chunk in ids.chunks(1000) {
                    let mut qb = sqlx::QueryBuilder::new($head);
                    qb.push_bind($org).push(format!(" AND {} IN (", $col));
                    let mut sep = qb.separated(", ");
                    for id in chunk {
                        sep.push_bind(id);
                    }
                    qb.push(")").push($tail);
                    let rows: Vec<$row> = qb.build_query_as().fetch_all(&mut **t).await?;
                    out.extend(rows);
                }
            }
        }
        out
    }};
}

/// Binds a `subscriptions::DueRange` as `$1..$4` of a query.
#[macro_export]
macro_rules! bind_range {
    ($q:expr, $r:expr) => {
        $q.bind(&$r.org_id)
            .bind(&$r.after)
            .bind(&$r.last)
            .bind($r.at)
    };
}

/// `col = $n` when a filter value is given, else a condition that is always true and still
/// binds `$n`. A single `(CAST($n AS TEXT) IS NULL OR col = $n)` keeps the planner (SQLite
/// and PostgreSQL alike) from using the index on `col`, which turned a customer's list into
/// a scan of the organisation's rows.
pub fn eq_if(col: &str, n: usize, given: bool) -> String {
    if given {
        format!("{col} = ${n}")
    } else {
        format!("CAST(${n} AS TEXT) IS NULL")
    }
}
