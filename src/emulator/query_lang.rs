// The report query language's documented grammar, `SELECT [DISTINCT] cols FROM Dataset [WHERE cond (AND cond)*]
// [ORDER BY col [ASC|DESC], …] [LIMIT n] [TIMESPAN x]`, checked against the dataset; conditions are not evaluated.

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
    /// A string literal (its text is not needed: conditions are checked, not evaluated).
    Text,
    /// A comparison: a run of `=`, `!`, `<`, `>`.
    Comparison(&'a str),
    Open,
    Close,
    /// Anything else, which no clause accepts.
    Other,
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // A run of bytes from `i` that `part` accepts, as text (the runs are ASCII, so the slice is on boundaries).
    let run = |i: usize, part: fn(u8) -> bool| i + bytes[i..].iter().take_while(|&&b| part(b)).count();
    let word = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'*' | b'.');
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if b == b',' || b == b'(' || b == b')' {
            out.push(match b {
                b',' => Token::Comma,
                b'(' => Token::Open,
                _ => Token::Close,
            });
            i += 1;
        } else if b == b'\'' {
            // A string literal; `''` inside is an escaped quote. An unterminated one is no literal: it would hide
            // everything after it (a bad column, `LIMIT 0`) from the checks.
            i += 1;
            let mut closed = false;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    closed = true;
                    break;
                }
                i += 1;
            }
            i += 1;
            out.push(if closed { Token::Text } else { Token::Other });
        } else if word(b) || (b == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let mut end = run(i + 1, word);
            // A number's exponent may have a sign (`1e-3`), which is not a word character.
            if (b.is_ascii_digit() || b == b'-')
                && matches!(bytes[end - 1], b'e' | b'E')
                && matches!(bytes.get(end), Some(b'+' | b'-'))
                && bytes.get(end + 1).is_some_and(u8::is_ascii_digit)
            {
                end = run(end + 1, word);
            }
            out.push(Token::Word(&text[i..end]));
            i = end;
        } else if matches!(b, b'=' | b'!' | b'<' | b'>') {
            let end = run(i, |b| matches!(b, b'=' | b'!' | b'<' | b'>'));
            out.push(Token::Comparison(&text[i..end]));
            i = end;
        } else {
            // Multi-byte UTF-8 lands here one byte at a time, which is fine: `text` is only sliced at ASCII runs.
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

/// The documented comparisons (besides `LIKE`, `NOT LIKE`, `IN`, `NOT IN`).
const COMPARISONS: [&str; 6] = ["=", ">", "<", ">=", "<=", "!="];

fn is_keyword(token: &Token<'_>, keyword: &str) -> bool {
    matches!(token, Token::Word(word) if word.eq_ignore_ascii_case(keyword))
}

/// The clause that starts at `tokens`, if one does, and how many words name it.
fn clause_at(tokens: &[Token<'_>]) -> Option<(Stage, usize)> {
    let first = tokens.first()?;
    if is_keyword(first, "WHERE") {
        Some((Stage::Where, 1))
    } else if is_keyword(first, "ORDER") && tokens.get(1).is_some_and(|t| is_keyword(t, "BY")) {
        Some((Stage::OrderBy, 2))
    } else if is_keyword(first, "LIMIT") {
        Some((Stage::Limit, 1))
    } else if is_keyword(first, "TIMESPAN") {
        Some((Stage::Timespan, 1))
    } else {
        None
    }
}

fn syntax() -> ApiError {
    ApiError::bad_request(messages::QUERY_SYNTAX)
}

/// The language's words, which are a syntax error where a column must be (unless a dataset has such a column).
const KEYWORDS: [&str; 16] = [
    "SELECT", "DISTINCT", "FROM", "WHERE", "AND", "OR", "NOT", "LIKE", "IN", "BETWEEN", "ORDER", "BY", "ASC", "DESC",
    "LIMIT", "TIMESPAN",
];

/// A number as the language writes one: `-?digits[.digits][(e|E)[+|-]digits]` (not `inf`, `NaN` or `+1`, which
/// Rust's float parser would take).
fn is_number(word: &str) -> bool {
    let bytes = word.strip_prefix('-').unwrap_or(word).as_bytes();
    let digits =
        |from: usize| bytes.get(from..).map_or(0, |rest| rest.iter().take_while(|b| b.is_ascii_digit()).count());
    let mut at = digits(0);
    if at == 0 {
        return false;
    }
    if bytes.get(at) == Some(&b'.') {
        let fraction = digits(at + 1);
        if fraction == 0 {
            return false;
        }
        at += 1 + fraction;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1 + usize::from(matches!(bytes.get(at + 1), Some(b'+' | b'-')));
        let exponent = digits(at);
        if exponent == 0 {
            return false;
        }
        at += exponent;
    }
    at == bytes.len()
}

/// A column or metric of `dataset` at the start of `tokens`, and what follows it. Another word is the documented
/// `Incorrect column name`; a keyword, a number or anything else where a column must be is the clause's syntax
/// error, `clause`.
fn column<'t, 'a>(
    dataset: &Dataset,
    tokens: &'t [Token<'a>],
    clause: &'static str,
) -> Result<&'t [Token<'a>], ApiError> {
    let Some((Token::Word(word), rest)) = tokens.split_first() else { return Err(ApiError::bad_request(clause)) };
    if dataset.column(word).is_some() {
        Ok(rest)
    } else if KEYWORDS.iter().any(|k| word.eq_ignore_ascii_case(k)) || is_number(word) {
        Err(ApiError::bad_request(clause))
    } else {
        Err(ApiError::bad_request(messages::INCORRECT_COLUMN_NAME))
    }
}

/// A value at the start of `tokens` (a string literal or a number), and what follows it.
fn value<'t, 'a>(tokens: &'t [Token<'a>]) -> Result<&'t [Token<'a>], ApiError> {
    match tokens.split_first() {
        Some((Token::Text, rest)) => Ok(rest),
        Some((Token::Word(word), rest)) if is_number(word) => Ok(rest),
        _ => Err(ApiError::bad_request(messages::WHERE_SYNTAX)),
    }
}

/// `cond (AND cond)*` with `cond` = `column op value`, or `column [NOT] IN (value, …)`: what follows it.
fn conditions<'t, 'a>(dataset: &Dataset, mut tokens: &'t [Token<'a>]) -> Result<&'t [Token<'a>], ApiError> {
    let where_syntax = || ApiError::bad_request(messages::WHERE_SYNTAX);
    loop {
        tokens = column(dataset, tokens, messages::WHERE_SYNTAX)?;
        if tokens.first().is_some_and(|t| is_keyword(t, "NOT")) {
            tokens = &tokens[1..];
            if !tokens.first().is_some_and(|t| is_keyword(t, "LIKE") || is_keyword(t, "IN")) {
                return Err(where_syntax());
            }
        }
        tokens = match tokens.split_first() {
            Some((Token::Comparison(op), rest)) if COMPARISONS.contains(op) => value(rest)?,
            Some((like, rest)) if is_keyword(like, "LIKE") => value(rest)?,
            // A list, only after IN.
            Some((is_in, [Token::Open, rest @ ..])) if is_keyword(is_in, "IN") => {
                let mut rest = value(rest)?;
                while let [Token::Comma, after @ ..] = rest {
                    rest = value(after)?;
                }
                match rest {
                    [Token::Close, after @ ..] => after,
                    _ => return Err(where_syntax()),
                }
            }
            _ => return Err(where_syntax()),
        };
        match tokens.split_first() {
            Some((and, rest)) if is_keyword(and, "AND") => tokens = rest,
            _ => return Ok(tokens),
        }
    }
}

/// `column [ASC|DESC] (, column [ASC|DESC])*`: what follows it.
fn order_by<'t, 'a>(dataset: &Dataset, mut tokens: &'t [Token<'a>]) -> Result<&'t [Token<'a>], ApiError> {
    loop {
        tokens = column(dataset, tokens, messages::ORDER_BY_SYNTAX)?;
        if tokens.first().is_some_and(|t| is_keyword(t, "ASC") || is_keyword(t, "DESC")) {
            tokens = &tokens[1..];
        }
        match tokens.split_first() {
            Some((Token::Comma, rest)) => tokens = rest,
            _ => return Ok(tokens),
        }
    }
}

/// Parses and checks `text` against `program`'s datasets.
pub(crate) fn parse(program: Program, text: &str) -> Result<ParsedQuery, ApiError> {
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

    // Each column once, where it is first selected: the reference does not say what a column selected twice does,
    // and keeping repeats would let `SELECT *,*,…` (a megabyte of it) make every stored and returned row huge.
    // `*` is expanded once: a second adds nothing, and a megabyte of them must not cost a scan each.
    let mut columns = Vec::new();
    let mut select = |column: &'static str| {
        if !columns.contains(&column) {
            columns.push(column);
        }
    };
    let mut star_done = false;
    for name in selected {
        if name == "*" {
            if !std::mem::replace(&mut star_done, true) {
                dataset.all_columns().into_iter().for_each(&mut select);
            }
        } else {
            select(dataset.column(name).ok_or_else(|| ApiError::bad_request(messages::INCORRECT_COLUMN_NAME))?);
        }
    }

    // After `FROM Dataset`: the optional clauses, each at most once and in the documented order, each in its
    // documented form. Anything else (a misspelled keyword, `OR`, a list outside `IN`, text after the last clause)
    // is a syntax error, as the try-query API exists to report.
    let mut limit = None;
    let mut stage = Stage::From;
    while !rest.is_empty() {
        let (next, words) = match clause_at(rest) {
            Some((next, words)) if next > stage => (next, words),
            Some(_) => return Err(syntax()),
            // What starts no clause belongs to the one before (`OR` after a condition).
            None => {
                return Err(ApiError::bad_request(match stage {
                    Stage::Where => messages::WHERE_SYNTAX,
                    Stage::OrderBy => messages::ORDER_BY_SYNTAX,
                    Stage::From | Stage::Limit | Stage::Timespan => messages::QUERY_SYNTAX,
                }));
            }
        };
        stage = next;
        rest = &rest[words..];
        rest = match next {
            Stage::Where => conditions(dataset, rest)?,
            Stage::OrderBy => order_by(dataset, rest)?,
            Stage::Limit => match rest.split_first() {
                Some((Token::Word(n), after)) if n.parse::<u64>().is_ok_and(|n| n > 0) => {
                    limit = n.parse().ok();
                    after
                }
                _ => return Err(ApiError::bad_request(messages::LIMIT_POSITIVE)),
            },
            Stage::Timespan | Stage::From => match rest.split_first() {
                Some((Token::Word(span), after))
                    if dataset.date_ranges.iter().any(|r| r.eq_ignore_ascii_case(span)) =>
                {
                    after
                }
                Some((Token::Word(span), _)) => return Err(ApiError::bad_request(messages::invalid_timespan(span))),
                _ => return Err(syntax()),
            },
        };
    }

    Ok(ParsedQuery { dataset, columns, limit })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(program: Program, text: &str) -> String {
        parse(program, text).map(|_| "ok".to_owned()).unwrap_or_else(|e| e.message().to_owned())
    }

    /// Asserts that each of `clauses`, after `SELECT OfferName FROM ISVUsage`, is refused with `expected`.
    fn refused(expected: &str, clauses: &[&str]) {
        for clause in clauses {
            let result = message(Program::Marketplace, &format!("SELECT OfferName FROM ISVUsage {clause}"));
            assert_eq!(result, expected, "{clause}");
        }
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
        refused(
            messages::QUERY_SYNTAX,
            &[
                "WHRE OfferName = 'a'",
                "ORDR BY RawUsage",
                "LIMT 5",
                "TIMESPN LAST_MONTH",
                "TIMESPAN LAST_MONTH TIMESPAN LAST_MONTH",
                "LIMIT 5 WHERE OfferName = 'a'",
                "TIMESPAN LAST_MONTH LIMIT 5",
                "ORDER BY RawUsage WHERE OfferName = 'a'",
                "WHERE OfferName = 'a' WHERE RawUsage > 1",
                "LIMIT 5 junk",
                "TIMESPAN LAST_MONTH junk",
                "= 'a'",
            ],
        );
        refused(messages::WHERE_SYNTAX, &["WHERE LIMIT 5", "WHERE OfferName = 'abc", "WHERE OfferName = 'a'' LIMIT 0"]);
        refused(messages::ORDER_BY_SYNTAX, &["ORDER BY"]);
        let all = "WHERE OfferName = 'a' ORDER BY RawUsage LIMIT 5 TIMESPAN LAST_MONTH";
        assert_eq!(message(Program::Marketplace, &format!("SELECT OfferName FROM ISVUsage {all}")), "ok");
    }

    #[test]
    fn conditions_and_orderings_take_only_their_documented_forms() {
        for good in [
            "WHERE RawUsage >= -1.5 and OfferName like 'a%' AND OfferName NOT LIKE 'b%'",
            "WHERE OfferName IN ('a') AND RawUsage NOT IN (1, 2.5, 3) AND RawUsage != 0 AND RawUsage<=1e3",
            "WHERE RawUsage > 1e-3 AND RawUsage < 1E+3 AND RawUsage != -0.5E2",
            "ORDER BY RawUsage, OfferName asc",
        ] {
            assert_eq!(
                message(Program::Marketplace, &format!("SELECT OfferName FROM ISVUsage {good}")),
                "ok",
                "{good}"
            );
        }
        refused(
            messages::WHERE_SYNTAX,
            &[
                "WHERE OfferName = 'a' OR RawUsage > 1",
                "WHERE RawUsage BETWEEN 1 AND 5",
                "WHERE OfferName",
                "WHERE OfferName = ",
                "WHERE = = =",
                "WHERE OfferName = ('a', 'b')",
                "WHERE OfferName <> 'a'",
                "WHERE OfferName == 'a'",
                "WHERE OfferName = OfferName",
                "WHERE OfferName IN 'a'",
                "WHERE OfferName IN ()",
                "WHERE OfferName IN ('a', )",
                "WHERE OfferName IN ('a'",
                "WHERE OfferName NOT = 'a'",
                "WHERE OfferName = 'a' AND",
                "WHERE 1 = 1",
                "WHERE RawUsage > inf",
                "WHERE RawUsage > NaN",
                "WHERE RawUsage > +1",
                "WHERE RawUsage > 1e",
                "WHERE RawUsage > 1.",
            ],
        );
        refused(
            messages::ORDER_BY_SYNTAX,
            &["ORDER BY DESC", "ORDER BY RawUsage OfferName", "ORDER BY RawUsage,", "ORDER BY RawUsage DESC DESC"],
        );
    }

    #[test]
    fn star_selects_everything() {
        let q = parse(Program::Partner, "SELECT * FROM Profile").unwrap();
        assert_eq!(q.columns.len(), q.dataset.columns.len() + q.dataset.metrics.len());
    }

    #[test]
    fn a_column_selected_twice_comes_once_where_first_selected() {
        let q =
            parse(Program::Marketplace, "SELECT RawUsage, customername, CustomerName, rawusage FROM ISVUsage").unwrap();
        assert_eq!(q.columns, ["RawUsage", "CustomerName"]);
        let stars = vec!["*"; 10_000].join(",");
        let q = parse(Program::Marketplace, &format!("SELECT RawUsage, {stars} FROM ISVUsage")).unwrap();
        let mut expected = q.dataset.all_columns();
        expected.retain(|c| *c != "RawUsage");
        expected.insert(0, "RawUsage");
        assert_eq!(q.columns, expected);
    }
}
