//! Fuzzing the inbound parser with proptest: whatever bytes arrive — random, or a real
//! message with bytes flipped, cut, or spliced in — `parse` returns a value or an error and
//! never panics, and what it returns keeps its promises (lowercased sender, attachments
//! within the limits). `PROPTEST_CASES` raises the case count for a longer run.

use mail::inbound::{parse, Limits};
use proptest::prelude::*;

fn fixtures() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mime");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("fixtures")
        .map(|e| std::fs::read(e.expect("entry").path()).expect("read fixture"))
        .collect();
    out.sort();
    out
}

fn small_limits() -> Limits {
    Limits {
        max_message_bytes: 64 * 1024,
        max_attachment_bytes: 512,
        max_attachments: 2,
    }
}

fn check(raw: &[u8]) {
    let limits = small_limits();
    if let Ok(m) = parse(raw, &limits) {
        if let Some(f) = &m.from {
            assert_eq!(f.email, f.email.to_lowercase());
        }
        assert!(m.attachments.len() <= limits.max_attachments);
        assert!(m
            .attachments
            .iter()
            .all(|a| a.bytes.len() <= limits.max_attachment_bytes));
        assert!(!m.text.is_empty() || m.reply_text.is_empty());
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Cut(usize),
    Splice(usize, Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        any::<usize>().prop_map(Edit::Cut),
        (
            any::<usize>(),
            prop::sample::select(vec![
                b"\r\n\r\n".to_vec(),
                b"--".to_vec(),
                b"=?UTF-8?B?0J/=?=".to_vec(),
                b"Content-Type: multipart/mixed; boundary=\"x\"\r\n".to_vec(),
                b"=\r\n".to_vec(),
                b"\xff\xfe\x00".to_vec(),
                b"<".to_vec(),
            ])
        )
            .prop_map(|(i, s)| Edit::Splice(i, s)),
    ]
}

proptest! {
    #[test]
    fn random_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..4096)) {
        check(&raw);
    }

    #[test]
    fn mutated_messages_never_panic(which in any::<usize>(), edits in prop::collection::vec(edit(), 1..8)) {
        let all = fixtures();
        let mut raw = all[which % all.len()].clone();
        for e in edits {
            match e {
                Edit::Flip(i, b) if !raw.is_empty() => { let n = raw.len(); raw[i % n] = b; }
                Edit::Cut(i) if !raw.is_empty() => { let n = raw.len(); raw.truncate(i % n); }
                Edit::Splice(i, s) => { let n = raw.len() + 1; raw.splice(i % n..i % n, s); }
                _ => {}
            }
        }
        check(&raw);
    }
}
