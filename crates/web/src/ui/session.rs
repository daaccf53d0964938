//! Cookies, CSRF tokens and the sign-in rate limit of the pages.
//!
//! Rules:
//! - The session token (`pts_…` portal, `ses_…` console) lives in an `HttpOnly`,
//!   `SameSite=Lax` cookie scoped to its part of the site (`/portal`, `/console`), `Secure`
//!   unless the page was asked for on a loopback host (plain-HTTP development). It expires
//!   with the session (12 hours); signing out revokes it on the server too.
//! - Every form that changes something carries `_csrf`: a digest of the session token that
//!   a page of another site cannot read or compute. Sign-in forms, before any session,
//!   carry a random value that must equal the `ld_pre` cookie (double submit).
//! - Sign-in: at most [`MAX_FAILURES`] failed attempts per surface and email in
//!   [`WINDOW`]; then every attempt for that email is refused until the window passes,
//!   whether the password is right or not. Asking for a portal sign-in link counts as an
//!   attempt too (`ui::portal_link`); a successful sign-in forgets them. The failures are
//!   rows in the database (`store::sign_in`), so every server process counts the same
//!   attempts, a restart forgets none, and no number of addresses can push one out.

use axum::http::{header, HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::time::Duration;
use store::Db;

pub const PORTAL_COOKIE: &str = "ld_portal";
pub const CONSOLE_COOKIE: &str = "ld_console";
pub const PRE_COOKIE: &str = "ld_pre";
pub const LANG_COOKIE: &str = "ld_lang";

/// Failed sign-ins allowed per email in [`WINDOW`].
pub const MAX_FAILURES: i64 = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// The value of cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Whether the request was made to a loopback host (no TLS in development).
pub fn loopback(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((n, port)) if port.chars().all(|c| c.is_ascii_digit()) => n,
        _ => host,
    };
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

/// A `Set-Cookie` value. `max_age` 0 deletes the cookie.
pub fn set_cookie(
    headers: &HeaderMap,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    same_site: &str,
) -> HeaderValue {
    let secure = if loopback(headers) { "" } else { "; Secure" };
    let v = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The CSRF token of a session: it changes with the session and cannot be derived without
/// the (HttpOnly) session token.
pub fn csrf_of(session_token: &str) -> String {
    let d = Sha256::digest(format!("ledgerdesk-csrf\0{session_token}").as_bytes());
    hex::encode(&d[..16])
}

/// Compares in time independent of where the strings differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A fresh random value for the pre-session CSRF cookie.
pub fn random_token() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// Failed sign-ins by (surface, email), kept in the database (`store::sign_in`).
#[derive(Clone)]
pub struct SignInLimiter(Db);

impl SignInLimiter {
    pub fn new(db: Db) -> SignInLimiter {
        SignInLimiter(db)
    }

    fn window_start(now: DateTime<Utc>) -> DateTime<Utc> {
        now - chrono::Duration::from_std(WINDOW).unwrap_or(chrono::Duration::MAX)
    }

    /// Whether another attempt is allowed at `now`: fewer than [`MAX_FAILURES`] failures in
    /// the [`WINDOW`] before it. When the count cannot be read the attempt is refused (the
    /// sign-in could not be checked either).
    pub async fn allowed(&self, surface: &str, email: &str, now: DateTime<Utc>) -> bool {
        let since = Self::window_start(now);
        let count = async {
            let mut tx = self.0.read().await?;
            store::sign_in::failures_since(&mut tx, surface, email, since).await
        };
        match count.await {
            Ok(n) => n < MAX_FAILURES,
            Err(e) => {
                tracing::warn!(error = %e, surface, "sign-in limit unreadable; attempt refused");
                false
            }
        }
    }

    /// Records a failed attempt at `now` (and forgets every failure older than the window).
    pub async fn failed(&self, surface: &str, email: &str, now: DateTime<Utc>) {
        let forget = Self::window_start(now);
        let r = async {
            let mut tx = self.0.begin().await?;
            store::sign_in::record_failure(&mut tx, surface, email, now, forget).await?;
            tx.commit().await
        };
        if let Err(e) = r.await {
            tracing::warn!(error = %e, surface, "failed sign-in not recorded");
        }
    }

    /// Forgets the failures of a successful sign-in.
    pub async fn succeeded(&self, surface: &str, email: &str) {
        let r = async {
            let mut tx = self.0.begin().await?;
            store::sign_in::clear_failures(&mut tx, surface, email).await?;
            tx.commit().await
        };
        if let Err(e) = r.await {
            tracing::warn!(error = %e, surface, "sign-in failures not cleared");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ld_portal=pts_x; b=2"),
        );
        assert_eq!(cookie(&h, PORTAL_COOKIE).as_deref(), Some("pts_x"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn secure_except_on_loopback() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        let c = set_cookie(&h, "x", "v", "/", 60, "Lax");
        assert!(!c.to_str().unwrap().contains("Secure"));
        assert!(c.to_str().unwrap().contains("HttpOnly"));
        h.insert(
            header::HOST,
            HeaderValue::from_static("billing.example.com"),
        );
        let c = set_cookie(&h, "x", "v", "/", 60, "Lax");
        assert!(c.to_str().unwrap().contains("; Secure"));
    }

    #[test]
    fn csrf_depends_on_the_session() {
        assert_ne!(csrf_of("pts_a"), csrf_of("pts_b"));
        assert_eq!(csrf_of("pts_a"), csrf_of("pts_a"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
