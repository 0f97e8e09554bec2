//! SQL text to syntax trees, with `sqlparser`'s PostgreSQL dialect plus
//! Tessera's own clause: `CREATE TABLE … DISTRIBUTED BY (cols)`.

use sqlparser::ast::{Ident, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{IsOptional, Parser, ParserError};
use sqlparser::tokenizer::Token;

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
    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)
        .map_err(syntax)?;
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
