//! How relation names resolve: schemas and the `search_path`.
//!
//! A name is `relation`, `schema.relation` or `database.schema.relation`
//! (the database must be the session's, as PostgreSQL has it). A name
//! without a schema is looked for in each schema of the session's
//! `search_path` in turn, the first schema holding a relation of that name
//! (of any kind) winning; CREATE puts it in the first schema of the path
//! that exists. Entries naming no schema are skipped, `$user` stands for
//! the session's user, and `pg_catalog` is searched first when the path
//! does not name it (it holds no relations here yet).
//!
//! This module reads the setting and the catalog; it does not decide what
//! a statement may do with what it finds (the binder does).

use tessera_types::schema::{SchemaId, PG_CATALOG};
use tessera_types::{sqlstate, Catalog, Error, Result};

/// The value of `search_path` a session starts with.
pub const SEARCH_PATH_DEFAULT: &str = "\"$user\", public";

/// What a session's names resolve against: its `search_path` read into
/// schema names, its user and its database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Names {
    /// The setting's entries in order, `$user` replaced by the user.
    pub path: Vec<String>,
    /// The setting as it was when read: a prepared statement bound under
    /// another value is bound again.
    pub setting: String,
    pub user: String,
    /// The database the session connected to (`db` in `db.schema.table`).
    pub database: String,
}

impl Default for Names {
    /// `public` alone: what statements the engine makes itself use.
    fn default() -> Names {
        Names::new("public", "postgres", "")
    }
}

impl Names {
    /// Names read from a `search_path` value (one that `check_search_path`
    /// accepted; an unreadable one reads as empty), for `user` connected
    /// to `database`.
    pub fn new(setting: &str, user: &str, database: &str) -> Names {
        let path = split_identifiers(setting)
            .unwrap_or_default()
            .into_iter()
            .map(|e| if e == "$user" { user.to_string() } else { e })
            .collect();
        Names {
            path,
            setting: setting.to_string(),
            user: user.to_string(),
            database: database.to_string(),
        }
    }

    /// The schemas of the path that exist, in order, each once.
    pub fn schemas(&self, catalog: &Catalog) -> Vec<SchemaId> {
        let mut out: Vec<SchemaId> = Vec::with_capacity(self.path.len());
        for name in &self.path {
            if let Some(s) = catalog.schema(name) {
                if !out.contains(&s.id) {
                    out.push(s.id);
                }
            }
        }
        out
    }

    /// What `current_schemas(true)` lists: `pg_catalog` first unless the
    /// path places it, then the path's schemas.
    pub fn schemas_with_implicit(&self, catalog: &Catalog) -> Vec<SchemaId> {
        let mut out = self.schemas(catalog);
        if !out.contains(&PG_CATALOG) {
            out.insert(0, PG_CATALOG);
        }
        out
    }

    /// Where CREATE of an unqualified name puts it: the first schema of
    /// the path that exists (3F000 when none does).
    pub fn creation_schema(&self, catalog: &Catalog) -> Result<SchemaId> {
        self.schemas(catalog).first().copied().ok_or_else(|| {
            Error::new(
                sqlstate::INVALID_SCHEMA_NAME,
                "no schema has been selected to create in",
            )
        })
    }

    /// The first schema of the path holding a relation (any kind) named
    /// `name`.
    pub fn find(&self, catalog: &Catalog, name: &str) -> Option<SchemaId> {
        self.schemas(catalog)
            .into_iter()
            .find(|s| catalog.relation_exists(*s, name))
    }

    /// How a message names relation `name` of schema `schema`: bare when
    /// the path finds that very relation under its bare name, else
    /// qualified, quoted where needed (PostgreSQL's object descriptions).
    pub fn shown(&self, catalog: &Catalog, schema: SchemaId, name: &str) -> String {
        shown(catalog, &self.schemas(catalog), schema, name)
    }
}

/// How a message names relation `name` of `schema` to a session whose
/// search path holds the schemas `path`: see [`Names::shown`].
pub fn shown(catalog: &Catalog, path: &[SchemaId], schema: SchemaId, name: &str) -> String {
    let found = path
        .iter()
        .copied()
        .find(|s| catalog.relation_exists(*s, name));
    if found == Some(schema) {
        quote_ident(name)
    } else {
        format!(
            "{}.{}",
            quote_ident(catalog.schema_name(schema)),
            quote_ident(name)
        )
    }
}

/// How a message names relation `id` (see [`shown`]); empty for one that
/// is gone.
pub fn shown_id(catalog: &Catalog, path: &[SchemaId], id: tessera_types::TableId) -> String {
    catalog
        .relation_name(id)
        .map(|(schema, name)| shown(catalog, path, schema, name))
        .unwrap_or_default()
}

/// A relation name as a statement wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifiedName {
    pub schema: Option<String>,
    pub name: String,
}

impl QualifiedName {
    /// The name as PostgreSQL's messages show it: its parts joined by dots,
    /// unquoted.
    pub fn shown(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Reads a name of one to three parts (`database.schema.name`, the
/// database being the session's) into a [`QualifiedName`].
pub fn qualified_name(parts: Vec<String>, database: &str) -> Result<QualifiedName> {
    let mut parts = parts;
    match parts.len() {
        1 => Ok(QualifiedName {
            schema: None,
            name: parts.remove(0),
        }),
        2 => {
            let name = parts.remove(1);
            Ok(QualifiedName {
                schema: Some(parts.remove(0)),
                name,
            })
        }
        3 if parts[0] == database => {
            let name = parts.remove(2);
            Ok(QualifiedName {
                schema: Some(parts.remove(1)),
                name,
            })
        }
        3 => Err(Error::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            format!(
                "cross-database references are not implemented: \"{}\"",
                parts.join(".")
            ),
        )),
        _ => Err(Error::syntax(format!(
            "improper qualified name (too many dotted names): {}",
            parts.join(".")
        ))),
    }
}

/// The schema `name`, or 3F000.
pub fn schema_named(catalog: &Catalog, name: &str) -> Result<SchemaId> {
    catalog.schema(name).map(|s| s.id).ok_or_else(|| {
        Error::new(
            sqlstate::INVALID_SCHEMA_NAME,
            format!("schema \"{name}\" does not exist"),
        )
    })
}

/// Splits a list of identifiers as PostgreSQL reads `search_path`
/// (`SplitIdentifierString`): separated by commas, blanks around them
/// ignored, double quotes keeping case, commas and blanks (`""` a quote),
/// unquoted ones folded to lower case (`""` is an empty name, which no
/// schema has). `None` when the list is malformed (an empty entry, an
/// unterminated quote, text after a quoted name).
pub fn split_identifiers(value: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    let skip_blanks = |chars: &mut std::iter::Peekable<std::str::Chars>| {
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
    };
    skip_blanks(&mut chars);
    if chars.peek().is_none() {
        return Some(out);
    }
    loop {
        let mut name = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next()? {
                    '"' if chars.next_if_eq(&'"').is_some() => name.push('"'),
                    '"' => break,
                    c => name.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',' && !c.is_ascii_whitespace()) {
                name.push(c);
            }
            if name.is_empty() {
                return None;
            }
            name = name.to_lowercase();
        }
        out.push(name);
        skip_blanks(&mut chars);
        match chars.next() {
            None => return Some(out),
            Some(',') => skip_blanks(&mut chars),
            Some(_) => return None,
        }
    }
}

/// A `search_path` value checked as PostgreSQL checks it (the list must
/// read; the schemas need not exist).
pub fn check_search_path(value: &str) -> Result<String> {
    match split_identifiers(value) {
        Some(_) => Ok(value.to_string()),
        None => Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!("invalid value for parameter \"search_path\": \"{value}\""),
        )
        .with_detail("List syntax is invalid.")),
    }
}

/// `name` as an SQL identifier: bare when it reads back unchanged, else
/// double-quoted (PostgreSQL's `quote_identifier`, short of its keyword
/// list).
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::schema::{SchemaDef, PUBLIC};

    #[test]
    fn search_path_lists_read_like_postgres() {
        let read = |v: &str| split_identifiers(v);
        assert_eq!(read("\"$user\", public").unwrap(), ["$user", "public"]);
        assert_eq!(read("  A ,b").unwrap(), ["a", "b"]);
        assert_eq!(read("\"A b\",\"c\"\"d\"").unwrap(), ["A b", "c\"d"]);
        assert_eq!(read("").unwrap(), Vec::<String>::new());
        assert_eq!(read("   ").unwrap(), Vec::<String>::new());
        assert_eq!(read("\"\"").unwrap(), [""]);
        for bad in ["a,", ",a", "a,,b", "\"open", "a b", "\"x\"y"] {
            assert!(read(bad).is_none(), "{bad}");
        }
        let e = check_search_path("a,,b").unwrap_err();
        assert_eq!(e.code, sqlstate::INVALID_PARAMETER_VALUE);
        assert_eq!(quote_ident("public"), "public");
        assert_eq!(quote_ident("$user"), "\"$user\"");
        assert_eq!(quote_ident("A"), "\"A\"");
        assert_eq!(quote_ident("c\"d"), "\"c\"\"d\"");
        assert_eq!(quote_ident(""), "\"\"");
    }

    #[test]
    fn unqualified_names_resolve_through_the_path() {
        let catalog = Catalog::new(16, 1);
        let (catalog, sales) = catalog.with_schema(SchemaDef {
            id: 0,
            name: "sales".into(),
            owner: "postgres".into(),
        });
        let table = |schema| tessera_types::TableDef {
            id: 0,
            name: "t".into(),
            schema,
            columns: vec![],
            primary_key: vec![],
            sharding_key: vec![],
            global: false,
            tier: 0,
            checks: vec![],
            foreign_keys: vec![],
        };
        let (catalog, _) = catalog.with_table(table(PUBLIC));
        let names = Names::new("\"$user\", public", "sales", "db");
        assert_eq!(names.path, ["sales", "public"]);
        assert_eq!(names.schemas(&catalog), [sales.id, PUBLIC]);
        assert_eq!(names.creation_schema(&catalog).unwrap(), sales.id);
        // Only public has a t so far.
        assert_eq!(names.find(&catalog, "t"), Some(PUBLIC));
        assert_eq!(names.shown(&catalog, PUBLIC, "t"), "t");
        let (catalog, _) = catalog.with_table(table(sales.id));
        assert_eq!(names.find(&catalog, "t"), Some(sales.id));
        assert_eq!(names.shown(&catalog, PUBLIC, "t"), "public.t");
        // Missing schemas are skipped; none left means nowhere to create.
        let names = Names::new("nosuch, \"$user\"", "nobody", "db");
        assert!(names.schemas(&catalog).is_empty());
        let e = names.creation_schema(&catalog).unwrap_err();
        assert_eq!(e.code, sqlstate::INVALID_SCHEMA_NAME);
        assert_eq!(
            names.schemas_with_implicit(&catalog),
            [tessera_types::schema::PG_CATALOG]
        );
        // Three parts: the session's database only.
        let parts = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let q = qualified_name(parts(&["db", "sales", "t"]), "db").unwrap();
        assert_eq!(q.shown(), "sales.t");
        let e = qualified_name(parts(&["x", "sales", "t"]), "db").unwrap_err();
        assert_eq!(e.code, sqlstate::FEATURE_NOT_SUPPORTED);
        assert_eq!(
            e.message,
            "cross-database references are not implemented: \"x.sales.t\""
        );
        let e = qualified_name(parts(&["a", "b", "c", "d"]), "db").unwrap_err();
        assert_eq!(e.code, sqlstate::SYNTAX_ERROR);
    }
}
