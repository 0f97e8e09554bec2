//! SQL text to syntax trees, with `sqlparser`'s PostgreSQL dialect plus
//! Tessera's own clause: `CREATE TABLE … DISTRIBUTED BY (cols)`, and what
//! sqlparser lacks: ALTER SEQUENCE, `RESET name` (read as `SET name TO
//! DEFAULT`), DECLARE … CURSOR, FETCH and MOVE (see [`crate::cursor`]),
//! CREATE DOMAIN with NOT NULL and ALTER DOMAIN, and what pg_dump sends or
//! writes: `LOCK TABLE`, `ALTER TYPE/DOMAIN … OWNER TO`, `x
//! OPERATOR(pg_catalog.=) ANY (…)` and `FROM ONLY t`.

use sqlparser::ast::{Ident, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{IsOptional, Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use tessera_types::{Error, Result};

use crate::copy::{CopyOption, CopyOptionValue};
use crate::cursor::{CursorCommand, CursorOptions, FetchDirection, FETCH_ALL};

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
    /// `DISTRIBUTED GLOBALLY` after a CREATE TABLE.
    pub distributed_globally: bool,
    /// `IN TIER name` after a CREATE TABLE (and its DISTRIBUTED BY).
    pub in_tier: Option<Ident>,
    /// CREATE TABLE name (columns) AS …: the column names.
    pub as_columns: Vec<Ident>,
    /// CREATE TABLE … AS … WITH [NO] DATA.
    pub with_data: bool,
    /// ALTER SEQUENCE, which sqlparser does not parse: its options are in
    /// `statement`, a `CreateSequence`, and the rest here.
    pub alter_sequence: Option<AlterSequence>,
    /// `RESET name`, parsed as `SET name TO DEFAULT` (its tag differs).
    pub reset: bool,
    /// CREATE USER, parsed as CREATE ROLE (sqlparser reads CREATE USER in
    /// Snowflake's grammar); it implies LOGIN.
    pub create_user: bool,
    /// VACUUM or ANALYZE in PostgreSQL's grammar, which sqlparser does not
    /// parse (`statement` is a placeholder `Vacuum`).
    pub maintenance: Option<Maintenance>,
    /// COPY in PostgreSQL's grammar: `statement` is sqlparser's `Copy`
    /// (source, direction, target) with its own option lists empty, and
    /// the options, in either spelling, are here (see [`parse_copy`]).
    pub copy: Option<Vec<CopyOption>>,
    /// DECLARE (`statement` is its query), FETCH or MOVE (`statement` is
    /// a placeholder `Fetch`), which sqlparser reads only in part.
    pub cursor: Option<CursorCommand>,
    /// CREATE DOMAIN or ALTER DOMAIN in PostgreSQL's grammar (`statement`
    /// is a placeholder `CreateDomain`): sqlparser reads no NOT NULL in
    /// CREATE DOMAIN and no ALTER DOMAIN.
    pub domain: Option<DomainCommand>,
    /// `LOCK [TABLE] [ONLY] name [*], … [IN mode MODE] [NOWAIT]`
    /// (`statement` is a placeholder `LockTables`), which sqlparser
    /// reads only in MySQL's grammar.
    pub lock: Option<LockCommand>,
    /// `ALTER TYPE name OWNER TO role` or `ALTER DOMAIN name OWNER TO
    /// role` (`statement` is a placeholder `UnlockTables`), which
    /// sqlparser does not read and pg_dump writes for every type.
    pub owner_to: Option<OwnerChange>,
}

/// ALTER TYPE or ALTER DOMAIN … OWNER TO.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerChange {
    /// ALTER DOMAIN (else ALTER TYPE).
    pub domain: bool,
    pub name: sqlparser::ast::ObjectName,
    pub role: Ident,
}

/// LOCK TABLE: the tables and the lock mode, upper case
/// (`ACCESS EXCLUSIVE` when none is written, as in PostgreSQL).
#[derive(Debug, Clone, PartialEq)]
pub struct LockCommand {
    pub tables: Vec<sqlparser::ast::ObjectName>,
    pub mode: String,
    pub nowait: bool,
}

/// CREATE DOMAIN or ALTER DOMAIN.
#[derive(Debug, Clone, PartialEq)]
pub enum DomainCommand {
    Create {
        name: sqlparser::ast::ObjectName,
        data_type: sqlparser::ast::DataType,
        default: Option<sqlparser::ast::Expr>,
        /// NOT NULL (the last of NOT NULL and NULL said wins).
        not_null: bool,
        /// CHECK constraints, with their CONSTRAINT names if given.
        checks: Vec<(Option<Ident>, sqlparser::ast::Expr)>,
    },
    Alter {
        name: sqlparser::ast::ObjectName,
        action: DomainAction,
    },
}

/// What ALTER DOMAIN does.
#[derive(Debug, Clone, PartialEq)]
pub enum DomainAction {
    /// SET DEFAULT expr, or DROP DEFAULT (`None`).
    Default(Option<sqlparser::ast::Expr>),
    /// SET NOT NULL (`true`) or DROP NOT NULL.
    NotNull(bool),
    AddCheck(Option<Ident>, sqlparser::ast::Expr),
    DropConstraint {
        name: Ident,
        if_exists: bool,
    },
    RenameTo(Ident),
}

/// `VACUUM [FULL] [FREEZE] [VERBOSE] [ANALYZE] [tables]`, `VACUUM (options)
/// [tables]`, `ANALYZE [VERBOSE] [tables]`, `ANALYZE (options) [tables]`;
/// a table may list columns, which are read and ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Maintenance {
    pub vacuum: bool,
    pub analyze: bool,
    /// CHECKPOINT (no tables).
    pub checkpoint: bool,
    pub tables: Vec<sqlparser::ast::ObjectName>,
}

/// What ALTER SEQUENCE says besides CREATE SEQUENCE's options.
#[derive(Debug, Clone, PartialEq)]
pub struct AlterSequence {
    pub if_exists: bool,
    /// RESTART: `Some(None)` restarts at START, `Some(Some(n))` at n.
    pub restart: Option<Option<sqlparser::ast::Expr>>,
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
    pg_syntax_error(&msg)
}

/// A sqlparser message (`Expected: X, found: T at Line: l, Column: c`) as
/// PostgreSQL words a syntax error: `syntax error at or near "T"`, or `at
/// end of input`; what was expected goes in the detail.
fn pg_syntax_error(msg: &str) -> Error {
    let Some((head, found)) = msg.rsplit_once(", found: ") else {
        return Error::syntax(format!("syntax error: {msg}"));
    };
    let (token, location) = match found.rsplit_once(" at Line: ") {
        Some((token, at)) => {
            let mut parts = at.split(", Column: ");
            let line = parts.next().and_then(|l| l.trim().parse::<u32>().ok());
            let column = parts.next().and_then(|c| c.trim().parse::<u32>().ok());
            (token, line.zip(column))
        }
        None => (found, None),
    };
    if token == "EOF" {
        return Error::syntax("syntax error at end of input")
            .with_detail(format!("{head}."))
            .at_end();
    }
    let error = Error::syntax(format!("syntax error at or near \"{token}\""))
        .with_detail(format!("{head}."));
    match location {
        Some((line, column)) if line > 0 && column > 0 => error.with_location(line, column),
        _ => error,
    }
}

/// DECLARE with both SCROLL and NO SCROLL (42P11).
const SCROLL_CONFLICT: &str = "cannot specify both SCROLL and NO SCROLL";

/// A cursor statement's error: `at or near "x"` as PostgreSQL words it.
fn near(e: ParserError) -> Error {
    match e {
        ParserError::ParserError(m) if m == SCROLL_CONFLICT => {
            Error::new(tessera_types::sqlstate::INVALID_CURSOR_DEFINITION, m)
        }
        ParserError::ParserError(m) if m.starts_with("at or near") => {
            Error::syntax(format!("syntax error {m}"))
        }
        e => syntax(e),
    }
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
    if mentions(sql, "unlogged") {
        drop_unlogged(&mut tokens);
    }
    if mentions(sql, "table") {
        expand_table_queries(&mut tokens);
    }
    if mentions(sql, "operator") {
        plain_quantified_operators(&mut tokens);
    }
    if mentions(sql, "only") {
        drop_only_in_from(&mut tokens);
    }
    let mut as_columns = if mentions(sql, "create") {
        take_as_columns(&mut tokens)
    } else {
        Vec::new()
    }
    .into_iter();
    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .with_tokens_with_locations(tokens);
    let mut out = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        if parser.peek_token().token == Token::EOF {
            break;
        }
        let altered = is_word(&parser.peek_nth_token(0).token, "alter")
            && is_word(&parser.peek_nth_token(1).token, "sequence");
        let reset = is_word(&parser.peek_nth_token(0).token, "reset");
        // CREATE USER and ALTER USER in PostgreSQL's grammar: as ROLE.
        let user_statement = is_word(&parser.peek_nth_token(1).token, "user")
            .then(|| parser.peek_nth_token(0).token)
            .filter(|t| is_word(t, "create") || is_word(t, "alter"));
        let create_user = user_statement
            .as_ref()
            .is_some_and(|t| is_word(t, "create"));
        let first = parser.peek_nth_token(0).token;
        let mut maintenance = None;
        let mut copy = None;
        let mut cursor = None;
        let mut domain = None;
        let mut lock = None;
        let mut owner_to = None;
        let second = parser.peek_nth_token(1).token;
        let type_owner = is_word(&first_word(&parser), "alter")
            && (is_word(&second, "type") || is_word(&second, "domain"))
            && (is_word(&parser.peek_nth_token(3).token, "owner")
                || (parser.peek_nth_token(3).token == Token::Period
                    && is_word(&parser.peek_nth_token(5).token, "owner")));
        let domain_statement = (is_word(&first, "create") || is_word(&first, "alter"))
            && is_word(&parser.peek_nth_token(1).token, "domain");
        let (statement, alter_sequence) = if type_owner {
            owner_to = Some(parse_owner_change(&mut parser).map_err(syntax)?);
            (Statement::UnlockTables, None)
        } else if domain_statement {
            let (statement, command) = parse_domain(&mut parser).map_err(syntax)?;
            domain = Some(command);
            (statement, None)
        } else if is_word(&first, "declare") {
            let (statement, command) = parse_declare(&mut parser).map_err(near)?;
            cursor = Some(command);
            (statement, None)
        } else if is_word(&first, "fetch") || is_word(&first, "move") {
            let (statement, command) = parse_fetch(&mut parser).map_err(near)?;
            cursor = Some(command);
            (statement, None)
        } else if is_word(&first, "lock") {
            lock = Some(parse_lock(&mut parser).map_err(syntax)?);
            (Statement::LockTables { tables: vec![] }, None)
        } else if is_word(&first, "copy") {
            let (statement, options) = parse_copy(&mut parser).map_err(syntax)?;
            copy = Some(options);
            (statement, None)
        } else if ["vacuum", "analyze", "analyse", "checkpoint"]
            .iter()
            .any(|w| is_word(&first, w))
        {
            let m = if is_word(&first, "checkpoint") {
                parser.next_token();
                Maintenance {
                    vacuum: false,
                    analyze: false,
                    checkpoint: true,
                    tables: Vec::new(),
                }
            } else {
                parse_maintenance(&mut parser).map_err(syntax)?
            };
            let placeholder = Statement::Vacuum(sqlparser::ast::VacuumStatement {
                full: false,
                sort_only: false,
                delete_only: false,
                reindex: false,
                recluster: false,
                table_name: m.tables.first().cloned(),
                threshold: None,
                boost: false,
            });
            maintenance = Some(m);
            (placeholder, None)
        } else if altered {
            let (s, a) = parse_alter_sequence(&mut parser).map_err(syntax)?;
            (s, Some(a))
        } else if reset {
            (parse_reset(&mut parser)?, None)
        } else if let Some(first) = &user_statement {
            parser.next_token();
            parser.next_token();
            let statement = if is_word(first, "create") {
                parser.parse_create_role()
            } else {
                parser.parse_alter_role()
            };
            (statement.map_err(syntax)?, None)
        } else {
            (parser.parse_statement().map_err(syntax)?, None)
        };
        let columns = as_columns.next().unwrap_or_default();
        let mut with_data = true;
        if matches!(&statement, Statement::CreateTable(ct) if ct.query.is_some())
            && parser.parse_keyword(Keyword::WITH)
        {
            with_data = !parser.parse_keyword(Keyword::NO);
            parser.expect_keyword(Keyword::DATA).map_err(syntax)?;
        }
        let mut distributed_by = None;
        let mut distributed_globally = false;
        let is_next = |parser: &Parser, word: &str| matches!(&parser.peek_token().token, Token::Word(w) if w.value.eq_ignore_ascii_case(word));
        if matches!(statement, Statement::CreateTable(_)) && is_next(&parser, "distributed") {
            parser.next_token();
            if is_next(&parser, "globally") {
                parser.next_token();
                distributed_globally = true;
            } else {
                parser.expect_keyword(Keyword::BY).map_err(syntax)?;
                distributed_by = Some(
                    parser
                        .parse_parenthesized_column_list(IsOptional::Mandatory, false)
                        .map_err(syntax)?,
                );
            }
        }
        let mut in_tier = None;
        if matches!(statement, Statement::CreateTable(_))
            && !distributed_globally
            && parser.parse_keyword(Keyword::IN)
        {
            if !is_next(&parser, "tier") {
                return Err(Error::syntax(format!(
                    "syntax error at or near \"{}\"",
                    parser.peek_token().token
                )));
            }
            parser.next_token();
            in_tier = Some(parser.parse_identifier().map_err(syntax)?);
        }
        let next = parser.peek_token();
        if next.token != Token::EOF && next.token != Token::SemiColon {
            let at = next.span.start;
            return Err(
                Error::syntax(format!("syntax error at or near \"{}\"", next.token))
                    .with_location(at.line as u32, at.column as u32),
            );
        }
        out.push(Parsed {
            statement,
            distributed_by,
            distributed_globally,
            in_tier,
            as_columns: columns,
            with_data,
            alter_sequence,
            reset,
            create_user,
            maintenance,
            copy,
            cursor,
            domain,
            lock,
            owner_to,
        });
    }
    Ok(out)
}

fn first_word(parser: &Parser) -> Token {
    parser.peek_nth_token(0).token
}

/// `ALTER {TYPE | DOMAIN} name OWNER TO role`.
fn parse_owner_change(parser: &mut Parser) -> std::result::Result<OwnerChange, ParserError> {
    parser.next_token();
    let domain = is_word(&parser.next_token().token, "domain");
    let name = parser.parse_object_name(false)?;
    let owner = parser.next_token();
    if !is_word(&owner.token, "owner") {
        return parser.expected("OWNER", owner);
    }
    parser.expect_keyword(Keyword::TO)?;
    let role = parser.parse_identifier()?;
    Ok(OwnerChange { domain, name, role })
}

/// The lock modes PostgreSQL's LOCK takes.
const LOCK_MODES: [&str; 8] = [
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
];

/// `LOCK [TABLE] [ONLY] name [*] [, …] [IN mode MODE] [NOWAIT]`.
fn parse_lock(parser: &mut Parser) -> std::result::Result<LockCommand, ParserError> {
    parser.next_token();
    let _ = parser.parse_keyword(Keyword::TABLE);
    let mut tables = Vec::new();
    loop {
        let _ = parser.parse_keyword(Keyword::ONLY);
        tables.push(parser.parse_object_name(false)?);
        // `name *`: the table and its descendants (none in Tessera).
        let _ = parser.consume_token(&Token::Mul);
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    let mut mode = "ACCESS EXCLUSIVE".to_string();
    if parser.parse_keyword(Keyword::IN) {
        let mut words = Vec::new();
        loop {
            let token = parser.next_token();
            match &token.token {
                Token::Word(w) if w.value.eq_ignore_ascii_case("mode") => break,
                Token::Word(w) if w.quote_style.is_none() && words.len() < 3 => {
                    words.push(w.value.to_uppercase())
                }
                _ => return parser.expected("a lock mode", token),
            }
        }
        mode = words.join(" ");
        if !LOCK_MODES.contains(&mode.as_str()) {
            return Err(ParserError::ParserError(format!(
                "syntax error at or near \"{}\"",
                words.last().map_or("MODE", String::as_str)
            )));
        }
    }
    let nowait = parser.parse_keyword(Keyword::NOWAIT);
    Ok(LockCommand {
        tables,
        mode,
        nowait,
    })
}

/// `CREATE DOMAIN name [AS] type [DEFAULT e] [[CONSTRAINT n] {NOT NULL |
/// NULL | CHECK (e)}]…` and `ALTER DOMAIN name {SET DEFAULT e | DROP
/// DEFAULT | {SET | DROP} NOT NULL | ADD [CONSTRAINT n] CHECK (e) | DROP
/// CONSTRAINT [IF EXISTS] n [RESTRICT | CASCADE] | RENAME TO n}`, as PostgreSQL 15's
/// grammar reads them (COLLATE is refused).
fn parse_domain(p: &mut Parser) -> std::result::Result<(Statement, DomainCommand), ParserError> {
    let create = p.parse_keyword(Keyword::CREATE);
    if !create {
        p.expect_keyword(Keyword::ALTER)?;
    }
    p.expect_keyword(Keyword::DOMAIN)?;
    let name = p.parse_object_name(false)?;
    let command = if create {
        let _ = p.parse_keyword(Keyword::AS);
        let data_type = p.parse_data_type()?;
        if p.parse_keyword(Keyword::COLLATE) {
            return Err(ParserError::ParserError(
                "COLLATE in CREATE DOMAIN is not supported".into(),
            ));
        }
        let mut default = None;
        let mut not_null = false;
        let mut checks = Vec::new();
        loop {
            if p.parse_keyword(Keyword::DEFAULT) {
                default = Some(p.parse_expr()?);
                continue;
            }
            let constraint = if p.parse_keyword(Keyword::CONSTRAINT) {
                Some(p.parse_identifier()?)
            } else {
                None
            };
            if p.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
                not_null = true;
            } else if p.parse_keyword(Keyword::NULL) {
                not_null = false;
            } else if p.parse_keyword(Keyword::CHECK) {
                p.expect_token(&Token::LParen)?;
                let e = p.parse_expr()?;
                p.expect_token(&Token::RParen)?;
                checks.push((constraint, e));
            } else if constraint.is_some() {
                return p.expected("NOT NULL, NULL or CHECK", p.peek_token());
            } else {
                break;
            }
        }
        DomainCommand::Create {
            name: name.clone(),
            data_type,
            default,
            not_null,
            checks,
        }
    } else {
        let action = if p.parse_keywords(&[Keyword::SET, Keyword::DEFAULT]) {
            DomainAction::Default(Some(p.parse_expr()?))
        } else if p.parse_keywords(&[Keyword::DROP, Keyword::DEFAULT]) {
            DomainAction::Default(None)
        } else if p.parse_keywords(&[Keyword::SET, Keyword::NOT, Keyword::NULL]) {
            DomainAction::NotNull(true)
        } else if p.parse_keywords(&[Keyword::DROP, Keyword::NOT, Keyword::NULL]) {
            DomainAction::NotNull(false)
        } else if p.parse_keyword(Keyword::ADD) {
            let constraint = if p.parse_keyword(Keyword::CONSTRAINT) {
                Some(p.parse_identifier()?)
            } else {
                None
            };
            p.expect_keyword(Keyword::CHECK)?;
            p.expect_token(&Token::LParen)?;
            let e = p.parse_expr()?;
            p.expect_token(&Token::RParen)?;
            DomainAction::AddCheck(constraint, e)
        } else if p.parse_keywords(&[Keyword::RENAME, Keyword::TO]) {
            DomainAction::RenameTo(p.parse_identifier()?)
        } else if p.parse_keywords(&[Keyword::DROP, Keyword::CONSTRAINT]) {
            let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
            let name = p.parse_identifier()?;
            let _ = p.parse_one_of_keywords(&[Keyword::RESTRICT, Keyword::CASCADE]);
            DomainAction::DropConstraint { name, if_exists }
        } else {
            return p.expected(
                "SET DEFAULT, DROP DEFAULT, SET NOT NULL, DROP NOT NULL, ADD or DROP CONSTRAINT, \
                 RENAME TO",
                p.peek_token(),
            );
        };
        DomainCommand::Alter {
            name: name.clone(),
            action,
        }
    };
    let placeholder = Statement::CreateDomain(sqlparser::ast::CreateDomain {
        name,
        data_type: sqlparser::ast::DataType::Int(None),
        collation: None,
        default: None,
        constraints: vec![],
    });
    Ok((placeholder, command))
}

/// `COPY { table [(columns)] | (query) } { FROM | TO } { STDIN | STDOUT |
/// 'file' | PROGRAM 'command' } [ [WITH] (option [value], …) | legacy
/// options ]`, as PostgreSQL 15's grammar reads it. sqlparser's own COPY
/// wants a `;` after STDIN and reads few option spellings (not `FREEZE
/// ON`, which pgbench sends). The legacy options (`BINARY`, `CSV`,
/// `HEADER`, `DELIMITER [AS] 'c'`, `NULL [AS] 's'`, `QUOTE [AS] 'q'`,
/// `ESCAPE [AS] 'e'`, `FORCE QUOTE cols|*`, `FORCE NOT NULL cols`,
/// `FORCE NULL cols`, `FREEZE`, `ENCODING 'e'`) become the same
/// [`CopyOption`]s as the parenthesized ones; `crate::copy` checks them.
fn parse_copy(
    parser: &mut Parser,
) -> std::result::Result<(Statement, Vec<CopyOption>), ParserError> {
    use sqlparser::ast::{CopySource, CopyTarget};
    parser.next_token();
    let mut options = Vec::new();
    // `COPY BINARY t …`, the oldest spelling.
    if is_word(&parser.peek_token().token, "binary")
        && !matches!(
            parser.peek_nth_token(1).token,
            Token::Word(ref w) if w.value.eq_ignore_ascii_case("from") || w.value.eq_ignore_ascii_case("to")
        )
    {
        parser.next_token();
        options.push(text_option("format", "binary"));
    }
    let source = if parser.consume_token(&Token::LParen) {
        let query = parser.parse_query()?;
        parser.expect_token(&Token::RParen)?;
        CopySource::Query(query)
    } else {
        let table_name = parser.parse_object_name(false)?;
        let columns = parser.parse_parenthesized_column_list(IsOptional::Optional, false)?;
        CopySource::Table {
            table_name,
            columns,
        }
    };
    let to = match parser.parse_one_of_keywords(&[Keyword::FROM, Keyword::TO]) {
        Some(Keyword::TO) => true,
        Some(_) => false,
        None => return parser.expected("FROM or TO", parser.peek_token()),
    };
    let target = if parser.parse_keyword(Keyword::STDIN) {
        CopyTarget::Stdin
    } else if parser.parse_keyword(Keyword::STDOUT) {
        CopyTarget::Stdout
    } else if parser.parse_keyword(Keyword::PROGRAM) {
        CopyTarget::Program {
            command: parser.parse_literal_string()?,
        }
    } else {
        CopyTarget::File {
            filename: parser.parse_literal_string()?,
        }
    };
    let _ = parser.parse_keyword(Keyword::WITH);
    if parser.consume_token(&Token::LParen) {
        loop {
            options.push(parse_generic_copy_option(parser)?);
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        parser.expect_token(&Token::RParen)?;
    } else {
        parse_legacy_copy_options(parser, &mut options)?;
    }
    if is_word(&parser.peek_token().token, "where") {
        return Err(ParserError::ParserError(
            "COPY FROM … WHERE is not supported".into(),
        ));
    }
    let statement = Statement::Copy {
        source,
        to,
        target,
        options: vec![],
        legacy_options: vec![],
        values: vec![],
    };
    Ok((statement, options))
}

fn text_option(name: &str, value: &str) -> CopyOption {
    CopyOption {
        name: name.into(),
        value: CopyOptionValue::Text(value.into()),
    }
}

/// A string constant, a number or a word, as text.
fn copy_option_text(token: &Token) -> Option<String> {
    match token {
        Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s) => Some(s.clone()),
        Token::Number(n, _) => Some(n.clone()),
        Token::Word(w) => Some(w.value.clone()),
        _ => None,
    }
}

/// One `name [value]` of `WITH (…)`: the value is a word, a string, a
/// number, `*` or a parenthesized list of column names.
fn parse_generic_copy_option(parser: &mut Parser) -> std::result::Result<CopyOption, ParserError> {
    let token = parser.next_token();
    let name = match &token.token {
        Token::Word(w) => w.value.to_ascii_lowercase(),
        _ => return parser.expected("a COPY option", token),
    };
    let value = match parser.peek_token().token {
        Token::Comma | Token::RParen => CopyOptionValue::None,
        Token::Mul => {
            parser.next_token();
            CopyOptionValue::Star
        }
        Token::LParen => {
            let columns = parser.parse_parenthesized_column_list(IsOptional::Mandatory, false)?;
            CopyOptionValue::Columns(columns.iter().map(ident_text).collect())
        }
        ref other => match copy_option_text(other) {
            Some(text) => {
                parser.next_token();
                CopyOptionValue::Text(text)
            }
            None => return parser.expected("a COPY option value", parser.peek_token()),
        },
    };
    Ok(CopyOption { name, value })
}

/// A column name as PostgreSQL folds it: quoted as written, else lower case.
fn ident_text(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

fn parse_legacy_copy_options(
    parser: &mut Parser,
    options: &mut Vec<CopyOption>,
) -> std::result::Result<(), ParserError> {
    let string_after_as = |parser: &mut Parser| -> std::result::Result<String, ParserError> {
        if is_word(&parser.peek_token().token, "as") {
            parser.next_token();
        }
        let token = parser.next_token();
        match &token.token {
            Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s) => Ok(s.clone()),
            _ => parser.expected("a string", token),
        }
    };
    let column_list = |parser: &mut Parser| -> std::result::Result<Vec<String>, ParserError> {
        let mut names = Vec::new();
        loop {
            names.push(ident_text(&parser.parse_identifier()?));
            if !parser.consume_token(&Token::Comma) {
                return Ok(names);
            }
        }
    };
    loop {
        let token = parser.peek_token().token;
        let Token::Word(word) = &token else {
            return Ok(());
        };
        let word = word.value.to_ascii_lowercase();
        match word.as_str() {
            "binary" | "csv" => {
                parser.next_token();
                options.push(text_option("format", &word));
            }
            "header" | "freeze" => {
                parser.next_token();
                options.push(CopyOption {
                    name: word,
                    value: CopyOptionValue::None,
                });
            }
            "oids" => {
                parser.next_token();
                options.push(CopyOption {
                    name: word,
                    value: CopyOptionValue::None,
                });
            }
            "delimiter" | "null" | "quote" | "escape" | "encoding" => {
                parser.next_token();
                let value = string_after_as(parser)?;
                options.push(text_option(&word, &value));
            }
            "force" => {
                parser.next_token();
                let value = if is_word(&parser.peek_token().token, "quote") {
                    parser.next_token();
                    if parser.consume_token(&Token::Mul) {
                        ("force_quote", CopyOptionValue::Star)
                    } else {
                        (
                            "force_quote",
                            CopyOptionValue::Columns(column_list(parser)?),
                        )
                    }
                } else if is_word(&parser.peek_token().token, "not") {
                    parser.next_token();
                    parser.expect_keyword(Keyword::NULL)?;
                    (
                        "force_not_null",
                        CopyOptionValue::Columns(column_list(parser)?),
                    )
                } else {
                    parser.expect_keyword(Keyword::NULL)?;
                    ("force_null", CopyOptionValue::Columns(column_list(parser)?))
                };
                options.push(CopyOption {
                    name: value.0.into(),
                    value: value.1,
                });
            }
            _ => return Ok(()),
        }
    }
}

/// `DECLARE name [BINARY] [ASENSITIVE | INSENSITIVE] [[NO] SCROLL] CURSOR
/// [{WITH | WITHOUT} HOLD] FOR query`, the options in any order as
/// PostgreSQL 15's grammar takes them.
fn parse_declare(
    parser: &mut Parser,
) -> std::result::Result<(Statement, CursorCommand), ParserError> {
    parser.next_token();
    let name = ident_text(&parser.parse_identifier()?);
    let mut options = CursorOptions::default();
    loop {
        let token = parser.peek_token();
        if is_word(&token.token, "binary") {
            options.binary = true;
        } else if is_word(&token.token, "insensitive") || is_word(&token.token, "asensitive") {
        } else if is_word(&token.token, "scroll") {
            if options.scroll == Some(false) {
                return Err(ParserError::ParserError(SCROLL_CONFLICT.into()));
            }
            options.scroll = Some(true);
        } else if is_word(&token.token, "no") && is_word(&parser.peek_nth_token(1).token, "scroll")
        {
            parser.next_token();
            if options.scroll == Some(true) {
                return Err(ParserError::ParserError(SCROLL_CONFLICT.into()));
            }
            options.scroll = Some(false);
        } else if is_word(&token.token, "cursor") {
            parser.next_token();
            break;
        } else {
            return parser.expected("CURSOR", token);
        }
        parser.next_token();
    }
    if parser.parse_keyword(Keyword::WITH) {
        if !is_word(&parser.peek_token().token, "hold") {
            return parser.expected("HOLD", parser.peek_token());
        }
        parser.next_token();
        options.hold = true;
    } else if parser.parse_keyword(Keyword::WITHOUT) {
        if !is_word(&parser.peek_token().token, "hold") {
            return parser.expected("HOLD", parser.peek_token());
        }
        parser.next_token();
    }
    parser.expect_keyword(Keyword::FOR)?;
    // A SELECT, VALUES or TABLE, not a write (which sqlparser reads as a
    // query).
    let first = parser.peek_token();
    if ["insert", "update", "delete", "merge"]
        .iter()
        .any(|w| is_word(&first.token, w))
    {
        return Err(ParserError::ParserError(format!(
            "at or near \"{}\"",
            first.token
        )));
    }
    let query = parser.parse_query()?;
    Ok((
        Statement::Query(query),
        CursorCommand::Declare { name, options },
    ))
}

/// `{FETCH | MOVE} [direction] [FROM | IN] name`, every direction of
/// PostgreSQL 15's grammar (a count is a signed 32-bit integer).
fn parse_fetch(
    parser: &mut Parser,
) -> std::result::Result<(Statement, CursorCommand), ParserError> {
    let move_only = is_word(&parser.next_token().token, "move");
    let count = |parser: &mut Parser| -> std::result::Result<Option<i64>, ParserError> {
        let negative = match parser.peek_token().token {
            Token::Minus => true,
            Token::Plus => false,
            Token::Number(..) => false,
            _ => return Ok(None),
        };
        if !matches!(parser.peek_token().token, Token::Number(..)) {
            parser.next_token();
        }
        let token = parser.next_token();
        let Token::Number(digits, _) = &token.token else {
            return parser.expected("a number", token);
        };
        let value = digits
            .parse::<i64>()
            .ok()
            .map(|n| if negative { -n } else { n })
            .filter(|n| i32::try_from(*n).is_ok());
        match value {
            Some(n) => Ok(Some(n)),
            None => Err(ParserError::ParserError(format!("at or near \"{digits}\""))),
        }
    };
    let word = |parser: &mut Parser, w: &str| -> bool {
        // A direction word, unless it is the cursor's name (last word).
        let next = parser.peek_nth_token(1).token;
        if is_word(&parser.peek_token().token, w) && next != Token::EOF && next != Token::SemiColon
        {
            parser.next_token();
            true
        } else {
            false
        }
    };
    let all = |parser: &mut Parser| -> bool {
        if is_word(&parser.peek_token().token, "all") {
            parser.next_token();
            true
        } else {
            false
        }
    };
    let direction = if word(parser, "next") {
        FetchDirection::Forward(1)
    } else if word(parser, "prior") {
        FetchDirection::Backward(1)
    } else if word(parser, "first") {
        FetchDirection::Absolute(1)
    } else if word(parser, "last") {
        FetchDirection::Absolute(-1)
    } else if word(parser, "absolute") {
        match count(parser)? {
            Some(n) => FetchDirection::Absolute(n),
            None => return parser.expected("a number", parser.peek_token()),
        }
    } else if word(parser, "relative") {
        match count(parser)? {
            Some(n) => FetchDirection::Relative(n),
            None => return parser.expected("a number", parser.peek_token()),
        }
    } else if word(parser, "forward") {
        if all(parser) {
            FetchDirection::Forward(FETCH_ALL)
        } else {
            FetchDirection::Forward(count(parser)?.unwrap_or(1))
        }
    } else if word(parser, "backward") {
        if all(parser) {
            FetchDirection::Backward(FETCH_ALL)
        } else {
            FetchDirection::Backward(count(parser)?.unwrap_or(1))
        }
    } else if word(parser, "all") {
        FetchDirection::Forward(FETCH_ALL)
    } else {
        FetchDirection::Forward(count(parser)?.unwrap_or(1))
    };
    if !parser.parse_keyword(Keyword::FROM) {
        let _ = parser.parse_keyword(Keyword::IN);
    }
    let ident = parser.parse_identifier()?;
    let name = ident_text(&ident);
    let statement = Statement::Fetch {
        name: ident,
        direction: sqlparser::ast::FetchDirection::Next,
        position: sqlparser::ast::FetchPosition::From,
        into: None,
    };
    Ok((
        statement,
        CursorCommand::Fetch {
            name,
            direction,
            move_only,
        },
    ))
}

/// VACUUM or ANALYZE (see [`Maintenance`]), from its first word.
fn parse_maintenance(parser: &mut Parser) -> std::result::Result<Maintenance, ParserError> {
    let vacuum = is_word(&parser.next_token().token, "vacuum");
    let mut analyze = !vacuum;
    if parser.consume_token(&Token::LParen) {
        // Options: a name and maybe a value each.
        loop {
            let option = parser.parse_identifier()?;
            let name = option.value.to_ascii_lowercase();
            if name == "analyze" || name == "analyse" {
                analyze = true;
            }
            if !matches!(parser.peek_token().token, Token::Comma | Token::RParen) {
                parser.next_token();
            }
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        parser.expect_token(&Token::RParen)?;
    } else {
        for word in ["full", "freeze", "verbose", "analyze", "analyse"] {
            if is_word(&parser.peek_token().token, word) {
                parser.next_token();
                analyze |= word.starts_with("analy");
            }
        }
    }
    let mut tables = Vec::new();
    if matches!(parser.peek_token().token, Token::Word(_)) {
        loop {
            tables.push(parser.parse_object_name(false)?);
            if parser.consume_token(&Token::LParen) {
                parser.parse_comma_separated(|p| p.parse_identifier())?;
                parser.expect_token(&Token::RParen)?;
            }
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
    }
    Ok(Maintenance {
        vacuum,
        analyze,
        checkpoint: false,
        tables,
    })
}

/// `RESET name`: `SET name TO DEFAULT` (`RESET ALL`: the name `all`).
fn parse_reset(parser: &mut Parser) -> Result<Statement> {
    parser.next_token();
    let variable = parser.parse_object_name(false).map_err(syntax)?;
    Ok(Statement::Set(sqlparser::ast::Set::SingleAssignment {
        scope: None,
        hivevar: false,
        variable,
        values: vec![sqlparser::ast::Expr::Identifier(Ident::new("DEFAULT"))],
    }))
}

/// One query (a view's text), its tokens' places kept as they are in
/// `text`.
pub fn parse_query(text: &str) -> Result<sqlparser::ast::Query> {
    let dialect = PostgreSqlDialect {};
    let mut tokens = Tokenizer::new(&dialect, text)
        .with_unescape(true)
        .tokenize_with_location()
        .map_err(|e| syntax(e.into()))?;
    if mentions(text, "table") {
        expand_table_queries(&mut tokens);
    }
    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .with_tokens_with_locations(tokens);
    let query = parser.parse_query().map_err(syntax)?;
    Ok(*query)
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

/// `CREATE UNLOGGED TABLE` (and `SEQUENCE`): PostgreSQL skips the log for
/// them and empties them after a crash; Tessera logs them like any table,
/// which keeps every promise an unlogged table makes (and more), so the
/// word is dropped. (`pgbench --unlogged-tables` and test setups send it.)
fn drop_unlogged(tokens: &mut Vec<TokenWithSpan>) {
    let mut i = 0;
    while i < tokens.len() {
        let next_word = |from: usize| {
            (from..tokens.len()).find(|&k| !matches!(tokens[k].token, Token::Whitespace(_)))
        };
        if is_word(&tokens[i].token, "create") {
            if let Some(u) = next_word(i + 1).filter(|&u| is_word(&tokens[u].token, "unlogged")) {
                let object = next_word(u + 1).map(|k| &tokens[k].token);
                if object.is_some_and(|t| is_word(t, "table") || is_word(t, "sequence")) {
                    tokens.remove(u);
                }
            }
        }
        i += 1;
    }
}

/// `TABLE name`, the SQL standard's `SELECT * FROM name`, where a query
/// may start: sqlparser reads it only in part (it takes the two tokens
/// after the name as well, so `TABLE a UNION TABLE b` and `TABLE t ORDER
/// BY k` fail), so the keyword is written as `SELECT * FROM` (the name's
/// tokens, quoting and positions kept). A query may start a statement,
/// follow `(`, `)` (`WITH w AS (…) TABLE w`, `INSERT INTO t (a) TABLE
/// s`), a set operation, `AS` (CREATE VIEW, CREATE TABLE, PREPARE),
/// `FOR` (DECLARE … CURSOR), EXPLAIN and its options, or `INSERT INTO
/// name`; everywhere else (`CREATE TABLE`, `ALTER TABLE`, `ON TABLE`,
/// `LOCK TABLE` …) TABLE is left alone.
fn expand_table_queries(tokens: &mut Vec<TokenWithSpan>) {
    tokens.retain(|t| !matches!(t.token, Token::Whitespace(_)));
    let mut i = 0;
    while i < tokens.len() {
        if is_word(&tokens[i].token, "table")
            && tokens.get(i + 1).is_some_and(|t| names_relation(&t.token))
            && starts_query(&tokens[..i])
        {
            let span = tokens[i].span;
            let with = |token| TokenWithSpan { token, span };
            tokens.splice(
                i..=i,
                [
                    with(Token::make_keyword("SELECT")),
                    with(Token::Mul),
                    with(Token::make_keyword("FROM")),
                ],
            );
            i += 3;
        } else {
            i += 1;
        }
    }
}

/// `FROM ONLY t` and `JOIN ONLY t` (pg_dump's `--inserts` reads each
/// table so): no table has descendants, so ONLY reads what the bare name
/// reads, and it goes (sqlparser takes ONLY for a table name there). A
/// quoted `"only"` is a name and stays.
fn drop_only_in_from(tokens: &mut Vec<TokenWithSpan>) {
    let code: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let mut gone = Vec::new();
    for k in 1..code.len().saturating_sub(1) {
        let before = &tokens[code[k - 1]].token;
        let after = &tokens[code[k + 1]].token;
        if is_word(&tokens[code[k]].token, "only")
            && (is_word(before, "from") || is_word(before, "join"))
            && matches!(after, Token::Word(_))
        {
            gone.push(code[k]);
        }
    }
    for i in gone.into_iter().rev() {
        tokens.remove(i);
    }
}

/// `x OPERATOR(pg_catalog.=) ANY (array)`, as pg_dump writes it: the
/// operator's own symbol before ANY, ALL or SOME, which sqlparser reads
/// (it takes OPERATOR(…) only between two operands). Only the built-in
/// comparison symbols qualified by `pg_catalog`, or bare, are rewritten;
/// anything else stays for the binder to refuse.
fn plain_quantified_operators(tokens: &mut Vec<TokenWithSpan>) {
    let code: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let mut replace = Vec::new();
    let at = |k: usize| code.get(k).map(|&i| &tokens[i].token);
    for k in 0..code.len() {
        if !at(k).is_some_and(|t| is_word(t, "operator")) || at(k + 1) != Some(&Token::LParen) {
            continue;
        }
        let (symbol_at, close_at) = match (at(k + 2), at(k + 3)) {
            (Some(t), Some(Token::Period)) if is_word(t, "pg_catalog") => (k + 4, k + 5),
            _ => (k + 2, k + 3),
        };
        let comparison = matches!(
            at(symbol_at),
            Some(
                Token::Eq
                    | Token::Neq
                    | Token::Lt
                    | Token::Gt
                    | Token::LtEq
                    | Token::GtEq
                    | Token::Tilde
                    | Token::TildeAsterisk
                    | Token::ExclamationMarkTilde
                    | Token::ExclamationMarkTildeAsterisk
            )
        );
        let quantified = at(close_at + 1)
            .is_some_and(|t| is_word(t, "any") || is_word(t, "all") || is_word(t, "some"));
        if comparison && at(close_at) == Some(&Token::RParen) && quantified {
            replace.push((code[k], code[symbol_at], code[close_at]));
        }
    }
    for (start, symbol, end) in replace.into_iter().rev() {
        let op = tokens[symbol].clone();
        tokens.splice(start..=end, [op]);
    }
}

/// Whether `token` may start the name after `TABLE` (not, say, the FROM
/// of `SELECT 1 AS table FROM t`).
fn names_relation(token: &Token) -> bool {
    const CLAUSES: [&str; 14] = [
        "from",
        "where",
        "group",
        "having",
        "order",
        "limit",
        "offset",
        "union",
        "intersect",
        "except",
        "window",
        "into",
        "fetch",
        "returning",
    ];
    match token {
        Token::Word(w) => w.quote_style.is_some() || !CLAUSES.iter().any(|c| is_word(token, c)),
        _ => false,
    }
}

/// Whether a query may start after `before` (see [`expand_table_queries`]).
fn starts_query(before: &[TokenWithSpan]) -> bool {
    let word = |k: usize, w: &str| {
        before
            .len()
            .checked_sub(k)
            .is_some_and(|j| is_word(&before[j].token, w))
    };
    let Some(last) = before.last() else {
        return true;
    };
    if matches!(last.token, Token::SemiColon | Token::LParen | Token::RParen) {
        return true;
    }
    if ["union", "intersect", "except", "as", "for", "explain"]
        .iter()
        .any(|w| word(1, w))
    {
        return true;
    }
    // UNION ALL / DISTINCT; EXPLAIN ANALYZE [VERBOSE], EXPLAIN VERBOSE.
    if (word(1, "all") || word(1, "distinct"))
        && ["union", "intersect", "except"].iter().any(|w| word(2, w))
    {
        return true;
    }
    if (word(1, "analyze") || word(1, "verbose"))
        && (word(2, "explain") || (word(2, "analyze") && word(3, "explain")))
    {
        return true;
    }
    // INSERT INTO name / schema.name.
    let name = |k: usize| {
        before
            .len()
            .checked_sub(k)
            .is_some_and(|j| matches!(before[j].token, Token::Word(_)))
    };
    let dotted =
        name(1) && before.len() >= 2 && before[before.len() - 2].token == Token::Period && name(3);
    if dotted {
        word(4, "into") && word(5, "insert")
    } else {
        name(1) && word(2, "into") && word(3, "insert")
    }
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

/// `CREATE TABLE name (a, b) AS …` names the query's columns in a list
/// sqlparser does not take: each such list is cut out of `tokens`. Returns,
/// per statement in order, the names taken (empty for most).
fn take_as_columns(tokens: &mut Vec<TokenWithSpan>) -> Vec<Vec<Ident>> {
    tokens.retain(|t| !matches!(t.token, Token::Whitespace(_)));
    let mut per_statement = Vec::new();
    let mut start = 0;
    while start < tokens.len() {
        while start < tokens.len() && tokens[start].token == Token::SemiColon {
            start += 1;
        }
        if start >= tokens.len() || tokens[start].token == Token::EOF {
            break;
        }
        let end = (start..tokens.len())
            .find(|j| matches!(tokens[*j].token, Token::SemiColon | Token::EOF))
            .unwrap_or(tokens.len());
        let mut names = Vec::new();
        if let Some((open, close)) = as_column_list(&tokens[start..end]) {
            for t in &tokens[start + open + 1..start + close] {
                if let Token::Word(w) = &t.token {
                    names.push(w.clone().into_ident(t.span));
                }
            }
            tokens.drain(start + open..=start + close);
            per_statement.push(names);
            start = end - (close - open + 1);
        } else {
            per_statement.push(names);
            start = end;
        }
    }
    per_statement
}

/// In one statement's tokens: where `(a, b, …)` sits in `CREATE [TEMP]
/// TABLE [IF NOT EXISTS] name (a, b, …) AS`.
fn as_column_list(t: &[TokenWithSpan]) -> Option<(usize, usize)> {
    let word = |i: usize, w: &str| t.get(i).is_some_and(|x| is_word(&x.token, w));
    let mut i = 0;
    if !word(i, "create") {
        return None;
    }
    i += 1;
    if word(i, "temp") || word(i, "temporary") || word(i, "unlogged") {
        i += 1;
    }
    if !word(i, "table") {
        return None;
    }
    i += 1;
    if word(i, "if") {
        i += 3;
    }
    i += 1;
    while t.get(i).is_some_and(|x| x.token == Token::Period) {
        i += 2;
    }
    if t.get(i).is_none_or(|x| x.token != Token::LParen) {
        return None;
    }
    let open = i;
    i += 1;
    loop {
        if !matches!(t.get(i).map(|x| &x.token), Some(Token::Word(_))) {
            return None;
        }
        i += 1;
        match t.get(i).map(|x| &x.token) {
            Some(Token::Comma) => i += 1,
            Some(Token::RParen) => break,
            _ => return None,
        }
    }
    let close = i;
    word(close + 1, "as").then_some((open, close))
}

/// Expression text with column `old` read as `new` (a CHECK constraint's
/// text after RENAME COLUMN); a name followed by `(` is a function's and
/// is left alone.
pub fn rename_column(text: &str, old: &str, new: &str) -> Result<String> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, text)
        .tokenize()
        .map_err(|e| syntax(e.into()))?;
    let mut out = String::with_capacity(text.len());
    for (i, t) in tokens.iter().enumerate() {
        let called = tokens[i + 1..]
            .iter()
            .find(|n| !matches!(n, Token::Whitespace(_)))
            .is_some_and(|n| *n == Token::LParen);
        match t {
            Token::Word(w)
                if !called && {
                    let name = if w.quote_style.is_some() {
                        w.value.clone()
                    } else {
                        w.value.to_lowercase()
                    };
                    name == old
                } =>
            {
                out.push('"');
                out.push_str(&new.replace('"', "\"\""));
                out.push('"');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    Ok(out)
}

/// `ALTER SEQUENCE [IF EXISTS] name option…` (options in any order).
fn parse_alter_sequence(
    p: &mut Parser,
) -> std::result::Result<(Statement, AlterSequence), ParserError> {
    use sqlparser::ast::SequenceOptions as O;
    p.expect_keyword(Keyword::ALTER)?;
    p.expect_keyword(Keyword::SEQUENCE)?;
    let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let name = p.parse_object_name(false)?;
    let mut options = Vec::new();
    let mut data_type = None;
    let mut owned_by = None;
    let mut restart = None;
    loop {
        if p.parse_keyword(Keyword::AS) {
            data_type = Some(p.parse_data_type()?);
        } else if p.parse_keyword(Keyword::INCREMENT) {
            let by = p.parse_keyword(Keyword::BY);
            options.push(O::IncrementBy(p.parse_expr()?, by));
        } else if p.parse_keyword(Keyword::MINVALUE) {
            options.push(O::MinValue(Some(p.parse_expr()?)));
        } else if p.parse_keywords(&[Keyword::NO, Keyword::MINVALUE]) {
            options.push(O::MinValue(None));
        } else if p.parse_keyword(Keyword::MAXVALUE) {
            options.push(O::MaxValue(Some(p.parse_expr()?)));
        } else if p.parse_keywords(&[Keyword::NO, Keyword::MAXVALUE]) {
            options.push(O::MaxValue(None));
        } else if p.parse_keyword(Keyword::START) {
            let with = p.parse_keyword(Keyword::WITH);
            options.push(O::StartWith(p.parse_expr()?, with));
        } else if p.parse_keyword(Keyword::RESTART) {
            let with = p.parse_keyword(Keyword::WITH);
            let value = match p.peek_token().token {
                Token::Number(..) | Token::Minus | Token::Plus => Some(p.parse_expr()?),
                _ if with => Some(p.parse_expr()?),
                _ => None,
            };
            restart = Some(value);
        } else if p.parse_keyword(Keyword::CACHE) {
            options.push(O::Cache(p.parse_expr()?));
        } else if p.parse_keywords(&[Keyword::NO, Keyword::CYCLE]) {
            options.push(O::Cycle(true));
        } else if p.parse_keyword(Keyword::CYCLE) {
            options.push(O::Cycle(false));
        } else if p.parse_keywords(&[Keyword::OWNED, Keyword::BY]) {
            owned_by = Some(p.parse_object_name(false)?);
        } else {
            break;
        }
    }
    let statement = Statement::CreateSequence {
        temporary: false,
        if_not_exists: false,
        name,
        data_type,
        sequence_options: options,
        owned_by,
    };
    Ok((statement, AlterSequence { if_exists, restart }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(sql: &str) -> (String, Option<String>) {
        let Err(e) = parse(sql) else {
            panic!("{sql} parsed")
        };
        assert_eq!(e.code, tessera_types::sqlstate::SYNTAX_ERROR, "{sql}");
        (e.message, e.detail)
    }

    #[test]
    fn syntax_errors_are_worded_as_postgres_words_them() {
        let (m, d) = message("select 1 +");
        assert_eq!(m, "syntax error at end of input");
        assert_eq!(d.as_deref(), Some("Expected: an expression."));
        assert_eq!(message("selec 1").0, "syntax error at or near \"selec\"");
        assert_eq!(
            message("create table (a int)").0,
            "syntax error at or near \"(\""
        );
    }
}
