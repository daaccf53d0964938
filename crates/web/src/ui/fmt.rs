//! Money and dates as people read them, per page language.
//!
//! The same formatting as the PDFs (`pdf::format_money`, `pdf::format_date`): money
//! English "$1,234.56", "-€5.00", "CHF 1,234.56"; Russian "1 234,56 €" with no-break
//! spaces; dates English "5 Mar 2026", Russian "05.03.2026".

use super::i18n::Lang;
use chrono::{DateTime, NaiveDate, Utc};

fn doc_lang(lang: Lang) -> pdf::Lang {
    match lang {
        Lang::En => pdf::Lang::En,
        Lang::Ru => pdf::Lang::Ru,
    }
}

/// Minor units of `currency` for a reader of `lang` (the documents' one rule; an unknown
/// currency code shows as the bare number and code).
pub fn money(minor: i64, currency: &str, lang: Lang) -> String {
    pdf::format_money(minor, currency, doc_lang(lang))
        .unwrap_or_else(|_| format!("{minor} {currency}"))
}

pub fn date(d: NaiveDate, lang: Lang) -> String {
    pdf::format_date(d, doc_lang(lang))
}

/// A moment as a date and UTC time.
pub fn moment(t: DateTime<Utc>, lang: Lang) -> String {
    format!("{} {} UTC", date(t.date_naive(), lang), t.format("%H:%M"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_naturally() {
        assert_eq!(money(123456, "USD", Lang::En), "$1,234.56");
        assert_eq!(money(-500, "EUR", Lang::En), "-€5.00");
        assert_eq!(money(5, "CHF", Lang::En), "CHF\u{a0}0.05");
        assert_eq!(money(1000, "JPY", Lang::En), "¥1,000");
        assert_eq!(money(123456, "EUR", Lang::Ru), "1\u{a0}234,56\u{a0}€");
        assert_eq!(money(99, "USD", Lang::Ru), "0,99\u{a0}$");
        assert_eq!(money(100_000_000, "USD", Lang::En), "$1,000,000.00");
    }

    #[test]
    fn dates_read_naturally() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap();
        assert_eq!(date(d, Lang::En), "5 Mar 2026");
        assert_eq!(date(d, Lang::Ru), "05.03.2026");
    }
}
