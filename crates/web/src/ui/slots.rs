//! Page slots: how many pages are rendered at once.
//!
//! A page is a few dozen short database reads and a template. Rendering fifty at once on a
//! two-core machine makes every one of them fifty times slower (they share the cores and
//! the connection pool) and hands each statement between more threads; rendering a few at
//! a time and letting the rest wait their turn, first come first served, keeps each page's
//! own time near its time alone. The wait is not hidden: every page answer carries
//! `Server-Timing: queue;dur=<ms>, app;dur=<ms>` — the wait for a slot, then the time from
//! taking the slot to the finished answer (which includes any wait for a database
//! connection). `ledgerdesk bench pages` reports both.
//!
//! Static assets and the chat socket take no slot: they do no page work, and a socket's
//! upgrade must not wait behind pages.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// The page slots of one server; clones share them.
#[derive(Clone)]
pub struct PageSlots(Arc<Semaphore>);

impl PageSlots {
    /// `n` pages at once (at least one).
    pub fn new(n: usize) -> PageSlots {
        PageSlots(Arc::new(Semaphore::new(n.max(1))))
    }

    /// Two per core: one page can compute while another waits for the database.
    pub fn default_count() -> usize {
        2 * std::thread::available_parallelism().map_or(2, |n| n.get())
    }

    /// The middleware: waits for a slot (unless the path takes none), runs the page, and
    /// writes both times into `Server-Timing`.
    pub async fn run(self, req: Request, next: Next) -> Response {
        let arrived = Instant::now();
        let permit = if takes_slot(req.uri().path()) {
            // The semaphore is never closed, so acquiring only fails if it were.
            self.0.clone().acquire_owned().await.ok()
        } else {
            None
        };
        let started = Instant::now();
        let mut res = next.run(req).await;
        drop(permit);
        let queue = (started - arrived).as_secs_f64() * 1000.0;
        let app = started.elapsed().as_secs_f64() * 1000.0;
        if let Ok(v) = HeaderValue::from_str(&format!("queue;dur={queue:.2}, app;dur={app:.2}")) {
            res.headers_mut().insert("server-timing", v);
        }
        res
    }
}

impl Default for PageSlots {
    fn default() -> PageSlots {
        PageSlots::new(PageSlots::default_count())
    }
}

/// Whether a request to `path` waits for a page slot.
fn takes_slot(path: &str) -> bool {
    !(path.starts_with("/static/") || path == "/favicon.ico" || path.ends_with("/socket"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_and_sockets_take_no_slot() {
        assert!(!takes_slot("/static/app.js"));
        assert!(!takes_slot("/favicon.ico"));
        assert!(!takes_slot("/portal/chat/socket"));
        assert!(takes_slot("/portal"));
        assert!(takes_slot("/console/tickets/tkt_1"));
    }

    #[tokio::test]
    async fn a_page_waits_while_every_slot_is_taken() {
        let slots = PageSlots::new(1);
        let held = slots.0.clone().acquire_owned().await.unwrap();
        let app = axum::Router::new()
            .route("/p", axum::routing::get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    slots.clone().run(req, next)
                },
            ));
        let call = tokio::spawn(async move {
            use tower::ServiceExt;
            app.oneshot(Request::get("/p").body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap()
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!call.is_finished(), "the page ran without a slot");
        drop(held);
        let res = call.await.unwrap();
        let timing = res.headers()["server-timing"].to_str().unwrap().to_string();
        let queue: f64 = timing
            .strip_prefix("queue;dur=")
            .and_then(|s| s.split(',').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(queue >= 40.0, "the wait is reported: {timing}");
        assert!(timing.contains(", app;dur="), "{timing}");
    }
}
