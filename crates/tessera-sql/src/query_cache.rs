//! The statement cache of simple Queries.
//!
//! Clients that send their statements as text (pgbench by default,
//! psycopg2, most shell and ORM code) send the same few statements over and
//! over with other constants. Parsing and binding such a statement costs
//! more than running it when it reads or writes one row, so each session
//! keeps the plans of the Queries it ran, keyed by their text with the
//! constants taken out, and runs a later Query of the same key as that plan
//! with its constants as parameters.
//!
//! The plan must mean what binding the text would have meant. What makes
//! it so:
//! - The key is the text with each constant replaced by a mark of its
//!   class; two texts of one key differ only inside constants.
//! - Only constants in a few positions become parameters ("slots"): a side
//!   of a comparison whose other side is a column, an operand of `+`, `-`
//!   or `*` next to a column, an item of `IN (…)` or a bound of `BETWEEN`
//!   on a column, an item of `INSERT … VALUES`, the value of `UPDATE … SET
//!   col =`; in each, also cast to a type (`'2020-01-01'::date`).
//!   Anywhere else (`ORDER BY 1`, `LIMIT 10`, a type's length, `DATE
//!   '…'`) a constant is part of the key: a later Query must have the
//!   same text there to use the plan.
//! - A slot is typed as the binder types the constant: an integer that fits
//!   `int4` is an `int4` parameter, a number with a point or an exponent a
//!   `numeric` one, a string an untyped one whose type the binder infers
//!   from the column, as it resolves the string constant. Other numbers
//!   (`int8` range, hexadecimal) are never slots.
//! - The first Query of a key runs as bound from its text; the plan with
//!   slots is bound next to it and kept only if it has the same result
//!   columns and flags and its parameters read the Query's constants.
//!   A later constant a parameter cannot read (`'abc'` for an integer
//!   column) runs the Query as text, which raises the error the text does.
//! - A plan is used only under the catalog version and `search_path` it
//!   was bound under. Anything else a binding reads is session state that
//!   only a statement the cache never holds can change (SET, SET ROLE,
//!   DISCARD, DDL, `set_config`): running one empties the cache, as does
//!   the end of a transaction block that restores settings
//!   (`SessionState::end_block_settings`). Inside a block that changed the
//!   catalog the cache is not used.

use std::collections::HashMap;

use sqlparser::ast;
use tessera_types::{DataType, Value};

use crate::plan::{Plan, Statement};

/// The most Queries one session keeps plans of.
const ENTRIES_MAX: usize = 128;

/// A Query longer than this is not cached (analytical queries are long,
/// run seldom, and cost more to run than to bind).
const TEXT_BYTES_MAX: usize = 4096;

/// A session's cache.
#[derive(Debug, Default)]
pub struct QueryCache {
    entries: HashMap<String, Entry>,
    /// Counts lookups: when each entry was last used, for eviction.
    clock: std::cell::Cell<u64>,
}

impl Clone for QueryCache {
    /// A copy of a session starts with no cached plans.
    fn clone(&self) -> QueryCache {
        QueryCache::default()
    }
}

impl QueryCache {
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        let entry = self.entries.get(key)?;
        entry.used.set(self.tick());
        Some(entry)
    }

    /// Adds `entry`; when the cache is full, the least recently used one
    /// makes room.
    pub(crate) fn insert(&mut self, key: String, entry: Entry) {
        if self.entries.len() >= ENTRIES_MAX && !self.entries.contains_key(&key) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used.get())
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        entry.used.set(self.tick());
        self.entries.insert(key, entry);
    }

    fn tick(&self) -> u64 {
        let now = self.clock.get() + 1;
        self.clock.set(now);
        now
    }
}

/// What the cache holds for one key.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The plan with its slots as parameters; `None` when Queries of this
    /// key run as text (the plan could not be made to mean the same).
    pub template: Option<Statement>,
    /// Per constant of the key, in the text's order: a slot (the next
    /// parameter) or the text it must have.
    pub uses: Vec<Use>,
    /// When it was last used (the cache's clock).
    pub used: std::cell::Cell<u64>,
}

impl Entry {
    pub(crate) fn new(template: Option<Statement>, uses: Vec<Use>) -> Entry {
        Entry {
            template,
            uses,
            used: std::cell::Cell::new(0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Use {
    Slot,
    Fixed(Box<str>),
}

/// Whether the cache holds plans of this kind: reads and writes of rows,
/// and the transaction statements around them.
fn held(plan: &Plan) -> bool {
    matches!(
        plan,
        Plan::Select(_)
            | Plan::Insert(_)
            | Plan::Update(_)
            | Plan::Delete(_)
            | Plan::Begin { .. }
            | Plan::Commit
            | Plan::Rollback
            | Plan::Savepoint { .. }
            | Plan::ReleaseSavepoint { .. }
    )
}

/// Whether running `statement` leaves the cache as it is: it changes
/// nothing a binding reads (settings, roles, the catalog, statistics).
pub fn keeps_cache(statement: &Statement) -> bool {
    !statement.uses_settings
        && (held(&statement.plan)
            || matches!(
                *statement.plan,
                Plan::RollbackToSavepoint { .. }
                    | Plan::DeclareCursor { .. }
                    | Plan::FetchCursor { .. }
                    | Plan::CloseCursor { .. }
                    | Plan::Explain { .. }
                    | Plan::Show { .. }
                    | Plan::ShowAll
                    | Plan::Prepare { .. }
                    | Plan::Execute { .. }
                    | Plan::Deallocate { .. }
                    | Plan::Listen { .. }
                    | Plan::Notify { .. }
                    | Plan::Checkpoint
                    | Plan::LockShared
            ))
}

/// Whether a plan like `statement` may be cached at all.
pub(crate) fn cacheable(statement: &Statement) -> bool {
    !statement.uses_settings
        && held(&statement.plan)
        && !statement.deferred
        && !statement.reads_prepared
        && !statement.reads_cursors
        && !statement.reads_system
        && statement.constant_error.is_none()
        && statement.copy.is_none()
}

/// The class of a constant in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Digits whose value fits `int4`.
    Int4,
    /// Digits with a decimal point or an exponent.
    Numeric,
    /// A plain `'…'` string.
    Str,
    /// Any other constant: `E'…'`, `$$…$$`, `B'…'`, `U&'…'`, an integer
    /// beyond `int4`, `0x1F`. Never a slot.
    Other,
}

impl Class {
    fn mark(self) -> char {
        match self {
            Class::Int4 => 'i',
            Class::Numeric => 'n',
            Class::Str => 's',
            Class::Other => 'o',
        }
    }
}

/// One constant of a Query's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Literal<'a> {
    /// Byte offset of its first character in the text.
    pub start: usize,
    /// Its text as written, quotes included.
    pub text: &'a str,
    pub class: Class,
}

impl Literal<'_> {
    /// The value a slot reads: the digits of a number, the unquoted
    /// content of a string.
    pub fn content(&self) -> std::borrow::Cow<'_, str> {
        match self.class {
            Class::Str => {
                let inner = &self.text[1..self.text.len() - 1];
                if inner.contains("''") {
                    std::borrow::Cow::Owned(inner.replace("''", "'"))
                } else {
                    std::borrow::Cow::Borrowed(inner)
                }
            }
            _ => std::borrow::Cow::Borrowed(self.text),
        }
    }
}

/// A Query's text split for the cache.
#[derive(Debug)]
pub(crate) struct Lexed<'a> {
    /// The text with each constant replaced by NUL and its class's mark.
    pub key: String,
    pub literals: Vec<Literal<'a>>,
}

fn ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn ident_char(c: u8) -> bool {
    ident_start(c) || c.is_ascii_digit() || c == b'$'
}

/// Splits `sql` into its key and constants, following PostgreSQL's lexical
/// rules (comments, quoted names, the kinds of string). `None` when the
/// text is not one statement the cache may hold: several statements, a
/// parameter (`$1`), a NUL, something unterminated, or too long.
pub(crate) fn lex(sql: &str) -> Option<Lexed<'_>> {
    if sql.len() > TEXT_BYTES_MAX {
        return None;
    }
    let b = sql.as_bytes();
    let mut key = String::with_capacity(sql.len());
    let mut literals = Vec::new();
    // Where the text not yet copied into the key starts.
    let mut copied = 0;
    let mut ended = false;
    let mut i = 0;
    let mut literal = |start: usize, end: usize, class: Class| {
        key.push_str(&sql[copied..start]);
        key.push('\0');
        key.push(class.mark());
        copied = end;
        literals.push(Literal {
            start,
            text: &sql[start..end],
            class,
        });
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == 0 {
            return None;
        }
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            i = memchr(b, b'\n', i).map_or(b.len(), |n| n + 1);
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 1;
            i += 2;
            while depth > 0 {
                match (b.get(i), b.get(i + 1)) {
                    (Some(b'*'), Some(b'/')) => {
                        depth -= 1;
                        i += 2;
                    }
                    (Some(b'/'), Some(b'*')) => {
                        depth += 1;
                        i += 2;
                    }
                    (Some(_), _) => i += 1,
                    (None, _) => return None,
                }
            }
            continue;
        }
        if ended {
            // Something after the statement's `;`: several statements.
            return None;
        }
        if c == b';' {
            ended = true;
            i += 1;
            continue;
        }
        if c == b'"' {
            i = quoted_end(b, i, b'"', false)?;
            continue;
        }
        if c == b'\'' {
            // A string; after letters (E'…', B'…', X'…', N'…') or U& it is
            // another kind of constant, never a slot.
            let prefix_start = {
                let mut p = i;
                while p > 0 && ident_char(b[p - 1]) {
                    p -= 1;
                }
                p
            };
            let prefix = &b[prefix_start..i];
            let unicode = i >= 2
                && b[i - 1] == b'&'
                && b[i - 2].eq_ignore_ascii_case(&b'u')
                && (i == 2 || !ident_char(b[i - 3]));
            let escapes = prefix.eq_ignore_ascii_case(b"e");
            let end = quoted_end(b, i, b'\'', escapes)?;
            let class = if prefix.is_empty() && !unicode {
                Class::Str
            } else {
                Class::Other
            };
            literal(i, end, class);
            i = end;
            continue;
        }
        if c == b'$' {
            // $1 (a parameter), or a dollar quote $tag$…$tag$.
            if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            if i > 0 && ident_char(b[i - 1]) {
                i += 1;
                continue;
            }
            let mut t = i + 1;
            if b.get(t).copied().is_some_and(ident_start) {
                while b
                    .get(t)
                    .copied()
                    .is_some_and(|c| ident_char(c) && c != b'$')
                {
                    t += 1;
                }
            }
            if b.get(t) != Some(&b'$') {
                i += 1;
                continue;
            }
            let tag = &sql[i..=t];
            let body = t + 1;
            let close = sql[body..].find(tag)? + body;
            let end = close + tag.len();
            literal(i, end, Class::Other);
            i = end;
            continue;
        }
        if ident_start(c) {
            while i < b.len() && ident_char(b[i]) {
                i += 1;
            }
            continue;
        }
        let number_start =
            c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit));
        if number_start && (i == 0 || !(ident_char(b[i - 1]) || b[i - 1] == b'.')) {
            let start = i;
            let mut fraction = false;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if b.get(i) == Some(&b'.') && b.get(i + 1) != Some(&b'.') {
                fraction = true;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let mut exponent = false;
            if matches!(b.get(i), Some(b'e' | b'E')) {
                let mut e = i + 1;
                if matches!(b.get(e), Some(b'+' | b'-')) {
                    e += 1;
                }
                if b.get(e).is_some_and(u8::is_ascii_digit) {
                    exponent = true;
                    i = e;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let mut class = if fraction || exponent {
                Class::Numeric
            } else if sql[start..i].parse::<i32>().is_ok() {
                Class::Int4
            } else {
                Class::Other
            };
            // Junk after the digits (0x1F, 1_000, 1.2.3, 12abc): the
            // whole run, as written, must match.
            if i < b.len() && (ident_char(b[i]) || b[i] == b'.') {
                class = Class::Other;
                while i < b.len() && (ident_char(b[i]) || b[i] == b'.') {
                    i += 1;
                }
            }
            literal(start, i, class);
            continue;
        }
        i += 1;
    }
    key.push_str(&sql[copied..]);
    Some(Lexed { key, literals })
}

fn memchr(b: &[u8], c: u8, from: usize) -> Option<usize> {
    b[from..].iter().position(|x| *x == c).map(|p| p + from)
}

/// The end (exclusive) of the quoted token opening at `start` with
/// `quote`: a doubled quote is one quote, and with `escapes` a backslash
/// escapes the next character. `None` if it is not closed.
fn quoted_end(b: &[u8], start: usize, quote: u8, escapes: bool) -> Option<usize> {
    let mut i = start + 1;
    loop {
        let c = *b.get(i)?;
        if escapes && c == b'\\' {
            i += 2;
            continue;
        }
        if c == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
}

/// Calls `f` on each constant of `statement` in a slot position.
fn walk_statement(statement: &mut ast::Statement, f: &mut dyn FnMut(&mut ast::ValueWithSpan)) {
    match statement {
        ast::Statement::Query(query) => walk_query(query, f),
        ast::Statement::Insert(insert) => {
            if insert.on.is_some() {
                return;
            }
            if let Some(source) = &mut insert.source {
                if source.with.is_none() {
                    if let ast::SetExpr::Values(values) = &mut *source.body {
                        for row in &mut values.rows {
                            for item in row {
                                walk_value(item, f);
                            }
                        }
                    }
                }
            }
        }
        ast::Statement::Update {
            assignments,
            selection,
            from: None,
            ..
        } => {
            for a in assignments {
                if matches!(a.target, ast::AssignmentTarget::ColumnName(_)) {
                    walk_value(&mut a.value, f);
                }
            }
            if let Some(selection) = selection {
                walk_condition(selection, f);
            }
        }
        ast::Statement::Delete(delete) if delete.using.is_none() => {
            if let Some(selection) = &mut delete.selection {
                walk_condition(selection, f);
            }
        }
        _ => {}
    }
}

fn walk_query(query: &mut ast::Query, f: &mut dyn FnMut(&mut ast::ValueWithSpan)) {
    if query.with.is_some() {
        return;
    }
    if let ast::SetExpr::Select(select) = &mut *query.body {
        if let Some(selection) = &mut select.selection {
            walk_condition(selection, f);
        }
    }
}

fn is_column(e: &ast::Expr) -> bool {
    matches!(
        e,
        ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_)
    )
}

/// A constant, a signed number, or a constant cast to a type
/// (`'2020-01-01'::date`, `CAST('x' AS t)`): what a slot may be.
fn slot_of(e: &mut ast::Expr) -> Option<&mut ast::ValueWithSpan> {
    match e {
        ast::Expr::Value(v) => Some(v),
        ast::Expr::Cast {
            kind: ast::CastKind::Cast | ast::CastKind::DoubleColon,
            expr,
            format: None,
            ..
        } => match &mut **expr {
            ast::Expr::Value(v) => Some(v),
            _ => None,
        },
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus | ast::UnaryOperator::Plus,
            expr,
        } => match &mut **expr {
            ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => Some(v),
            _ => None,
        },
        _ => None,
    }
}

/// A condition: its comparisons of columns with constants.
fn walk_condition(e: &mut ast::Expr, f: &mut dyn FnMut(&mut ast::ValueWithSpan)) {
    use ast::BinaryOperator as B;
    match e {
        ast::Expr::BinaryOp {
            left,
            op: B::And | B::Or,
            right,
        } => {
            walk_condition(left, f);
            walk_condition(right, f);
        }
        ast::Expr::Nested(inner) => walk_condition(inner, f),
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Not,
            expr,
        } => walk_condition(expr, f),
        ast::Expr::BinaryOp {
            left,
            op: B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq,
            right,
        } => {
            if is_column(left) {
                walk_value(right, f);
            } else if is_column(right) {
                walk_value(left, f);
            }
        }
        ast::Expr::InList { expr, list, .. } if is_column(expr) => {
            for item in list {
                if let Some(v) = slot_of(item) {
                    f(v);
                }
            }
        }
        ast::Expr::Between {
            expr, low, high, ..
        } if is_column(expr) => {
            for bound in [low, high] {
                if let Some(v) = slot_of(bound) {
                    f(v);
                }
            }
        }
        _ => {}
    }
}

/// A value stored into or compared with a column: a constant, or a column
/// plus, minus or times a number.
fn walk_value(e: &mut ast::Expr, f: &mut dyn FnMut(&mut ast::ValueWithSpan)) {
    use ast::BinaryOperator as B;
    if let Some(v) = slot_of(e) {
        f(v);
        return;
    }
    if let ast::Expr::BinaryOp {
        left,
        op: B::Plus | B::Minus | B::Multiply,
        right,
    } = e
    {
        let number = if is_column(left) {
            slot_of(right)
        } else if is_column(right) {
            slot_of(left)
        } else {
            None
        };
        if let Some(v) = number.filter(|v| matches!(v.value, ast::Value::Number(..))) {
            f(v);
        }
    }
}

/// Byte offsets of the starts of `sql`'s lines.
fn line_starts(sql: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The byte offset of a 1-based line and column (in characters).
fn offset_of(sql: &str, lines: &[usize], at: sqlparser::tokenizer::Location) -> Option<usize> {
    let line = usize::try_from(at.line).ok()?.checked_sub(1)?;
    let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
    let start = *lines.get(line)?;
    sql[start..]
        .char_indices()
        .nth(column)
        .map(|(i, _)| start + i)
}

/// The slots of `statement` (a clone of the Query's parse), which become
/// `$1`, `$2`, … in the text's order: per constant of `lexed`, whether it is
/// a slot, and the type each parameter is bound with (`None`: inferred).
/// Constants the walk reaches but `lexed` does not know as a slot class
/// stay as they are.
pub(crate) fn make_slots(
    sql: &str,
    lexed: &Lexed<'_>,
    statement: &mut ast::Statement,
) -> (Vec<Use>, Vec<Option<DataType>>) {
    let lines = line_starts(sql);
    let matches = |v: &ast::ValueWithSpan, lit: &Literal<'_>| match (&v.value, lit.class) {
        (ast::Value::Number(n, false), Class::Int4 | Class::Numeric) => n == lit.text,
        (ast::Value::SingleQuotedString(s), Class::Str) => *s == lit.content(),
        _ => false,
    };
    let index_of = |v: &ast::ValueWithSpan| -> Option<usize> {
        let at = offset_of(sql, &lines, v.span.start)?;
        let i = lexed.literals.binary_search_by_key(&at, |l| l.start).ok()?;
        matches(v, &lexed.literals[i]).then_some(i)
    };
    // The walk reaches strings only where they are compared with or stored
    // into a column (in arithmetic only numbers).
    let mut slot = vec![false; lexed.literals.len()];
    walk_statement(statement, &mut |v| {
        if let Some(i) = index_of(v) {
            slot[i] = true;
        }
    });
    // Parameters are numbered in the text's order.
    let mut number = vec![0usize; lexed.literals.len()];
    let mut types = Vec::new();
    for (i, lit) in lexed.literals.iter().enumerate() {
        if slot[i] {
            number[i] = types.len() + 1;
            types.push(match lit.class {
                Class::Int4 => Some(DataType::Int4),
                Class::Numeric => Some(DataType::Numeric(None)),
                _ => None,
            });
        }
    }
    walk_statement(statement, &mut |v| {
        if let Some(i) = index_of(v).filter(|i| slot[*i]) {
            v.value = ast::Value::Placeholder(format!("${}", number[i]));
        }
    });
    let uses = lexed
        .literals
        .iter()
        .zip(&slot)
        .map(|(lit, slot)| match slot {
            true => Use::Slot,
            false => Use::Fixed(lit.text.into()),
        })
        .collect();
    (uses, types)
}

/// Why a Query of an entry's key cannot use its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// A constant outside the slots differs: another plan.
    Fixed,
    /// A slot's constant does not read as its parameter's type.
    Value,
}

impl Entry {
    /// Whether `lexed`'s constants outside the slots are this entry's.
    pub(crate) fn fixed_match(&self, lexed: &Lexed<'_>) -> bool {
        self.uses.len() == lexed.literals.len()
            && self
                .uses
                .iter()
                .zip(&lexed.literals)
                .all(|(u, lit)| match u {
                    Use::Fixed(text) => **text == *lit.text,
                    Use::Slot => true,
                })
    }
}

/// The parameter values of a Query of an entry's key: its slots' constants
/// read as the plan's parameter types.
pub(crate) fn slot_values(
    lexed: &Lexed<'_>,
    uses: &[Use],
    types: &[DataType],
    time: &tessera_types::datetime::TimeContext,
) -> Result<Vec<Value>, Mismatch> {
    if uses.len() != lexed.literals.len() {
        return Err(Mismatch::Fixed);
    }
    let mut values = Vec::with_capacity(types.len());
    for (lit, use_) in lexed.literals.iter().zip(uses) {
        match use_ {
            Use::Fixed(text) => {
                if **text != *lit.text {
                    return Err(Mismatch::Fixed);
                }
            }
            Use::Slot => {
                let ty = *types.get(values.len()).ok_or(Mismatch::Fixed)?;
                let content = lit.content();
                let value = match ty {
                    DataType::Int4 if lit.class == Class::Int4 => {
                        Value::Int4(content.parse().map_err(|_| Mismatch::Value)?)
                    }
                    // An enum's value is its label, read where it is used.
                    DataType::Enum(_) | DataType::Array(tessera_types::array::Elem::Enum(_)) => {
                        Value::Text(content.into_owned())
                    }
                    _ => Value::parse_with(ty, &content, time).map_err(|_| Mismatch::Value)?,
                };
                values.push(value);
            }
        }
    }
    match values.len() == types.len() {
        true => Ok(values),
        false => Err(Mismatch::Fixed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(sql: &str) -> Option<(String, Vec<(&str, Class)>)> {
        let lexed = lex(sql)?;
        Some((
            lexed.key.replace('\0', "#"),
            lexed.literals.iter().map(|l| (l.text, l.class)).collect(),
        ))
    }

    #[test]
    fn constants_are_found_with_their_class() {
        let (key, lits) =
            classes("UPDATE t SET a = a + -12 WHERE b = 'x''y' AND c > 1.5e3;").unwrap();
        assert_eq!(key, "UPDATE t SET a = a + -#i WHERE b = #s AND c > #n;");
        assert_eq!(
            lits,
            vec![
                ("12", Class::Int4),
                ("'x''y'", Class::Str),
                ("1.5e3", Class::Numeric)
            ]
        );
        let (_, lits) = classes("SELECT 3000000000, 0x1F, 1_000, .5, 5., t1.c2 FROM t1").unwrap();
        assert_eq!(
            lits,
            vec![
                ("3000000000", Class::Other),
                ("0x1F", Class::Other),
                ("1_000", Class::Other),
                (".5", Class::Numeric),
                ("5.", Class::Numeric),
            ]
        );
    }

    #[test]
    fn quotes_and_comments_hide_constants() {
        let (key, lits) = classes(
            "SELECT \"a'b\", E'it\\'s', $q$ 'x' $q$, U&'d', B'01' -- 'no'\n /* 1 /* 'n' */ */ FROM t",
        )
        .unwrap();
        assert_eq!(
            key,
            "SELECT \"a'b\", E#o, #o, U&#o, B#o -- 'no'\n /* 1 /* 'n' */ */ FROM t"
        );
        assert!(lits.iter().all(|(_, c)| *c == Class::Other));
        assert_eq!(lits[0].0, "'it\\'s'");
    }

    #[test]
    fn only_single_statements_without_parameters() {
        assert!(lex("SELECT 1; SELECT 2").is_none());
        assert!(lex("SELECT $1").is_none());
        assert!(lex("SELECT 'open").is_none());
        assert!(lex("SELECT 1 /* open").is_none());
        assert!(lex("SELECT 1;  -- done\n").is_some());
        assert!(lex("SELECT a$1 FROM t").is_some());
        assert!(lex(&"x".repeat(TEXT_BYTES_MAX + 1)).is_none());
    }

    fn slots(sql: &str) -> (Vec<Use>, Vec<Option<DataType>>, String) {
        let lexed = lex(sql).unwrap();
        let mut parsed = crate::parser::parse(sql).unwrap().remove(0).statement;
        let (uses, types) = make_slots(sql, &lexed, &mut parsed);
        (uses, types, parsed.to_string())
    }

    #[test]
    fn slots_are_the_constants_compared_with_or_stored_into_columns() {
        let (uses, types, text) =
            slots("UPDATE pgbench_accounts SET abalance = abalance + -2843 WHERE aid = 123;");
        assert_eq!(uses, vec![Use::Slot, Use::Slot]);
        assert_eq!(types, vec![Some(DataType::Int4), Some(DataType::Int4)]);
        assert_eq!(
            text,
            "UPDATE pgbench_accounts SET abalance = abalance + -$1 WHERE aid = $2"
        );
        let (uses, types, text) =
            slots("SELECT a, 7 FROM t WHERE b = 'x' AND c IN (1, 2.5)\n ORDER BY 1 LIMIT 10");
        assert_eq!(
            uses,
            vec![
                Use::Fixed("7".into()),
                Use::Slot,
                Use::Slot,
                Use::Slot,
                Use::Fixed("1".into()),
                Use::Fixed("10".into())
            ]
        );
        assert_eq!(
            types,
            vec![None, Some(DataType::Int4), Some(DataType::Numeric(None))]
        );
        assert!(text.contains("b = $1 AND c IN ($2, $3)"), "{text}");
        let (uses, _, text) = slots("INSERT INTO t VALUES (1, 'é', DATE '2020-01-01', 'a' || 'b')");
        assert_eq!(
            uses,
            vec![
                Use::Slot,
                Use::Slot,
                Use::Fixed("'2020-01-01'".into()),
                Use::Fixed("'a'".into()),
                Use::Fixed("'b'".into())
            ]
        );
        assert!(text.contains("VALUES ($1, $2, DATE '2020-01-01'"), "{text}");
        // A string in arithmetic is not a slot.
        let (uses, _, _) = slots("UPDATE t SET a = b + '1'");
        assert_eq!(uses, vec![Use::Fixed("'1'".into())]);
        // A constant cast to a type is.
        let (uses, types, text) =
            slots("SELECT * FROM t WHERE d = '2020-01-01'::date AND v = CAST('x' AS varchar(2))");
        // The type's length is a constant of the key.
        assert_eq!(uses, vec![Use::Slot, Use::Slot, Use::Fixed("2".into())]);
        assert_eq!(types, vec![None, None]);
        assert!(
            text.contains("d = $1::DATE AND v = CAST($2 AS VARCHAR(2))"),
            "{text}"
        );
    }

    #[test]
    fn a_full_cache_drops_its_least_recently_used_plan() {
        let mut cache = QueryCache::default();
        for i in 0..ENTRIES_MAX {
            cache.insert(format!("q{i}"), Entry::new(None, vec![]));
        }
        // q0 is used again; q1 is now the oldest.
        assert!(cache.get("q0").is_some());
        cache.insert("new".into(), Entry::new(None, vec![]));
        assert_eq!(cache.entries.len(), ENTRIES_MAX);
        assert!(cache.get("q0").is_some());
        assert!(cache.get("q1").is_none());
        assert!(cache.get("new").is_some());
        cache.clear();
        assert!(cache.get("q0").is_none());
    }

    #[test]
    fn slot_values_read_as_the_parameter_types() {
        let time = tessera_types::datetime::TimeContext::default();
        let lexed = lex("SELECT * FROM t WHERE a = 5 AND b = 'it''s' AND c = 1.50").unwrap();
        let uses = vec![Use::Slot, Use::Slot, Use::Slot];
        let values = slot_values(
            &lexed,
            &uses,
            &[DataType::Int8, DataType::Text, DataType::Numeric(None)],
            &time,
        )
        .unwrap();
        assert_eq!(values[0], Value::Int8(5));
        assert_eq!(values[1], Value::Text("it's".into()));
        assert_eq!(
            values[2],
            Value::Numeric(tessera_types::numeric::Numeric::parse("1.50").unwrap())
        );
        // A string an integer parameter cannot read.
        let lexed = lex("SELECT * FROM t WHERE a = 'x'").unwrap();
        assert_eq!(
            slot_values(&lexed, &[Use::Slot], &[DataType::Int4], &time),
            Err(Mismatch::Value)
        );
        // A fixed constant that differs.
        let lexed = lex("SELECT 8 FROM t").unwrap();
        assert_eq!(
            slot_values(&lexed, &[Use::Fixed("7".into())], &[], &time),
            Err(Mismatch::Fixed)
        );
    }
}
