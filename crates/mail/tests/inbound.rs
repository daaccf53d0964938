//! Inbound parsing against real MIME fixtures (tests/mime/*.eml).

use mail::inbound::{
    html_to_text, parse, strip_quoted, Address, Automatic, Inbound, InboundError, Limits,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/mime/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parsed(name: &str) -> Inbound {
    parse(&fixture(name), &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn addr(email: &str, name: Option<&str>) -> Address {
    Address {
        email: email.into(),
        name: name.map(Into::into),
    }
}

#[test]
fn multipart_alternative_gives_text_html_and_addresses() {
    let m = parsed("alternative.eml");
    assert_eq!(m.message_id.as_deref(), Some("CAF7x2b9Q@mail.example.com"));
    assert_eq!(
        m.from,
        Some(addr("anna.schmidt@example.com", Some("Anna Schmidt")))
    );
    assert_eq!(
        m.reply_to,
        Some(addr("ap@example.com", Some("Accounts Payable")))
    );
    assert_eq!(
        m.to,
        vec![
            addr("support@ledgerdesk.test", Some("Ledgerdesk Support")),
            addr("billing@ledgerdesk.test", None),
        ]
    );
    assert_eq!(m.subject, "Question about invoice INV-2025-0042");
    assert_eq!(
        m.date.map(|d| d.to_rfc3339()),
        Some("2025-03-11T09:13:58+00:00".to_string())
    );
    assert!(m
        .text
        .starts_with("Hello,\n\nour invoice INV-2025-0042 shows the Pro plan"));
    assert!(!m.text.contains('<'), "{}", m.text);
    let html = m.html.as_deref().expect("html part");
    assert!(html.contains("<b>Pro plan</b>"), "{html}");
    assert_eq!(m.reply_text, m.text.trim());
    assert!(m.in_reply_to.is_empty() && m.references.is_empty());
    assert!(m.attachments.is_empty() && m.skipped.is_empty());
    assert_eq!(m.automatic, None);
    assert!(!m.forwarded);
}

#[test]
fn html_only_is_converted_to_text_with_line_breaks() {
    let m = parsed("html_only.eml");
    assert_eq!(m.subject, "Card declined, account suspended?");
    assert_eq!(
        m.text,
        "Hi team,\n\n\
         My card was declined & now the account says \"suspended\".\n\
         I updated the card yesterday \u{2014} what should I do?\n\n\
         Account: ACME\u{2019}s Workshop\n\
         Plan: Team <annual>\n\n\
         Best,\n\
         Carlos"
    );
    assert!(m.html.as_deref().unwrap().contains("<script>"));
}

#[test]
fn quoted_printable_body_is_decoded() {
    let m = parsed("quoted_printable.eml");
    assert_eq!(m.subject, "Invoice total \u{2014} wrong amount");
    assert_eq!(m.from, Some(addr("jose@example.net", Some("José Müller"))));
    assert!(
        m.text.contains(
            "1\u{a0}250,00\u{a0}€ — but our contract says 1\u{a0}150,00\u{a0}€. This is a deliberately long line so that the quoted-printable encoder has to insert a soft line break somewhere in the middle of it."
        ),
        "{}",
        m.text
    );
    assert!(m.text.ends_with("Regards,\nJosé Müller\n"), "{:?}", m.text);
    assert_eq!(m.html, None);
}

#[test]
fn base64_body_is_decoded() {
    let m = parsed("base64_body.eml");
    assert_eq!(
        m.text,
        "Good morning,\n\nplease cancel our subscription at the end of the current period.\nCustomer number: cus_8812\n\nKind regards,\nMaria Rossi\n"
    );
}

#[test]
fn cyrillic_utf8_subject_body_and_russian_quote() {
    let m = parsed("cyrillic_utf8.eml");
    assert_eq!(m.subject, "Re: Задолженность по счёту [#T-1234]");
    assert_eq!(
        m.from,
        Some(addr("ivan.petrov@example.ru", Some("Иван Петров")))
    );
    assert_eq!(m.to[0].name.as_deref(), Some("Служба поддержки"));
    assert!(m.text.contains("Счёт оплатили вчера"), "{}", m.text);
    assert!(m.text.contains("> По счёту INV-2025-0077"), "{}", m.text);
    assert_eq!(
        m.reply_text,
        "Здравствуйте!\n\nСчёт оплатили вчера, платёжное поручение во вложении не нужно?\n\
         Проверьте, пожалуйста, ещё раз.\n\nС уважением,\nИван Петров"
    );
    assert_eq!(m.in_reply_to, vec!["msg_tkt_ru1@ledgerdesk.test"]);
}

#[test]
fn koi8r_subject_name_and_body_are_decoded() {
    let raw = fixture("koi8r.eml");
    // The fixture really is KOI8-R: "Д" is 0xE4 there, and no UTF-8 Cyrillic is present.
    assert!(raw.windows(2).any(|w| w == [0xE4, 0xCF]));
    assert!(std::str::from_utf8(&raw).is_err());
    let m = parse(&raw, &Limits::default()).unwrap();
    assert_eq!(m.subject, "Счёт за апрель");
    assert_eq!(
        m.from,
        Some(addr("olga@example.su", Some("Ольга Смирнова")))
    );
    assert_eq!(
        m.text,
        "Добрый день!\n\nПрошу выставить счёт на оплату тарифа \"Команда\" за апрель.\nИНН 7701234567.\n\nСпасибо,\nОльга\n"
    );
}

#[test]
fn forwarded_message_is_flagged_and_kept_as_eml() {
    let m = parsed("forwarded.eml");
    assert!(m.forwarded);
    assert!(m.text.starts_with("Our finance team got this reminder"));
    assert!(!m.text.contains("11 days overdue"), "{}", m.text);
    assert_eq!(m.attachments.len(), 1, "{:?}", m.attachments);
    let eml = &m.attachments[0];
    assert_eq!(eml.content_type, "message/rfc822");
    assert_eq!(eml.filename, "Payment reminder for INV-2025-0042.eml");
    let inner = String::from_utf8(eml.bytes.clone()).unwrap();
    assert!(
        inner.starts_with("Message-ID: <ntf_881@ledgerdesk>"),
        "{inner}"
    );
    assert!(inner.contains("11 days overdue"), "{inner}");
    assert!(!inner.contains("fwd-outer-7781"), "{inner}");
    // The nested message parses on its own.
    let nested = parse(&eml.bytes, &Limits::default()).unwrap();
    assert_eq!(nested.message_id.as_deref(), Some("ntf_881@ledgerdesk"));
}

#[test]
fn forward_by_subject_alone() {
    for subject in ["Fwd: x", "FW: x", "Пересл: x", "  fwd:x"] {
        let raw = format!("From: a@b.c\r\nSubject: {subject}\r\n\r\nbody\r\n");
        assert!(parse(raw.as_bytes(), &Limits::default()).unwrap().forwarded);
    }
    let raw = "From: a@b.c\r\nSubject: Forward planning\r\n\r\nbody\r\n";
    assert!(!parse(raw.as_bytes(), &Limits::default()).unwrap().forwarded);
}

#[test]
fn attachments_are_decoded_and_inline_images_count() {
    let m = parsed("attachments.eml");
    let names: Vec<&str> = m.attachments.iter().map(|a| a.filename.as_str()).collect();
    assert_eq!(
        names,
        vec!["logo.png", "remittance-advice.pdf", "statement-march.zip"]
    );
    let pdf = &m.attachments[1];
    assert_eq!(pdf.content_type, "application/pdf");
    assert!(pdf.bytes.starts_with(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"));
    assert!(pdf.bytes.ends_with(b"%%EOF\n"));
    assert_eq!(m.attachments[0].content_type, "image/png");
    assert!(m.attachments[0].bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(m.attachments[2].bytes.len(), 6000);
    assert_eq!(m.text, "Please find the remittance advice attached.");
    assert!(m.skipped.is_empty());
}

#[test]
fn oversize_attachment_is_skipped_not_an_error() {
    let limits = Limits {
        max_attachment_bytes: 5000,
        ..Limits::default()
    };
    let m = parse(&fixture("attachments.eml"), &limits).unwrap();
    let names: Vec<&str> = m.attachments.iter().map(|a| a.filename.as_str()).collect();
    assert_eq!(names, vec!["logo.png", "remittance-advice.pdf"]);
    assert_eq!(m.skipped.len(), 1);
    assert_eq!(m.skipped[0].filename, "statement-march.zip");
    assert_eq!(m.skipped[0].size, 6000);
    assert!(
        m.skipped[0].reason.contains("5000"),
        "{}",
        m.skipped[0].reason
    );
}

#[test]
fn attachments_beyond_the_count_are_skipped() {
    let limits = Limits {
        max_attachments: 1,
        ..Limits::default()
    };
    let m = parse(&fixture("attachments.eml"), &limits).unwrap();
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].filename, "logo.png");
    let skipped: Vec<&str> = m.skipped.iter().map(|s| s.filename.as_str()).collect();
    assert_eq!(
        skipped,
        vec!["remittance-advice.pdf", "statement-march.zip"]
    );
    assert!(m.skipped[0].reason.contains("1 attachments"));
}

#[test]
fn auto_reply_is_automatic() {
    let m = parsed("auto_reply.eml");
    assert_eq!(
        m.automatic,
        Some(Automatic::AutoSubmitted("auto-replied".into()))
    );
}

#[test]
fn precedence_bulk_is_automatic() {
    let m = parsed("bulk.eml");
    assert_eq!(m.automatic, Some(Automatic::Precedence("bulk".into())));
}

#[test]
fn bounce_is_mailer_daemon_even_with_auto_submitted_no() {
    let m = parsed("bounce.eml");
    assert_eq!(m.automatic, Some(Automatic::MailerDaemon));
    assert_eq!(
        m.from.as_ref().map(|a| a.email.as_str()),
        Some("mailer-daemon@mx.ledgerdesk.test")
    );
}

#[test]
fn each_automatic_rule_on_its_own() {
    let cases: &[(&str, Option<Automatic>)] = &[
        ("Auto-Submitted: no\r\n", None),
        (
            "Auto-Submitted: auto-generated\r\n",
            Some(Automatic::AutoSubmitted("auto-generated".into())),
        ),
        (
            "Precedence: junk\r\n",
            Some(Automatic::Precedence("junk".into())),
        ),
        (
            "Precedence: list\r\n",
            Some(Automatic::Precedence("list".into())),
        ),
        (
            "Precedence: auto_reply\r\n",
            Some(Automatic::Precedence("auto_reply".into())),
        ),
        ("Precedence: first-class\r\n", None),
        (
            "X-Auto-Response-Suppress: OOF, AutoReply\r\n",
            Some(Automatic::AutoResponseSuppress),
        ),
        ("Return-Path: <>\r\n", Some(Automatic::MailerDaemon)),
        ("Return-Path: <anna@example.com>\r\n", None),
        (
            "List-Id: Customers <customers.lists.example.com>\r\n",
            Some(Automatic::ListMail),
        ),
        (
            "List-Unsubscribe: <mailto:leave@lists.example.com>\r\n",
            Some(Automatic::ListMail),
        ),
        ("", None),
    ];
    for (header, want) in cases {
        let raw = format!(
            "{header}From: Anna <anna@example.com>\r\nTo: support@ledgerdesk.test\r\nSubject: Hi\r\n\r\nHello\r\n"
        );
        let got = parse(raw.as_bytes(), &Limits::default()).unwrap().automatic;
        assert_eq!(&got, want, "{header:?}");
    }
    for from in ["MAILER-DAEMON@mx.example.com", "postmaster@example.com"] {
        let raw = format!("From: {from}\r\nSubject: Hi\r\n\r\nHello\r\n");
        let got = parse(raw.as_bytes(), &Limits::default()).unwrap().automatic;
        assert_eq!(got, Some(Automatic::MailerDaemon), "{from}");
    }
}

#[test]
fn reply_threads_and_cuts_quoted_history() {
    let m = parsed("reply.eml");
    assert_eq!(
        m.message_id.as_deref(),
        Some("CAH+reply-2@mail.example.com")
    );
    assert_eq!(m.in_reply_to, vec!["msg_tkt_1234_2@ledgerdesk.test"]);
    assert_eq!(
        m.references,
        vec![
            "CAF7x2b9Q@mail.example.com",
            "msg_tkt_1234_2@ledgerdesk.test"
        ]
    );
    assert!(m.text.contains("> we removed the duplicate line"));
    assert_eq!(
        m.reply_text,
        "Thank you, the corrected invoice looks right.\nWe will pay it this week.\n\nAnna"
    );
    assert_eq!(m.automatic, None);
}

#[test]
fn missing_from_is_no_sender() {
    assert_eq!(
        parse(&fixture("no_from.eml"), &Limits::default()),
        Err(InboundError::NoSender)
    );
}

#[test]
fn too_large_is_refused_before_parsing() {
    let raw = fixture("alternative.eml");
    let limits = Limits {
        max_message_bytes: 1000,
        ..Limits::default()
    };
    assert_eq!(
        parse(&raw, &limits),
        Err(InboundError::TooLarge {
            size: raw.len(),
            max: 1000
        })
    );
    // Exactly at the limit is fine.
    let limits = Limits {
        max_message_bytes: raw.len(),
        ..Limits::default()
    };
    assert!(parse(&raw, &limits).is_ok());
}

#[test]
fn garbage_is_unparseable_or_senderless_never_a_panic() {
    assert!(matches!(
        parse(b"", &Limits::default()),
        Err(InboundError::Unparseable(_))
    ));
    assert!(parse(b"\x00\xff\xfe not mail at all", &Limits::default()).is_err());
}

#[test]
fn default_limits() {
    let l = Limits::default();
    assert_eq!(l.max_message_bytes, 25 * 1024 * 1024);
    assert_eq!(l.max_attachment_bytes, 10 * 1024 * 1024);
    assert_eq!(l.max_attachments, 20);
}

#[test]
fn strip_quoted_markers() {
    let outlook = "Please see my answers.\r\n\r\n-----Original Message-----\r\nFrom: Support\r\nSent: Monday\r\n\r\nOld text\r\n";
    assert_eq!(strip_quoted(outlook), "Please see my answers.");

    let outlook_rule = "Paid today.\n\n________________________________\nFrom: Ledgerdesk <support@ledgerdesk.test>\nSent: 14 March 2025 17:02\nTo: Anna\nSubject: Invoice\n\nOld text\n";
    assert_eq!(strip_quoted(outlook_rule), "Paid today.");

    let outlook_ru = "Оплатили.\n\nОт: Ledgerdesk <support@ledgerdesk.test>\nОтправлено: 14 марта 2025 г. 17:02\nКому: Иван\n\nСтарый текст\n";
    assert_eq!(strip_quoted(outlook_ru), "Оплатили.");

    let ru_original = "Спасибо!\n-----Исходное сообщение-----\nОт: support\n";
    assert_eq!(strip_quoted(ru_original), "Спасибо!");

    let napisal =
        "Да, всё верно.\n\nВт, 11 мар. 2025 г. Иван Петров написал(а):\n> Проверьте счёт\n";
    assert_eq!(strip_quoted(napisal), "Да, всё верно.");

    let gmail_ru = "Получили, спасибо.\n\nпт, 14 мар. 2025 г. в 17:02, Ledgerdesk <support@ledgerdesk.test>:\n\n> Здравствуйте!\n";
    assert_eq!(strip_quoted(gmail_ru), "Получили, спасибо.");

    let on_wrote = "Yes.\nOn Mon, Mar 17, 2025 at 9:00 AM Support <s@x.test> wrote:\n> old\n";
    assert_eq!(strip_quoted(on_wrote), "Yes.");

    let trailing_quotes = "Sounds good.\n\n> earlier\n> text\n>\n";
    assert_eq!(strip_quoted(trailing_quotes), "Sounds good.");

    // Inline answers keep the quotes in between.
    let inline = "> Did you pay?\nYes, on Monday.\n> Which card?\nThe Visa.\n";
    assert_eq!(
        strip_quoted(inline),
        "> Did you pay?\nYes, on Monday.\n> Which card?\nThe Visa."
    );

    // Nothing but quotes: fall back to the text.
    let only_quote = "> old\n> text\n";
    assert_eq!(strip_quoted(only_quote), "> old\n> text");

    // Text that merely mentions writing is not cut.
    let plain = "On Monday we wrote to you.\nNothing changed since.\n";
    assert_eq!(
        strip_quoted(plain),
        "On Monday we wrote to you.\nNothing changed since."
    );
    assert_eq!(strip_quoted(""), "");
}

#[test]
fn html_to_text_rules() {
    assert_eq!(
        html_to_text("<p>One</p><p>Two<br>Three</p><ul><li>a</li><li>b</li></ul>"),
        "One\n\nTwo\nThree\n\na\nb"
    );
    assert_eq!(
        html_to_text("a &lt; b &amp;&amp; c &#62; d &#x41; &unknown; & e"),
        "a < b && c > d A &unknown; & e"
    );
    assert_eq!(html_to_text("x < y and <b>bold</b>"), "x < y and bold");
    assert_eq!(
        html_to_text("<html><head><title>T</title><style>p{}</style></head><body><!-- c --><div>Hi</div><script>x()</script></body></html>"),
        "Hi"
    );
    assert_eq!(
        html_to_text("<table><tr><td>Total</td><td>49.00</td></tr></table>"),
        "Total 49.00"
    );
    assert_eq!(html_to_text("  spaced\n\n   out  "), "spaced out");
    // Gmail writes one <div> per line and <div><br></div> for a blank one.
    assert_eq!(
        html_to_text("<div>Hello,</div><div><br></div><div>our invoice</div><div>Anna</div>"),
        "Hello,\n\nour invoice\nAnna"
    );
}

/// Not a benchmark, a tripwire: parsing a typical message must be far below the 50 µs
/// budget (measured with an unoptimised build, where it is several times slower).
#[test]
fn parsing_is_fast() {
    let raw = fixture("reply.eml");
    let mut raw_big = raw.clone();
    // Make it about 3 KB, a typical size.
    let quoted = "> we removed the duplicate line and issued credit note CN-2025-0007.\r\n";
    while raw_big.len() < 3000 {
        raw_big.extend_from_slice(quoted.as_bytes());
    }
    let limits = Limits::default();
    let n = 2000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(parse(std::hint::black_box(&raw_big), &limits).unwrap());
    }
    let per = start.elapsed() / n;
    eprintln!("parse: {per:?} per {} byte message", raw_big.len());
    assert!(per < std::time::Duration::from_micros(500), "{per:?}");
}

/// Cut-off and corrupted input (every fixture truncated at many points, and with bytes
/// flipped) yields a result or an error, never a panic.
#[test]
fn truncated_and_corrupted_input_never_panics() {
    let dir = format!("{}/tests/mime", env!("CARGO_MANIFEST_DIR"));
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let raw = std::fs::read(entry.unwrap().path()).unwrap();
        files += 1;
        for cut in (0..raw.len()).step_by(13) {
            let _ = parse(&raw[..cut], &Limits::default());
        }
        let mut flipped = raw.clone();
        for i in (0..flipped.len()).step_by(29) {
            flipped[i] ^= 0xA5;
        }
        let _ = parse(&flipped, &Limits::default());
    }
    assert!(files >= 13, "{files} fixtures");
}
