//! The audit log's hash chain: each entry's hash covers the previous entry's hash and every
//! field of the entry as stored, so editing, deleting or reordering any entry breaks the
//! chain from that point (DESK.md "Agent authority": everything is in the audit log).
//!
//! Rules:
//! - One chain per organisation; `seq` runs 1, 2, 3, … without gaps; entry 1 chains to
//!   [`GENESIS`].
//! - `hash = hex(sha256(encode(prev_hash, org_id, seq, at, actor, action, object_type,
//!   object_id, before, after)))` where `encode` starts with the domain tag
//!   `ledgerdesk.audit.v1`, then writes each text field as its length in bytes (8-byte
//!   big-endian) followed by its UTF-8 bytes, and `seq` as 8-byte big-endian two's
//!   complement. Length prefixes make the encoding unambiguous: no two different entries
//!   encode alike. Fields are hashed exactly as stored (`at` as its stored text,
//!   `before`/`after` as stored JSON text), so verification needs no re-formatting.
//! - Hashes are lowercase hex; a stored hash in another case is a mismatch.

use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry of every chain: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The domain tag that starts every hashed encoding (bump the version if the encoding
/// ever changes).
pub const DOMAIN: &str = "ledgerdesk.audit.v1";

/// One audit entry, every field exactly as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub org_id: &'a str,
    pub seq: i64,
    /// The timestamp as stored text (e.g. `2024-06-03T10:00:00.123456Z`).
    pub at: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: &'a str,
    /// The object before the change, as stored JSON text (`""` or `"null"` as stored).
    pub before: &'a str,
    pub after: &'a str,
}

/// The entry's hash chained to `prev_hash` (see the module docs for the encoding).
pub fn entry_hash(prev_hash: &str, e: &Entry) -> String {
    let mut h = Sha256::new();
    for s in [DOMAIN, prev_hash, e.org_id] {
        put_text(&mut h, s);
    }
    h.update(e.seq.to_be_bytes());
    for s in [
        e.at,
        e.actor,
        e.action,
        e.object_type,
        e.object_id,
        e.before,
        e.after,
    ] {
        put_text(&mut h, s);
    }
    hex::encode(h.finalize())
}

/// Length (8-byte big-endian) then bytes.
fn put_text(h: &mut Sha256, s: &str) {
    h.update((s.len() as u64).to_be_bytes());
    h.update(s.as_bytes());
}

/// Why a chain failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreakReason {
    /// The entry's `seq` is not the one expected (a deleted, duplicated or reordered entry).
    #[error("expected seq {expected}, found {found}")]
    SeqGap { expected: i64, found: i64 },
    /// The stored hash differs from the one computed (an edited entry, or an entry whose
    /// predecessor was edited and re-hashed).
    #[error("stored hash {stored} does not match computed {computed}")]
    WrongHash { stored: String, computed: String },
    /// The entry belongs to another organisation than the chain's first entry.
    #[error("organisation changed from {expected:?} to {found:?}")]
    OrgChanged { expected: String, found: String },
}

/// The first entry at which a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain breaks at seq {seq}: {reason}")]
pub struct ChainBreak {
    /// The `seq` of the offending entry as stored.
    pub seq: i64,
    pub reason: BreakReason,
}

/// Verifies a whole chain from its start: entries in `seq` order with their stored hashes,
/// the first with seq 1 chained to [`GENESIS`]. An empty chain is valid.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = (Entry<'a>, &'a str)>,
) -> Result<(), ChainBreak> {
    verify_chain_from(GENESIS, 1, entries).map(|_| ())
}

/// Verifies a chain segment that continues after an entry already trusted: the first
/// entry must have seq `first_seq` and chain to `prev_hash`. Returns the last hash (for
/// verifying the next segment), `prev_hash` if there were no entries.
pub fn verify_chain_from<'a>(
    prev_hash: &str,
    first_seq: i64,
    entries: impl IntoIterator<Item = (Entry<'a>, &'a str)>,
) -> Result<String, ChainBreak> {
    let mut prev = prev_hash.to_string();
    let mut expected = first_seq;
    let mut org: Option<&str> = None;
    for (e, stored) in entries {
        if e.seq != expected {
            return Err(ChainBreak {
                seq: e.seq,
                reason: BreakReason::SeqGap {
                    expected,
                    found: e.seq,
                },
            });
        }
        match org {
            None => org = Some(e.org_id),
            Some(o) if o != e.org_id => {
                return Err(ChainBreak {
                    seq: e.seq,
                    reason: BreakReason::OrgChanged {
                        expected: o.to_string(),
                        found: e.org_id.to_string(),
                    },
                })
            }
            Some(_) => {}
        }
        let computed = entry_hash(&prev, &e);
        if computed != stored {
            return Err(ChainBreak {
                seq: e.seq,
                reason: BreakReason::WrongHash {
                    stored: stored.to_string(),
                    computed,
                },
            });
        }
        prev = computed;
        expected = expected.saturating_add(1);
    }
    Ok(prev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64) -> Entry<'static> {
        Entry {
            org_id: "org_1",
            seq,
            at: "2024-06-03T10:00:00Z",
            actor: "usr_ann",
            action: "credit_note.created",
            object_type: "credit_note",
            object_id: "cn_1",
            before: "null",
            after: r#"{"amount":500}"#,
        }
    }

    /// A chain of `n` entries with correct hashes.
    fn chain(n: i64) -> Vec<(Entry<'static>, String)> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let e = entry(seq);
                let h = entry_hash(&prev, &e);
                prev = h.clone();
                (e, h)
            })
            .collect()
    }

    fn verify(c: &[(Entry<'static>, String)]) -> Result<(), ChainBreak> {
        verify_chain(c.iter().map(|(e, h)| (*e, h.as_str())))
    }

    #[test]
    fn genesis_and_shape() {
        assert_eq!(GENESIS.len(), 64);
        assert!(GENESIS.bytes().all(|b| b == b'0'));
        let h = entry_hash(GENESIS, &entry(1));
        assert_eq!(h.len(), 64);
        assert_eq!(h, entry_hash(GENESIS, &entry(1)));
        assert_ne!(h, entry_hash(&h, &entry(1)));
    }

    #[test]
    fn a_good_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(()));
        assert_eq!(verify(&[]), Ok(()));
        let c = chain(5);
        let last =
            verify_chain_from(GENESIS, 1, c[..3].iter().map(|(e, h)| (*e, h.as_str()))).unwrap();
        assert_eq!(last, c[2].1);
        assert_eq!(
            verify_chain_from(&last, 4, c[3..].iter().map(|(e, h)| (*e, h.as_str()))).unwrap(),
            c[4].1
        );
    }

    #[test]
    fn any_single_field_tamper_is_detected() {
        type Tamper = fn(&mut Entry<'static>);
        let tampers: [(&str, Tamper); 8] = [
            ("org_id", |e| e.org_id = "org_2"),
            ("at", |e| e.at = "2024-06-03T10:00:01Z"),
            ("actor", |e| e.actor = "usr_bob"),
            ("action", |e| e.action = "credit_note.voided"),
            ("object_type", |e| e.object_type = "refund"),
            ("object_id", |e| e.object_id = "cn_2"),
            ("before", |e| e.before = ""),
            ("after", |e| e.after = r#"{"amount":5000}"#),
        ];
        for (name, tamper) in tampers {
            for i in 0..4 {
                let mut c = chain(4);
                tamper(&mut c[i].0);
                let err = verify(&c).unwrap_err();
                assert_eq!(err.seq, i as i64 + 1, "{name} at {i}");
                assert!(
                    matches!(
                        err.reason,
                        BreakReason::WrongHash { .. } | BreakReason::OrgChanged { .. }
                    ),
                    "{name}: {err}"
                );
            }
        }
        // The first entry's org is the chain's org, so only the hash catches it there.
        let mut c = chain(2);
        c[0].0.org_id = "org_2";
        assert!(matches!(
            verify(&c).unwrap_err().reason,
            BreakReason::WrongHash { .. }
        ));
        // The stored hash itself.
        let mut c = chain(3);
        c[1].1 = c[1].1.to_uppercase();
        assert_eq!(verify(&c).unwrap_err().seq, 2);
        // Editing an entry and re-hashing it still breaks the next one.
        let mut c = chain(3);
        c[1].0.actor = "usr_eve";
        c[1].1 = entry_hash(&c[0].1, &c[1].0);
        let err = verify(&c).unwrap_err();
        assert_eq!(err.seq, 3);
    }

    #[test]
    fn fields_cannot_bleed_into_each_other() {
        let a = Entry {
            actor: "ab",
            action: "c",
            ..entry(1)
        };
        let b = Entry {
            actor: "a",
            action: "bc",
            ..entry(1)
        };
        assert_ne!(entry_hash(GENESIS, &a), entry_hash(GENESIS, &b));
        let c = Entry {
            before: "",
            after: "x",
            ..entry(1)
        };
        let d = Entry {
            before: "x",
            after: "",
            ..entry(1)
        };
        assert_ne!(entry_hash(GENESIS, &c), entry_hash(GENESIS, &d));
    }

    #[test]
    fn seq_gaps_and_reorders_are_detected() {
        let c = chain(4);
        // Deleted entry 2.
        let gap: Vec<_> = [0, 2, 3].iter().map(|&i| c[i].clone()).collect();
        assert_eq!(
            verify(&gap).unwrap_err(),
            ChainBreak {
                seq: 3,
                reason: BreakReason::SeqGap {
                    expected: 2,
                    found: 3
                }
            }
        );
        // Swapped.
        let swapped: Vec<_> = [0, 2, 1, 3].iter().map(|&i| c[i].clone()).collect();
        assert_eq!(verify(&swapped).unwrap_err().seq, 3);
        // Starting at 2.
        assert_eq!(verify(&c[1..]).unwrap_err().seq, 2);
        // The hash covers seq: an entry renumbered to fit elsewhere fails its hash.
        let (e1, h1) = c[0].clone();
        let moved = Entry { seq: 5, ..e1 };
        let err = verify_chain_from(GENESIS, 5, [(moved, h1.as_str())]).unwrap_err();
        assert!(matches!(err.reason, BreakReason::WrongHash { .. }), "{err}");
        // The last entry deleted is not detectable from the chain alone; the caller
        // compares the last seq with the organisation's counter.
        assert_eq!(verify(&c[..3]), Ok(()));
        let msg = verify(&gap).unwrap_err().to_string();
        assert_eq!(msg, "audit chain breaks at seq 3: expected seq 2, found 3");
    }

    #[test]
    fn encoding_is_the_documented_one() {
        // Recompute independently from the documented encoding.
        let e = entry(7);
        let mut bytes: Vec<u8> = Vec::new();
        let text = |bytes: &mut Vec<u8>, s: &str| {
            bytes.extend((s.len() as u64).to_be_bytes());
            bytes.extend(s.as_bytes());
        };
        text(&mut bytes, "ledgerdesk.audit.v1");
        text(&mut bytes, GENESIS);
        text(&mut bytes, e.org_id);
        bytes.extend(7i64.to_be_bytes());
        for s in [
            e.at,
            e.actor,
            e.action,
            e.object_type,
            e.object_id,
            e.before,
            e.after,
        ] {
            text(&mut bytes, s);
        }
        assert_eq!(entry_hash(GENESIS, &e), hex::encode(Sha256::digest(&bytes)));
    }
}
