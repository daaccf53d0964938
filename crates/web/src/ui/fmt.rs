//! Money and dates as people read them, per page language.
//!
//! Money: English "$1,234.56", "€1,234.56", "1,234.56 CHF"; Russian "1 234,56 $" with a
//! no-break space as the group separator. Negative amounts lead with a minus sign. Dates:
//! English "5 Mar 2026", Russian "05.03.2026".

use super::i18n::Lang;
use chrono::{DateTime, NaiveDate, Utc};

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

fn group(int: &str, sep: &str) -> String {
    let mut out = String::new();
    let n = int.len();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(ch);
    }
    out
}

/// Minor units of `currency` for a reader of `lang`.
pub fn money(minor: i64, currency: &str, lang: Lang) -> String {
    let exp = billing::money::Currency::parse(currency)
        .map(|c| c.exponent())
        .unwrap_or(2);
    let neg = minor < 0;
    let abs = minor.unsigned_abs();
    let scale = 10u64.pow(exp);
    let int = (abs / scale).to_string();
    let frac = if exp > 0 {
        format!("{:0width$}", abs % scale, width = exp as usize)
    } else {
        String::new()
    };
    let sign = if neg { "−" } else { "" };
    match lang {
        Lang::En => {
            let num = if exp > 0 {
                format!("{}.{frac}", group(&int, ","))
            } else {
                group(&int, ",")
            };
            match symbol(currency) {
                Some(s) => format!("{sign}{s}{num}"),
                None => format!("{sign}{num} {currency}"),
            }
        }
        Lang::Ru => {
            let num = if exp > 0 {
                format!("{},{frac}", group(&int, "\u{a0}"))
            } else {
                group(&int, "\u{a0}")
            };
            let s = symbol(currency).unwrap_or(currency);
            format!("{sign}{num}\u{a0}{s}")
        }
    }
}

const EN_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

pub fn date(d: NaiveDate, lang: Lang) -> String {
    use chrono::Datelike;
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
        assert_eq!(money(-500, "EUR", Lang::En), "−€5.00");
        assert_eq!(money(5, "CHF", Lang::En), "0.05 CHF");
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
