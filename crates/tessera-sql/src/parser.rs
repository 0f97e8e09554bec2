//! SQL text to syntax trees, with `sqlparser`'s PostgreSQL dialect plus
//! Tessera's own clause: `CREATE TABLE … DISTRIBUTED BY (cols)`.

use sqlparser::ast::{Ident, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{IsOptional, Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use tessera_types::{Error, Result};

/// The longest SQL text accepted; longer text fails with 54000 unparsed.
pub const SQL_TEXT_BYTES_MAX: usize = 16 << 20;
/// How deeply expressions may nest before the parser gives up (54001-style
/// error instead of exhausting the stack).
const RECURSION_LIMIT: usize = 200;

/// One parsed statement and Tessera's extensions to it.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub statement: Statement,
    /// `DISTRIBUTED BY (…)` after a CREATE TABLE.
    pub distributed_by: Option<Vec<Ident>>,
}

fn syntax(e: ParserError) -> Error {
    let msg = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        ParserError::RecursionLimitExceeded => {
            return Error::new(
                tessera_types::sqlstate::PROGRAM_LIMIT_EXCEEDED,
                "statement is too deeply nested",
            )
        }
    };
    Error::syntax(format!("syntax error: {msg}"))
}

/// Parses every statement in `sql`.
pub fn parse(sql: &str) -> Result<Vec<Parsed>> {
    if sql.len() > SQL_TEXT_BYTES_MAX {
        return Err(Error::new(
            tessera_types::sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!(
                "statement text is {} bytes; the limit is {SQL_TEXT_BYTES_MAX}",
                sql.len()
            ),
        ));
    }
    let dialect = PostgreSqlDialect {};
    let mut tokens = Tokenizer::new(&dialect, sql)
        .with_unescape(true)
        .tokenize_with_location()
        .map_err(|e| syntax(e.into()))?;
    if mentions(sql, "sequence") || mentions(sql, "identity") {
        order_sequence_options(&mut tokens);
    }
    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .with_tokens_with_locations(tokens);
    let mut out = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        if parser.peek_token().token == Token::EOF {
            break;
        }
        let statement = parser.parse_statement().map_err(syntax)?;
        let mut distributed_by = None;
        if matches!(statement, Statement::CreateTable(_)) {
            if let Token::Word(w) = &parser.peek_token().token {
                if w.value.eq_ignore_ascii_case("distributed") {
                    parser.next_token();
                    parser.expect_keyword(Keyword::BY).map_err(syntax)?;
                    distributed_by = Some(
                        parser
                            .parse_parenthesized_column_list(IsOptional::Mandatory, false)
                            .map_err(syntax)?,
                    );
                }
            }
        }
        let next = parser.peek_token();
        if next.token != Token::EOF && next.token != Token::SemiColon {
            return Err(Error::syntax(format!(
                "syntax error at or near \"{}\"",
                next.token
            )));
        }
        out.push(Parsed {
            statement,
            distributed_by,
        });
    }
    Ok(out)
}

/// One expression (a stored DEFAULT's text).
pub fn parse_expr(sql: &str) -> Result<sqlparser::ast::Expr> {
    let dialect = PostgreSqlDialect {};
    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)
        .map_err(syntax)?;
    let e = parser.parse_expr().map_err(syntax)?;
    parser.expect_token(&Token::EOF).map_err(syntax)?;
    Ok(e)
}

/// A possibly qualified, possibly quoted name (the text of a regclass:
/// `s`, `"S"`, `public.s`).
pub fn parse_object_name(text: &str) -> Result<sqlparser::ast::ObjectName> {
    let invalid = || Error::new(tessera_types::sqlstate::INVALID_NAME, "invalid name syntax");
    let dialect = PostgreSqlDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|_| invalid())?;
    let name = parser.parse_object_name(false).map_err(|_| invalid())?;
    if parser.peek_token().token != Token::EOF {
        return Err(invalid());
    }
    Ok(name)
}

/// Whether `sql` contains `word` (ASCII, any case).
fn mentions(sql: &str, word: &str) -> bool {
    sql.as_bytes()
        .windows(word.len())
        .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
}

fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
}

/// PostgreSQL takes sequence options in any order (pg_dump writes START
/// before INCREMENT); sqlparser only in one. The options of CREATE
/// SEQUENCE and of `AS IDENTITY (…)` are put in its order.
fn order_sequence_options(tokens: &mut Vec<TokenWithSpan>) {
    tokens.retain(|t| !matches!(t.token, Token::Whitespace(_)));
    let mut i = 0;
    while i < tokens.len() {
        let start = if is_word(&tokens[i].token, "identity")
            && tokens.get(i + 1).is_some_and(|t| t.token == Token::LParen)
        {
            Some(i + 2)
        } else if is_word(&tokens[i].token, "sequence")
            && i > 0
            && (is_word(&tokens[i - 1].token, "create")
                || is_word(&tokens[i - 1].token, "temp")
                || is_word(&tokens[i - 1].token, "temporary"))
        {
            // Past IF NOT EXISTS and the (possibly qualified) name.
            let mut j = i + 1;
            if is_word(&tokens.get(j).map_or(Token::EOF, |t| t.token.clone()), "if") {
                j += 3;
            }
            j += 1;
            while tokens.get(j).is_some_and(|t| t.token == Token::Period) {
                j += 2;
            }
            Some(j)
        } else {
            None
        };
        let Some(start) = start.filter(|s| *s <= tokens.len()) else {
            i += 1;
            continue;
        };
        let end = (start..tokens.len())
            .find(|j| {
                matches!(
                    tokens[*j].token,
                    Token::RParen | Token::SemiColon | Token::EOF
                )
            })
            .unwrap_or(tokens.len());
        // Split into clauses, each starting with an option's keyword.
        let rank = |k: usize| -> Option<u8> {
            let t = &tokens[k].token;
            let next = tokens.get(k + 1).map(|t| &t.token);
            let after_no = |w| next.is_some_and(|n| is_word(n, w));
            if is_word(t, "as") {
                Some(0)
            } else if is_word(t, "increment") {
                Some(1)
            } else if is_word(t, "minvalue") || (is_word(t, "no") && after_no("minvalue")) {
                Some(2)
            } else if is_word(t, "maxvalue") || (is_word(t, "no") && after_no("maxvalue")) {
                Some(3)
            } else if is_word(t, "start") {
                Some(4)
            } else if is_word(t, "cache") {
                Some(5)
            } else if is_word(t, "cycle") || (is_word(t, "no") && after_no("cycle")) {
                Some(6)
            } else if is_word(t, "owned") {
                Some(7)
            } else {
                None
            }
        };
        let mut clauses: Vec<(u8, Vec<TokenWithSpan>)> = Vec::new();
        let mut k = start;
        let mut orderable = true;
        while k < end {
            match rank(k) {
                Some(r) => {
                    let skip = if matches!(r, 2 | 3 | 6) && is_word(&tokens[k].token, "no") {
                        2
                    } else {
                        1
                    };
                    clauses.push((r, tokens[k..k + skip].to_vec()));
                    k += skip;
                }
                None => match clauses.last_mut() {
                    Some((_, c)) => {
                        c.push(tokens[k].clone());
                        k += 1;
                    }
                    None => {
                        orderable = false;
                        break;
                    }
                },
            }
        }
        if orderable {
            clauses.sort_by_key(|(r, _)| *r);
            let ordered: Vec<TokenWithSpan> = clauses.into_iter().flat_map(|(_, c)| c).collect();
            tokens.splice(start..end, ordered);
        }
        i = end;
    }
}
