//! HTTP interface of Ledgerdesk: the `/v1` JSON API (Stripe-style resources, errors,
//! cursor pagination, `Idempotency-Key` on money-moving POSTs) and `/openapi.json`.
//!
//! Handlers are thin: parse, call one use case of `app`, serialize. The clock is read here,
//! at the edge, and passed down in `app::Ctx`.

mod chat;
mod desk;
mod desk_actions;
mod desk_kpi;
mod error;
mod events;
mod extract;
mod idempotency;
mod jobs;
pub mod openapi;
mod payments;
mod routes;
pub mod ui;

pub use chat::ChatHub;
pub use error::{ApiError, ErrorBody};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::Db;

/// Largest accepted request body (bytes).
pub const MAX_BODY: usize = 256 * 1024;

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub key_cache: KeyCache,
    /// The payment gateway cards are tokenized, charged and refunded at.
    pub gateway: gateway::Gateway,
    /// The live chat relay (in-process: every chat socket of a conversation must reach this
    /// process — see `chat`).
    pub chat: ChatHub,
    /// Failed sign-ins of the pages, for their rate limit (in the database).
    pub signin: ui::session::SignInLimiter,
    /// Price and staff names for the pages, per organisation.
    pub names: ui::names::Names,
    /// Where the pages are reached (`https://billing.example.com`), put before the paths of
    /// links sent by email. Never taken from a request's `Host`, which its sender chooses.
    /// None: the emails carry the path alone.
    pub public_url: Option<String>,
    /// How many pages render at once (see `ui::slots`).
    pub pages: ui::slots::PageSlots,
}

impl AppState {
    /// State with the built-in sandbox gateway.
    pub fn new(db: Db) -> AppState {
        AppState {
            signin: ui::session::SignInLimiter::new(db.clone()),
            db,
            key_cache: KeyCache::default(),
            gateway: gateway::Gateway::Sandbox(gateway::Sandbox::new()),
            chat: ChatHub::default(),
            names: ui::names::Names::default(),
            public_url: None,
            pages: ui::slots::PageSlots::default(),
        }
    }
}

/// API key → organisation, remembered for a minute so a request costs no key lookup.
/// Keys are never revoked through this API yet; when they are, the cache must be cleared.
#[derive(Clone, Default)]
pub struct KeyCache(Arc<Mutex<HashMap<String, (String, Instant)>>>);

impl KeyCache {
    const TTL: Duration = Duration::from_secs(60);

    pub fn get(&self, key: &str) -> Option<String> {
        let map = self.0.lock().ok()?;
        map.get(&app::orgs::hash_key(key))
            .filter(|(_, at)| at.elapsed() < Self::TTL)
            .map(|(org, _)| org.clone())
    }

    pub fn put(&self, key: &str, org: &str) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(app::orgs::hash_key(key), (org.to_string(), Instant::now()));
        }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> axum::Router {
    routes::router(state)
}

/// Serves until ctrl-c.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
