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
//!   attempt too (`ui::portal_link`); a successful sign-in forgets them.

use axum::http::{header, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const PORTAL_COOKIE: &str = "ld_portal";
pub const CONSOLE_COOKIE: &str = "ld_console";
pub const PRE_COOKIE: &str = "ld_pre";
pub const LANG_COOKIE: &str = "ld_lang";

/// Failed sign-ins allowed per email in [`WINDOW`].
pub const MAX_FAILURES: usize = 5;
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

/// Failed sign-ins by (surface, email), in memory: one process serves the pages.
#[derive(Clone, Default)]
pub struct SignInLimiter(Arc<Mutex<HashMap<String, Vec<Instant>>>>);

impl SignInLimiter {
    fn key(surface: &str, email: &str) -> String {
        format!("{surface}\0{}", email.trim().to_lowercase())
    }

    /// Whether another attempt is allowed now.
    pub fn allowed(&self, surface: &str, email: &str) -> bool {
        let Ok(mut m) = self.0.lock() else {
            return false;
        };
        let k = Self::key(surface, email);
        let now = Instant::now();
        let recent = m.entry(k).or_default();
        recent.retain(|t| now.duration_since(*t) < WINDOW);
        recent.len() < MAX_FAILURES
    }

    pub fn failed(&self, surface: &str, email: &str) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() > 100_000 {
                m.clear();
            }
            m.entry(Self::key(surface, email))
                .or_default()
                .push(Instant::now());
        }
    }

    pub fn succeeded(&self, surface: &str, email: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&Self::key(surface, email));
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

    #[test]
    fn sign_in_is_limited_per_email() {
        let l = SignInLimiter::default();
        for _ in 0..MAX_FAILURES {
            assert!(l.allowed("portal", "A@x.com"));
            l.failed("portal", "a@x.com");
        }
        assert!(!l.allowed("portal", "a@x.com"));
        assert!(l.allowed("console", "a@x.com"));
        assert!(l.allowed("portal", "b@x.com"));
    }
}
