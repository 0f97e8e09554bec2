//! What a DROP takes with it, decided as PostgreSQL decides it, for every
//! DROP: of schemas, tables, views, sequences, indexes and columns.
//!
//! The objects that depend on those a statement names are views reading
//! them, foreign keys referencing them (or needing a unique index), and
//! column defaults calling a sequence; and what depends on those, and so
//! on. Without CASCADE any of them refuses the drop (2BP01, PostgreSQL's
//! detail lines); with CASCADE they go in the same catalog record as what
//! was named, so a crash leaves all or none of it. Views and sequences go
//! whole; a foreign key or a default goes from its table, which stays with
//! its rows.
//!
//! PostgreSQL walks its dependencies depth first, each object's
//! dependents newest (highest OID) first, and lists what it reached in the
//! reverse of the order it finished them; the same walk over the catalog
//! gives the same lines in the same order. Relation ids stand in for
//! OIDs. Foreign keys and defaults have no id: each counts as made just
//! after its table (a foreign key after the unique index it needs, if
//! newer), which is wrong for one added later by ALTER TABLE: its line
//! can come before that of a view PostgreSQL lists first.
//!
//! Does not see what Tessera does not record: a view calling `nextval` on
//! a sequence, functions, types.

use std::sync::Arc;

use tessera_types::schema::SchemaId;
use tessera_types::{sqlstate, Catalog, Error, IndexDef, Result, TableDef, TableId};

use crate::engine::Notice;

/// Lines of a CASCADE notice or a refusal's detail past this many are
/// counted, not listed, as PostgreSQL does ("and N other objects").
const REPORTED_DEPENDENTS_MAX: usize = 100;

/// Something a DROP removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Object {
    Schema(SchemaId),
    /// A table (with its indexes), view or sequence, or an index by its
    /// storage id.
    Relation(TableId),
    Column {
        table: TableId,
        column: usize,
    },
    ForeignKey {
        table: TableId,
        name: String,
    },
    /// A column's DEFAULT.
    Default {
        table: TableId,
        column: usize,
    },
}

/// An object the walk reached.
#[derive(Debug)]
struct Reached {
    object: Object,
    /// What it depends on, that reached it first; `None` for the named.
    from: Option<Object>,
    /// It goes unmentioned: named by the statement, or part of what is
    /// dropped (a sequence its table owns, an index of a dropped column).
    quiet: bool,
}

/// A dropped column and the views that read it (the binder's finding: a
/// view is text, bound where it is read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColumnReaders {
    pub table: TableId,
    pub column: usize,
    pub views: Vec<TableId>,
}

/// What a DROP of some objects reaches, in PostgreSQL's order.
#[derive(Debug)]
pub(crate) struct DropPlan {
    named: Vec<Object>,
    reached: Vec<Reached>,
}

impl DropPlan {
    /// Walks from `named` (in the statement's order) through `catalog`;
    /// `readers` says which views read a named column.
    pub(crate) fn new(catalog: &Catalog, named: Vec<Object>, readers: &[ColumnReaders]) -> Self {
        let mut walk = Walk {
            catalog,
            readers,
            finished: Vec::new(),
            stack: Vec::new(),
        };
        for object in &named {
            walk.visit(object.clone(), None, true);
        }
        let mut reached = walk.finished;
        reached.reverse();
        // A foreign key or default of a table that goes goes with it.
        let dropped: Vec<TableId> = relations(&reached);
        for r in &mut reached {
            if let Object::ForeignKey { table, .. } | Object::Default { table, .. } = r.object {
                r.quiet |= dropped.contains(&table);
            }
        }
        DropPlan { named, reached }
    }

    /// The relations that go (tables with their indexes and sequences).
    pub(crate) fn relations(&self) -> Vec<TableId> {
        relations(&self.reached)
    }

    /// The schemas that go.
    pub(crate) fn schemas(&self) -> Vec<SchemaId> {
        self.reached
            .iter()
            .filter_map(|r| match r.object {
                Object::Schema(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    /// Adds to `altered` the tables that stay but lose a foreign key or a
    /// default, without them; a table already there (one losing a column,
    /// say) changes there.
    pub(crate) fn alter(&self, catalog: &Catalog, altered: &mut Vec<TableDef>) {
        let dropped = self.relations();
        for r in &self.reached {
            let (Object::ForeignKey { table, .. } | Object::Default { table, .. }) = &r.object
            else {
                continue;
            };
            if dropped.contains(table) {
                continue;
            }
            let at = match altered.iter().position(|t| t.id == *table) {
                Some(at) => at,
                None => {
                    let Some(def) = catalog.table_by_id(*table) else {
                        continue;
                    };
                    altered.push(def.clone());
                    altered.len() - 1
                }
            };
            let def = &mut altered[at];
            match &r.object {
                Object::ForeignKey { name, .. } => def.foreign_keys.retain(|fk| fk.name != *name),
                Object::Default { column, .. } => def.columns[*column].default = None,
                _ => unreachable!("matched above"),
            }
        }
    }

    /// Without CASCADE, PostgreSQL's 2BP01 if anything depends on what is
    /// named; otherwise the NOTICEs that list what goes with it.
    pub(crate) fn decide(
        &self,
        catalog: &Catalog,
        cascade: bool,
        path: &[SchemaId],
    ) -> Result<Vec<Notice>> {
        let describe = |o: &Object| describe(catalog, path, o);
        let told: Vec<&Reached> = self.reached.iter().filter(|r| !r.quiet).collect();
        let lines: Vec<String> = told
            .iter()
            .map(|r| match (&r.from, cascade) {
                (Some(from), false) => {
                    format!("{} depends on {}", describe(&r.object), describe(from))
                }
                _ => format!("drop cascades to {}", describe(&r.object)),
            })
            .collect();
        let mut detail = lines
            .iter()
            .take(REPORTED_DEPENDENTS_MAX)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        let unlisted = lines.len().saturating_sub(REPORTED_DEPENDENTS_MAX);
        if unlisted > 0 {
            let noun = if unlisted == 1 { "object" } else { "objects" };
            detail.push_str(&format!(
                "\nand {unlisted} other {noun} (see server log for list)"
            ));
        }
        if !cascade && !lines.is_empty() {
            let message = match self.named.as_slice() {
                [one] => format!(
                    "cannot drop {} because other objects depend on it",
                    describe(one)
                ),
                _ => {
                    "cannot drop desired object(s) because other objects depend on them".to_string()
                }
            };
            return Err(Error::new(sqlstate::DEPENDENT_OBJECTS_STILL_EXIST, message)
                .with_detail(detail)
                .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
        }
        Ok(match lines.len() {
            0 => vec![],
            1 => vec![Notice::new(sqlstate::SUCCESSFUL_COMPLETION, detail)],
            n => vec![Notice::new(
                sqlstate::SUCCESSFUL_COMPLETION,
                format!("drop cascades to {n} other objects"),
            )
            .with_detail(detail)],
        })
    }
}

fn relations(reached: &[Reached]) -> Vec<TableId> {
    let mut ids = Vec::new();
    for r in reached {
        if let Object::Relation(id) = r.object {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// PostgreSQL's depth-first walk (`findDependentObjects`).
struct Walk<'a> {
    catalog: &'a Catalog,
    readers: &'a [ColumnReaders],
    /// In the order the walk finished them: each after its dependents.
    finished: Vec<Reached>,
    /// The objects being walked, so that a cycle ends.
    stack: Vec<Object>,
}

impl Walk<'_> {
    fn visit(&mut self, object: Object, from: Option<Object>, quiet: bool) {
        if let Some(seen) = self.finished.iter_mut().find(|r| r.object == object) {
            seen.quiet |= quiet;
            return;
        }
        if self.stack.contains(&object) {
            return;
        }
        let mut dependents = self.dependents(&object);
        // Newest first, as PostgreSQL sorts them (by OID, descending).
        dependents.sort_by_key(|(o, _)| std::cmp::Reverse(age(self.catalog, o)));
        self.stack.push(object.clone());
        for (dependent, owned) in dependents {
            self.visit(dependent, Some(object.clone()), owned);
        }
        self.stack.pop();
        self.finished.push(Reached {
            object,
            from,
            quiet,
        });
    }

    /// What depends on `object`, each with whether it is part of it (goes
    /// with it unmentioned).
    fn dependents(&self, object: &Object) -> Vec<(Object, bool)> {
        let catalog = self.catalog;
        let mut found = Vec::new();
        let reading = |id: TableId| {
            catalog
                .views()
                .filter(move |v| v.depends_on.contains(&id))
                .map(|v| (Object::Relation(v.id), false))
        };
        match *object {
            Object::Schema(schema) => {
                let ids = catalog.relations_in(schema);
                found.extend(ids.into_iter().map(|id| (Object::Relation(id), false)));
            }
            Object::Relation(id) => {
                found.extend(reading(id));
                if catalog.tables().any(|t| t.id == id) {
                    for s in catalog.sequences() {
                        if s.owned_by.is_some_and(|(t, _)| t == id) {
                            found.push((Object::Relation(s.id), true));
                        }
                    }
                    for (child, fk) in catalog.referencing(id) {
                        if child.id != id {
                            found.push((foreign_key(&child, &fk), false));
                        }
                    }
                }
                for (table, column) in sequence_users(catalog, id) {
                    found.push((Object::Default { table, column }, false));
                }
                if let Some(index) = catalog.indexes().find(|i| i.storage.id == id) {
                    for (child, fk) in foreign_keys_needing(catalog, index) {
                        found.push((foreign_key(&child, &fk), false));
                    }
                }
            }
            Object::Column { table, column } => {
                for r in self.readers {
                    if (r.table, r.column) == (table, column) {
                        let views = r.views.iter().filter(|v| catalog.view_by_id(**v).is_some());
                        found.extend(views.map(|v| (Object::Relation(*v), false)));
                    }
                }
                for (child, fk) in catalog.referencing(table) {
                    if fk.parent_columns.contains(&column) {
                        found.push((foreign_key(&child, &fk), false));
                    }
                }
                for index in catalog.indexes_of(table) {
                    if index.columns.contains(&column) {
                        found.push((Object::Relation(index.storage.id), true));
                    }
                }
            }
            Object::ForeignKey { .. } | Object::Default { .. } => {}
        }
        found
    }
}

fn foreign_key(child: &TableDef, fk: &tessera_types::ForeignKey) -> Object {
    Object::ForeignKey {
        table: child.id,
        name: fk.name.clone(),
    }
}

/// Stands in for PostgreSQL's OID: what was made later is larger. A
/// default counts as made just after its table; a foreign key just after
/// its table or the unique index it needs, whichever is newer.
fn age(catalog: &Catalog, object: &Object) -> (TableId, u8, usize) {
    match object {
        Object::Schema(s) => (*s, 0, 0),
        Object::Relation(id) => (*id, 0, 0),
        Object::Default { table, column } => (*table, 1, *column),
        Object::ForeignKey { table, name } => {
            let Some((at, fk)) = catalog.table_by_id(*table).and_then(|t| {
                t.foreign_keys
                    .iter()
                    .enumerate()
                    .find(|(_, fk)| fk.name == *name)
            }) else {
                return (*table, 2, 0);
            };
            // Not older than the unique index it finds its parent rows by.
            let mut columns = fk.parent_columns.clone();
            columns.sort_unstable();
            let index = catalog
                .indexes_of(fk.parent)
                .filter(|ix| {
                    let mut of = ix.columns.clone();
                    of.sort_unstable();
                    ix.unique && of == columns
                })
                .map(|ix| ix.storage.id)
                .min();
            (index.unwrap_or(0).max(*table), 2, at)
        }
        Object::Column { table, column } => (*table, 3, *column),
    }
}

/// How PostgreSQL's messages name `object` (relations qualified unless
/// the search path `path` finds them by their bare names).
fn describe(catalog: &Catalog, path: &[SchemaId], object: &Object) -> String {
    let table = |id: TableId| crate::names::shown_id(catalog, path, id);
    let column = |id: TableId, c: usize| {
        catalog
            .table_by_id(id)
            .and_then(|t| t.columns.get(c))
            .map_or(String::new(), |c| c.name.clone())
    };
    match object {
        Object::Schema(s) => format!("schema {}", catalog.schema_name(*s)),
        Object::Relation(id) => {
            let (kind, name) = describe_relation(catalog, path, *id);
            format!("{kind} {name}")
        }
        Object::Column {
            table: t,
            column: c,
        } => {
            format!("column {} of table {}", column(*t, *c), table(*t))
        }
        Object::ForeignKey { table: t, name } => {
            format!("constraint {name} on table {}", table(*t))
        }
        Object::Default {
            table: t,
            column: c,
        } => format!(
            "default value for column {} of table {}",
            column(*t, *c),
            table(*t)
        ),
    }
}

/// How PostgreSQL's messages name relation `id`: its kind and its name
/// (qualified unless the search path `path` finds it by its bare name).
pub(crate) fn describe_relation(
    catalog: &Catalog,
    path: &[SchemaId],
    id: TableId,
) -> (&'static str, String) {
    let kind = if catalog.view_by_id(id).is_some() {
        "view"
    } else if catalog.sequence_by_id(id).is_some() {
        "sequence"
    } else if catalog.indexes().any(|i| i.storage.id == id) {
        "index"
    } else {
        "table"
    };
    (kind, crate::names::shown_id(catalog, path, id))
}

/// The columns whose defaults call sequence `id`: table and column. A
/// default names its sequence as text, bound with the table's schema first
/// on the path (see the binder).
fn sequence_users(catalog: &Catalog, id: TableId) -> Vec<(TableId, usize)> {
    let Some(sequence) = catalog.sequence_by_id(id) else {
        return vec![];
    };
    let bare = format!("nextval('{}'", sequence.name);
    let qualified = format!(
        "nextval('{}.{}'",
        catalog.schema_name(sequence.schema),
        sequence.name
    );
    let mut users = Vec::new();
    for t in catalog.tables() {
        for (i, c) in t.columns.iter().enumerate() {
            let calls = c.default.as_deref().is_some_and(|d| {
                d.contains(&qualified) || (t.schema == sequence.schema && d.contains(&bare))
            });
            if calls {
                users.push((t.id, i));
            }
        }
    }
    users
}

/// The foreign keys that find their parent rows through unique `index`
/// and have no other unique constraint on the same columns to use instead.
pub(crate) fn foreign_keys_needing(
    catalog: &Catalog,
    index: &IndexDef,
) -> Vec<(Arc<TableDef>, tessera_types::ForeignKey)> {
    if !index.unique {
        return vec![];
    }
    let sorted = |cols: &[usize]| {
        let mut cols = cols.to_vec();
        cols.sort_unstable();
        cols
    };
    let columns = sorted(&index.columns);
    let Some(table) = catalog.table_by_id(index.table) else {
        return vec![];
    };
    let other = (!table.has_row_id() && sorted(&table.primary_key) == columns)
        || catalog.indexes_of(index.table).any(|ix| {
            ix.unique && ix.storage.id != index.storage.id && sorted(&ix.columns) == columns
        });
    if other {
        return vec![];
    }
    catalog
        .referencing(index.table)
        .into_iter()
        .filter(|(_, fk)| sorted(&fk.parent_columns) == columns)
        .collect()
}

#[cfg(test)]
mod tests {
    //! Each scenario is one PostgreSQL 15 ran; the expected text is what
    //! it answered.

    use super::*;
    use tessera_types::schema::PUBLIC;
    use tessera_types::sequence::SequenceOptions;
    use tessera_types::{ColumnDef, DataType, FkAction, ForeignKey, SequenceDef, ViewDef};

    /// A catalog built a statement at a time, ids in creation order.
    struct Db(Catalog);

    impl Db {
        fn new() -> Db {
            Db(Catalog::new(16, 1))
        }

        /// Its first column is the primary key.
        fn table(&mut self, name: &str, columns: &[&str]) -> TableId {
            let table = TableDef {
                id: 0,
                name: name.into(),
                schema: PUBLIC,
                columns: columns
                    .iter()
                    .map(|c| ColumnDef::new(*c, DataType::Int4, false))
                    .collect(),
                primary_key: vec![0],
                sharding_key: vec![0],
                global: false,
                tier: 0,
                checks: vec![],
                foreign_keys: vec![],
            };
            let (next, def) = self.0.with_table(table);
            self.0 = next;
            def.id
        }

        fn def(&self, id: TableId) -> TableDef {
            self.0.table_by_id(id).expect("a table").clone()
        }

        fn foreign_key(
            &mut self,
            table: TableId,
            name: &str,
            columns: &[usize],
            parent: TableId,
            parent_columns: &[usize],
        ) {
            let mut def = self.def(table);
            def.foreign_keys.push(ForeignKey {
                name: name.into(),
                columns: columns.to_vec(),
                parent,
                parent_columns: parent_columns.to_vec(),
                on_delete: FkAction::NoAction,
                on_update: FkAction::NoAction,
            });
            self.0 = self.0.with_table_altered(def);
        }

        fn view(&mut self, name: &str, reads: &[TableId]) -> TableId {
            let (next, def) = self.0.with_view(ViewDef {
                id: 0,
                name: name.into(),
                schema: PUBLIC,
                columns: vec![("id".into(), DataType::Int4)],
                query: "SELECT 1".into(),
                depends_on: reads.to_vec(),
            });
            self.0 = next;
            def.id
        }

        fn sequence(&mut self, name: &str, owned_by: Option<(TableId, u32)>) -> TableId {
            let mut s = SequenceDef::new(name.into(), &SequenceOptions::default()).unwrap();
            s.schema = PUBLIC;
            s.owned_by = owned_by;
            let (next, def) = self.0.with_sequence(s);
            self.0 = next;
            def.id
        }

        fn default(&mut self, table: TableId, column: usize, text: &str) {
            let mut def = self.def(table);
            def.columns[column].default = Some(text.into());
            self.0 = self.0.with_table_altered(def);
        }

        fn index(
            &mut self,
            table: TableId,
            name: &str,
            columns: &[usize],
            unique: bool,
        ) -> TableId {
            let def = self.def(table);
            let index = IndexDef::new(
                name.into(),
                &def,
                columns.to_vec(),
                vec![false; columns.len()],
                unique,
            );
            let (next, def) = self.0.with_index(index);
            self.0 = next;
            def.storage.id
        }

        fn plan(&self, named: &[TableId]) -> DropPlan {
            let named = named.iter().map(|id| Object::Relation(*id)).collect();
            DropPlan::new(&self.0, named, &[])
        }
    }

    /// The error without CASCADE: message and detail.
    fn refusal(db: &Db, plan: &DropPlan) -> String {
        let e = plan.decide(&db.0, false, &[PUBLIC]).unwrap_err();
        assert_eq!(e.code, sqlstate::DEPENDENT_OBJECTS_STILL_EXIST);
        format!("{}\n{}", e.message, e.detail.unwrap_or_default())
    }

    /// The NOTICEs with CASCADE: message, and detail if any.
    fn told(db: &Db, plan: &DropPlan) -> String {
        let notices = plan.decide(&db.0, true, &[PUBLIC]).unwrap();
        notices
            .iter()
            .map(|n| match &n.detail {
                Some(d) => format!("{}\n{d}", n.message),
                None => n.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("\n--\n")
    }

    #[test]
    fn drop_table_reaches_foreign_keys_and_views_over_views() {
        let mut db = Db::new();
        let p = db.table("p", &["id", "x"]);
        let c = db.table("c", &["id", "pid"]);
        db.foreign_key(c, "c_pid_fkey", &[1], p, &[0]);
        let v1 = db.view("v1", &[p]);
        let v2 = db.view("v2", &[v1]);
        let plan = db.plan(&[p]);
        assert_eq!(
            refusal(&db, &plan),
            "cannot drop table p because other objects depend on it\n\
             constraint c_pid_fkey on table c depends on table p\n\
             view v1 depends on table p\n\
             view v2 depends on view v1"
        );
        assert_eq!(
            told(&db, &plan),
            "drop cascades to 3 other objects\n\
             drop cascades to constraint c_pid_fkey on table c\n\
             drop cascades to view v1\n\
             drop cascades to view v2"
        );
        assert_eq!(plan.relations(), [p, v1, v2]);
        // The referencing table stays, without the foreign key.
        let mut altered = Vec::new();
        plan.alter(&db.0, &mut altered);
        assert_eq!(altered.len(), 1);
        assert_eq!(altered[0].id, c);
        assert!(altered[0].foreign_keys.is_empty());
        // One dependent: one NOTICE, no detail.
        let plan = db.plan(&[v1]);
        assert_eq!(told(&db, &plan), "drop cascades to view v2");
        assert_eq!(
            refusal(&db, &plan),
            "cannot drop view v1 because other objects depend on it\n\
             view v2 depends on view v1"
        );
        // Nothing depends on v2.
        assert!(db
            .plan(&[v2])
            .decide(&db.0, false, &[PUBLIC])
            .unwrap()
            .is_empty());
    }

    /// PostgreSQL's order: depth first, newest dependents first, listed
    /// in reverse; the named in the statement's order.
    #[test]
    fn several_named_and_shared_dependents_in_postgres_order() {
        let mut db = Db::new();
        let a = db.table("a", &["id"]);
        let b = db.table("b", &["id"]);
        db.view("va", &[a]);
        db.view("vb", &[b]);
        db.view("vab", &[a, b]);
        let plan = db.plan(&[a, b]);
        assert_eq!(
            refusal(&db, &plan),
            "cannot drop desired object(s) because other objects depend on them\n\
             view vb depends on table b\n\
             view va depends on table a\n\
             view vab depends on table a"
        );
        let mut db = Db::new();
        let a = db.table("a", &["id"]);
        let w1 = db.view("w1", &[a]);
        let w3 = db.view("w3", &[a]);
        db.view("w2", &[w1, w3]);
        assert_eq!(
            refusal(&db, &db.plan(&[a])),
            "cannot drop table a because other objects depend on it\n\
             view w1 depends on table a\n\
             view w3 depends on table a\n\
             view w2 depends on view w3"
        );
    }

    /// What goes with what is named goes unmentioned: a foreign key of a
    /// dropped table, a view named too.
    #[test]
    fn what_goes_anyway_is_not_told() {
        let mut db = Db::new();
        let a = db.table("a", &["id"]);
        let b = db.table("b", &["id", "aid"]);
        db.foreign_key(b, "b_aid_fkey", &[1], a, &[0]);
        let plan = db.plan(&[a, b]);
        assert!(plan.decide(&db.0, false, &[PUBLIC]).unwrap().is_empty());
        let mut altered = Vec::new();
        plan.alter(&db.0, &mut altered);
        assert!(altered.is_empty());
        let v1 = db.view("v1", &[a]);
        let v2 = db.view("v2", &[v1]);
        assert!(db
            .plan(&[v1, v2])
            .decide(&db.0, false, &[PUBLIC])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn sequences_take_the_defaults_that_call_them() {
        let mut db = Db::new();
        let s = db.sequence("s", None);
        let d = db.table("d", &["id", "n", "m"]);
        db.default(d, 1, "nextval('s'::regclass)");
        db.default(d, 2, "(nextval('s'::regclass) + 1)");
        let plan = db.plan(&[s]);
        assert_eq!(
            refusal(&db, &plan),
            "cannot drop sequence s because other objects depend on it\n\
             default value for column n of table d depends on sequence s\n\
             default value for column m of table d depends on sequence s"
        );
        let mut altered = Vec::new();
        plan.alter(&db.0, &mut altered);
        assert!(altered[0].columns.iter().all(|c| c.default.is_none()));
        // A table's serial sequence goes with it, unmentioned, and takes
        // another table's default with it.
        let e = db.table("e", &["id", "x"]);
        let seq = db.sequence("e_id_seq", Some((e, 0)));
        db.default(e, 0, "nextval('e_id_seq'::regclass)");
        let f = db.table("f", &["id", "y"]);
        db.default(f, 0, "nextval('e_id_seq'::regclass)");
        db.view("ev", &[e]);
        let plan = db.plan(&[e]);
        assert_eq!(
            refusal(&db, &plan),
            "cannot drop table e because other objects depend on it\n\
             default value for column id of table f depends on sequence e_id_seq\n\
             view ev depends on table e"
        );
        assert!(plan.relations().contains(&seq));
        let mut altered = Vec::new();
        plan.alter(&db.0, &mut altered);
        assert_eq!(altered.len(), 1);
        assert_eq!(
            (altered[0].id, altered[0].columns[0].default.clone()),
            (f, None)
        );
    }

    #[test]
    fn an_index_takes_the_foreign_keys_that_need_it() {
        let mut db = Db::new();
        let g = db.table("g", &["id", "a"]);
        let index = db.index(g, "g_a", &[1], true);
        let h = db.table("h", &["ga"]);
        db.foreign_key(h, "h_ga_fkey", &[0], g, &[1]);
        let plan = db.plan(&[index]);
        assert_eq!(
            refusal(&db, &plan),
            "cannot drop index g_a because other objects depend on it\n\
             constraint h_ga_fkey on table h depends on index g_a"
        );
        // Another unique index on the columns would do instead.
        db.index(g, "g_a2", &[1], true);
        assert!(db
            .plan(&[index])
            .decide(&db.0, false, &[PUBLIC])
            .unwrap()
            .is_empty());
    }

    /// ALTER TABLE t DROP COLUMN a: the views the binder found reading
    /// it, then the foreign keys to it; its indexes go unmentioned.
    #[test]
    fn a_column_takes_its_readers_foreign_keys_and_indexes() {
        let mut db = Db::new();
        let t = db.table("t", &["id", "a", "b"]);
        let unique = db.index(t, "t_a_b_key", &[1, 2], true);
        let other = db.index(t, "t_b", &[2], false);
        let tv = db.view("tv", &[t]);
        db.view("tv2", &[tv]);
        let r = db.table("r", &["x", "y"]);
        db.foreign_key(r, "r_x_y_fkey", &[0, 1], t, &[1, 2]);
        let readers = [ColumnReaders {
            table: t,
            column: 1,
            views: vec![tv],
        }];
        let named = vec![Object::Column {
            table: t,
            column: 1,
        }];
        let plan = DropPlan::new(&db.0, named, &readers);
        assert_eq!(
            refusal(&db, &plan),
            "cannot drop column a of table t because other objects depend on it\n\
             view tv depends on column a of table t\n\
             view tv2 depends on view tv\n\
             constraint r_x_y_fkey on table r depends on column a of table t"
        );
        assert!(plan.relations().contains(&unique));
        assert!(!plan.relations().contains(&other));
    }

    /// PostgreSQL lists 100 lines and counts the rest.
    #[test]
    fn past_a_hundred_dependents_the_rest_are_counted() {
        let mut db = Db::new();
        let t = db.table("t", &["id"]);
        for i in 0..102 {
            db.view(&format!("v{i}"), &[t]);
        }
        let notices = db.plan(&[t]).decide(&db.0, true, &[PUBLIC]).unwrap();
        assert_eq!(notices[0].message, "drop cascades to 102 other objects");
        let detail = notices[0].detail.as_deref().unwrap();
        assert_eq!(detail.lines().count(), 101);
        assert!(detail
            .ends_with("drop cascades to view v99\nand 2 other objects (see server log for list)"));
    }
}
