//! Subscriptions, their items and the discounts attached to customers and subscriptions.

use crate::{Backend, Result, Tx};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct SubscriptionRow {
    pub id: String,
    pub org_id: String,
    pub customer_id: String,
    pub status: String,
    pub currency: String,
    pub interval_unit: String,
    pub interval_count: i64,
    pub anchor_date: NaiveDate,
    pub period_index: i64,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub current_period_start_date: NaiveDate,
    pub current_period_end_date: NaiveDate,
    pub trial_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

sqlite_read!(SubscriptionRow {
    id,
    org_id,
    customer_id,
    status,
    currency,
    interval_unit,
    interval_count,
    anchor_date,
    period_index,
    current_period_start,
    current_period_end,
    current_period_start_date,
    current_period_end_date,
    trial_end,
    cancel_at_period_end,
    canceled_at,
    ended_at,
    created_at,
    updated_at,
});
const SUB_COLS: &str = SubscriptionRow::COLUMNS;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct ItemRow {
    pub id: String,
    pub org_id: String,
    pub subscription_id: String,
    pub price_id: String,
    pub quantity: i64,
    pub pending_price_id: Option<String>,
    pub pending_quantity: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

sqlite_read!(ItemRow {
    id,
    org_id,
    subscription_id,
    price_id,
    quantity,
    pending_price_id,
    pending_quantity,
    created_at,
    deleted_at,
});
const ITEM_COLS: &str = ItemRow::COLUMNS;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct DiscountRow {
    pub id: String,
    pub org_id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub coupon_id: String,
    pub invoices_applied: i64,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

pub async fn insert(tx: &mut Tx, rows: &[SubscriptionRow]) -> Result<u64> {
    Ok(insert_rows!(
        tx,
        format!("INSERT INTO subscriptions ({SUB_COLS}) "),
        rows,
        1000,
        |b, r| {
            b.push_bind(&r.id)
                .push_bind(&r.org_id)
                .push_bind(&r.customer_id)
                .push_bind(&r.status)
                .push_bind(&r.currency)
                .push_bind(&r.interval_unit)
                .push_bind(r.interval_count)
                .push_bind(r.anchor_date)
                .push_bind(r.period_index)
                .push_bind(r.current_period_start)
                .push_bind(r.current_period_end)
                .push_bind(r.current_period_start_date)
                .push_bind(r.current_period_end_date)
                .push_bind(r.trial_end)
                .push_bind(r.cancel_at_period_end)
                .push_bind(r.canceled_at)
                .push_bind(r.ended_at)
                .push_bind(r.created_at)
                .push_bind(r.updated_at);
        }
    ))
}

pub async fn insert_items(tx: &mut Tx, rows: &[ItemRow]) -> Result<u64> {
    Ok(insert_rows!(
        tx,
        format!("INSERT INTO subscription_items ({ITEM_COLS}) "),
        rows,
        1000,
        |b, r| {
            b.push_bind(&r.id)
                .push_bind(&r.org_id)
                .push_bind(&r.subscription_id)
                .push_bind(&r.price_id)
                .push_bind(r.quantity)
                .push_bind(&r.pending_price_id)
                .push_bind(r.pending_quantity)
                .push_bind(r.created_at)
                .push_bind(r.deleted_at);
        }
    ))
}

pub async fn get(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<SubscriptionRow>> {
    let sql = format!("SELECT {SUB_COLS} FROM subscriptions WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, SubscriptionRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// Reads and locks one subscription (PostgreSQL `FOR UPDATE`).
pub async fn get_for_update(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
) -> Result<Option<SubscriptionRow>> {
    let sql = format!(
        "SELECT {SUB_COLS} FROM subscriptions WHERE org_id = $1 AND id = $2{}",
        tx.for_update()
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, SubscriptionRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

pub async fn list(
    tx: &mut Tx,
    org_id: &str,
    customer_id: Option<&str>,
    status: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<SubscriptionRow>> {
    let cus = crate::db::eq_if("customer_id", 2, customer_id.is_some());
    let sql = format!("SELECT {SUB_COLS} FROM subscriptions WHERE org_id = $1 AND {cus} \
        AND (CAST($3 AS TEXT) IS NULL OR status = $3) AND (CAST($4 AS TEXT) IS NULL OR id < $4) ORDER BY id DESC LIMIT $5");
    Ok(
        on!(tx, c => sqlx::query_as::<_, SubscriptionRow>(&sql).bind(org_id).bind(customer_id).bind(status).bind(starting_after).bind(limit).fetch_all(c).await?),
    )
}

/// Organisations with a live subscription whose current period has ended by `at`.
pub async fn due_orgs(tx: &mut Tx, at: DateTime<Utc>) -> Result<Vec<String>> {
    Ok(
        on!(tx, c => sqlx::query_scalar::<_, String>("SELECT DISTINCT org_id FROM subscriptions WHERE ended_at IS NULL AND current_period_end <= $1 ORDER BY org_id")
        .bind(at).fetch_all(c).await?),
    )
}

/// Live items of the given subscriptions, ordered by subscription then id.
pub async fn items_of(tx: &mut Tx, org_id: &str, sub_ids: &[String]) -> Result<Vec<ItemRow>> {
    Ok(select_in!(
        tx,
        ItemRow,
        format!(
            "SELECT {ITEM_COLS} FROM subscription_items WHERE deleted_at IS NULL AND org_id = "
        ),
        org_id,
        "subscription_id",
        sub_ids,
        " ORDER BY subscription_id, id"
    ))
}

/// Writes the period, status and cancellation fields of many subscriptions in one
/// statement per chunk. On PostgreSQL the rows are found through the primary key as in
/// [`crate::payments::pay_in_full`]. No column a period move changes is in an
/// index (`ended_at`, in `subscriptions_live`'s predicate, changes only when a subscription
/// ends), so with the table's fillfactor (migration 0016) each such update is heap-only.
pub async fn update_periods(tx: &mut Tx, rows: &[SubscriptionRow]) -> Result<()> {
    if let Tx::Pg(t) = tx {
        pg_unnest!(&mut **t,
            "UPDATE subscriptions SET status = v.status, period_index = v.period_index, current_period_start = v.cps, \
             current_period_end = v.cpe, current_period_start_date = v.cpsd, current_period_end_date = v.cped, \
             cancel_at_period_end = v.cape, canceled_at = v.canceled_at, ended_at = v.ended_at, updated_at = v.updated_at \
             FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::timestamptz[], $5::timestamptz[], $6::date[], $7::date[], \
             $8::bool[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[]) \
             AS v(id, status, period_index, cps, cpe, cpsd, cped, cape, canceled_at, ended_at, updated_at) \
             WHERE subscriptions.id = v.id AND subscriptions.id = ANY(ARRAY(SELECT UNNEST($1::text[])))",
            rows,
            |r| r.id.clone(), |r| r.status.clone(), |r| r.period_index, |r| r.current_period_start, |r| r.current_period_end,
            |r| r.current_period_start_date, |r| r.current_period_end_date, |r| r.cancel_at_period_end, |r| r.canceled_at,
            |r| r.ended_at, |r| r.updated_at);
        return Ok(());
    }
    crate::bulk::sqlite_each(
        tx,
        "UPDATE subscriptions SET status = ?2, period_index = ?3, current_period_start = ?4, current_period_end = ?5, \
         current_period_start_date = ?6, current_period_end_date = ?7, cancel_at_period_end = ?8, canceled_at = ?9, \
         ended_at = ?10, updated_at = ?11 WHERE id = ?1",
        rows,
        |r, o| {
            fields!(o; r.id, r.status, r.period_index, r.current_period_start, r.current_period_end,
                r.current_period_start_date, r.current_period_end_date, r.cancel_at_period_end, r.canceled_at,
                r.ended_at, r.updated_at)
        },
    )
    .await?;
    Ok(())
}

/// Writes a subscription's schedule (interval and anchor), which only an interval change
/// alters; the period fields are written by [`update_periods`].
pub async fn update_schedule(tx: &mut Tx, r: &SubscriptionRow) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE subscriptions SET interval_unit = $3, interval_count = $4, anchor_date = $5 WHERE org_id = $1 AND id = $2")
        .bind(&r.org_id).bind(&r.id).bind(&r.interval_unit).bind(r.interval_count).bind(r.anchor_date)
        .execute(c).await?.rows_affected());
    Ok(())
}

/// Replaces an item's price, quantity and pending change.
pub async fn update_item(tx: &mut Tx, r: &ItemRow) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE subscription_items SET price_id = $3, quantity = $4, pending_price_id = $5, pending_quantity = $6, deleted_at = $7 WHERE org_id = $1 AND id = $2")
        .bind(&r.org_id).bind(&r.id).bind(&r.price_id).bind(r.quantity).bind(&r.pending_price_id).bind(r.pending_quantity).bind(r.deleted_at)
        .execute(c).await?.rows_affected());
    Ok(())
}

pub async fn insert_discounts(tx: &mut Tx, rows: &[DiscountRow]) -> Result<u64> {
    Ok(insert_rows!(tx, "INSERT INTO discounts (id, org_id, customer_id, subscription_id, coupon_id, invoices_applied, created_at, ended_at) ", rows, 1000, |b, r| {
        b.push_bind(&r.id).push_bind(&r.org_id).push_bind(&r.customer_id).push_bind(&r.subscription_id)
            .push_bind(&r.coupon_id).push_bind(r.invoices_applied).push_bind(r.created_at).push_bind(r.ended_at);
    }))
}

/// Live discounts of these customers (customer-wide and per subscription).
pub async fn discounts_of_customers(
    tx: &mut Tx,
    org_id: &str,
    customer_ids: &[String],
) -> Result<Vec<DiscountRow>> {
    Ok(select_in!(tx, DiscountRow, "SELECT id, org_id, customer_id, subscription_id, coupon_id, invoices_applied, created_at, ended_at FROM discounts WHERE ended_at IS NULL AND org_id = ", org_id, "customer_id", customer_ids, " ORDER BY id"))
}

/// Counts one more invoice for each of `ids` (one statement per chunk).
pub async fn discounts_applied(tx: &mut Tx, org_id: &str, ids: &[String]) -> Result<()> {
    for chunk in ids.chunks(1000) {
        on!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new("UPDATE discounts SET invoices_applied = invoices_applied + 1 WHERE org_id = ");
            qb.push_bind(org_id).push(" AND id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id);
            }
            qb.push(")");
            qb.build().execute(c).await?.rows_affected()
        });
    }
    Ok(())
}

/// Counts one more invoice for a discount, ending it at `ended_at` if given.
pub async fn discount_applied(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    ended_at: Option<DateTime<Utc>>,
) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE discounts SET invoices_applied = invoices_applied + 1, ended_at = $3 WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(ended_at).execute(c).await?.rows_affected());
    Ok(())
}

/// One chunk of a bill run: the live subscriptions of `org` whose current period has ended
/// by `at`, with ids in `(after, last]`. Every query below selects through this range
/// (`$1..$4`) instead of binding thousands of ids.
#[derive(Debug, Clone)]
pub struct DueRange {
    pub org_id: String,
    pub after: String,
    pub last: String,
    pub at: DateTime<Utc>,
    /// Bill only the subscriptions on this test clock; None: only those on none.
    pub clock: Option<String>,
}

impl DueRange {
    /// The SQL condition for [`DueRange::clock`]. A clock id is inlined as a literal, so it
    /// is checked to be an id (letters, digits, `_`) first.
    fn clock_filter(&self) -> String {
        match &self.clock {
            None => " AND test_clock_id IS NULL".into(),
            Some(c) => {
                assert!(
                    !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                    "not a clock id: {c:?}"
                );
                format!(" AND test_clock_id = '{c}'")
            }
        }
    }
}

/// The ids of a [`DueRange`], as a subquery over `$1..$4`.
pub const DUE_IDS: &str = "SELECT id FROM subscriptions WHERE org_id = $1 AND id > $2 AND id <= $3 AND ended_at IS NULL AND current_period_end <= $4";
/// The customers of a [`DueRange`], as a subquery over `$1..$4`.
pub const DUE_CUSTOMERS: &str = "SELECT customer_id FROM subscriptions WHERE org_id = $1 AND id > $2 AND id <= $3 AND ended_at IS NULL AND current_period_end <= $4";

/// `col` is among the rows of `sub` (a subquery over the range: [`DUE_IDS`],
/// [`DUE_CUSTOMERS`]), written so that each planner reads the outer table by index:
/// SQLite `col IN (sub)`; PostgreSQL `col = ANY(ARRAY(sub))`. Once the tables had
/// statistics, PostgreSQL planned `IN (sub)` as a hash join over a sequential scan of the
/// whole outer table — customers and subscription items 42 ms a chunk at 100,000 rows
/// (12 ms by index), growing with the table, once per chunk. An array built by a subquery
/// can only be probed through an index.
pub fn among(backend: Backend, col: &str, sub: &str) -> String {
    match backend {
        Backend::Postgres => format!("{col} = ANY(ARRAY({sub}))"),
        Backend::Sqlite => format!("{col} IN ({sub})"),
    }
}

/// The last id of the next chunk of at most `limit` due subscriptions after `after`.
pub async fn due_chunk_end(
    tx: &mut Tx,
    org_id: &str,
    after: &str,
    at: DateTime<Utc>,
    limit: i64,
) -> Result<Option<String>> {
    Ok(
        on!(tx, c => sqlx::query_scalar::<_, Option<String>>(CHUNK_END).bind(org_id).bind(after).bind(at).bind(limit).fetch_one(c).await?),
    )
}

/// [`due_chunk_end`]'s statement.
const CHUNK_END: &str = "SELECT MAX(id) FROM (SELECT id FROM subscriptions WHERE org_id = $1 AND id > $2 AND ended_at IS NULL \
    AND current_period_end <= $3 ORDER BY id LIMIT $4) AS chunk";

/// The subscriptions of a range, locked if `lock`.
pub async fn in_range(tx: &mut Tx, r: &DueRange, lock: bool) -> Result<Vec<SubscriptionRow>> {
    let sql = in_range_sql(r, if lock { tx.for_update() } else { "" });
    crate::bulk::range_rows(tx, &sql, r).await
}

/// [`in_range`]'s statement, `lock` its locking clause.
fn in_range_sql(r: &DueRange, lock: &str) -> String {
    format!(
        "SELECT {SUB_COLS} FROM subscriptions WHERE org_id = $1 AND id > $2 AND id <= $3 AND ended_at IS NULL \
         AND current_period_end <= $4{} ORDER BY id{lock}",
        r.clock_filter(),
    )
}

/// A fingerprint of everything a bill-run chunk is computed from that other operations may
/// change: each due subscription's (id, updated_at, current period end), each of their
/// customers' (id, credit balance, updated_at) and each live discount's (id, uses). Equal
/// fingerprints mean equal state. Computed in the database as one text, so no per-row
/// transfer. With `lock`, the subscriptions and customers are locked (`FOR UPDATE` on
/// PostgreSQL; SQLite's `BEGIN IMMEDIATE` already holds the write lock).
///
/// The reader must take it in the same snapshot as the rows it computed from
/// ([`crate::Db::read`] is `REPEATABLE READ` on PostgreSQL).
pub async fn range_fingerprint(tx: &mut Tx, r: &DueRange, lock: bool) -> Result<String> {
    let sql = fingerprint_sql(tx.backend(), if lock { tx.for_update() } else { "" });
    let (s, c, d): (Option<String>, Option<String>, Option<String>) =
        on!(tx, c => bind_range!(sqlx::query_as(&sql), r).fetch_one(c).await?);
    Ok(format!(
        "{}\n{}\n{}",
        s.unwrap_or_default(),
        c.unwrap_or_default(),
        d.unwrap_or_default()
    ))
}

/// [`range_fingerprint`]'s statement on `backend`, `lock` the locking clause.
fn fingerprint_sql(backend: Backend, lock: &str) -> String {
    let agg = match backend {
        Backend::Postgres => "string_agg",
        Backend::Sqlite => "group_concat",
    };
    let customers = among(backend, "id", DUE_CUSTOMERS);
    let discounted = among(backend, "d.customer_id", DUE_CUSTOMERS);
    format!(
        "SELECT \
           (SELECT {agg}(s.id || '|' || s.updated_at || '|' || s.current_period_end, ',' ORDER BY s.id) \
              FROM (SELECT id, updated_at, current_period_end FROM subscriptions WHERE org_id = $1 AND id > $2 \
                    AND id <= $3 AND ended_at IS NULL AND current_period_end <= $4{lock}) s), \
           (SELECT {agg}(c.id || '|' || c.credit_balance || '|' || c.updated_at, ',' ORDER BY c.id) \
              FROM (SELECT id, credit_balance, updated_at FROM customers WHERE org_id = $1 \
                    AND {customers}{lock}) c), \
           (SELECT {agg}(d.id || '|' || d.invoices_applied, ',' ORDER BY d.id) FROM discounts d \
              WHERE d.ended_at IS NULL AND d.org_id = $1 AND {discounted})"
    )
}

/// Live items of a range's subscriptions, ordered by subscription then id.
pub async fn items_in_range(tx: &mut Tx, r: &DueRange) -> Result<Vec<ItemRow>> {
    let sql = format!(
        "SELECT {ITEM_COLS} FROM subscription_items WHERE deleted_at IS NULL AND org_id = $1 AND {} \
         ORDER BY subscription_id, id",
        among(tx.backend(), "subscription_id", DUE_IDS)
    );
    crate::bulk::range_rows(tx, &sql, r).await
}

/// Live discounts of a range's customers.
pub async fn discounts_in_range(tx: &mut Tx, r: &DueRange) -> Result<Vec<DiscountRow>> {
    let sql = format!(
        "SELECT id, org_id, customer_id, subscription_id, coupon_id, invoices_applied, created_at, ended_at \
         FROM discounts WHERE ended_at IS NULL AND org_id = $1 AND {} ORDER BY id",
        among(tx.backend(), "customer_id", DUE_CUSTOMERS)
    );
    Ok(on!(tx, c => bind_range!(sqlx::query_as::<_, DiscountRow>(&sql), r).fetch_all(c).await?))
}

/// Sets a live subscription's status (dunning: active ↔ past_due). False if it has ended.
pub async fn set_status(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    status: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = on!(tx, c => sqlx::query(
        "UPDATE subscriptions SET status = $3, updated_at = $4 WHERE org_id = $1 AND id = $2 AND ended_at IS NULL")
        .bind(org_id).bind(id).bind(status).bind(now).execute(c).await?.rows_affected());
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, pg_plan, pg_scans_of, Param};
    use crate::Backend;

    /// On PostgreSQL, each read of a bill-run range scans subscriptions by the range's ids.
    /// Off `(org_id, current_period_end)` (the old `subscriptions_due`) the planner filtered
    /// every still-due subscription of the organisation by id, once per chunk. A fresh
    /// schema has no statistics, as a table right after a large import.
    #[tokio::test]
    async fn due_ranges_scan_subscriptions_by_id_on_postgres() {
        let Some((db, _)) = testing::fresh(Backend::Postgres).await else {
            return;
        };
        let r = DueRange {
            org_id: "org_a".into(),
            after: "sub_a".into(),
            last: "sub_b".into(),
            at: chrono::Utc::now(),
            clock: None,
        };
        let range = || {
            vec![
                Param::Text("org_a"),
                Param::Text("sub_a"),
                Param::Text("sub_b"),
                Param::Time(r.at),
            ]
        };
        let chunk_end = vec![
            Param::Text("org_a"),
            Param::Text("sub_a"),
            Param::Time(r.at),
            Param::Int(5000),
        ];
        let statements = [
            ("in_range", in_range_sql(&r, " FOR UPDATE"), range()),
            (
                "fingerprint",
                fingerprint_sql(Backend::Postgres, " FOR UPDATE"),
                range(),
            ),
            ("DUE_IDS", DUE_IDS.to_string(), range()),
            ("DUE_CUSTOMERS", DUE_CUSTOMERS.to_string(), range()),
            ("due_chunk_end", CHUNK_END.to_string(), chunk_end),
        ];
        for (name, sql, params) in statements {
            let plan = pg_plan(&db, &sql, &params).await;
            let scans = pg_scans_of(&plan, "subscriptions");
            assert!(
                !scans.is_empty(),
                "{name}: no scan of subscriptions in {plan}"
            );
            for (node, cond) in scans {
                assert!(
                    cond.contains("(id > 'sub_a'::text)"),
                    "{name}: {node} of subscriptions not bounded by id (index cond {cond:?})"
                );
            }
        }
    }

    /// On PostgreSQL a bill run's period update of a subscription is heap-only (HOT, no
    /// index entries written), for every subscription of a full page (migration 0016): no
    /// index holds a period column and each page keeps half its room for new versions.
    /// Counted by PostgreSQL within the transaction.
    #[tokio::test]
    async fn period_updates_are_heap_only_on_postgres() {
        let Some((db, _)) = testing::fresh(Backend::Postgres).await else {
            return;
        };
        let now = chrono::Utc::now();
        let mut tx = db.begin().await.unwrap();
        let (org, cus) = testing::org_and_customer(&mut tx, now).await;
        // 1,000 rows: tens of full pages.
        let rows: Vec<SubscriptionRow> = (0..1000)
            .map(|i| {
                testing::subscription_row(&org, &cus, &format!("sub_{i:05}"), now.date_naive(), now)
            })
            .collect();
        insert(&mut tx, &rows).await.unwrap();
        tx.commit().await.unwrap();

        let next: Vec<SubscriptionRow> = rows
            .iter()
            .map(|r| SubscriptionRow {
                period_index: 1,
                current_period_start: r.current_period_end,
                current_period_end: r.current_period_end + chrono::Duration::days(31),
                current_period_start_date: r.current_period_end_date,
                current_period_end_date: r.current_period_end_date + chrono::Days::new(31),
                updated_at: r.updated_at + chrono::Duration::days(30),
                ..r.clone()
            })
            .collect();
        let mut tx = db.begin().await.unwrap();
        update_periods(&mut tx, &next).await.unwrap();
        let counts = testing::pg_hot_updates(&mut tx, "subscriptions").await;
        tx.commit().await.unwrap();
        assert_eq!(counts, (1000, 1000), "(updated, heap-only)");
    }
}
