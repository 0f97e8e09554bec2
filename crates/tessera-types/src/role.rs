//! Roles: who may connect and what they may do, as PostgreSQL's
//! `pg_authid` holds it. A role is part of the catalog, changed only
//! through catalog records (`CREATE ROLE`, `ALTER ROLE`, `DROP ROLE`) and
//! persisted with them.
//!
//! A password is never stored in clear: [`RoleDef::password`] holds what
//! PostgreSQL's `rolpassword` holds, a SCRAM-SHA-256 verifier
//! (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`) or an MD5
//! hash (`md5` + 32 hex digits). Privileges beyond the role attributes
//! (GRANT) are not modelled.

use crate::encoding::{Reader, Writer};
use crate::error::Result;

pub type RoleId = u32;

/// The id of the role the first start creates (PostgreSQL's
/// `BOOTSTRAP_SUPERUSERID`); it cannot be dropped.
pub const BOOTSTRAP_ROLE_ID: RoleId = 10;

/// The id the first role created by SQL takes; later ones count up.
pub const FIRST_CREATED_ROLE_ID: RoleId = 16384;

/// One role (`pg_authid` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDef {
    pub id: RoleId,
    pub name: String,
    pub superuser: bool,
    pub create_role: bool,
    pub create_db: bool,
    /// May start a session (`LOGIN`; `CREATE USER` sets it).
    pub login: bool,
    /// A SCRAM-SHA-256 verifier or an MD5 hash, never a clear password;
    /// `None`: password methods refuse the role.
    pub password: Option<String>,
    /// `VALID UNTIL`: the password stops working at this time
    /// (microseconds since 2000-01-01 UTC, as `timestamptz`).
    pub valid_until: Option<i64>,
}

impl RoleDef {
    /// A role with every attribute off and no password.
    pub fn new(name: impl Into<String>) -> RoleDef {
        RoleDef {
            id: 0,
            name: name.into(),
            superuser: false,
            create_role: false,
            create_db: false,
            login: false,
            password: None,
            valid_until: None,
        }
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.id);
        w.str(&self.name);
        let flags = self.superuser as u8
            | (self.create_role as u8) << 1
            | (self.create_db as u8) << 2
            | (self.login as u8) << 3
            | (self.password.is_some() as u8) << 4
            | (self.valid_until.is_some() as u8) << 5;
        w.u8(flags);
        if let Some(password) = &self.password {
            w.str(password);
        }
        if let Some(until) = self.valid_until {
            w.u64(until as u64);
        }
    }

    pub fn decode(r: &mut Reader) -> Result<RoleDef> {
        let id = r.u32()?;
        let name = r.str()?.to_string();
        let flags = r.u8()?;
        let password = if flags & 1 << 4 != 0 {
            Some(r.str()?.to_string())
        } else {
            None
        };
        let valid_until = if flags & 1 << 5 != 0 {
            Some(r.u64()? as i64)
        } else {
            None
        };
        Ok(RoleDef {
            id,
            name,
            superuser: flags & 1 != 0,
            create_role: flags & 1 << 1 != 0,
            create_db: flags & 1 << 2 != 0,
            login: flags & 1 << 3 != 0,
            password,
            valid_until,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        let mut role = RoleDef::new("alice");
        role.id = 16390;
        role.login = true;
        role.create_db = true;
        role.password = Some("md5a3556571e93b0d20722ba62be61e8c2d".into());
        role.valid_until = Some(-5);
        for role in [role.clone(), RoleDef::new("nobody")] {
            let mut w = Writer::new();
            role.encode(&mut w);
            let mut r = Reader::new(&w.buf);
            assert_eq!(RoleDef::decode(&mut r).unwrap(), role);
            assert!(r.is_empty());
        }
    }
}
