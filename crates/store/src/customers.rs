//! Customer accounts: profile, billing address, tax ids, contacts, credit balance.

use crate::{Result, Tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct CustomerRow {
    pub id: String,
    pub org_id: String,
    pub external_id: Option<String>,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub time_zone: String,
    pub locale: String,
    pub currency: String,
    pub tax_exempt: bool,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub address_city: Option<String>,
    pub address_postal_code: Option<String>,
    pub address_region: Option<String>,
    pub address_country: Option<String>,
    pub metadata: String,
    pub credit_balance: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// charge_automatically or send_invoice.
    pub collection_method: String,
    /// 0: due on receipt; N: net N.
    pub days_until_due: i64,
}

sqlite_read!(CustomerRow {
    id,
    org_id,
    external_id,
    name,
    email,
    phone,
    time_zone,
    locale,
    currency,
    tax_exempt,
    address_line1,
    address_line2,
    address_city,
    address_postal_code,
    address_region,
    address_country,
    metadata,
    credit_balance,
    created_at,
    updated_at,
    collection_method,
    days_until_due,
});
const COLS: &str = CustomerRow::COLUMNS;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct TaxIdRow {
    pub org_id: String,
    pub customer_id: String,
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct ContactRow {
    pub id: String,
    pub org_id: String,
    pub customer_id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(tx: &mut Tx, rows: &[CustomerRow]) -> Result<u64> {
    Ok(insert_rows!(
        tx,
        format!("INSERT INTO customers ({COLS}) "),
        rows,
        1000,
        |b, r| {
            b.push_bind(&r.id)
                .push_bind(&r.org_id)
                .push_bind(&r.external_id)
                .push_bind(&r.name)
                .push_bind(&r.email)
                .push_bind(&r.phone)
                .push_bind(&r.time_zone)
                .push_bind(&r.locale)
                .push_bind(&r.currency)
                .push_bind(r.tax_exempt)
                .push_bind(&r.address_line1)
                .push_bind(&r.address_line2)
                .push_bind(&r.address_city)
                .push_bind(&r.address_postal_code)
                .push_bind(&r.address_region)
                .push_bind(&r.address_country)
                .push_bind(&r.metadata)
                .push_bind(r.credit_balance)
                .push_bind(r.created_at)
                .push_bind(r.updated_at)
                .push_bind(&r.collection_method)
                .push_bind(r.days_until_due);
        }
    ))
}

/// Replaces the editable fields of a customer (not its currency, balance or creation).
pub async fn update(tx: &mut Tx, r: &CustomerRow) -> Result<()> {
    on!(tx, c => sqlx::query(
        "UPDATE customers SET external_id = $3, name = $4, email = $5, phone = $6, time_zone = $7, locale = $8, \
         tax_exempt = $9, address_line1 = $10, address_line2 = $11, address_city = $12, address_postal_code = $13, \
         address_region = $14, address_country = $15, metadata = $16, updated_at = $17, collection_method = $18, \
         days_until_due = $19 WHERE org_id = $1 AND id = $2")
        .bind(&r.org_id).bind(&r.id).bind(&r.external_id).bind(&r.name).bind(&r.email).bind(&r.phone)
        .bind(&r.time_zone).bind(&r.locale).bind(r.tax_exempt).bind(&r.address_line1).bind(&r.address_line2)
        .bind(&r.address_city).bind(&r.address_postal_code).bind(&r.address_region).bind(&r.address_country)
        .bind(&r.metadata).bind(r.updated_at).bind(&r.collection_method).bind(r.days_until_due)
        .execute(c).await.map_err(crate::StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

pub async fn get(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<CustomerRow>> {
    let sql = format!("SELECT {COLS} FROM customers WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, CustomerRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// The customers of `ids` that exist, in one statement (any order; unknown ids are absent).
pub async fn get_many(tx: &mut Tx, org_id: &str, ids: &[String]) -> Result<Vec<CustomerRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let head = format!("SELECT {COLS} FROM customers WHERE org_id = ");
    crate::bulk::in_rows(tx, &head, org_id, "id", ids, "").await
}

/// Locks the customer row for the rest of the transaction (PostgreSQL), so balance changes
/// of one customer are serialized.
pub async fn get_for_update(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<CustomerRow>> {
    let sql = format!(
        "SELECT {COLS} FROM customers WHERE org_id = $1 AND id = $2{}",
        tx.for_update()
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, CustomerRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// Newest first. `query` matches email or external id exactly (case-insensitive), or a
/// part of the name.
pub async fn list(
    tx: &mut Tx,
    org_id: &str,
    query: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<CustomerRow>> {
    let sql = format!(
        "SELECT {COLS} FROM customers WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id < $2) \
         AND (CAST($3 AS TEXT) IS NULL OR LOWER(email) = LOWER($3) OR external_id = $3 OR LOWER(name) LIKE '%' || LOWER($5) || '%' ESCAPE '\\') \
         ORDER BY id DESC LIMIT $4"
    );
    // The name part is matched literally: LIKE's wildcards in it are escaped.
    let pattern = query.map(|q| {
        q.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    });
    Ok(
        on!(tx, c => sqlx::query_as::<_, CustomerRow>(&sql).bind(org_id).bind(starting_after).bind(query).bind(limit).bind(&pattern).fetch_all(c).await?),
    )
}

/// Adds `delta` (may be negative) to the credit balance; the CHECK keeps it ≥ 0.
pub async fn add_credit_balance(tx: &mut Tx, org_id: &str, id: &str, delta: i64) -> Result<()> {
    if delta == 0 {
        return Ok(());
    }
    on!(tx, c => sqlx::query("UPDATE customers SET credit_balance = credit_balance + $3 WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(delta).execute(c).await.map_err(crate::StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

pub async fn replace_tax_ids(
    tx: &mut Tx,
    org_id: &str,
    customer_id: &str,
    rows: &[TaxIdRow],
) -> Result<()> {
    on!(tx, c => sqlx::query("DELETE FROM customer_tax_ids WHERE org_id = $1 AND customer_id = $2")
        .bind(org_id).bind(customer_id).execute(c).await?.rows_affected());
    if !rows.is_empty() {
        insert_rows!(
            tx,
            "INSERT INTO customer_tax_ids (org_id, customer_id, kind, value) ",
            rows,
            1000,
            |b, r| {
                b.push_bind(&r.org_id)
                    .push_bind(&r.customer_id)
                    .push_bind(&r.kind)
                    .push_bind(&r.value);
            }
        );
    }
    Ok(())
}

pub async fn tax_ids(tx: &mut Tx, org_id: &str, customer_id: &str) -> Result<Vec<TaxIdRow>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, TaxIdRow>("SELECT org_id, customer_id, kind, value FROM customer_tax_ids WHERE org_id = $1 AND customer_id = $2 ORDER BY value")
        .bind(org_id).bind(customer_id).fetch_all(c).await?),
    )
}

pub async fn insert_contacts(tx: &mut Tx, rows: &[ContactRow]) -> Result<u64> {
    Ok(insert_rows!(tx, "INSERT INTO customer_contacts (id, org_id, customer_id, name, email, phone, role, created_at) ", rows, 1000, |b, r| {
        b.push_bind(&r.id).push_bind(&r.org_id).push_bind(&r.customer_id).push_bind(&r.name)
            .push_bind(&r.email).push_bind(&r.phone).push_bind(&r.role).push_bind(r.created_at);
    }))
}

pub async fn contacts(tx: &mut Tx, org_id: &str, customer_id: &str) -> Result<Vec<ContactRow>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, ContactRow>("SELECT id, org_id, customer_id, name, email, phone, role, created_at FROM customer_contacts WHERE org_id = $1 AND customer_id = $2 ORDER BY id")
        .bind(org_id).bind(customer_id).fetch_all(c).await?),
    )
}

/// Deletes a contact of a customer: 1 when it was theirs, 0 when there was none.
pub async fn delete_contact(tx: &mut Tx, org_id: &str, customer_id: &str, id: &str) -> Result<u64> {
    Ok(
        on!(tx, c => sqlx::query("DELETE FROM customer_contacts WHERE org_id = $1 AND customer_id = $2 AND id = $3")
        .bind(org_id).bind(customer_id).bind(id).execute(c).await?.rows_affected()),
    )
}

/// The customers of a bill-run range.
pub async fn in_range(tx: &mut Tx, r: &crate::subscriptions::DueRange) -> Result<Vec<CustomerRow>> {
    use crate::subscriptions::{among, DUE_CUSTOMERS};
    let sql = format!(
        "SELECT {COLS} FROM customers WHERE org_id = $1 AND {} ORDER BY id",
        among(tx.backend(), "id", DUE_CUSTOMERS)
    );
    crate::bulk::range_rows(tx, &sql, r).await
}

/// EU VAT ids of a bill-run range's customers: customer id → values.
pub async fn range_eu_vat_ids(
    tx: &mut Tx,
    r: &crate::subscriptions::DueRange,
) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
    use crate::subscriptions::{among, DUE_CUSTOMERS};
    let sql = format!(
        "SELECT customer_id, value FROM customer_tax_ids WHERE kind = 'eu_vat' AND org_id = $1 AND {}",
        among(tx.backend(), "customer_id", DUE_CUSTOMERS)
    );
    let rows: Vec<(String, String)> = on!(tx, c => bind_range!(sqlx::query_as::<_, (String, String)>(&sql), r).fetch_all(c).await?);
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (c, v) in rows {
        out.entry(c).or_default().push(v);
    }
    Ok(out)
}
