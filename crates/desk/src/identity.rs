//! Identity verification of callers in phone and chat contacts (DESK.md "Identity
//! verification"): one-time codes, knowledge factors and the lockout after failures.
//!
//! Rules:
//! - One-time code: 6 decimal digits sent to an email address or phone number on file;
//!   valid for [`CODE_TTL_SECS`] (10 minutes) from issue and for at most
//!   [`MAX_CODE_ATTEMPTS`] (5) tries; only its salted hash is stored ([`code_hash`]).
//! - Knowledge factors ([`check_factors`]): the postal code on file **and** either the last
//!   four digits of a payment method on file or the amount of the last invoice. Every factor
//!   given must match; extra wrong factors fail the check.
//! - Lockout ([`locked_out`]): 5 failed attempts (codes or factors) within 15 minutes lock
//!   further attempts until the oldest of those 5 is 15 minutes old.
//! - The randomness for codes and salts comes from the caller; nothing here draws it.

use crate::DeskError;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A one-time code is valid for 10 minutes after it is issued.
pub const CODE_TTL_SECS: i64 = 600;
/// A one-time code may be tried at most 5 times.
pub const MAX_CODE_ATTEMPTS: u32 = 5;
/// Failures within [`LOCKOUT_WINDOW_SECS`] that lock further attempts.
pub const LOCKOUT_FAILURES: usize = 5;
/// The lockout window: 15 minutes.
pub const LOCKOUT_WINDOW_SECS: i64 = 900;

/// The 6-digit code for a random `r`: `r mod 1,000,000`, zero padded ("004217"). The
/// caller draws `r` uniformly from a CSPRNG; the modulo bias (4,294,967,296 is not a
/// multiple of 10^6) is below 0.03 % per code — negligible against 5 attempts.
pub fn code_from_random(r: u32) -> String {
    format!("{:06}", r % 1_000_000)
}

/// The stored form of a code: lowercase hex SHA-256 over the salt and the code, each
/// prefixed by its length in bytes (8-byte big-endian), so no (salt, code) pair collides
/// with another by shifting characters between them. The code is hashed exactly as given;
/// use [`code_matches`] to check user input.
pub fn code_hash(code: &str, salt: &str) -> String {
    let mut h = Sha256::new();
    for part in [salt, code] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Whether the code typed by the caller matches the stored hash. Whitespace and `-` in the
/// input are ignored ("123 456", "123-456"); the comparison takes the same time wherever
/// the hashes differ.
pub fn code_matches(given: &str, salt: &str, stored_hash: &str) -> bool {
    let cleaned: String = given
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    constant_time_eq(code_hash(&cleaned, salt).as_bytes(), stored_hash.as_bytes())
}

/// Whether a code issued at `issued_at` that has been tried `attempts` times may still be
/// tried at `now`: `now < issued_at + CODE_TTL_SECS` and `attempts < MAX_CODE_ATTEMPTS`.
pub fn code_usable(issued_at: DateTime<Utc>, attempts: u32, now: DateTime<Utc>) -> bool {
    now < issued_at + TimeDelta::seconds(CODE_TTL_SECS) && attempts < MAX_CODE_ATTEMPTS
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A knowledge factor given by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Factor {
    /// The billing address's postal code; compared ignoring letter case and whitespace.
    PostalCode(String),
    /// Last four digits of a payment method on file; whitespace ignored.
    CardLast4(String),
    /// The total of the last invoice, in minor units.
    LastInvoiceAmount(i64),
}

/// What the account has on file for the factors.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OnFile {
    pub postal_code: Option<String>,
    /// Last four digits of every payment method on file.
    pub card_last4: Vec<String>,
    pub last_invoice_amount: Option<i64>,
}

/// Postal codes compare ignoring letter case and whitespace: "sw1a 1aa" = "SW1A1AA".
pub fn normalize_postal_code(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

fn normalize_last4(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Verifies a caller by knowledge factors. Passes only if
/// - a postal code is given and equals the one on file (see [`normalize_postal_code`]),
/// - a card's last four digits (exactly 4 ASCII digits, equal to one on file) or the last
///   invoice amount (equal to the one on file) is given, and
/// - every factor given matches (a wrong factor fails the check even if others are right).
///
/// The error ([`DeskError::NotVerified`]) says what is missing but never which factor was
/// wrong, so it may be read to the caller.
pub fn check_factors(given: &[Factor], on_file: &OnFile) -> Result<(), DeskError> {
    let not_verified = |m: &str| DeskError::NotVerified {
        message: m.to_string(),
    };
    let mut postal = false;
    let mut second = false;
    let mut all_match = true;
    for f in given {
        let ok = match f {
            Factor::PostalCode(p) => {
                let p = normalize_postal_code(p);
                let ok = !p.is_empty()
                    && on_file
                        .postal_code
                        .as_deref()
                        .is_some_and(|f| normalize_postal_code(f) == p);
                postal |= ok;
                ok
            }
            Factor::CardLast4(d) => {
                let d = normalize_last4(d);
                let ok = d.len() == 4
                    && d.bytes().all(|b| b.is_ascii_digit())
                    && on_file.card_last4.iter().any(|f| normalize_last4(f) == d);
                second |= ok;
                ok
            }
            Factor::LastInvoiceAmount(a) => {
                let ok = on_file.last_invoice_amount == Some(*a);
                second |= ok;
                ok
            }
        };
        all_match &= ok;
    }
    let has_postal = given.iter().any(|f| matches!(f, Factor::PostalCode(_)));
    let has_second = given
        .iter()
        .any(|f| matches!(f, Factor::CardLast4(_) | Factor::LastInvoiceAmount(_)));
    if !has_postal || !has_second {
        return Err(not_verified(
            "give the postal code and either the last four digits of the payment method or the last invoice amount",
        ));
    }
    if !(all_match && postal && second) {
        return Err(not_verified("the details given do not match the account"));
    }
    Ok(())
}

/// Whether attempts are locked at `now`: at least [`LOCKOUT_FAILURES`] of the `failures`
/// (instants of failed attempts, any order) are less than [`LOCKOUT_WINDOW_SECS`] old.
/// A failure exactly 15 minutes old no longer counts, so the lock lifts the moment the
/// oldest of the 5 most recent failures turns 15 minutes old. Failures stamped after `now`
/// count (clock skew errs on the safe side).
pub fn locked_out(failures: &[DateTime<Utc>], now: DateTime<Utc>) -> bool {
    locked_until(failures, now).is_some()
}

/// When the current lock lifts, if attempts are locked at `now` (see [`locked_out`]): the
/// 5th most recent failure + 15 minutes.
pub fn locked_until(failures: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let window = TimeDelta::seconds(LOCKOUT_WINDOW_SECS);
    let mut recent: Vec<_> = failures
        .iter()
        .copied()
        .filter(|f| now - *f < window)
        .collect();
    if recent.len() < LOCKOUT_FAILURES {
        return None;
    }
    recent.sort_unstable_by(|a, b| b.cmp(a));
    Some(recent[LOCKOUT_FAILURES - 1] + window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn codes() {
        assert_eq!(code_from_random(0), "000000");
        assert_eq!(code_from_random(4217), "004217");
        assert_eq!(code_from_random(999_999), "999999");
        assert_eq!(code_from_random(1_000_000), "000000");
        assert_eq!(code_from_random(u32::MAX), "967295");
        let h = code_hash("123456", "salt");
        assert_eq!(h.len(), 64);
        assert!(h
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(h, code_hash("123456", "salt2"));
        assert_ne!(h, code_hash("123457", "salt"));
        // Length prefixes: moving a character between salt and code changes the hash.
        assert_ne!(code_hash("1234", "ab"), code_hash("b1234", "a"));
        assert!(code_matches("123456", "salt", &h));
        assert!(code_matches(" 123 456 ", "salt", &h));
        assert!(code_matches("123-456", "salt", &h));
        assert!(!code_matches("123457", "salt", &h));
        assert!(!code_matches("123456", "salt", &h[..63]));
    }

    #[test]
    fn code_hash_is_sha256_of_the_documented_encoding() {
        // sha256(be64(1) "s" be64(1) "1"), computed independently of code_hash.
        let mut bytes = vec![0, 0, 0, 0, 0, 0, 0, 1, b's'];
        bytes.extend([0, 0, 0, 0, 0, 0, 0, 1, b'1']);
        assert_eq!(code_hash("1", "s"), hex::encode(Sha256::digest(&bytes)));
    }

    #[test]
    fn code_lifetime() {
        let t = utc("2024-06-03T10:00:00Z");
        assert!(code_usable(t, 0, t));
        assert!(code_usable(t, 4, t + TimeDelta::seconds(599)));
        assert!(!code_usable(t, 0, t + TimeDelta::seconds(600)));
        assert!(!code_usable(t, 5, t));
    }

    fn on_file() -> OnFile {
        OnFile {
            postal_code: Some("SW1A 1AA".into()),
            card_last4: vec!["4242".into(), "0005".into()],
            last_invoice_amount: Some(12_345),
        }
    }

    #[test]
    fn factors_pass() {
        let f = on_file();
        use Factor::*;
        assert_eq!(
            check_factors(
                &[PostalCode("sw1a1aa".into()), CardLast4("4242".into())],
                &f
            ),
            Ok(())
        );
        assert_eq!(
            check_factors(
                &[PostalCode(" SW1A 1aa".into()), CardLast4("0005".into())],
                &f
            ),
            Ok(())
        );
        assert_eq!(
            check_factors(
                &[LastInvoiceAmount(12_345), PostalCode("SW1A1AA".into())],
                &f
            ),
            Ok(())
        );
        assert_eq!(
            check_factors(
                &[
                    PostalCode("SW1A1AA".into()),
                    CardLast4("4242".into()),
                    LastInvoiceAmount(12_345)
                ],
                &f
            ),
            Ok(())
        );
    }

    #[test]
    fn factors_fail() {
        let f = on_file();
        use Factor::*;
        let fails = |given: &[Factor]| {
            let err = check_factors(given, &f).unwrap_err();
            assert_eq!(err.code(), "identity_not_verified");
        };
        // Postal code alone, or the second factor alone.
        fails(&[PostalCode("SW1A1AA".into())]);
        fails(&[CardLast4("4242".into()), LastInvoiceAmount(12_345)]);
        fails(&[]);
        // Wrong values.
        fails(&[PostalCode("SW1A1AB".into()), CardLast4("4242".into())]);
        fails(&[PostalCode("SW1A1AA".into()), CardLast4("4243".into())]);
        fails(&[PostalCode("SW1A1AA".into()), LastInvoiceAmount(12_346)]);
        fails(&[PostalCode("SW1A-1AA".into()), CardLast4("4242".into())]);
        // One wrong among right ones fails everything.
        fails(&[
            PostalCode("SW1A1AA".into()),
            CardLast4("4242".into()),
            LastInvoiceAmount(1),
        ]);
        fails(&[
            PostalCode("SW1A1AA".into()),
            PostalCode("X".into()),
            CardLast4("4242".into()),
        ]);
        // Malformed last-4 never matches, even if something odd is on file.
        let odd = OnFile {
            card_last4: vec!["42".into()],
            ..on_file()
        };
        assert!(check_factors(
            &[PostalCode("SW1A1AA".into()), CardLast4("42".into())],
            &odd
        )
        .is_err());
        // Nothing on file: cannot verify by factors.
        let empty = OnFile::default();
        assert!(check_factors(
            &[PostalCode("".into()), LastInvoiceAmount(0)],
            &OnFile {
                last_invoice_amount: Some(0),
                ..empty.clone()
            }
        )
        .is_err());
        assert!(check_factors(
            &[PostalCode("SW1A1AA".into()), CardLast4("4242".into())],
            &empty
        )
        .is_err());
    }

    #[test]
    fn factor_serde_shape() {
        let f: Factor = serde_json::from_str(r#"{"type":"postal_code","value":"10115"}"#).unwrap();
        assert_eq!(f, Factor::PostalCode("10115".into()));
        let f: Factor =
            serde_json::from_str(r#"{"type":"last_invoice_amount","value":995}"#).unwrap();
        assert_eq!(f, Factor::LastInvoiceAmount(995));
    }

    #[test]
    fn lockout() {
        let now = utc("2024-06-03T10:15:00Z");
        let min = |m: i64| now - TimeDelta::minutes(m);
        // Four recent failures: not locked.
        assert!(!locked_out(&[min(1), min(2), min(3), min(4)], now));
        // Five within 15 minutes: locked until the oldest is 15 minutes old.
        let five = [min(1), min(2), min(3), min(4), min(14)];
        assert!(locked_out(&five, now));
        assert_eq!(locked_until(&five, now), Some(now + TimeDelta::minutes(1)));
        assert!(locked_out(&five, now + TimeDelta::seconds(59)));
        assert!(!locked_out(&five, now + TimeDelta::minutes(1)));
        // A failure exactly 15 minutes old does not count.
        assert!(!locked_out(&[min(1), min(2), min(3), min(4), min(15)], now));
        // Older failures are irrelevant; the 5th most recent decides.
        let many = [min(40), min(1), min(2), min(3), min(4), min(5), min(30)];
        assert_eq!(locked_until(&many, now), Some(now + TimeDelta::minutes(10)));
        assert!(!locked_out(&[], now));
    }
}
