//! The audit log: append-only, one entry per staff action and per money movement made from
//! the desk, each chained to the previous one by hash (`desk::audit`). Entries are written
//! in the transaction of the change they record; the chain head's row lock orders them.

use super::StaffCtx;
use crate::{page_limit, Page, Result};
use serde::Serialize;
use serde_json::Value;
use store::desk::AuditRow;
use store::{Db, Tx};

/// Appends an entry: `who` did `action` to `object_type` `object_id`; `before` and `after`
/// are JSON snapshots (`null` when there is none).
pub async fn record(
    tx: &mut Tx,
    sctx: &StaffCtx,
    action: &str,
    object_type: &str,
    object_id: &str,
    before: &Value,
    after: &Value,
) -> Result<()> {
    let org = sctx.org();
    let (seq, prev) = store::desk::audit_next(tx, org, desk::audit::GENESIS).await?;
    let at = sctx
        .ctx
        .now
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let actor = sctx.actor_id();
    let before = before.to_string();
    let after = after.to_string();
    let hash = desk::audit::entry_hash(
        &prev,
        &desk::audit::Entry {
            org_id: org,
            seq,
            at: &at,
            actor: &actor,
            action,
            object_type,
            object_id,
            before: &before,
            after: &after,
        },
    );
    store::desk::audit_append(
        tx,
        &AuditRow {
            org_id: org.to_string(),
            seq,
            at,
            actor,
            action: action.to_string(),
            object_type: object_type.to_string(),
            object_id: object_id.to_string(),
            before,
            after,
            hash,
        },
    )
    .await?;
    Ok(())
}

/// Records a money movement made through the billing API (`route`, e.g. `POST
/// /v1/payments`) with the object it returned. Written right after the operation's own
/// transaction has committed — a crash between the two leaves the movement in the ledger
/// without its audit entry — and once per idempotency key (a replayed request does not run
/// the operation again). The actor is `api_key` (also for an admin's session: the billing
/// routes know the organisation, not the person).
pub async fn record_api(
    db: &store::Db,
    ctx: &crate::Ctx,
    route: &str,
    after: &Value,
) -> Result<()> {
    let sctx = StaffCtx::api_key(ctx.clone());
    let object_type = after["object"].as_str().unwrap_or("unknown");
    let object_id = after["id"].as_str().unwrap_or("");
    let mut tx = db.begin().await?;
    record(
        &mut tx,
        &sctx,
        &format!("api {route}"),
        object_type,
        object_id,
        &Value::Null,
        after,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub object: &'static str,
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    #[schema(value_type = Object)]
    pub before: Value,
    #[schema(value_type = Object)]
    pub after: Value,
    pub hash: String,
}

/// The log newest first; `before_seq` pages back, `object_id` narrows to one object.
pub async fn list(
    db: &Db,
    sctx: &StaffCtx,
    object_id: Option<&str>,
    before_seq: Option<i64>,
    limit: Option<i64>,
) -> Result<Page<AuditEntry>> {
    sctx.require(desk::authority::Permission::ViewAudit)?;
    let limit = page_limit(limit)?;
    let mut tx = db.read().await?;
    let rows =
        store::desk::audit_page(&mut tx, sctx.org(), object_id, before_seq, limit + 1).await?;
    let data = rows
        .into_iter()
        .map(|r| AuditEntry {
            object: "audit_entry",
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            action: r.action,
            object_type: r.object_type,
            object_id: r.object_id,
            before: serde_json::from_str(&r.before).unwrap_or(Value::Null),
            after: serde_json::from_str(&r.after).unwrap_or(Value::Null),
            hash: r.hash,
        })
        .collect();
    Ok(Page::from_rows(data, limit))
}

/// Checks every organisation's chain: each entry's hash, no gaps, and the head matching
/// the last entry (a deleted last entry shows there). Returns one message per break.
pub async fn verify_chains(db: &Db) -> Result<Vec<String>> {
    let mut tx = db.read().await?;
    let heads = store::desk::audit_heads(&mut tx).await?;
    let mut out = Vec::new();
    for (org, head_seq, head_hash) in heads {
        let mut prev = desk::audit::GENESIS.to_string();
        let mut last = 0i64;
        let mut broken = false;
        loop {
            let rows = store::desk::audit_chain(&mut tx, &org, last, 5000).await?;
            if rows.is_empty() {
                break;
            }
            let entries = rows.iter().map(|r| {
                (
                    desk::audit::Entry {
                        org_id: &r.org_id,
                        seq: r.seq,
                        at: &r.at,
                        actor: &r.actor,
                        action: &r.action,
                        object_type: &r.object_type,
                        object_id: &r.object_id,
                        before: &r.before,
                        after: &r.after,
                    },
                    r.hash.as_str(),
                )
            });
            match desk::audit::verify_chain_from(&prev, last + 1, entries) {
                Ok(h) => prev = h,
                Err(b) => {
                    out.push(format!(
                        "organisation {org}: audit chain broken at entry {}: {}",
                        b.seq, b.reason
                    ));
                    broken = true;
                    break;
                }
            }
            last = rows.last().map(|r| r.seq).unwrap_or(last);
        }
        if !broken && (last != head_seq || prev != head_hash) {
            out.push(format!(
                "organisation {org}: audit chain ends at entry {last} but its head says {head_seq} (entries removed)"
            ));
        }
    }
    Ok(out)
}
