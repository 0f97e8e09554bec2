//! CREATE ROLE / CREATE USER, ALTER ROLE / ALTER USER and DROP ROLE /
//! DROP USER: the syntax checks PostgreSQL makes in its grammar (reserved
//! names, options given twice, options it has and Tessera does not keep).
//! Whether the roles exist and the session may change them is decided on
//! shard 0 (`shard::roles`).

use sqlparser::ast;
use tessera_types::{sqlstate, Error, Result};

use super::{ident_name, Binder};
use crate::plan::{Plan, RoleAttributes, RoleStatement};

/// Names the grammar refuses for a new role (PostgreSQL: 42939).
const RESERVED_ROLE_NAMES: &[&str] = &[
    "public",
    "none",
    "current_user",
    "session_user",
    "current_role",
];

impl Binder<'_> {
    pub(super) fn bind_create_role(
        &self,
        names: &[ast::ObjectName],
        if_not_exists: bool,
        options: CreateRoleOptions<'_>,
        user: bool,
    ) -> Result<Plan> {
        if if_not_exists {
            return Err(Error::syntax("syntax error at or near \"IF\""));
        }
        let [name] = names else {
            return Err(Error::syntax("syntax error at or near \",\""));
        };
        let name = new_role_name(name)?;
        let CreateRoleOptions {
            login,
            password,
            superuser,
            create_db,
            create_role,
            valid_until,
            unsupported,
        } = options;
        if let Some(option) = unsupported {
            return Err(Error::unsupported(format!("CREATE ROLE … {option}")));
        }
        let attributes = RoleAttributes {
            superuser,
            create_role,
            create_db,
            login,
            password: password.map(password_text).transpose()?,
            valid_until: valid_until.map(|e| self.valid_until(e)).transpose()?,
        };
        Ok(Plan::Role(RoleStatement::Create {
            name,
            attributes,
            user,
        }))
    }

    pub(super) fn bind_alter_role(
        &self,
        name: &ast::Ident,
        operation: &ast::AlterRoleOperation,
    ) -> Result<Plan> {
        let name = ident_name(name);
        match operation {
            ast::AlterRoleOperation::RenameRole { role_name } => {
                let to = ident_name(role_name);
                check_new_name(&to)?;
                Ok(Plan::Role(RoleStatement::Rename { name, to }))
            }
            ast::AlterRoleOperation::WithOptions { options } => {
                let mut attributes = RoleAttributes::default();
                for option in options {
                    let twice = match option {
                        ast::RoleOption::SuperUser(v) => set_once(&mut attributes.superuser, *v),
                        ast::RoleOption::CreateRole(v) => set_once(&mut attributes.create_role, *v),
                        ast::RoleOption::CreateDB(v) => set_once(&mut attributes.create_db, *v),
                        ast::RoleOption::Login(v) => set_once(&mut attributes.login, *v),
                        ast::RoleOption::Password(p) => {
                            let text = password_text(p)?;
                            set_once(&mut attributes.password, text)
                        }
                        ast::RoleOption::ValidUntil(e) => {
                            let until = self.valid_until(e)?;
                            set_once(&mut attributes.valid_until, until)
                        }
                        // Accepted and not kept: everything inherits,
                        // nothing replicates through roles, no row security.
                        ast::RoleOption::Inherit(true)
                        | ast::RoleOption::Replication(false)
                        | ast::RoleOption::BypassRLS(false) => false,
                        other => {
                            return Err(Error::unsupported(format!("ALTER ROLE … {other}")));
                        }
                    };
                    if twice {
                        return Err(conflicting_options());
                    }
                }
                Ok(Plan::Role(RoleStatement::Alter { name, attributes }))
            }
            other => Err(Error::unsupported(format!("ALTER ROLE … {other}"))),
        }
    }

    pub(super) fn bind_drop_roles(
        &self,
        names: &[ast::ObjectName],
        if_exists: bool,
    ) -> Result<Plan> {
        let names = names
            .iter()
            .map(|n| match n.0.as_slice() {
                [ast::ObjectNamePart::Identifier(i)] => Ok(ident_name(i)),
                _ => Err(Error::syntax(format!("syntax error at or near \"{n}\""))),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Plan::Role(RoleStatement::Drop { names, if_exists }))
    }

    /// `VALID UNTIL 'text'`, read as `timestamptz` in the session's zone.
    fn valid_until(&self, expr: &ast::Expr) -> Result<Option<i64>> {
        let ast::Expr::Value(v) = expr else {
            return Err(Error::syntax(format!("syntax error at or near \"{expr}\"")));
        };
        match &v.value {
            ast::Value::SingleQuotedString(text) => Ok(Some(
                tessera_types::datetime::parse::parse_timestamptz(text, &self.time)?,
            )),
            ast::Value::Null => Ok(None),
            _ => Err(Error::syntax(format!("syntax error at or near \"{expr}\""))),
        }
    }
}

/// CREATE ROLE's options as sqlparser gives them, and the first option
/// Tessera does not keep (`unsupported`).
pub(super) struct CreateRoleOptions<'a> {
    pub login: Option<bool>,
    pub password: Option<&'a ast::Password>,
    pub superuser: Option<bool>,
    pub create_db: Option<bool>,
    pub create_role: Option<bool>,
    pub valid_until: Option<&'a ast::Expr>,
    pub unsupported: Option<&'static str>,
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> bool {
    let twice = slot.is_some();
    *slot = Some(value);
    twice
}

fn conflicting_options() -> Error {
    Error::syntax("conflicting or redundant options")
}

/// PASSWORD 'text' or PASSWORD NULL.
fn password_text(password: &ast::Password) -> Result<Option<String>> {
    match password {
        ast::Password::NullPassword => Ok(None),
        ast::Password::Password(ast::Expr::Value(v)) => match &v.value {
            ast::Value::SingleQuotedString(text) => Ok(Some(text.clone())),
            ast::Value::Null => Ok(None),
            other => Err(Error::syntax(format!(
                "syntax error at or near \"{other}\""
            ))),
        },
        ast::Password::Password(other) => Err(Error::syntax(format!(
            "syntax error at or near \"{other}\""
        ))),
    }
}

fn new_role_name(name: &ast::ObjectName) -> Result<String> {
    let [ast::ObjectNamePart::Identifier(i)] = name.0.as_slice() else {
        return Err(Error::syntax(format!("syntax error at or near \"{name}\"")));
    };
    let name = ident_name(i);
    check_new_name(&name)?;
    Ok(name)
}

/// The names a role may not be given (PostgreSQL: 42939).
fn check_new_name(name: &str) -> Result<()> {
    if RESERVED_ROLE_NAMES.contains(&name) {
        return Err(Error::new(
            sqlstate::RESERVED_NAME,
            format!("role name \"{name}\" is reserved"),
        ));
    }
    if name.starts_with("pg_") {
        return Err(Error::new(
            sqlstate::RESERVED_NAME,
            format!("role name \"{name}\" is reserved"),
        )
        .with_detail("Role names starting with \"pg_\" are reserved."));
    }
    if name.is_empty() {
        return Err(Error::new(
            sqlstate::INVALID_NAME,
            "zero-length delimited identifier",
        ));
    }
    Ok(())
}
