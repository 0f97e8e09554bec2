//! `current_setting(name [, missing_ok])` and `set_config(name, value,
//! is_local)`: a statement's reads and writes of its session's settings.
//!
//! The router gives a statement that calls them (the binder marks it) a
//! [`StatementSettings`] through [`Params`](crate::expr::Params): every
//! setting's value as the statement began, and a list that `set_config`
//! appends to. Once the statement has succeeded the router applies the
//! writes to the session with the checks `SET` makes (an invalid value
//! fails the statement then, and nothing is applied); a statement that
//! fails applies none. A read sees the statement's own earlier writes.
//! The writes a statement may make are bounded by
//! [`SET_CONFIG_CALLS_MAX`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use tessera_types::{sqlstate, Error, Result, Value};

/// The most `set_config` calls one statement may make (one per row of a
/// large query would otherwise grow the list without bound); the call
/// past it fails with 54000.
pub const SET_CONFIG_CALLS_MAX: usize = 10_000;

/// One `set_config` call.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingWrite {
    pub name: String,
    pub value: String,
    pub local: bool,
}

/// The settings one statement reads and writes.
#[derive(Debug, Default)]
pub struct StatementSettings {
    /// Every setting's value (as SHOW shows it) when the statement began,
    /// by canonical name.
    values: BTreeMap<String, String>,
    writes: Mutex<Vec<SettingWrite>>,
}

impl PartialEq for StatementSettings {
    fn eq(&self, other: &StatementSettings) -> bool {
        std::ptr::eq(self, other)
    }
}

fn unrecognized(name: &str) -> Error {
    Error::new(
        sqlstate::UNDEFINED_OBJECT,
        format!("unrecognized configuration parameter \"{name}\""),
    )
}

/// The name a setting is stored under: its canonical spelling, or a
/// custom (dotted) name in lower case; `None` for neither.
fn key(name: &str) -> Option<String> {
    match crate::router::canonical_setting(name) {
        Some((canonical, _)) => Some(canonical.to_string()),
        None if name.contains('.') => Some(name.to_ascii_lowercase()),
        // Fixed at build time (server_version_num, max_identifier_length…).
        None => crate::system::preset_settings()
            .into_iter()
            .find(|(n, ..)| n.eq_ignore_ascii_case(name))
            .map(|(n, ..)| n.to_string()),
    }
}

impl StatementSettings {
    pub fn new(values: BTreeMap<String, String>) -> StatementSettings {
        StatementSettings {
            values,
            writes: Mutex::new(Vec::new()),
        }
    }

    fn writes(&self) -> std::sync::MutexGuard<'_, Vec<SettingWrite>> {
        // A panic elsewhere while holding it leaves a plain list behind.
        self.writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `current_setting(name, missing_ok)`.
    pub fn current(&self, name: &str, missing_ok: bool) -> Result<Value> {
        let found = key(name).and_then(|key| {
            let written = self
                .writes()
                .iter()
                .rev()
                .find(|w| w.name == key)
                .map(|w| w.value.clone());
            written.or_else(|| self.values.get(&key).cloned())
        });
        match found {
            Some(value) => Ok(Value::Text(value)),
            None if missing_ok => Ok(Value::Null),
            None => Err(unrecognized(name)),
        }
    }

    /// `set_config(name, value, is_local)`: checks the value as SET does
    /// and returns it in its canonical spelling (`German, DMY` for
    /// `german`), as PostgreSQL does.
    pub fn set(&self, name: &str, value: &str, local: bool) -> Result<Value> {
        let key = key(name).ok_or_else(|| unrecognized(name))?;
        if crate::router::READ_ONLY_SETTINGS.contains(&key.as_str()) {
            return Err(Error::new(
                sqlstate::CANT_CHANGE_RUNTIME_PARAM,
                format!("parameter \"{key}\" cannot be changed"),
            ));
        }
        let mut writes = self.writes();
        if writes.len() >= SET_CONFIG_CALLS_MAX {
            return Err(Error::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                format!("more than {SET_CONFIG_CALLS_MAX} set_config calls in one statement"),
            ));
        }
        let current = writes
            .iter()
            .rev()
            .find(|w| w.name == key)
            .map(|w| w.value.as_str())
            .or_else(|| self.values.get(&key).map(String::as_str));
        let value = crate::engine::check_setting(&key, name, value, current)?;
        writes.push(SettingWrite {
            name: key,
            value: value.clone(),
            local,
        });
        Ok(Value::Text(value))
    }

    /// The writes made, in order, for the router to apply.
    pub fn take_writes(&self) -> Vec<SettingWrite> {
        std::mem::take(&mut *self.writes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> StatementSettings {
        StatementSettings::new(BTreeMap::from([
            ("jit".to_string(), "off".to_string()),
            ("TimeZone".to_string(), "UTC".to_string()),
        ]))
    }

    #[test]
    fn writes_are_checked_and_canonical() {
        let s = settings();
        assert_eq!(
            s.set("datestyle", "german", false).unwrap(),
            Value::Text("German, DMY".into())
        );
        // A later partial value keeps what the earlier write set.
        assert_eq!(
            s.set("DateStyle", "ymd", false).unwrap(),
            Value::Text("German, YMD".into())
        );
        assert_eq!(
            s.set("extra_float_digits", "7", false).unwrap_err().code,
            sqlstate::INVALID_PARAMETER_VALUE
        );
        assert_eq!(s.take_writes().len(), 2);
    }

    #[test]
    fn reads_see_earlier_writes_of_the_statement() {
        let s = settings();
        assert_eq!(s.current("JIT", false).unwrap(), Value::Text("off".into()));
        assert_eq!(s.set("jit", "on", false).unwrap(), Value::Text("on".into()));
        assert_eq!(s.current("jit", false).unwrap(), Value::Text("on".into()));
        assert_eq!(
            s.current("timezone", false).unwrap(),
            Value::Text("UTC".into())
        );
        let writes = s.take_writes();
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].name, "jit");
    }

    #[test]
    fn unknown_names_and_read_only_settings() {
        let s = settings();
        assert_eq!(
            s.current("no_such", false).unwrap_err().code,
            sqlstate::UNDEFINED_OBJECT
        );
        assert_eq!(s.current("no_such", true).unwrap(), Value::Null);
        assert_eq!(s.current("my.custom", true).unwrap(), Value::Null);
        assert_eq!(
            s.set("no_such", "1", false).unwrap_err().code,
            sqlstate::UNDEFINED_OBJECT
        );
        assert_eq!(
            s.set("server_version", "1", false).unwrap_err().code,
            sqlstate::CANT_CHANGE_RUNTIME_PARAM
        );
        s.set("My.Custom", "x", true).unwrap();
        assert_eq!(
            s.current("my.custom", false).unwrap(),
            Value::Text("x".into())
        );
    }

    #[test]
    fn writes_per_statement_are_limited() {
        let s = settings();
        for _ in 0..SET_CONFIG_CALLS_MAX {
            s.set("jit", "on", false).unwrap();
        }
        assert_eq!(
            s.set("jit", "on", false).unwrap_err().code,
            sqlstate::PROGRAM_LIMIT_EXCEEDED
        );
    }
}
