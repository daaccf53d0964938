//! Locale-dependent formatting: money from minor units, dates, quantities.

use crate::PdfError;
use chrono::{Datelike, NaiveDate};

/// The two languages documents are printed in. Anything else falls back to English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ru,
}

impl Lang {
    /// "ru", "ru-RU", "ru_RU" → Russian; everything else English.
    pub fn from_locale(locale: &str) -> Lang {
        let l = locale.trim().to_ascii_lowercase();
        if l == "ru" || l.starts_with("ru-") || l.starts_with("ru_") {
            Lang::Ru
        } else {
            Lang::En
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }
}

/// The minor-unit exponent of an ISO 4217 currency (USD 2, JPY 0, KWD 3).
pub fn exponent(currency: &str) -> Result<u32, PdfError> {
    billing::money::Currency::parse(currency)
        .map(|c| c.exponent())
        .map_err(|_| PdfError::UnknownCurrency(currency.to_string()))
}

fn symbol(code: &str) -> Option<&'static str> {
    Some(match code {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "RUB" => "₽",
        "JPY" => "¥",
        _ => return None,
    })
}

/// Groups the digits of a non-negative integer string by thousands with `sep`.
fn group(digits: &str, sep: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * sep.len());
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(ch);
    }
    out
}

/// Formats a minor-unit amount: en "$1,234.56", "-$15.48", "CHF 1,234.56";
/// ru "1 234,56 €", "-15,48 $", "1 234,56 CHF" (no-break spaces).
pub fn money(minor: i64, currency: &str, lang: Lang) -> Result<String, PdfError> {
    let code = currency.trim().to_ascii_uppercase();
    let exp = exponent(&code)? as usize;
    let abs = minor.unsigned_abs().to_string();
    let padded = format!("{abs:0>width$}", width = exp + 1);
    let (int, frac) = padded.split_at(padded.len() - exp);
    let sign = if minor < 0 { "-" } else { "" };
    let sym = symbol(&code);
    Ok(match lang {
        Lang::En => {
            let num = if exp > 0 {
                format!("{}.{frac}", group(int, ","))
            } else {
                group(int, ",")
            };
            match sym {
                Some(s) => format!("{sign}{s}{num}"),
                None => format!("{sign}{code}\u{a0}{num}"),
            }
        }
        Lang::Ru => {
            let num = if exp > 0 {
                format!("{},{frac}", group(int, "\u{a0}"))
            } else {
                group(int, "\u{a0}")
            };
            format!("{sign}{num}\u{a0}{}", sym.unwrap_or(&code))
        }
    })
}

const EN_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// en "16 Jan 2026", ru "16.01.2026".
pub fn date(d: NaiveDate, lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "{} {} {}",
            d.day(),
            EN_MONTHS[d.month0() as usize],
            d.year()
        ),
        Lang::Ru => d.format("%d.%m.%Y").to_string(),
    }
}

/// An exact decimal quantity for print: trailing zeros dropped, ru with a decimal comma.
pub fn quantity(q: &str, lang: Lang) -> String {
    let mut s = q.trim().to_string();
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if lang == Lang::Ru {
        s = s.replace('.', ",");
    }
    s
}

/// A percentage string ("19.000" → "19 %" in ru, "19%" in en).
pub fn percent(p: &str, lang: Lang) -> String {
    let q = quantity(p, lang);
    match lang {
        Lang::En => format!("{q}%"),
        Lang::Ru => format!("{q}\u{a0}%"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_in_english() {
        assert_eq!(money(123456, "USD", Lang::En).unwrap(), "$1,234.56");
        assert_eq!(money(123456, "eur", Lang::En).unwrap(), "€1,234.56");
        assert_eq!(money(-1548, "USD", Lang::En).unwrap(), "-$15.48");
        assert_eq!(money(5, "USD", Lang::En).unwrap(), "$0.05");
        assert_eq!(money(0, "USD", Lang::En).unwrap(), "$0.00");
        assert_eq!(money(1234567, "JPY", Lang::En).unwrap(), "¥1,234,567");
        assert_eq!(
            money(1234567, "KWD", Lang::En).unwrap(),
            "KWD\u{a0}1,234.567"
        );
        assert_eq!(
            money(100_000_000, "CHF", Lang::En).unwrap(),
            "CHF\u{a0}1,000,000.00"
        );
    }

    #[test]
    fn money_in_russian() {
        assert_eq!(
            money(123456, "EUR", Lang::Ru).unwrap(),
            "1\u{a0}234,56\u{a0}€"
        );
        assert_eq!(money(-1548, "RUB", Lang::Ru).unwrap(), "-15,48\u{a0}₽");
        assert_eq!(money(99, "CHF", Lang::Ru).unwrap(), "0,99\u{a0}CHF");
    }

    #[test]
    fn unknown_currency_is_named() {
        let e = money(1, "XXY", Lang::En).unwrap_err();
        assert_eq!(e.to_string(), "unknown currency \"XXY\"");
    }

    #[test]
    fn dates_quantities_locales() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 16).unwrap();
        assert_eq!(date(d, Lang::En), "16 Jan 2026");
        assert_eq!(date(d, Lang::Ru), "16.01.2026");
        assert_eq!(quantity("2.500", Lang::Ru), "2,5");
        assert_eq!(quantity("3", Lang::En), "3");
        assert_eq!(quantity("10.0", Lang::En), "10");
        assert_eq!(percent("19.00", Lang::En), "19%");
        assert_eq!(Lang::from_locale("ru-RU"), Lang::Ru);
        assert_eq!(Lang::from_locale("de"), Lang::En);
        assert_eq!(Lang::from_locale("rus"), Lang::En);
    }
}
