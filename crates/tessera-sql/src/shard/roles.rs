//! CREATE, ALTER and DROP ROLE, on shard 0, which owns the catalog log.
//!
//! [`decide`] checks a statement against the catalog of the moment and
//! the acting role's attributes, as PostgreSQL 15 does: a superuser may do
//! anything; a role with CREATEROLE may create, change and drop roles that
//! are not superusers; any role may change its own password. It returns
//! the catalog records to write, all or nothing; the shell writes them
//! under the catalog log's lock and publishes the new catalog. Passwords
//! arrive hashed (the router hashes them), so no clear password reaches
//! the log.

use tessera_storage::record::CatalogRecord;
use tessera_types::role::BOOTSTRAP_ROLE_ID;
use tessera_types::{sqlstate, Catalog, Error, Result, RoleDef};

use super::{Block, ShardContext, ShardResponse};
use crate::engine::Notice;
use crate::plan::{RoleAttributes, RoleStatement};

impl ShardContext {
    /// Applies `statement` made by role `actor`.
    pub(super) async fn change_roles(
        &self,
        statement: RoleStatement,
        actor: String,
        block: Block,
    ) -> Result<ShardResponse> {
        let ddl = self.ddl(block).await?;
        let catalog = ddl.catalog.clone();
        let (records, notices) = decide(&catalog, &actor, &statement)?;
        if records.is_empty() {
            return Ok(ShardResponse::Done(notices));
        }
        let mut next = (*catalog).clone();
        for record in &records {
            next = apply(&next, record);
        }
        ddl.apply(records, next).await?;
        Ok(ShardResponse::Done(notices))
    }

    /// Creates `role` if the catalog has no role at all: the administrator
    /// of a new data directory (or of one from before roles existed).
    /// Returns whether it did.
    pub async fn bootstrap_role(&self, mut role: RoleDef) -> Result<bool> {
        let ddl = self.ddl(None).await?;
        if ddl.catalog.roles().next().is_some() {
            return Ok(false);
        }
        role.id = BOOTSTRAP_ROLE_ID;
        let (next, role) = ddl.catalog.with_role(role);
        ddl.apply_one(CatalogRecord::CreateRole((*role).clone()), next)
            .await?;
        Ok(true)
    }
}

/// The catalog after a role record (the same as replay does).
fn apply(catalog: &Catalog, record: &CatalogRecord) -> Catalog {
    match record {
        CatalogRecord::CreateRole(role) | CatalogRecord::AlterRole(role) => {
            catalog.with_role_replaced(role.clone())
        }
        CatalogRecord::DropRole(id) => catalog.without_role(*id),
        other => unreachable!("not a role record: {other:?}"),
    }
}

fn missing(name: &str) -> Error {
    Error::new(
        sqlstate::UNDEFINED_OBJECT,
        format!("role \"{name}\" does not exist"),
    )
}

fn denied(message: &str) -> Error {
    Error::new(sqlstate::INSUFFICIENT_PRIVILEGE, message)
}

/// What `statement` by `actor` writes, and what the client is told.
pub(crate) fn decide(
    catalog: &Catalog,
    actor: &str,
    statement: &RoleStatement,
) -> Result<(Vec<CatalogRecord>, Vec<Notice>)> {
    let acting = catalog.role(actor).map(|r| (**r).clone());
    let superuser = acting.as_ref().is_some_and(|r| r.superuser);
    let create_role = superuser || acting.as_ref().is_some_and(|r| r.create_role);
    let mut notices = Vec::new();
    let records = match statement {
        RoleStatement::Create {
            name,
            attributes,
            user,
        } => {
            if !create_role {
                return Err(denied("permission denied to create role"));
            }
            if attributes.superuser == Some(true) && !superuser {
                return Err(denied("must be superuser to create superusers"));
            }
            if catalog.role(name).is_some() {
                return Err(Error::new(
                    sqlstate::DUPLICATE_OBJECT,
                    format!("role \"{name}\" already exists"),
                ));
            }
            let mut role = RoleDef::new(name.clone());
            role.login = *user;
            set_attributes(&mut role, attributes);
            let (next, role) = catalog.with_role(role);
            debug_assert!(next.role(name).is_some());
            vec![CatalogRecord::CreateRole((*role).clone())]
        }
        RoleStatement::Alter { name, attributes } => {
            let old = catalog.role(name).ok_or_else(|| missing(name))?;
            let only_own_password = *name == actor
                && *attributes
                    == RoleAttributes {
                        password: attributes.password.clone(),
                        ..RoleAttributes::default()
                    };
            if (old.superuser || attributes.superuser.is_some()) && !superuser {
                return Err(denied(
                    "must be superuser to alter superuser roles or change superuser attribute",
                ));
            }
            if !create_role && !only_own_password {
                return Err(denied("permission denied"));
            }
            let mut role = (**old).clone();
            set_attributes(&mut role, attributes);
            vec![CatalogRecord::AlterRole(role)]
        }
        RoleStatement::Rename { name, to } => {
            let old = catalog.role(name).ok_or_else(|| missing(name))?;
            if name == actor {
                return Err(Error::new(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    "session user cannot be renamed",
                ));
            }
            if catalog.role(to).is_some() {
                return Err(Error::new(
                    sqlstate::DUPLICATE_OBJECT,
                    format!("role \"{to}\" already exists"),
                ));
            }
            if old.superuser && !superuser {
                return Err(denied("must be superuser to rename superusers"));
            }
            if !create_role {
                return Err(denied("permission denied to rename role"));
            }
            let mut role = (**old).clone();
            role.name = to.clone();
            // An MD5 hash has the old name in it.
            if role
                .password
                .as_deref()
                .is_some_and(crate::password::is_md5_hash)
            {
                role.password = None;
                notices.push(Notice::new(
                    sqlstate::SUCCESSFUL_COMPLETION,
                    "MD5 password cleared because of role rename",
                ));
            }
            vec![CatalogRecord::AlterRole(role)]
        }
        RoleStatement::Drop { names, if_exists } => {
            if !create_role {
                return Err(denied("permission denied to drop role"));
            }
            let mut records = Vec::new();
            for name in names {
                let Some(role) = catalog.role(name) else {
                    if *if_exists {
                        notices.push(Notice::new(
                            sqlstate::SUCCESSFUL_COMPLETION,
                            format!("role \"{name}\" does not exist, skipping"),
                        ));
                        continue;
                    }
                    return Err(missing(name));
                };
                if name == actor {
                    return Err(Error::new(
                        sqlstate::OBJECT_IN_USE,
                        "current user cannot be dropped",
                    ));
                }
                if role.id == BOOTSTRAP_ROLE_ID {
                    return Err(Error::new(
                        sqlstate::DEPENDENT_OBJECTS_STILL_EXIST,
                        format!(
                            "cannot drop role {name} because it is required by the database system"
                        ),
                    ));
                }
                if role.superuser && !superuser {
                    return Err(denied("must be superuser to drop superusers"));
                }
                let owned: Vec<String> = catalog
                    .schemas()
                    .filter(|s| s.owner == *name)
                    .map(|s| format!("owner of schema {}", s.name))
                    .collect();
                if !owned.is_empty() {
                    return Err(Error::new(
                        sqlstate::DEPENDENT_OBJECTS_STILL_EXIST,
                        format!(
                            "role \"{name}\" cannot be dropped because some objects depend on it"
                        ),
                    )
                    .with_detail(owned.join("\n")));
                }
                let record = CatalogRecord::DropRole(role.id);
                if !records.contains(&record) {
                    records.push(record);
                }
            }
            records
        }
    };
    Ok((records, notices))
}

fn set_attributes(role: &mut RoleDef, attributes: &RoleAttributes) {
    let RoleAttributes {
        superuser,
        create_role,
        create_db,
        login,
        password,
        valid_until,
    } = attributes;
    for (slot, value) in [
        (&mut role.superuser, superuser),
        (&mut role.create_role, create_role),
        (&mut role.create_db, create_db),
        (&mut role.login, login),
    ] {
        if let Some(v) = value {
            *slot = *v;
        }
    }
    if let Some(password) = password {
        role.password = password.clone();
    }
    if let Some(until) = valid_until {
        role.valid_until = *until;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let admin = RoleDef {
            id: BOOTSTRAP_ROLE_ID,
            superuser: true,
            login: true,
            ..RoleDef::new("admin")
        };
        let manager = RoleDef {
            create_role: true,
            login: true,
            ..RoleDef::new("manager")
        };
        let plain = RoleDef {
            login: true,
            password: Some(crate::password::md5_hash("pw", "plain")),
            ..RoleDef::new("plain")
        };
        let mut c = Catalog::new(16, 1);
        for r in [admin, manager, plain] {
            c = c.with_role(r).0;
        }
        c
    }

    fn run(c: &Catalog, actor: &str, s: RoleStatement) -> Result<Catalog> {
        let (records, _) = decide(c, actor, &s)?;
        Ok(records.iter().fold(c.clone(), |c, r| apply(&c, r)))
    }

    fn create(name: &str, superuser: bool) -> RoleStatement {
        RoleStatement::Create {
            name: name.into(),
            attributes: RoleAttributes {
                superuser: Some(superuser),
                ..RoleAttributes::default()
            },
            user: true,
        }
    }

    #[test]
    fn privileges_follow_postgres() {
        let c = catalog();
        let code = |r: Result<Catalog>| r.unwrap_err().code;
        assert_eq!(
            code(run(&c, "plain", create("x", false))),
            sqlstate::INSUFFICIENT_PRIVILEGE
        );
        assert_eq!(
            code(run(&c, "manager", create("x", true))),
            sqlstate::INSUFFICIENT_PRIVILEGE
        );
        let c2 = run(&c, "manager", create("x", false)).unwrap();
        assert!(c2.role("x").unwrap().login);
        assert_eq!(
            code(run(&c2, "admin", create("x", false))),
            sqlstate::DUPLICATE_OBJECT
        );
        // Own password: allowed; anything else about oneself: not.
        let own = RoleStatement::Alter {
            name: "plain".into(),
            attributes: RoleAttributes {
                password: Some(Some("md5".to_string() + &"0".repeat(32))),
                ..RoleAttributes::default()
            },
        };
        assert!(run(&c, "plain", own).is_ok());
        let own_login = RoleStatement::Alter {
            name: "plain".into(),
            attributes: RoleAttributes {
                create_db: Some(true),
                ..RoleAttributes::default()
            },
        };
        assert_eq!(
            code(run(&c, "plain", own_login)),
            sqlstate::INSUFFICIENT_PRIVILEGE
        );
        let drop = |names: &[&str], if_exists| RoleStatement::Drop {
            names: names.iter().map(|n| n.to_string()).collect(),
            if_exists,
        };
        assert_eq!(
            code(run(&c, "manager", drop(&["admin"], false))),
            sqlstate::DEPENDENT_OBJECTS_STILL_EXIST
        );
        assert_eq!(
            code(run(&c, "admin", drop(&["admin"], false))),
            sqlstate::OBJECT_IN_USE
        );
        assert_eq!(
            code(run(&c, "admin", drop(&["nobody"], false))),
            sqlstate::UNDEFINED_OBJECT
        );
        // All or nothing: one missing name drops none.
        assert!(run(&c, "admin", drop(&["plain", "nobody"], false)).is_err());
        let (records, notices) = decide(&c, "admin", &drop(&["plain", "nobody"], true)).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(notices.len(), 1);
    }

    #[test]
    fn rename_clears_an_md5_password() {
        let c = catalog();
        let rename = RoleStatement::Rename {
            name: "plain".into(),
            to: "plain2".into(),
        };
        let (records, notices) = decide(&c, "admin", &rename).unwrap();
        let CatalogRecord::AlterRole(role) = &records[0] else {
            panic!("{records:?}")
        };
        assert_eq!(
            (role.name.as_str(), role.password.as_ref()),
            ("plain2", None)
        );
        assert_eq!(notices.len(), 1);
        let to_existing = RoleStatement::Rename {
            name: "plain".into(),
            to: "manager".into(),
        };
        assert_eq!(
            decide(&c, "admin", &to_existing).unwrap_err().code,
            sqlstate::DUPLICATE_OBJECT
        );
    }
}
