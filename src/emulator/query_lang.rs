// Just enough of the report query language: `SELECT [DISTINCT] cols FROM Dataset … [LIMIT n] [TIMESPAN x]`, checking
// dataset, columns (those WHERE and ORDER BY name too), LIMIT and TIMESPAN; the conditions are not evaluated.

use crate::Program;

use super::catalog::{self, Dataset};
use super::envelope::ApiError;
use super::messages;

/// A query the emulator can run.
#[derive(Debug)]
pub(crate) struct ParsedQuery {
    pub(crate) dataset: &'static Dataset,
    /// The selected columns, in the dataset's spelling and the query's order.
    pub(crate) columns: Vec<&'static str>,
    pub(crate) limit: Option<u64>,
}

#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    /// An identifier, keyword, number or `*`.
    Word(&'a str),
    Comma,
    /// A string literal, an operator or a bracket: not interpreted.
    Other,
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if b == b',' {
            out.push(Token::Comma);
            i += 1;
        } else if b == b'\'' {
            // A string literal; `''` inside is an escaped quote. An unterminated one runs to the end.
            i += 1;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
            out.push(Token::Other);
        } else if b.is_ascii_alphanumeric() || b == b'_' || b == b'*' || b == b'.' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'*' | b'.')) {
                i += 1;
            }
            out.push(Token::Word(&text[start..i]));
        } else {
            // Operators and brackets; multi-byte UTF-8 lands here one byte at a time, which is fine: the
            // loop only ever slices `text` at ASCII boundaries.
            out.push(Token::Other);
            i += 1;
        }
    }
    out
}

/// Where the parse is after `FROM Dataset`: the clauses, in the only order they may come.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    From,
    Where,
    OrderBy,
    Limit,
    Timespan,
}

/// The words of a WHERE clause that are not column names (besides numbers).
const WHERE_WORDS: [&str; 6] = ["AND", "OR", "NOT", "LIKE", "IN", "BETWEEN"];

fn is_keyword(token: &Token<'_>, keyword: &str) -> bool {
    matches!(token, Token::Word(word) if word.eq_ignore_ascii_case(keyword))
}

/// Parses and checks `text` against `program`'s datasets.
pub(crate) fn parse(program: Program, text: &str) -> Result<ParsedQuery, ApiError> {
    let syntax = || ApiError::bad_request(messages::QUERY_SYNTAX);
    let tokens = tokens(text);
    let mut rest = tokens.as_slice();

    let Some((first, after)) = rest.split_first() else { return Err(syntax()) };
    if !is_keyword(first, "SELECT") {
        return Err(syntax());
    }
    rest = after;
    if rest.first().is_some_and(|t| is_keyword(t, "DISTINCT")) {
        rest = &rest[1..];
    }

    // The select list: words separated by commas, up to FROM.
    let mut selected = Vec::new();
    loop {
        match rest.split_first() {
            Some((Token::Word(word), after)) if !word.eq_ignore_ascii_case("FROM") => {
                selected.push(*word);
                rest = after;
            }
            _ => return Err(syntax()),
        }
        match rest.split_first() {
            Some((Token::Comma, after)) => rest = after,
            Some((token, after)) if is_keyword(token, "FROM") => {
                rest = after;
                break;
            }
            _ => return Err(syntax()),
        }
    }

    let Some((Token::Word(table), after)) = rest.split_first() else { return Err(syntax()) };
    rest = after;
    let dataset =
        catalog::dataset(program, table).ok_or_else(|| ApiError::bad_request(messages::INVALID_TABLE_NAME))?;

    let mut columns = Vec::with_capacity(selected.len());
    for name in selected {
        if name == "*" {
            columns.extend(dataset.all_columns());
        } else {
            columns.push(dataset.column(name).ok_or_else(|| ApiError::bad_request(messages::INCORRECT_COLUMN_NAME))?);
        }
    }

    // After `FROM Dataset`: the optional clauses, each at most once and in the documented order. Any other word
    // where a clause must start (a misspelled keyword, text after the last clause) is a syntax error, as the
    // try-query API exists to report.
    let mut limit = None;
    let mut stage = Stage::From;
    // Whether the WHERE or ORDER BY just begun has nothing in it yet.
    let mut clause_empty = false;
    let mut i = 0;
    while i < rest.len() {
        let starts = if is_keyword(&rest[i], "WHERE") {
            Some(Stage::Where)
        } else if is_keyword(&rest[i], "ORDER") && rest.get(i + 1).is_some_and(|t| is_keyword(t, "BY")) {
            Some(Stage::OrderBy)
        } else if is_keyword(&rest[i], "LIMIT") {
            Some(Stage::Limit)
        } else if is_keyword(&rest[i], "TIMESPAN") {
            Some(Stage::Timespan)
        } else {
            None
        };
        let Some(next) = starts else {
            // Only WHERE and ORDER BY go on past their first word. In them, the words that are not operators,
            // numbers or directions are columns.
            let not_a_column = |word: &str| match stage {
                Stage::Where => WHERE_WORDS.iter().any(|w| word.eq_ignore_ascii_case(w)) || word.parse::<f64>().is_ok(),
                Stage::OrderBy => ["ASC", "DESC"].iter().any(|w| word.eq_ignore_ascii_case(w)),
                Stage::From | Stage::Limit | Stage::Timespan => false,
            };
            if !matches!(stage, Stage::Where | Stage::OrderBy) {
                return Err(syntax());
            }
            clause_empty = false;
            if let Token::Word(word) = &rest[i]
                && !not_a_column(word)
                && dataset.column(word).is_none()
            {
                return Err(ApiError::bad_request(messages::INCORRECT_COLUMN_NAME));
            }
            i += 1;
            continue;
        };
        if next <= stage || clause_empty {
            return Err(syntax());
        }
        stage = next;
        match next {
            Stage::Where => clause_empty = true,
            Stage::OrderBy => {
                clause_empty = true;
                i += 1;
            }
            Stage::Limit => {
                limit = match rest.get(i + 1) {
                    Some(Token::Word(n)) => match n.parse::<u64>() {
                        Ok(n) if n > 0 => Some(n),
                        _ => return Err(ApiError::bad_request(messages::LIMIT_POSITIVE)),
                    },
                    _ => return Err(ApiError::bad_request(messages::LIMIT_POSITIVE)),
                };
                i += 1;
            }
            // TIMESPAN (`From` is never a clause that starts).
            Stage::Timespan | Stage::From => {
                match rest.get(i + 1) {
                    Some(Token::Word(span)) if dataset.date_ranges.iter().any(|r| r.eq_ignore_ascii_case(span)) => {}
                    Some(Token::Word(span)) => return Err(ApiError::bad_request(messages::invalid_timespan(span))),
                    _ => return Err(syntax()),
                }
                i += 1;
            }
        }
        i += 1;
    }
    if clause_empty {
        return Err(syntax());
    }

    Ok(ParsedQuery { dataset, columns, limit })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(program: Program, text: &str) -> String {
        parse(program, text).map(|_| "ok".to_owned()).unwrap_or_else(|e| e.message().to_owned())
    }

    #[test]
    fn selected_columns_keep_their_order_and_take_the_dataset_spelling() {
        let q = parse(Program::Marketplace, "select customername, NormalizedUsage from isvusage timespan last_month")
            .unwrap();
        assert_eq!(q.dataset.name, "ISVUsage");
        assert_eq!(q.columns, ["CustomerName", "NormalizedUsage"]);
        assert_eq!(q.limit, None);
    }

    #[test]
    fn where_order_by_limit_and_literals_are_accepted() {
        let q = parse(
            Program::Marketplace,
            "SELECT DISTINCT OfferName,RawUsage FROM ISVUsage WHERE OfferName = 'a, ''b'' FROM x' AND RawUsage > 3 \
             ORDER BY RawUsage DESC LIMIT 25 TIMESPAN LAST_6_MONTHS",
        )
        .unwrap();
        assert_eq!(q.columns, ["OfferName", "RawUsage"]);
        assert_eq!(q.limit, Some(25));
    }

    #[test]
    fn documented_errors() {
        assert_eq!(message(Program::Marketplace, "SELECT a FROM Nope"), "Invalid table name");
        assert_eq!(message(Program::Marketplace, "SELECT Nope FROM ISVUsage"), "Incorrect column name");
        for (clause, ok) in [
            ("WHERE Nope = 'x'", false),
            ("WHERE OfferName IN ('a', 'b') AND RawUsage >= 1.5", true),
            ("WHERE OfferName NOT LIKE '%x%' ORDER BY Nope", false),
            ("ORDER BY RawUsage asc, OfferName LIMIT 5", true),
            ("ORDER BY RawUsage DESC, Nope", false),
        ] {
            let result = message(Program::Marketplace, &format!("SELECT OfferName FROM ISVUsage {clause}"));
            assert_eq!(result, if ok { "ok" } else { "Incorrect column name" }, "{clause}");
        }
        // Partner datasets do not exist on the marketplace.
        assert_eq!(message(Program::Marketplace, "SELECT Workload FROM OfficeUsage"), "Invalid table name");
        assert_eq!(message(Program::Marketplace, "SELECT OfferName FROM ISVUsage LIMIT 0"), messages::LIMIT_POSITIVE);
        assert_eq!(
            message(Program::Marketplace, "SELECT OfferName FROM ISVUsage TIMESPAN YESTERDAY"),
            "Invalid TIMESPAN value YESTERDAY"
        );
        for bad in ["", "DELETE FROM ISVUsage", "SELECT FROM ISVUsage", "SELECT a,, b FROM ISVUsage", "SELECT a b", "é"]
        {
            assert_eq!(message(Program::Marketplace, bad), messages::QUERY_SYNTAX, "{bad}");
        }
    }

    #[test]
    fn clauses_come_once_and_in_order_and_nothing_else_follows_the_dataset() {
        for bad in [
            "WHRE OfferName = 'a'",
            "ORDR BY RawUsage",
            "LIMT 5",
            "TIMESPN LAST_MONTH",
            "TIMESPAN LAST_MONTH TIMESPAN LAST_MONTH",
            "LIMIT 5 WHERE OfferName = 'a'",
            "TIMESPAN LAST_MONTH LIMIT 5",
            "ORDER BY RawUsage WHERE OfferName = 'a'",
            "WHERE OfferName = 'a' WHERE RawUsage > 1",
            "WHERE LIMIT 5",
            "ORDER BY",
            "LIMIT 5 junk",
            "TIMESPAN LAST_MONTH junk",
            "= 'a'",
        ] {
            let result = message(Program::Marketplace, &format!("SELECT OfferName FROM ISVUsage {bad}"));
            assert_eq!(result, messages::QUERY_SYNTAX, "{bad}");
        }
        let all = "WHERE OfferName = 'a' ORDER BY RawUsage LIMIT 5 TIMESPAN LAST_MONTH";
        assert_eq!(message(Program::Marketplace, &format!("SELECT OfferName FROM ISVUsage {all}")), "ok");
    }

    #[test]
    fn star_selects_everything() {
        let q = parse(Program::Partner, "SELECT * FROM Profile").unwrap();
        assert_eq!(q.columns.len(), q.dataset.columns.len() + q.dataset.metrics.len());
    }
}
