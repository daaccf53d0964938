//! Bulk writes for the bill run's hot tables, the fastest way each backend takes rows.
//!
//! A row type implements [`Row`] once — its columns in order, through an [`Out`] — and
//! [`insert`] writes a slice of them:
//! - PostgreSQL: `COPY table (cols) FROM STDIN (FORMAT binary)`. COPY skips the executor
//!   per row and fills heap pages in batches (one WAL record per page, not per row).
//! - SQLite: one prepared single-row `INSERT`, bound and stepped per row on the
//!   transaction's own connection handle (rusqlite over the handle sqlx holds), with no
//!   per-value copies and no hand-off to sqlx's worker thread per statement.
//!
//! Reads of a bill-run chunk on SQLite go the same way ([`range_rows`] for rows that
//! implement [`SqliteRead`], declared with [`sqlite_read!`]): sqlx decodes each SQLite
//! value through a copy and a by-name lookup, several times slower than the query itself.
//!
//! Values are written exactly as sqlx writes them, so rows written here and rows written by
//! the other repositories compare equal: on SQLite timestamps are RFC 3339 text with
//! `+00:00` (`SecondsFormat::AutoSi`), dates `YYYY-MM-DD`, booleans 0/1.
use crate::{Result, StoreError, Tx};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// Receives one row's values in column order.
pub trait Out {
    fn text(&mut self, v: &str);
    fn null(&mut self);
    fn int(&mut self, v: i64);
    fn boolean(&mut self, v: bool);
    fn timestamp(&mut self, v: DateTime<Utc>);
    fn date(&mut self, v: NaiveDate);
}

/// A value of one column.
pub trait Field {
    fn put<O: Out>(&self, o: &mut O);
}

impl Field for String {
    fn put<O: Out>(&self, o: &mut O) {
        o.text(self)
    }
}
impl Field for &str {
    fn put<O: Out>(&self, o: &mut O) {
        o.text(self)
    }
}
impl Field for i64 {
    fn put<O: Out>(&self, o: &mut O) {
        o.int(*self)
    }
}
impl Field for bool {
    fn put<O: Out>(&self, o: &mut O) {
        o.boolean(*self)
    }
}
impl Field for DateTime<Utc> {
    fn put<O: Out>(&self, o: &mut O) {
        o.timestamp(*self)
    }
}
impl Field for NaiveDate {
    fn put<O: Out>(&self, o: &mut O) {
        o.date(*self)
    }
}
impl<T: Field> Field for Option<T> {
    fn put<O: Out>(&self, o: &mut O) {
        match self {
            Some(v) => v.put(o),
            None => o.null(),
        }
    }
}

/// A row of a table: its columns, and their values in that order.
pub trait Row {
    /// `table (col_a, col_b, …)`.
    const TARGET: &'static str;
    const COLUMNS: usize;
    fn put<O: Out>(&self, o: &mut O);
}

/// Puts each field in turn: `fields!(o; a, b, c)`.
#[macro_export]
macro_rules! fields {
    ($o:expr; $($v:expr),+ $(,)?) => {{
        $( $crate::bulk::Field::put(&$v, $o); )+
    }};
}

/// Inserts `rows` into `R::TARGET`. A unique-key violation is [`StoreError::Conflict`].
pub async fn insert<R: Row>(tx: &mut Tx, rows: &[R]) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    match tx {
        Tx::Pg(t) => {
            let mut buf = CopyBuf::new(R::COLUMNS, rows.len());
            for r in rows {
                buf.row();
                r.put(&mut buf);
            }
            let sql = format!("COPY {} FROM STDIN (FORMAT binary)", R::TARGET);
            let mut copy = t.copy_in_raw(&sql).await.map_err(StoreError::from_sqlx)?;
            copy.send(buf.finish())
                .await
                .map_err(StoreError::from_sqlx)?;
            copy.finish().await.map_err(StoreError::from_sqlx)
        }
        Tx::Sqlite(_) => {
            let placeholders = vec!["?"; R::COLUMNS].join(", ");
            let sql = format!("INSERT INTO {} VALUES ({placeholders})", R::TARGET);
            sqlite_each(tx, &sql, rows, |r, o| r.put(o)).await
        }
    }
}

/// SQLite: runs the one-row statement `sql` once per row, its parameters bound in order by
/// `put`, on the transaction's own connection handle. Returns the rows changed. Not for
/// PostgreSQL (an error).
pub async fn sqlite_each<T>(
    tx: &mut Tx,
    sql: &str,
    rows: &[T],
    put: impl Fn(&T, &mut SqliteBinder<'_, '_>),
) -> Result<u64> {
    let Tx::Sqlite(t) = tx else {
        return Err(StoreError::Corrupt("sqlite_each on PostgreSQL".into()));
    };
    on_handle(t, |conn| {
        let mut st = conn.prepare(sql)?;
        let mut changed = 0;
        for r in rows {
            bind_row(&mut st, r, &put)?;
            changed += st.raw_execute()? as u64;
        }
        Ok(changed)
    })
    .await
}

/// As [`sqlite_each`], for a statement that returns rows (`RETURNING`): the rows of every
/// step, decoded by position ([`SqliteRead`]), in order.
pub async fn sqlite_each_rows<T, R: SqliteRead>(
    tx: &mut Tx,
    sql: &str,
    rows: &[T],
    put: impl Fn(&T, &mut SqliteBinder<'_, '_>),
) -> Result<Vec<R>> {
    let Tx::Sqlite(t) = tx else {
        return Err(StoreError::Corrupt("sqlite_each_rows on PostgreSQL".into()));
    };
    on_handle(t, |conn| {
        let mut st = conn.prepare(sql)?;
        let mut out = Vec::new();
        for r in rows {
            bind_row(&mut st, r, &put)?;
            read_rows(&mut st, &mut out)?;
        }
        Ok(out)
    })
    .await
}

/// Binds one row's parameters, in order from the first, as `put` gives them.
fn bind_row<T>(
    st: &mut rusqlite::Statement<'_>,
    r: &T,
    put: &impl Fn(&T, &mut SqliteBinder<'_, '_>),
) -> rusqlite::Result<()> {
    let mut b = SqliteBinder {
        st,
        at: 1,
        err: None,
    };
    put(r, &mut b);
    match b.err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A row decoded from SQLite by position; declared with [`sqlite_read!`], which also gives
/// the type its `COLUMNS` list in the same order.
pub trait SqliteRead: Sized {
    /// Decodes the row's columns from `*i` on, leaving `*i` after the last one read (so a
    /// row type can be read after another's columns, as sqlx's `flatten`).
    fn read_from(row: &rusqlite::Row<'_>, i: &mut usize) -> rusqlite::Result<Self>;

    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Self::read_from(row, &mut 0)
    }
}

impl SqliteRead for (String, String) {
    fn read_from(row: &rusqlite::Row<'_>, i: &mut usize) -> rusqlite::Result<Self> {
        *i += 2;
        Ok((row.get(*i - 2)?, row.get(*i - 1)?))
    }
}

/// One value decoded from SQLite as sqlx stores it.
pub trait Get: Sized {
    fn get(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self>;
}

macro_rules! get_plain {
    ($($t:ty),*) => {$(
        impl Get for $t {
            fn get(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
                row.get(i)
            }
        }
    )*};
}
get_plain!(String, Option<String>, i64, Option<i64>, bool);

fn parse_err(i: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
}

impl Get for Option<DateTime<Utc>> {
    fn get(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        let Some(text) = row.get_ref(i)?.as_str_or_null()? else {
            return Ok(None);
        };
        DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| parse_err(i, e))
    }
}

impl Get for DateTime<Utc> {
    fn get(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        Option::<DateTime<Utc>>::get(row, i)?.ok_or(rusqlite::Error::InvalidColumnType(
            i,
            "timestamp".into(),
            rusqlite::types::Type::Null,
        ))
    }
}

impl Get for Option<NaiveDate> {
    fn get(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        let Some(text) = row.get_ref(i)?.as_str_or_null()? else {
            return Ok(None);
        };
        NaiveDate::parse_from_str(text, "%F")
            .map(Some)
            .map_err(|e| parse_err(i, e))
    }
}

impl Get for NaiveDate {
    fn get(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        Option::<NaiveDate>::get(row, i)?.ok_or(rusqlite::Error::InvalidColumnType(
            i,
            "date".into(),
            rusqlite::types::Type::Null,
        ))
    }
}

/// Declares a row type's column list (`Type::COLUMNS`, for every query of it) and its
/// positional SQLite decoding in that same order.
#[macro_export]
macro_rules! sqlite_read {
    ($t:ident { $first:ident $(, $f:ident)* $(,)? }) => {
        impl $t {
            pub const COLUMNS: &'static str = concat!(stringify!($first) $(, ", ", stringify!($f))*);
        }
        impl $crate::bulk::SqliteRead for $t {
            fn read_from(row: &rusqlite::Row<'_>, i: &mut usize) -> rusqlite::Result<Self> {
                let mut next = || { *i += 1; *i - 1 };
                Ok($t {
                    $first: $crate::bulk::Get::get(row, next())?,
                    $( $f: $crate::bulk::Get::get(row, next())?, )*
                })
            }
        }
    };
}

/// Runs `sql` — whose `$1..$4` are a bill-run range's organisation, bounds and time — on
/// the SQLite transaction's own handle.
async fn sqlite_range_query<R: SqliteRead>(
    t: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    sql: &str,
    r: &crate::subscriptions::DueRange,
) -> Result<Vec<R>> {
    let at = sqlite_timestamp(r.at);
    on_handle(t, |conn| {
        let mut st = conn.prepare(sql)?;
        for (name, value) in [
            ("$1", r.org_id.as_str()),
            ("$2", r.after.as_str()),
            ("$3", r.last.as_str()),
            ("$4", at.as_str()),
        ] {
            if let Some(i) = st.parameter_index(name)? {
                st.raw_bind_parameter(i, value)?;
            }
        }
        let mut out = Vec::new();
        read_rows(&mut st, &mut out)?;
        Ok(out)
    })
    .await
}

/// The rows of a bill-run range query (`$1..$4`: the range's organisation, bounds and time)
/// on either backend.
pub async fn range_rows<R>(
    tx: &mut Tx,
    sql: &str,
    r: &crate::subscriptions::DueRange,
) -> Result<Vec<R>>
where
    R: SqliteRead + for<'a> sqlx::FromRow<'a, sqlx::postgres::PgRow> + Send + Unpin,
{
    match tx {
        Tx::Pg(t) => Ok(bind_range!(sqlx::query_as::<_, R>(sql), r)
            .fetch_all(&mut **t)
            .await?),
        Tx::Sqlite(t) => sqlite_range_query(t, sql, r).await,
    }
}

/// `head` `$org` `AND col IN (ids)` `tail` on either backend, as [`crate::select_in!`]
/// (`head` ends with `org_id = `): PostgreSQL binds the ids as one array; SQLite runs IN
/// lists of at most 1,000 on the transaction's own handle and decodes by position
/// ([`SqliteRead`]) — for the hot batch reads, where sqlx's per-value decoding costs more
/// than the query.
pub async fn in_rows<R>(
    tx: &mut Tx,
    head: &str,
    org: &str,
    col: &str,
    ids: &[String],
    tail: &str,
) -> Result<Vec<R>>
where
    R: SqliteRead + for<'a> sqlx::FromRow<'a, sqlx::postgres::PgRow> + Send + Unpin,
{
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    match tx {
        Tx::Pg(t) => {
            let sql = format!("{head}$1 AND {col} = ANY($2){tail}");
            Ok(sqlx::query_as::<_, R>(&sql)
                .bind(org)
                .bind(ids)
                .fetch_all(&mut **t)
                .await?)
        }
        Tx::Sqlite(t) => {
            on_handle(t, |conn| {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(1000) {
                    let list = vec!["?"; chunk.len()].join(", ");
                    let mut st = conn.prepare(&format!("{head}? AND {col} IN ({list}){tail}"))?;
                    st.raw_bind_parameter(1, org)?;
                    for (i, id) in chunk.iter().enumerate() {
                        st.raw_bind_parameter(i + 2, id.as_str())?;
                    }
                    read_rows(&mut st, &mut out)?;
                }
                Ok(out)
            })
            .await
        }
    }
}

/// Runs `sql` with `params` (`?1`, `?2`, …) on a SQLite transaction's own handle and
/// decodes the rows by position ([`SqliteRead`]). Not for PostgreSQL (an error).
pub async fn sqlite_rows<R: SqliteRead>(
    tx: &mut Tx,
    sql: &str,
    params: &[&(dyn rusqlite::ToSql + Sync)],
) -> Result<Vec<R>> {
    let Tx::Sqlite(t) = tx else {
        return Err(StoreError::Corrupt("sqlite_rows on PostgreSQL".into()));
    };
    on_handle(t, |conn| {
        let mut st = conn.prepare(sql)?;
        for (i, p) in params.iter().enumerate() {
            st.raw_bind_parameter(i + 1, *p)?;
        }
        let mut out = Vec::new();
        read_rows(&mut st, &mut out)?;
        Ok(out)
    })
    .await
}

/// Runs `f` on a SQLite connection through rusqlite, over the very handle sqlx holds (for
/// a transaction's connection, inside that transaction).
pub(crate) async fn on_handle<T>(
    c: &mut sqlx::SqliteConnection,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> Result<T> {
    let mut handle = c.lock_handle().await?;
    let raw = handle.as_raw_handle();
    blocking(|| {
        // SAFETY: `handle` keeps sqlx's worker off this connection until it is dropped,
        // after this closure; the rusqlite wrapper does not close it.
        let conn = unsafe { rusqlite::Connection::from_handle(raw.as_ptr()) }?;
        f(&conn)
    })
    .map_err(sqlite_err)
}

/// Steps a bound statement to the end, decoding each row by position into `out`.
fn read_rows<R: SqliteRead>(
    st: &mut rusqlite::Statement<'_>,
    out: &mut Vec<R>,
) -> rusqlite::Result<()> {
    let mut rows = st.raw_query();
    while let Some(row) = rows.next()? {
        out.push(R::read(row)?);
    }
    Ok(())
}

/// Runs blocking work without stalling other tasks on a multi-threaded runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

fn sqlite_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        {
            return StoreError::Conflict(msg.clone().unwrap_or_else(|| e.to_string()));
        }
    }
    StoreError::Corrupt(format!("sqlite: {e}"))
}

/// The SQLite text of a timestamp, as sqlx binds it.
pub fn sqlite_timestamp(v: DateTime<Utc>) -> String {
    v.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

pub struct SqliteBinder<'a, 'c> {
    st: &'a mut rusqlite::Statement<'c>,
    at: usize,
    err: Option<rusqlite::Error>,
}

impl SqliteBinder<'_, '_> {
    fn bind<T: rusqlite::ToSql>(&mut self, v: T) {
        if self.err.is_none() {
            if let Err(e) = self.st.raw_bind_parameter(self.at, v) {
                self.err = Some(e);
            }
        }
        self.at += 1;
    }
}

impl Out for SqliteBinder<'_, '_> {
    fn text(&mut self, v: &str) {
        self.bind(v)
    }
    fn null(&mut self) {
        self.bind(rusqlite::types::Null)
    }
    fn int(&mut self, v: i64) {
        self.bind(v)
    }
    fn boolean(&mut self, v: bool) {
        self.bind(v as i64)
    }
    fn timestamp(&mut self, v: DateTime<Utc>) {
        self.bind(sqlite_timestamp(v))
    }
    fn date(&mut self, v: NaiveDate) {
        self.bind(v.format("%F").to_string())
    }
}

/// PostgreSQL's binary COPY format: a header, per row a field count and per field a length
/// (−1 for NULL) and the value in network byte order, then a trailer.
struct CopyBuf {
    buf: Vec<u8>,
    columns: i16,
}

/// 2000-01-01, PostgreSQL's epoch for timestamps and dates.
const PG_EPOCH_DAYS_FROM_CE: i32 = 730_120;
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

impl CopyBuf {
    fn new(columns: usize, rows: usize) -> CopyBuf {
        let mut buf = Vec::with_capacity(19 + rows * columns * 16);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        CopyBuf {
            buf,
            columns: columns as i16,
        }
    }

    fn row(&mut self) {
        self.buf.extend_from_slice(&self.columns.to_be_bytes());
    }

    fn value(&mut self, bytes: &[u8]) {
        self.buf
            .extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(bytes);
    }

    fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

impl Out for CopyBuf {
    fn text(&mut self, v: &str) {
        self.value(v.as_bytes())
    }
    fn null(&mut self) {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }
    fn int(&mut self, v: i64) {
        self.value(&v.to_be_bytes())
    }
    fn boolean(&mut self, v: bool) {
        self.value(&[v as u8])
    }
    fn timestamp(&mut self, v: DateTime<Utc>) {
        self.value(&(v.timestamp_micros() - PG_EPOCH_UNIX_MICROS).to_be_bytes())
    }
    fn date(&mut self, v: NaiveDate) {
        use chrono::Datelike;
        self.value(&(v.num_days_from_ce() - PG_EPOCH_DAYS_FROM_CE).to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_epoch_constants() {
        use chrono::{Datelike, TimeZone};
        let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        assert_eq!(epoch.num_days_from_ce(), PG_EPOCH_DAYS_FROM_CE);
        let t = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(t.timestamp_micros(), PG_EPOCH_UNIX_MICROS);
    }

    #[test]
    fn copy_row_layout() {
        let mut b = CopyBuf::new(2, 1);
        b.row();
        b.int(7);
        b.null();
        let bytes = b.finish();
        assert_eq!(&bytes[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(&bytes[19..21], &2i16.to_be_bytes());
        assert_eq!(&bytes[21..25], &8i32.to_be_bytes());
        assert_eq!(&bytes[25..33], &7i64.to_be_bytes());
        assert_eq!(&bytes[33..37], &(-1i32).to_be_bytes());
        assert_eq!(&bytes[37..], &(-1i16).to_be_bytes());
    }
}
