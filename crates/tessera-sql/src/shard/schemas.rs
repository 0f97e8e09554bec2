//! CREATE, DROP and ALTER … RENAME of schemas, on shard 0, which owns the
//! catalog log.
//!
//! Each change is checked against the catalog under the catalog log's
//! lock, written as one record, and then published, as every other DDL.
//! DROP SCHEMA … CASCADE drops the schema's tables, views and sequences
//! (indexes and owned sequences with their tables) in the same record,
//! and what outside the schemas depends on them, as every DROP … CASCADE
//! does (see `dependencies`).

use tessera_storage::record::CatalogRecord;
use tessera_types::schema::{SchemaId, INFORMATION_SCHEMA, PG_CATALOG};
use tessera_types::{sqlstate, Catalog, Error, Result, SchemaDef};

use super::{Block, DropPlan, Object, ShardContext, ShardResponse};
use crate::engine::Notice;

impl ShardContext {
    pub(super) async fn create_schema(
        &self,
        schema: SchemaDef,
        if_not_exists: bool,
        block: Block,
    ) -> Result<ShardResponse> {
        let ddl = self.ddl(block).await?;
        let catalog = ddl.catalog.clone();
        if catalog.schema(&schema.name).is_some() {
            let message = format!("schema \"{}\" already exists", schema.name);
            if if_not_exists {
                let notice =
                    Notice::new(sqlstate::DUPLICATE_SCHEMA, format!("{message}, skipping"));
                return Ok(ShardResponse::Done(vec![notice]));
            }
            return Err(Error::new(sqlstate::DUPLICATE_SCHEMA, message));
        }
        let (next, def) = catalog.with_schema(schema);
        ddl.apply_one(CatalogRecord::CreateSchema((*def).clone()), next)
            .await?;
        Ok(ShardResponse::Done(vec![]))
    }

    pub(super) async fn rename_schema(
        &self,
        id: SchemaId,
        name: String,
        block: Block,
    ) -> Result<ShardResponse> {
        let ddl = self.ddl(block).await?;
        let catalog = ddl.catalog.clone();
        let Some(old) = catalog.schema_by_id(id) else {
            return Err(Error::new(
                sqlstate::INVALID_SCHEMA_NAME,
                "the schema was dropped while it was being renamed",
            ));
        };
        if catalog.schema(&name).is_some() {
            return Err(Error::new(
                sqlstate::DUPLICATE_SCHEMA,
                format!("schema \"{name}\" already exists"),
            ));
        }
        // A view's text names the schemas of the relations it reads.
        let reader = catalog.views().find(|v| {
            v.depends_on
                .iter()
                .any(|d| catalog.relation_name(*d).is_some_and(|(s, _)| s == id))
        });
        if let Some(view) = reader {
            return Err(Error::unsupported(format!(
                "renaming schema \"{}\" while view \"{}\" reads a relation in it",
                old.name, view.name
            )));
        }
        let record = CatalogRecord::RenameSchema {
            schema: id,
            name: name.clone(),
        };
        ddl.apply_one(record, catalog.with_schema_renamed(id, &name))
            .await?;
        Ok(ShardResponse::Done(vec![]))
    }

    /// ALTER INDEX … RENAME TO: the new name must be free in the index's
    /// schema (one namespace with tables, views and sequences).
    pub(super) async fn rename_index(
        &self,
        storage: tessera_types::TableId,
        name: String,
        block: Block,
    ) -> Result<ShardResponse> {
        let ddl = self.ddl(block).await?;
        let catalog = ddl.catalog.clone();
        let Some(index) = catalog.indexes().find(|i| i.storage.id == storage) else {
            return Err(Error::new(
                sqlstate::UNDEFINED_OBJECT,
                "the index to rename is gone",
            ));
        };
        if index.name == name {
            return Ok(ShardResponse::Done(vec![]));
        }
        if catalog.relation_exists(index.schema(), &name) {
            return Err(Error::new(
                sqlstate::DUPLICATE_TABLE,
                format!("relation \"{name}\" already exists"),
            ));
        }
        let record = CatalogRecord::RenameIndex {
            storage,
            name: name.clone(),
        };
        ddl.apply_one(record, catalog.with_index_renamed(storage, &name))
            .await?;
        Ok(ShardResponse::Done(vec![]))
    }

    pub(super) async fn drop_schemas(
        &self,
        names: Vec<String>,
        cascade: bool,
        path: &[SchemaId],
        block: Block,
    ) -> Result<ShardResponse> {
        let ddl = self.ddl(block).await?;
        let catalog = ddl.catalog.clone();
        let mut schemas: Vec<SchemaId> = Vec::new();
        for name in &names {
            let schema = crate::names::schema_named(&catalog, name)?;
            if !schemas.contains(&schema) {
                schemas.push(schema);
            }
        }
        super::types::refuse_schema_with_types(&catalog, &schemas, cascade)?;
        let (plan, notices) = plan_drop(&catalog, &schemas, cascade, path)?;
        if !schemas.is_empty() {
            let mut altered = Vec::new();
            plan.alter(&catalog, &mut altered);
            super::drop_in_catalog(ddl, altered, plan.relations(), plan.schemas()).await?;
        }
        Ok(ShardResponse::Done(notices))
    }
}

/// Decides DROP SCHEMA of `schemas` against `catalog`: what goes, and
/// what the client is told. The system's schemas stay; otherwise as every
/// DROP (see `dependencies`): what is in them depends on them, and what
/// depends on that, inside or outside them.
fn plan_drop(
    catalog: &Catalog,
    schemas: &[SchemaId],
    cascade: bool,
    path: &[SchemaId],
) -> Result<(DropPlan, Vec<Notice>)> {
    let name_of = |s: SchemaId| catalog.schema_name(s).to_string();
    for &s in schemas {
        let required = s == PG_CATALOG || (s == INFORMATION_SCHEMA && cascade);
        if required {
            return Err(Error::new(
                sqlstate::DEPENDENT_OBJECTS_STILL_EXIST,
                format!(
                    "cannot drop schema {} because it is required by the database system",
                    name_of(s)
                ),
            ));
        }
        if s == INFORMATION_SCHEMA {
            // PostgreSQL's holds its views; ours will.
            return Err(Error::new(
                sqlstate::DEPENDENT_OBJECTS_STILL_EXIST,
                "cannot drop schema information_schema because other objects depend on it",
            )
            .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
        }
    }
    let named = schemas.iter().map(|s| Object::Schema(*s)).collect();
    let plan = DropPlan::new(catalog, named, &[]);
    let notices = plan.decide(catalog, cascade, path)?;
    Ok((plan, notices))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::schema::PUBLIC;
    use tessera_types::{ColumnDef, DataType, TableDef, TableId, ViewDef};

    fn table(name: &str, schema: SchemaId) -> TableDef {
        TableDef {
            id: 0,
            name: name.into(),
            schema,
            columns: vec![ColumnDef::new("a", DataType::Int4, true)],
            primary_key: vec![0],
            sharding_key: vec![0],
            global: false,
            tier: 0,
            checks: vec![],
            foreign_keys: vec![],
        }
    }

    fn view(name: &str, schema: SchemaId, reads: TableId) -> ViewDef {
        ViewDef {
            id: 0,
            name: name.into(),
            schema,
            columns: vec![("a".into(), DataType::Int4)],
            query: "SELECT 1".into(),
            depends_on: vec![reads],
        }
    }

    /// Schema `s` with table `s.t`, view `s.v` over it, and the view `v2`
    /// in public over `s.t`: PostgreSQL's detail lines, and CASCADE
    /// refused for the view outside.
    #[test]
    fn drop_schema_lists_what_depends_on_it() {
        let catalog = Catalog::new(16, 1);
        let (catalog, s) = catalog.with_schema(SchemaDef {
            id: 0,
            name: "s".into(),
            owner: "postgres".into(),
        });
        let (catalog, t) = catalog.with_table(table("t", s.id));
        let (catalog, _) = catalog.with_view(view("v", s.id, t.id));
        let path = [PUBLIC];
        let e = plan_drop(&catalog, &[s.id], false, &path).unwrap_err();
        assert_eq!(e.code, sqlstate::DEPENDENT_OBJECTS_STILL_EXIST);
        assert_eq!(
            e.message,
            "cannot drop schema s because other objects depend on it"
        );
        assert_eq!(
            e.detail.as_deref(),
            Some("table s.t depends on schema s\nview s.v depends on schema s")
        );
        let (plan, notices) = plan_drop(&catalog, &[s.id], true, &path).unwrap();
        assert_eq!(plan.relations().len(), 2);
        assert_eq!(notices[0].message, "drop cascades to 2 other objects");
        let (with_outside, _) = catalog.with_view(view("v2", PUBLIC, t.id));
        let e = plan_drop(&with_outside, &[s.id], false, &path).unwrap_err();
        assert_eq!(
            e.detail.as_deref(),
            Some(
                "table s.t depends on schema s\nview v2 depends on table s.t\n\
                 view s.v depends on schema s"
            )
        );
        // CASCADE reaches the view outside too.
        let (plan, notices) = plan_drop(&with_outside, &[s.id], true, &path).unwrap();
        assert_eq!(plan.relations().len(), 3);
        assert_eq!(plan.schemas(), [s.id]);
        assert_eq!(notices[0].message, "drop cascades to 3 other objects");
        assert_eq!(
            notices[0].detail.as_deref(),
            Some("drop cascades to table s.t\ndrop cascades to view v2\ndrop cascades to view s.v")
        );
        // On the path, its relations go unqualified.
        let e = plan_drop(&catalog, &[s.id], false, &[s.id]).unwrap_err();
        assert_eq!(
            e.detail.as_deref(),
            Some("table t depends on schema s\nview v depends on schema s")
        );
        // The system's schemas stay.
        let e = plan_drop(&catalog, &[PG_CATALOG], true, &path).unwrap_err();
        assert_eq!(
            e.message,
            "cannot drop schema pg_catalog because it is required by the database system"
        );
        assert!(plan_drop(&catalog, &[INFORMATION_SCHEMA], false, &path).is_err());
        // An empty schema goes quietly.
        let (catalog, empty) = catalog.with_schema(SchemaDef {
            id: 0,
            name: "e".into(),
            owner: "postgres".into(),
        });
        let (plan, notices) = plan_drop(&catalog, &[empty.id], false, &path).unwrap();
        assert!(plan.relations().is_empty() && notices.is_empty());
    }
}
