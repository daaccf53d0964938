//! Server-side SVG charts for the console's KPI page: plain `<svg>` markup embedded in the
//! page (no script, no style attributes, so the Content-Security-Policy stays strict).
//!
//! Rules:
//! - Each chart is an accessible image: `role="img"`, a `<title>` naming it, and every
//!   bar's value written as text beside it, so nothing is only a colour or a length.
//! - Bars scale to the largest value of the chart; a chart whose values are all zero, or
//!   that has no bars, says so in words instead of drawing empty axes.
//! - Every text is escaped (labels come from data: agent names, category keys).

use std::fmt::Write;

/// One bar: its label, its length (any unit, ≥ 0) and the value written beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub text: String,
}

/// Width of every chart, in SVG units (it scales to its container).
const WIDTH: f64 = 640.0;

/// Horizontal bars, one row per bar, label on the left and value on the right.
pub fn rows(title: &str, empty: &str, bars: &[Bar]) -> String {
    let (row, label_w, text_w) = (26.0, 200.0, 90.0);
    let height = (bars.len().max(1) as f64) * row + 8.0;
    let mut s = open(title, height);
    let Some(max) = max_of(bars) else {
        return close(s, empty, height);
    };
    let span = WIDTH - label_w - text_w;
    for (i, b) in bars.iter().enumerate() {
        let y = 4.0 + i as f64 * row;
        let w = (b.value.max(0.0) / max * span).max(if b.value > 0.0 { 1.0 } else { 0.0 });
        let _ = write!(
            s,
            r#"<text x="{lx}" y="{ty}" text-anchor="end" class="chart-label">{label}</text><rect x="{label_w}" y="{y}" width="{w:.1}" height="{h}" class="chart-bar"/><text x="{vx:.1}" y="{ty}" class="chart-value">{text}</text>"#,
            lx = label_w - 8.0,
            ty = y + row * 0.62,
            label = esc(&b.label),
            h = row - 8.0,
            vx = label_w + w + 6.0,
            text = esc(&b.text),
        );
    }
    s.push_str("</svg>");
    s
}

/// Vertical columns over a sequence (days, months), labels under every `label_every`th.
pub fn columns(title: &str, empty: &str, bars: &[Bar], label_every: usize) -> String {
    let (height, top, bottom) = (220.0, 18.0, 28.0);
    let mut s = open(title, height);
    let Some(max) = max_of(bars) else {
        return close(s, empty, height);
    };
    // Side margins keep the first and last labels (centred under their bars) inside.
    let pad = 24.0;
    let slot = (WIDTH - 2.0 * pad) / bars.len() as f64;
    let span = height - top - bottom;
    let every = label_every.max(1);
    for (i, b) in bars.iter().enumerate() {
        let h = b.value.max(0.0) / max * span;
        let x = pad + i as f64 * slot;
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" class="chart-bar"><title>{label}: {text}</title></rect>"#,
            x = x + slot * 0.1,
            y = top + span - h,
            w = slot * 0.8,
            label = esc(&b.label),
            text = esc(&b.text),
        );
        if i % every == 0 {
            let _ = write!(
                s,
                r#"<text x="{cx:.1}" y="{ly}" text-anchor="middle" class="chart-label">{label}</text>"#,
                cx = x + slot / 2.0,
                ly = height - 8.0,
                label = esc(&b.label),
            );
        }
    }
    // The largest value, written once at the top left, gives the scale in words.
    if let Some(top_bar) = bars.iter().max_by(|a, b| a.value.total_cmp(&b.value)) {
        let _ = write!(
            s,
            r#"<text x="2" y="12" class="chart-value">max {}</text>"#,
            esc(&top_bar.text)
        );
    }
    s.push_str("</svg>");
    s
}

fn open(title: &str, height: f64) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" class="chart"><title>{}</title>"#,
        esc(title)
    )
}

fn close(mut s: String, empty: &str, height: f64) -> String {
    let _ = write!(
        s,
        r#"<text x="{x}" y="{y}" text-anchor="middle" class="chart-label">{}</text></svg>"#,
        esc(empty),
        x = WIDTH / 2.0,
        y = height / 2.0,
    );
    s
}

/// The largest value, or None when there is nothing to draw (no bars, or all ≤ 0).
fn max_of(bars: &[Bar]) -> Option<f64> {
    let max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    (max > 0.0 && max.is_finite()).then_some(max)
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, value: f64) -> Bar {
        Bar {
            label: label.into(),
            value,
            text: format!("{value}"),
        }
    }

    fn widths(svg: &str) -> Vec<f64> {
        svg.split("class=\"chart-bar\"")
            .filter_map(|part| {
                let w = part.rsplit_once("width=\"")?.1;
                w.split('"').next()?.parse().ok()
            })
            .collect()
    }

    #[test]
    fn rows_scale_to_the_largest_value() {
        let svg = rows("t", "none", &[bar("a", 10.0), bar("b", 5.0), bar("c", 0.0)]);
        let w = widths(&svg);
        assert_eq!(w.len(), 3);
        assert!((w[0] - 350.0).abs() < 0.01, "{w:?}");
        assert!((w[1] - 175.0).abs() < 0.01, "{w:?}");
        assert_eq!(w[2], 0.0);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("role=\"img\"") && svg.contains("<title>t</title>"));
    }

    #[test]
    fn an_empty_or_all_zero_chart_says_so() {
        for bars in [vec![], vec![bar("a", 0.0)]] {
            let svg = rows("t", "Nothing yet", &bars);
            assert!(svg.contains("Nothing yet"), "{svg}");
            assert!(!svg.contains("chart-bar"));
            let svg = columns("t", "Nothing yet", &bars, 1);
            assert!(svg.contains("Nothing yet"), "{svg}");
        }
    }

    #[test]
    fn text_from_data_is_escaped() {
        let svg = rows(
            "<t>",
            "",
            &[Bar {
                label: "<script>&\"'".into(),
                value: 1.0,
                text: "1 & 2".into(),
            }],
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;&amp;&quot;&#39;"));
        assert!(svg.contains("1 &amp; 2"));
        assert!(svg.contains("<title>&lt;t&gt;</title>"));
    }

    #[test]
    fn columns_label_every_nth_and_name_each_bar() {
        let bars: Vec<Bar> = (0..10).map(|i| bar(&format!("d{i}"), i as f64)).collect();
        let svg = columns("Contacts", "", &bars, 3);
        assert_eq!(svg.matches("class=\"chart-label\"").count(), 4); // d0 d3 d6 d9
        assert_eq!(svg.matches("<title>d").count(), 10);
        assert!(svg.contains("max 9"));
    }
}
