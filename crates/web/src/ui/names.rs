//! Display names the pages show for ids — a price as "Product · nickname", a staff member
//! by name — cached per organisation, because nearly every page names prices or staff and
//! reading the whole catalog and staff list for each page was most of a page's reads.
//!
//! Rules:
//! - A cached set of names is used for at most [`Names::TTL`]; after that the next page
//!   reads them again, so a rename shows on pages within that time.
//! - An id not in the cached set reloads the set once (at most once per
//!   [`Names::MISS_GAP`]), so a price or staff member created a moment ago is named at once
//!   and an id that is not there never turns every page into a reload.
//! - Every price and product of the organisation is read (archived ones too: old invoices
//!   and subscriptions still name them); a page never shows a bare id for a catalog entry
//!   that exists.
use app::Ctx;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::Db;

/// One organisation's names, as read at `loaded`.
#[derive(Debug, Default)]
pub struct OrgNames {
    loaded: Option<Instant>,
    /// Price id → "Product · nickname" (the product's name alone without a nickname).
    pub prices: HashMap<String, String>,
    /// Staff id → name.
    pub staff: HashMap<String, String>,
}

impl OrgNames {
    /// The price's name, or its id when it is not known.
    pub fn price(&self, id: &str) -> String {
        self.prices
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// The staff member's name, or the id when it is not known.
    pub fn staff(&self, id: &str) -> String {
        self.staff
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

/// The per-organisation cache (shared by every request of the process).
#[derive(Clone, Default)]
pub struct Names(Arc<Mutex<HashMap<String, Arc<OrgNames>>>>);

impl Names {
    /// How long a set of names is used before it is read again.
    pub const TTL: Duration = Duration::from_secs(10);
    /// A set younger than this is not reloaded for a missing id.
    pub const MISS_GAP: Duration = Duration::from_secs(1);

    /// The organisation's names, fresh enough to name every id in `prices` and `staff` if
    /// they exist (see the module rules).
    pub async fn of(&self, db: &Db, ctx: &Ctx, prices: &[&str], staff: &[&str]) -> Arc<OrgNames> {
        if let Some(n) = self.cached(&ctx.org_id) {
            let age = n.loaded.map(|l| l.elapsed()).unwrap_or(Duration::MAX);
            let missing = prices.iter().any(|p| !n.prices.contains_key(*p))
                || staff.iter().any(|s| !n.staff.contains_key(*s));
            if age < Self::TTL && !(missing && age >= Self::MISS_GAP) {
                return n;
            }
        }
        match load(db, ctx).await {
            Ok(n) => {
                let n = Arc::new(n);
                if let Ok(mut map) = self.0.lock() {
                    map.insert(ctx.org_id.clone(), n.clone());
                }
                n
            }
            Err(e) => {
                // A page still renders (with ids) when the names cannot be read.
                tracing::warn!("reading display names of {}: {e}", ctx.org_id);
                self.cached(&ctx.org_id).unwrap_or_default()
            }
        }
    }

    fn cached(&self, org: &str) -> Option<Arc<OrgNames>> {
        self.0.lock().ok()?.get(org).cloned()
    }
}

async fn load(db: &Db, ctx: &Ctx) -> app::Result<OrgNames> {
    let mut tx = db.read().await?;
    let org = ctx.org_id.as_str();
    let products: HashMap<String, String> = store::catalog::all_product_names(&mut tx, org)
        .await?
        .into_iter()
        .collect();
    let prices = store::catalog::all_price_nicknames(&mut tx, org)
        .await?
        .into_iter()
        .map(|(id, product, nickname)| {
            let product = products.get(&product).cloned().unwrap_or_default();
            let name = match nickname {
                Some(n) if !n.is_empty() => format!("{product} · {n}"),
                _ => product,
            };
            (id, name)
        })
        .collect();
    let staff = store::desk::list_staff(&mut tx, org)
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    Ok(OrgNames {
        loaded: Some(Instant::now()),
        prices,
        staff,
    })
}

/// The organisation's price names, fresh enough to name every id in `prices`.
pub(crate) async fn price_names(s: &crate::AppState, ctx: &Ctx, prices: &[&str]) -> Arc<OrgNames> {
    s.names.of(&s.db, ctx, prices, &[]).await
}
