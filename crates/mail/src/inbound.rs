//! Inbound email: one raw RFC 5322 message in, the facts the desk needs out — who wrote,
//! what they wrote (without the quoted history), how it threads, what they attached, and
//! whether it is mail that must never get an automatic answer.
//!
//! MIME decoding (transfer encodings, RFC 2047 words, charsets such as UTF-8, KOI8-R and
//! windows-1251) is mail-parser's; what this module adds is the desk's reading of it:
//!
//! - **Size**: a message over [`Limits::max_message_bytes`] is refused as
//!   [`InboundError::TooLarge`] before it is parsed.
//! - **Sender**: a message without a usable `From` address is [`InboundError::NoSender`];
//!   addresses are trimmed and lowercased.
//! - **Automatic mail** ([`Automatic`]), checked in this order, first match wins:
//!   `Auto-Submitted` with any value other than `no` (RFC 3834), also the de-facto
//!   `X-Autoreply` / `X-Autorespond` headers (reported as `AutoSubmitted`);
//!   `Precedence: bulk | junk | list | auto_reply`;
//!   `X-Auto-Response-Suppress` present (Microsoft's marker);
//!   `From` MAILER-DAEMON or postmaster, an empty `Return-Path: <>`, or a
//!   `multipart/report; report-type=delivery-status` (a bounce) → `MailerDaemon`;
//!   `List-Id` or `List-Unsubscribe` present → `ListMail`.
//! - **Attachments**: every part that is not the message body, inline images and
//!   forwarded messages (`message/rfc822`, kept as `.eml`) included. A part over
//!   [`Limits::max_attachment_bytes`], or beyond [`Limits::max_attachments`], is not kept
//!   but recorded in [`Inbound::skipped`]; that is never an error.
//! - **Text**: the `text/plain` body parts; when there are none, the HTML converted to
//!   text ([`html_to_text`]). [`Inbound::reply_text`] is that text without the quoted
//!   history ([`strip_quoted`]).
//! - **Forwarded**: the subject starts with `Fwd:`, `Fw:` or `Пересл:`, or the message
//!   carries a `message/rfc822` part.
//!
//! Speed: no regular expressions; the whole module is byte and line scanning on top of
//! one mail-parser pass, a few microseconds for a typical message.

use chrono::{DateTime, Utc};
use mail_parser::{
    Encoding, Header, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

/// Size limits for one inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The whole raw message; larger is [`InboundError::TooLarge`]. Default 25 MiB.
    pub max_message_bytes: usize,
    /// One decoded attachment; larger is skipped. Default 10 MiB.
    pub max_attachment_bytes: usize,
    /// Attachments kept per message; the rest are skipped. Default 20.
    pub max_attachments: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 25 * 1024 * 1024,
            max_attachment_bytes: 10 * 1024 * 1024,
            max_attachments: 20,
        }
    }
}

/// One mailbox from an address header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Trimmed and lowercased.
    pub email: String,
    /// The display name, decoded; `None` when absent or blank.
    pub name: Option<String>,
}

/// A kept attachment, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// From `Content-Disposition: filename` or `Content-Type: name`; otherwise made up
    /// (`attachment-N`, or the forwarded message's subject with `.eml`).
    pub filename: String,
    /// Lowercase `type/subtype`, without parameters.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// An attachment that was not kept, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub filename: String,
    /// Decoded size in bytes.
    pub size: usize,
    pub reason: String,
}

/// Why a message must never get an automatic answer (acknowledgement, auto-reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Automatic {
    /// `Auto-Submitted` (RFC 3834) other than `no`, with its value (lowercased); also
    /// `X-Autoreply` / `X-Autorespond`, reported as `x-autoreply: <value>`.
    AutoSubmitted(String),
    /// `Precedence: bulk | junk | list | auto_reply`, with the value (lowercased).
    Precedence(String),
    /// `X-Auto-Response-Suppress` is present.
    AutoResponseSuppress,
    /// A bounce: from MAILER-DAEMON or postmaster, an empty `Return-Path: <>`, or a
    /// delivery-status report.
    MailerDaemon,
    /// Mailing-list mail: `List-Id` or `List-Unsubscribe` is present.
    ListMail,
}

/// One parsed inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// `Message-ID` without angle brackets.
    pub message_id: Option<String>,
    /// `In-Reply-To` ids without angle brackets.
    pub in_reply_to: Vec<String>,
    /// `References` ids without angle brackets, oldest first as sent.
    pub references: Vec<String>,
    pub from: Option<Address>,
    pub reply_to: Option<Address>,
    pub to: Vec<Address>,
    /// Decoded (RFC 2047) and trimmed; `""` when there is none.
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    /// The plain-text body: the `text/plain` part(s), or the HTML converted to text when
    /// the message has only HTML. Lines end in `\n` (CRLF is normalised).
    pub text: String,
    /// The HTML body when the message has one.
    pub html: Option<String>,
    /// `text` without the quoted history; never empty when `text` is not.
    pub reply_text: String,
    pub attachments: Vec<Attachment>,
    pub skipped: Vec<Skipped>,
    /// Set when this message must never get an automatic answer.
    pub automatic: Option<Automatic>,
    /// The subject starts with `Fwd:` / `Fw:` / `Пересл:`, or a `message/rfc822` part is
    /// attached.
    pub forwarded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("the message is {size} bytes, over the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("the message cannot be parsed: {0}")]
    Unparseable(String),
    #[error("the message has no sender (no From address)")]
    NoSender,
}

/// Parses one raw RFC 5322 message. See the module documentation for the rules.
pub fn parse(raw: &[u8], limits: &Limits) -> Result<Inbound, InboundError> {
    if raw.len() > limits.max_message_bytes {
        return Err(InboundError::TooLarge {
            size: raw.len(),
            max: limits.max_message_bytes,
        });
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(InboundError::Unparseable("the message is empty".into()));
    }
    let message = MessageParser::new()
        .parse(raw)
        .ok_or_else(|| InboundError::Unparseable("no header fields found".into()))?;
    if message.parts.is_empty() {
        return Err(InboundError::Unparseable("no header fields found".into()));
    }
    let headers = &message.root_part().headers;

    let from = message
        .from()
        .and_then(|a| a.iter().find_map(address))
        .ok_or(InboundError::NoSender)?;
    let reply_to = message.reply_to().and_then(|a| a.iter().find_map(address));
    let to = message
        .to()
        .map(|a| a.iter().filter_map(address).collect())
        .unwrap_or_default();

    let subject = message.subject().unwrap_or("").trim().to_string();
    let date = message
        .date()
        .filter(|d| d.is_valid())
        .and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0));

    let message_id = message.message_id().and_then(clean_id);
    let in_reply_to = ids(message.in_reply_to());
    let references = ids(message.references());

    let (text, html) = bodies(&message);
    let reply_text = strip_quoted(&text);

    let (attachments, skipped, has_rfc822) = attachments(&message, raw, limits);
    let forwarded = has_rfc822 || is_forward_subject(&subject);
    let automatic = automatic(&message, headers, raw, &from);

    Ok(Inbound {
        message_id,
        in_reply_to,
        references,
        from: Some(from),
        reply_to,
        to,
        subject,
        date,
        text,
        html,
        reply_text,
        attachments,
        skipped,
        automatic,
        forwarded,
    })
}

fn address(a: &mail_parser::Addr<'_>) -> Option<Address> {
    let email = a.address.as_deref()?.trim();
    if email.is_empty() {
        return None;
    }
    let name = a
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    Some(Address {
        email: email.to_lowercase(),
        name,
    })
}

/// A message id without whitespace or angle brackets; `None` when nothing is left.
fn clean_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty()).then(|| id.to_string())
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => clean_id(id).into_iter().collect(),
        HeaderValue::TextList(list) => list.iter().filter_map(|id| clean_id(id)).collect(),
        _ => Vec::new(),
    }
}

/// The raw (unparsed, unfolded only by trimming) value of the first header named `name`.
fn raw_header<'a>(headers: &[Header<'_>], raw: &'a [u8], name: &str) -> Option<&'a str> {
    let h = headers
        .iter()
        .find(|h| h.name.as_str().eq_ignore_ascii_case(name))?;
    let bytes = raw.get(h.offset_start as usize..h.offset_end as usize)?;
    Some(std::str::from_utf8(bytes).unwrap_or("").trim())
}

fn has_header(headers: &[Header<'_>], name: &str) -> bool {
    headers
        .iter()
        .any(|h| h.name.as_str().eq_ignore_ascii_case(name))
}

fn automatic(
    message: &Message<'_>,
    headers: &[Header<'_>],
    raw: &[u8],
    from: &Address,
) -> Option<Automatic> {
    if let Some(v) = raw_header(headers, raw, "Auto-Submitted") {
        let v = v.to_ascii_lowercase();
        // The value is a keyword, optionally followed by parameters: `auto-replied; x=y`.
        if v.split(';').next().unwrap_or("").trim() != "no" {
            return Some(Automatic::AutoSubmitted(v));
        }
    }
    for name in ["X-Autoreply", "X-Autorespond"] {
        if let Some(v) = raw_header(headers, raw, name) {
            return Some(Automatic::AutoSubmitted(format!(
                "{}: {}",
                name.to_ascii_lowercase(),
                v.to_ascii_lowercase()
            )));
        }
    }
    if let Some(v) = raw_header(headers, raw, "Precedence") {
        let v = v.to_ascii_lowercase();
        if matches!(
            v.as_str(),
            "bulk" | "junk" | "list" | "auto_reply" | "auto-reply"
        ) {
            return Some(Automatic::Precedence(v));
        }
    }
    if has_header(headers, "X-Auto-Response-Suppress") {
        return Some(Automatic::AutoResponseSuppress);
    }
    let local = from.email.split('@').next().unwrap_or("");
    let empty_return_path = raw_header(headers, raw, "Return-Path")
        .is_some_and(|v| v.bytes().filter(|b| !b.is_ascii_whitespace()).eq(*b"<>"));
    let bounce_report = message.content_type().is_some_and(|ct| {
        ct.c_type.eq_ignore_ascii_case("multipart")
            && ct
                .c_subtype
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    });
    if local == "mailer-daemon" || local == "postmaster" || empty_return_path || bounce_report {
        return Some(Automatic::MailerDaemon);
    }
    if has_header(headers, "List-Id") || has_header(headers, "List-Unsubscribe") {
        return Some(Automatic::ListMail);
    }
    None
}

fn is_forward_subject(subject: &str) -> bool {
    let head: String = subject
        .trim_start()
        .chars()
        .take(7)
        .flat_map(char::to_lowercase)
        .collect();
    ["fwd:", "fw:", "пересл:"]
        .iter()
        .any(|p| head.starts_with(p))
}

/// The plain text and the HTML of the message body.
fn bodies(message: &Message<'_>) -> (String, Option<String>) {
    let mut text = String::new();
    let mut has_plain = false;
    for part in message
        .text_body
        .iter()
        .filter_map(|&i| message.parts.get(i as usize))
    {
        if let PartType::Text(t) = &part.body {
            push_part(&mut text, t);
            has_plain = true;
        }
    }
    let mut html: Option<String> = None;
    for part in message
        .html_body
        .iter()
        .filter_map(|&i| message.parts.get(i as usize))
    {
        if let PartType::Html(h) = &part.body {
            push_part(html.get_or_insert_with(String::new), h);
        }
    }
    if !has_plain {
        if let Some(h) = &html {
            text = html_to_text(h);
        }
    }
    if text.contains('\r') {
        text = text.replace("\r\n", "\n");
    }
    (text, html)
}

fn push_part(out: &mut String, part: &str) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(part);
}

/// Kept attachments, skipped ones, and whether a `message/rfc822` part was among them.
fn attachments(
    message: &Message<'_>,
    raw: &[u8],
    limits: &Limits,
) -> (Vec<Attachment>, Vec<Skipped>, bool) {
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    let mut has_rfc822 = false;
    for (n, part) in message
        .attachments
        .iter()
        .filter_map(|&i| message.parts.get(i as usize))
        .enumerate()
    {
        let nested = match &part.body {
            PartType::Message(m) => Some(m),
            _ => None,
        };
        has_rfc822 |= nested.is_some() || part.is_content_type("message", "rfc822");
        let bytes: &[u8] = match nested {
            // An unencoded nested message shares the outer raw bytes (mail-parser keeps
            // offsets into them); an encoded one carries its own decoded bytes.
            Some(_) if part.encoding == Encoding::None => raw
                .get(part.offset_body as usize..part.offset_end as usize)
                .unwrap_or_default(),
            _ => part.contents(),
        };
        let filename = part
            .attachment_name()
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .or_else(|| {
                nested
                    .and_then(|m| m.subject())
                    .map(|s| format!("{}.eml", s.trim()))
            })
            .unwrap_or_else(|| {
                if nested.is_some() {
                    "forwarded-message.eml".to_string()
                } else {
                    format!("attachment-{}", n + 1)
                }
            });
        if bytes.len() > limits.max_attachment_bytes {
            skipped.push(Skipped {
                filename,
                size: bytes.len(),
                reason: format!(
                    "{} bytes is over the limit of {} bytes per attachment",
                    bytes.len(),
                    limits.max_attachment_bytes
                ),
            });
        } else if kept.len() >= limits.max_attachments {
            skipped.push(Skipped {
                filename,
                size: bytes.len(),
                reason: format!(
                    "over the limit of {} attachments per message",
                    limits.max_attachments
                ),
            });
        } else {
            kept.push(Attachment {
                filename,
                content_type: content_type(part),
                bytes: bytes.to_vec(),
            });
        }
    }
    (kept, skipped, has_rfc822)
}

fn content_type(part: &MessagePart<'_>) -> String {
    if let Some(ct) = part.content_type() {
        let mut s = ct.c_type.to_ascii_lowercase();
        if let Some(sub) = &ct.c_subtype {
            s.push('/');
            s.push_str(&sub.to_ascii_lowercase());
        }
        if s.contains('/') {
            return s;
        }
    }
    match part.body {
        PartType::Text(_) => "text/plain",
        PartType::Html(_) => "text/html",
        PartType::Message(_) => "message/rfc822",
        _ => "application/octet-stream",
    }
    .to_string()
}

/// Plain text from HTML: tags stripped, `<head>`, `<style>`, `<script>`, `<template>`
/// and comments dropped, entities decoded, runs of white space collapsed; a line break
/// for `<br>` and around `<div>`, `<li>`, `<tr>` and other line-level blocks, a blank
/// line around paragraphs (`<p>`, headings, lists, tables, `<blockquote>`); table cells
/// separated by a space. Never more than one blank line in a row.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    // While inside an element whose content is not text, the name of its closing tag.
    let mut skip_until: Option<&'static str> = None;
    let mut pending_space = false;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if skip_until.is_none() {
                push_text(&mut out, rest, &mut pending_space);
            }
            break;
        };
        if skip_until.is_none() {
            push_text(&mut out, &rest[..lt], &mut pending_space);
        }
        rest = &rest[lt..];
        let opens_tag = rest[1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        if !opens_tag {
            // A `<` that opens no tag (`a < b`): text.
            if skip_until.is_none() {
                push_text(&mut out, "<", &mut pending_space);
            }
            rest = &rest[1..];
            continue;
        }
        if rest.starts_with("<!--") {
            rest = match rest.find("-->") {
                Some(end) => &rest[end + 3..],
                None => "",
            };
            continue;
        }
        let Some(gt) = rest.find('>') else {
            // An unterminated tag: keep it as text.
            if skip_until.is_none() {
                push_text(&mut out, rest, &mut pending_space);
            }
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let name_part = tag.trim_start_matches('/');
        let name_end = name_part
            .find(|c: char| c.is_ascii_whitespace() || c == '/')
            .unwrap_or(name_part.len());
        let name = name_part[..name_end].to_ascii_lowercase();
        if let Some(until) = skip_until {
            if closing && name == until {
                skip_until = None;
            }
            continue;
        }
        match name.as_str() {
            "head" | "style" | "script" | "template" | "title" if !closing => {
                skip_until = Some(match name.as_str() {
                    "head" => "head",
                    "style" => "style",
                    "script" => "script",
                    "template" => "template",
                    _ => "title",
                });
            }
            "br" => {
                out.push('\n');
                pending_space = false;
            }
            "p" | "ul" | "ol" | "table" | "blockquote" | "h1" | "h2" | "h3" | "h4" | "h5"
            | "h6" | "pre" | "hr" => {
                line_break(&mut out, true);
                pending_space = false;
            }
            "div" | "li" | "tr" | "dd" | "dt" | "section" | "article" | "header" | "footer" => {
                line_break(&mut out, false);
                pending_space = false;
            }
            "td" | "th" if closing => pending_space = true,
            _ => {}
        }
    }
    let trimmed_end = out.trim_end().len();
    out.truncate(trimmed_end);
    let start = out.len() - out.trim_start().len();
    out.drain(..start);
    out
}

/// Ends the current line unless at the start of one; with `blank`, also leaves one blank
/// line (a paragraph break). Never more than one blank line in a row.
fn line_break(out: &mut String, blank: bool) {
    while out.ends_with(' ') {
        out.pop();
    }
    if out.is_empty() {
        return;
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    if blank && !out.ends_with("\n\n") {
        out.push('\n');
    }
}

/// Appends HTML character data: white space collapsed, entities decoded.
fn push_text(out: &mut String, text: &str, pending_space: &mut bool) {
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_whitespace() {
            *pending_space = true;
            continue;
        }
        let decoded = if c == '&' {
            match decode_entity(&text[i..]) {
                Some((ch, len)) => {
                    // Skip the rest of the entity.
                    while chars.peek().is_some_and(|&(j, _)| j < i + len) {
                        chars.next();
                    }
                    ch
                }
                None => '&',
            }
        } else {
            c
        };
        if *pending_space && !out.is_empty() && !out.ends_with('\n') && !out.ends_with(' ') {
            out.push(' ');
        }
        *pending_space = false;
        out.push(decoded);
    }
}

/// Decodes the entity at the start of `s` (`&amp;`, `&#39;`, `&#x2014;`); returns the
/// character and the entity's length in bytes.
fn decode_entity(s: &str) -> Option<(char, usize)> {
    let end = s.get(1..s.len().min(12))?.find(';')? + 1;
    let body = &s[1..end];
    let ch = if let Some(num) = body.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
    } else {
        match body {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            "nbsp" => ' ',
            "laquo" => '«',
            "raquo" => '»',
            "ndash" => '–',
            "mdash" => '—',
            "hellip" => '…',
            "lsquo" => '‘',
            "rsquo" => '’',
            "ldquo" => '“',
            "rdquo" => '”',
            "bdquo" => '„',
            "bull" => '•',
            "middot" => '·',
            "copy" => '©',
            "reg" => '®',
            "trade" => '™',
            "euro" => '€',
            "pound" => '£',
            "deg" => '°',
            "times" => '×',
            "shy" => '\u{ad}',
            "zwnj" => '\u{200c}',
            _ => return None,
        }
    };
    Some((ch, end + 1))
}

/// `text` without the quoted history of earlier messages. Cuts at the first of:
/// an attribution line `On … wrote:` (also wrapped over two lines, and German
/// `Am … schrieb:`), a Russian attribution ending in `пишет:`, `написал:`, `написала:` or
/// `написал(а):`, a line ending in `:` that names an address (`…<a@b>:`, as Gmail and
/// Yandex write in Russian) directly followed by quoted lines, `-----Original Message-----`
/// or `-----Исходное сообщение-----`, an Outlook header block (`From:` / `От:` followed by
/// `Sent:` / `Date:` / `Отправлено:`, with the `____` rule above it); then drops a run of
/// `>`-quoted lines at the end. Never empty when `text` is not: falls back to `text`.
pub fn strip_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate() {
        if is_cut(&lines, i, line.trim()) {
            end = i;
            // Outlook draws a rule above its header block.
            if end > 0 && is_rule(lines[end - 1].trim()) {
                end -= 1;
            }
            break;
        }
    }
    // A run of quoted (or blank) lines at the end.
    while end > 0 {
        let l = lines[end - 1].trim_start();
        if l.is_empty() || l.starts_with('>') {
            end -= 1;
        } else {
            break;
        }
    }
    let reply = lines[..end].join("\n");
    let reply = reply.trim();
    if reply.is_empty() {
        text.trim().to_string()
    } else {
        reply.to_string()
    }
}

fn is_rule(line: &str) -> bool {
    line.len() >= 10 && line.bytes().all(|b| b == b'_' || b == b'-')
}

fn is_cut(lines: &[&str], i: usize, line: &str) -> bool {
    if line.is_empty() || line.starts_with('>') {
        return false;
    }
    let next = || {
        lines[i + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
    };
    // English and German attributions, possibly wrapped onto the next line.
    for (start, end) in [("On ", "wrote:"), ("Am ", "schrieb:")] {
        if line.starts_with(start) {
            if line.ends_with(end) {
                return true;
            }
            if lines
                .get(i + 1)
                .is_some_and(|n| n.trim().ends_with(end) && n.len() < 80)
            {
                return true;
            }
        }
    }
    if line.starts_with('-') && line.ends_with('-') {
        let inner = line.trim_matches('-').trim().to_lowercase();
        if inner == "original message" || inner == "исходное сообщение" {
            return true;
        }
    }
    if line.ends_with(':') && !line.is_ascii() {
        for end in ["пишет:", "написал:", "написала:", "написал(а):"] {
            if line.ends_with(end) {
                return true;
            }
        }
    }
    if (line.ends_with(">:") || line.ends_with(':') && line.contains('@'))
        && next().is_some_and(|n| n.starts_with('>'))
    {
        return true;
    }
    let header_block = |starts: &[&str], follow: &[&str]| {
        starts.iter().any(|s| line.starts_with(s))
            && lines
                .get(i + 1)
                .map(|n| n.trim())
                .is_some_and(|n| follow.iter().any(|f| n.starts_with(f)))
    };
    header_block(
        &["From:", "От:", "От кого:"],
        &["Sent:", "Date:", "Отправлено:", "Дата:"],
    )
}
