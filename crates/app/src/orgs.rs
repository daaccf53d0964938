//! Organisations (tenants) and API keys. A key's secret is shown once at creation; only its
//! SHA-256 hash is stored, and every request is resolved to exactly one organisation.

use crate::{AppError, Result};
use billing::ids::{ApiKeyId, OrgId};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use store::{new_id, Db};

/// A new organisation and the secret of its first API key.
#[derive(Debug, Clone)]
pub struct NewOrg {
    pub org_id: String,
    pub api_key: String,
}

pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn new_secret() -> String {
    format!("sk_{}{}", store::random_suffix(), store::random_suffix())
}

/// Creates an organisation selling from `country` (ISO alpha-2) with one API key.
pub async fn create_org(db: &Db, name: &str, country: &str, now: DateTime<Utc>) -> Result<NewOrg> {
    let country = country.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(AppError::invalid(
            "country",
            format!("{country:?} is not an ISO 3166-1 alpha-2 country code"),
        ));
    }
    let org_id = new_id!(OrgId).to_string();
    let mut tx = db.begin().await?;
    store::orgs::insert_org(
        &mut tx,
        &store::orgs::OrgRow {
            id: org_id.clone(),
            name: name.into(),
            country,
            created_at: now,
        },
    )
    .await?;
    store::desk::insert_default_teams(&mut tx, &org_id).await?;
    let secret = new_secret();
    store::orgs::insert_api_key(
        &mut tx,
        new_id!(ApiKeyId).as_str(),
        &org_id,
        "default",
        &hash_key(&secret),
        &secret[..10],
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(NewOrg {
        org_id,
        api_key: secret,
    })
}

/// Adds an API key with a known secret (used by `demo` so the printed key is stable).
pub async fn add_api_key(
    db: &Db,
    org_id: &str,
    name: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut tx = db.begin().await?;
    store::orgs::insert_api_key(
        &mut tx,
        new_id!(ApiKeyId).as_str(),
        org_id,
        name,
        &hash_key(secret),
        &secret[..secret.len().min(10)],
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The organisation a secret belongs to.
pub async fn authenticate(db: &Db, secret: &str) -> Result<String> {
    let mut tx = db.read().await?;
    store::orgs::org_for_key_hash(&mut tx, &hash_key(secret))
        .await?
        .ok_or_else(|| AppError::Unauthenticated("invalid API key".into()))
}
