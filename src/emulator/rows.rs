// Made-up but plausible cell values for any dataset column, derived from the column name and row number only, so
// the same report always yields the same data and nothing has to be stored. Try-query and report files share it.

use chrono::{Datelike, Duration as Days, NaiveDate};
use serde_json::{Map, Value};

use super::catalog::Dataset;

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Cell {
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Self::Text(text) => Value::from(text.as_str()),
            Self::Int(n) => Value::from(*n),
            Self::Float(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
            Self::Bool(b) => Value::Bool(*b),
        }
    }

    /// Appends the cell to a delimited line: CSV quoting when needed, TSV values never contain tabs or newlines.
    pub(crate) fn write(&self, out: &mut String, delimiter: char) {
        use std::fmt::Write;
        match self {
            Self::Text(text) if delimiter == ',' && text.contains([',', '"', '\n', '\r']) => {
                out.push('"');
                out.push_str(&text.replace('"', "\"\""));
                out.push('"');
            }
            Self::Text(text) => out.push_str(text),
            Self::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Self::Float(x) => {
                let _ = write!(out, "{x:.2}");
            }
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
    }
}

/// Company names; two need CSV quoting, so clients' parsers get exercised.
const COMPANIES: &[&str] = &[
    "Contoso Ltd",
    "Fabrikam Inc",
    "Northwind Traders, Inc.",
    "Adventure Works",
    "Tailspin Toys",
    "Wide World Importers",
    "Woodgrove Bank",
    "Litware \"Labs\"",
    "Proseware",
    "Alpine Ski House",
];
const COUNTRIES: &[&str] = &["US", "GB", "DE", "FR", "IN", "JP", "BR", "AU", "CA", "NL"];
const OFFERS: &[&str] = &["Contoso Analytics", "Fabrikam CRM", "Northwind ERP", "Tailspin Backup", "Woodgrove Vault"];
const PRODUCTS: &[&str] =
    &["Microsoft 365 E3", "Microsoft 365 E5", "Dynamics 365 Sales", "Azure Plan", "Power BI Pro", "Teams Essentials"];
const WORKLOADS: &[&str] = &["Exchange", "SharePoint", "Teams", "OneDrive", "Yammer", "Intune"];

/// A well-mixed 64-bit hash of `seed` (splitmix64).
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn pick<'a>(list: &[&'a str], h: u64) -> &'a str {
    list[(h % list.len() as u64) as usize]
}

/// The value of `column` in row `row`; dates count back from `today`.
pub(crate) fn cell(dataset: &Dataset, column: &str, row: u64, today: NaiveDate) -> Cell {
    let h = mix(name_hash(column) ^ mix(row));
    let lower = column.to_ascii_lowercase();
    let lower = lower.as_str();
    if dataset.is_metric(column) {
        return if ["count", "seats", "users", "clicks", "visits", "launches", "customers", "completed", "quantity"]
            .iter()
            .any(|word| lower.contains(word))
        {
            Cell::Int((h % 5_000) as i64)
        } else if lower.contains("percent") || lower.contains("score") {
            Cell::Float((h % 10_000) as f64 / 100.0)
        } else {
            Cell::Float((h % 10_000_000) as f64 / 100.0)
        };
    }
    if lower == "month" || lower == "monthstartdate" {
        let date = today - Days::days((row % 365) as i64);
        return Cell::Text(format!("{:04}-{:02}-01", date.year(), date.month()));
    }
    if lower.ends_with("date") {
        return Cell::Text((today - Days::days((row % 180) as i64)).format("%Y-%m-%d").to_string());
    }
    if lower.ends_with("id") {
        let low = mix(h);
        return Cell::Text(format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            h >> 32,
            (h >> 16) & 0xffff,
            h & 0xfff,
            low & 0xfff,
            (low >> 16) & 0xffff_ffff_ffff
        ));
    }
    if lower.starts_with("is") {
        return Cell::Bool(!h.is_multiple_of(4));
    }
    if lower.contains("country") || lower.contains("location") || lower.contains("region") {
        return Cell::Text(pick(COUNTRIES, h).to_owned());
    }
    if lower == "userprincipalname" {
        return Cell::Text(format!("user{}@contoso.onmicrosoft.com", h % 1_000));
    }
    if lower.contains("currency") {
        return Cell::Text(pick(&["USD", "EUR", "GBP", "JPY"], h).to_owned());
    }
    if lower == "workload" {
        return Cell::Text(pick(WORKLOADS, h).to_owned());
    }
    if lower.contains("offer") {
        return Cell::Text(pick(OFFERS, h).to_owned());
    }
    if lower.contains("product") {
        return Cell::Text(pick(PRODUCTS, h).to_owned());
    }
    if lower.contains("customer")
        || lower.contains("company")
        || lower.contains("partner")
        || lower.contains("reseller")
    {
        return Cell::Text(pick(COMPANIES, h).to_owned());
    }
    Cell::Text(format!("{column} {}", h % 100))
}

/// One row as a JSON object keyed by the column names (try-query's shape).
pub(crate) fn json_row(dataset: &Dataset, columns: &[&str], row: u64, today: NaiveDate) -> Map<String, Value> {
    columns.iter().map(|c| ((*c).to_owned(), cell(dataset, c, row, today).to_json())).collect()
}

/// One row as a delimited line, ending with CRLF (as the service's files do).
pub(crate) fn write_line(
    out: &mut String,
    dataset: &Dataset,
    columns: &[&str],
    row: u64,
    today: NaiveDate,
    delimiter: char,
) {
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            out.push(delimiter);
        }
        cell(dataset, column, row, today).write(out, delimiter);
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Program;
    use crate::emulator::catalog;

    #[test]
    fn values_are_deterministic_and_typed() {
        let dataset = catalog::dataset(Program::Marketplace, "ISVUsage").unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let a =
            json_row(dataset, &["CustomerName", "NormalizedUsage", "UsageDate", "MarketplaceSubscriptionId"], 7, today);
        let b =
            json_row(dataset, &["CustomerName", "NormalizedUsage", "UsageDate", "MarketplaceSubscriptionId"], 7, today);
        assert_eq!(a, b);
        assert!(a["NormalizedUsage"].is_number());
        assert_eq!(a["UsageDate"], "2026-02-22");
        assert_eq!(a["MarketplaceSubscriptionId"].as_str().unwrap().len(), 36);
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let mut out = String::new();
        Cell::Text("Northwind Traders, Inc.".into()).write(&mut out, ',');
        out.push('|');
        Cell::Text("Litware \"Labs\"".into()).write(&mut out, ',');
        out.push('|');
        Cell::Text("Northwind Traders, Inc.".into()).write(&mut out, '\t');
        assert_eq!(out, "\"Northwind Traders, Inc.\"|\"Litware \"\"Labs\"\"\"|Northwind Traders, Inc.");
    }
}
