//! Database DDL: CREATE / ALTER / DROP DATABASE.
//!
//! Databases are global catalog objects (see [`crate::catalog::databases`]).
//! Every statement takes the databases lock ([`keys::LOCK_DATABASES`])
//! before it reads them, so name uniqueness sees every committed change.
//! Permissions follow PostgreSQL 15: creating needs CREATEDB (or
//! SUPERUSER) and the right to act as the new owner; altering and dropping
//! need ownership; renaming and changing the owner also need CREATEDB.
//!
//! What the catalog cannot know, the session supplies: whether other
//! sessions use a database (RENAME and DROP refuse then, 55006) and, for
//! DROP, a mark that keeps new sessions out until the drop has committed.
//! CREATE and DROP run only outside transaction blocks (the session checks);
//! a dropped database's objects, rows, index entries, sequence positions and
//! statistics are deleted in the dropping transaction.

use super::DdlCtx;
use crate::catalog::databases::{database_in_use, database_not_found};
use crate::catalog::keys;
use crate::catalog::{self as cat, BOOTSTRAP_DATABASE, Catalog, DatabaseDef, RoleDef};
use crate::error::{Error, Result, SqlState};
use crate::sql::commands::{AlterDatabase, DefElem, OptValue, RoleSpec, bool_option, int_option};
use crate::txn::WriteCheck;
use std::collections::HashSet;
use std::sync::Arc;

/// PostgreSQL's server encodings (and `UNICODE`, its alias of UTF8), for
/// telling an unsupported encoding (22023) from an unknown one (42704).
const ENCODINGS: &[&str] = &[
    "SQL_ASCII",
    "EUC_JP",
    "EUC_CN",
    "EUC_KR",
    "EUC_TW",
    "EUC_JIS_2004",
    "UTF8",
    "UNICODE",
    "MULE_INTERNAL",
    "LATIN1",
    "LATIN2",
    "LATIN3",
    "LATIN4",
    "LATIN5",
    "LATIN6",
    "LATIN7",
    "LATIN8",
    "LATIN9",
    "LATIN10",
    "WIN1256",
    "WIN1258",
    "WIN866",
    "WIN874",
    "KOI8R",
    "WIN1251",
    "WIN1252",
    "ISO_8859_5",
    "ISO_8859_6",
    "ISO_8859_7",
    "ISO_8859_8",
    "WIN1250",
    "WIN1253",
    "WIN1254",
    "WIN1255",
    "WIN1257",
    "KOI8U",
    "SJIS",
    "BIG5",
    "GBK",
    "UHC",
    "GB18030",
    "JOHAB",
    "SHIFT_JIS_2004",
];

/// PostgreSQL's encoding id of UTF8.
const UTF8_ENCODING_ID: i32 = 6;

/// Checks an ENCODING option: UTF8 (any spelling, or its id 6) passes;
/// another of PostgreSQL's encodings is 22023, anything else 42704.
fn check_encoding(v: &OptValue) -> Result<()> {
    let unsupported = |name: &str| {
        Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("encoding \"{name}\" is not supported"),
        )
        .with_detail("HeliosDB Nano stores text as UTF8.")
    };
    match v {
        OptValue::Number(n) => match n.parse::<i32>() {
            Ok(UTF8_ENCODING_ID) => Ok(()),
            Ok(id @ 0..=41) => Err(unsupported(&id.to_string())),
            _ => Err(Error::new(
                SqlState::UNDEFINED_OBJECT,
                format!("{n} is not a valid encoding code"),
            )),
        },
        OptValue::Text(s) => {
            // PostgreSQL compares names ignoring case and punctuation.
            let clean = |s: &str| -> String {
                s.chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .map(|c| c.to_ascii_lowercase())
                    .collect()
            };
            let found = ENCODINGS.iter().find(|e| clean(e) == clean(s));
            match found {
                Some(&"UTF8" | &"UNICODE") => Ok(()),
                Some(name) => Err(unsupported(name)),
                None => Err(Error::new(
                    SqlState::UNDEFINED_OBJECT,
                    format!("{s} is not a valid encoding name"),
                )),
            }
        }
    }
}

/// Checks a LOCALE / LC_COLLATE / LC_CTYPE option: text compares byte by
/// byte, as in the C locale, so only C and POSIX (with UTF8) are accepted.
fn check_locale(v: &OptValue) -> Result<()> {
    let s = v.as_text();
    match s.to_ascii_lowercase().as_str() {
        "c" | "posix" | "c.utf8" | "c.utf-8" => Ok(()),
        _ => Err(Error::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!("locale \"{s}\" is not supported"),
        )
        .with_hint(
            "HeliosDB Nano compares text byte by byte, as the C locale does; use LOCALE 'C'.",
        )),
    }
}

fn conflicting() -> Error {
    Error::syntax("conflicting or redundant options")
}

fn not_recognized(name: &str) -> Error {
    Error::syntax(format!("option \"{name}\" not recognized"))
}

/// A CONNECTION LIMIT value: -1 (none) or more, else 22023.
fn connection_limit(e: &DefElem) -> Result<i32> {
    let n = int_option(e)?;
    if n < -1 {
        return Err(Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("invalid connection limit: {n}"),
        ));
    }
    Ok(n)
}

/// IS_TEMPLATE: only false (there are no template databases to copy).
fn check_is_template(e: &DefElem) -> Result<()> {
    if bool_option(e)? {
        return Err(Error::unsupported("template databases are not supported"));
    }
    Ok(())
}

/// The options ALTER DATABASE can change.
#[derive(Default)]
struct DatabaseOptions {
    allow_connections: Option<bool>,
    connection_limit: Option<i32>,
}

impl DdlCtx<'_> {
    /// Takes the databases lock and makes sure the catalog shows every
    /// committed database change.
    pub(super) fn lock_databases(&mut self) -> Result<()> {
        if self.txn.lock_for_write(keys::LOCK_DATABASES)? == WriteCheck::Changed {
            self.txn.refresh_snapshot()?;
            self.reload()?;
        }
        Ok(())
    }

    /// Takes the roles lock, then the databases lock (DROP ROLE takes them in
    /// the same order), for statements that make a role own a database: the
    /// role cannot be dropped meanwhile.
    pub(super) fn lock_roles_and_databases(&mut self) -> Result<()> {
        let roles = self.txn.lock_for_write(keys::LOCK_ROLES)?;
        let databases = self.txn.lock_for_write(keys::LOCK_DATABASES)?;
        if roles == WriteCheck::Changed || databases == WriteCheck::Changed {
            self.txn.refresh_snapshot()?;
            self.reload()?;
        }
        Ok(())
    }

    fn actor_role(&self) -> Result<Arc<RoleDef>> {
        self.catalog.role(self.current_user).cloned()
    }

    /// The current user owns `d` (is a member of its owner, or a superuser),
    /// else 42501 `must be owner of database d`.
    fn check_database_owner(&self, d: &DatabaseDef) -> Result<()> {
        if self.catalog.is_member_of(self.current_user, d.owner) {
            return Ok(());
        }
        Err(Error::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            format!("must be owner of database {}", d.name),
        ))
    }

    /// The current user may act as `role` (SET ROLE), else 42501.
    fn check_member_of(&self, role: &RoleDef) -> Result<()> {
        if self.catalog.is_member_of(self.current_user, role.id) {
            return Ok(());
        }
        Err(Error::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            format!("must be member of role \"{}\"", role.name),
        ))
    }

    pub(super) fn put_database(&mut self, d: &DatabaseDef) -> Result<()> {
        cat::put_object(self.txn, cat::KIND_DATABASE, d.id, d)?;
        cat::bump_version(self.txn);
        Ok(())
    }

    /// DROP ROLE's check (with the roles lock held): a role that owns a
    /// database cannot be dropped (2BP01).
    pub(super) fn check_owns_no_database(&mut self, role: &RoleDef) -> Result<()> {
        self.lock_databases()?;
        let owned: Vec<String> = self
            .catalog
            .databases
            .values()
            .filter(|d| d.owner == role.id)
            .map(|d| format!("owner of database {}", d.name))
            .collect();
        if owned.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
            format!(
                "role \"{}\" cannot be dropped because some objects depend on it",
                role.name
            ),
        )
        .with_detail(owned.join("\n")))
    }

    /// CREATE DATABASE: a new, empty database with its own `public` schema.
    pub fn create_database(&mut self, name: &str, options: &[DefElem]) -> Result<()> {
        let mut seen = HashSet::new();
        let mut owner = None;
        let mut template = None;
        let mut def = DatabaseDef::new(0, name.to_string(), 0);
        for o in options {
            if !seen.insert(o.name.as_str()) {
                return Err(conflicting());
            }
            let Some(v) = &o.value else {
                // DEFAULT: PostgreSQL's default for the option.
                if !is_create_option(&o.name) {
                    return Err(not_recognized(&o.name));
                }
                continue;
            };
            match o.name.as_str() {
                "owner" => owner = Some(v.as_text().to_string()),
                "template" => template = Some(v.as_text().to_string()),
                "encoding" => check_encoding(v)?,
                "locale" | "lc_collate" | "lc_ctype" => check_locale(v)?,
                "locale_provider" => match v.as_text().to_ascii_lowercase().as_str() {
                    "libc" => {}
                    "icu" => return Err(Error::unsupported("ICU locales are not supported")),
                    other => {
                        return Err(Error::new(
                            SqlState::INVALID_PARAMETER_VALUE,
                            format!("unrecognized locale provider: {other}"),
                        ));
                    }
                },
                "icu_locale" => return Err(Error::unsupported("ICU locales are not supported")),
                "collation_version" | "oid" => {
                    return Err(Error::unsupported(format!(
                        "CREATE DATABASE option \"{}\" is not supported",
                        o.name
                    )));
                }
                "strategy" => {
                    let s = v.as_text();
                    if !matches!(s.to_ascii_lowercase().as_str(), "wal_log" | "file_copy") {
                        return Err(Error::new(
                            SqlState::INVALID_PARAMETER_VALUE,
                            format!("invalid create database strategy \"{s}\""),
                        )
                        .with_hint("Valid strategies are \"wal_log\" and \"file_copy\"."));
                    }
                }
                "tablespace" => check_tablespace(v)?,
                // Ignored by PostgreSQL too (a warning there).
                "location" => {}
                "allow_connections" => def.allow_connections = bool_option(o)?,
                "connection_limit" => def.connection_limit = connection_limit(o)?,
                "is_template" => check_is_template(o)?,
                other => return Err(not_recognized(other)),
            }
        }
        self.lock_roles_and_databases()?;
        let actor = self.actor_role()?;
        let owner = match owner {
            Some(n) => self.catalog.role_named(&n)?.clone(),
            None => actor.clone(),
        };
        if !actor.superuser && !actor.createdb {
            return Err(Error::new(
                SqlState::INSUFFICIENT_PRIVILEGE,
                "permission denied to create database",
            ));
        }
        self.check_member_of(&owner)?;
        if let Some(t) = template.filter(|t| t != "template0" && t != "template1") {
            return Err(match self.catalog.database_by_name(&t) {
                Some(_) => Error::unsupported(format!(
                    "copying database \"{t}\" (TEMPLATE) is not supported"
                ))
                .with_hint("TEMPLATE template0 and template1 give an empty database."),
                None => Error::new(
                    SqlState::INVALID_CATALOG_NAME,
                    format!("template database \"{t}\" does not exist"),
                ),
            });
        }
        if self.catalog.database_by_name(name).is_some() {
            return Err(Error::new(
                SqlState::DUPLICATE_DATABASE,
                format!("database \"{name}\" already exists"),
            ));
        }
        def.id = self.oids.allocate(self.txn)?;
        def.owner = owner.id;
        self.put_database(&def)?;
        let schema = self.oids.allocate(self.txn)?;
        cat::put_object(
            self.txn,
            cat::KIND_SCHEMA,
            schema,
            &cat::SchemaDef {
                id: schema,
                database: def.id,
                name: "public".into(),
                // The database owner; the default list gives PUBLIC USAGE.
                owner: def.owner,
                acl: None,
            },
        )?;
        Ok(())
    }

    /// DROP DATABASE. `begin_drop` is called once the database is known
    /// and may be dropped by this session; it fails if other sessions use
    /// it (and keeps new ones out until the transaction ends). Returns the
    /// dropped database's id (None: IF EXISTS and there was none).
    pub fn drop_database(
        &mut self,
        name: &str,
        if_exists: bool,
        begin_drop: &mut dyn FnMut(&DatabaseDef) -> Result<()>,
    ) -> Result<Option<u32>> {
        self.lock_databases()?;
        let Some(d) = self.catalog.database_by_name(name).cloned() else {
            if if_exists {
                return Ok(None);
            }
            return Err(database_not_found(name));
        };
        self.check_database_owner(&d)?;
        if d.id == BOOTSTRAP_DATABASE {
            return Err(Error::unsupported(format!(
                "cannot drop the bootstrap database \"{name}\""
            ))
            .with_detail(
                "Database::connect() always opens it; it can be renamed but not dropped.",
            ));
        }
        if d.id == self.catalog.database {
            return Err(Error::new(
                SqlState::OBJECT_IN_USE,
                "cannot drop the currently open database",
            ));
        }
        begin_drop(&d)?;
        // Whatever the sessions that just left committed is in the newest snapshot.
        self.txn.refresh_snapshot()?;
        let victim = Catalog::load(self.txn, d.id)?;
        for t in victim.tables.values() {
            self.delete_prefix(keys::table_prefix(t.id))?;
            cat::stats::delete_stats(self.txn, t.id);
            cat::delete_object(self.txn, cat::KIND_TABLE, t.id);
        }
        for i in victim.indexes.values() {
            cat::delete_object(self.txn, cat::KIND_INDEX, i.id);
        }
        for s in victim.sequences.values() {
            self.txn.delete(keys::sequence_key(s.id));
            cat::delete_object(self.txn, cat::KIND_SEQUENCE, s.id);
            self.sequences.forget(s.id);
        }
        for v in victim.views.values() {
            cat::delete_object(self.txn, cat::KIND_VIEW, v.id);
        }
        for d in victim.domains.values() {
            cat::delete_object(self.txn, cat::KIND_DOMAIN, d.id);
        }
        for t in victim.composites.values() {
            cat::delete_object(self.txn, cat::KIND_COMPOSITE, t.id);
        }
        for s in victim.schemas.values() {
            cat::delete_object(self.txn, cat::KIND_SCHEMA, s.id);
        }
        cat::delete_object(self.txn, cat::KIND_DATABASE, d.id);
        cat::bump_version(self.txn);
        self.reload()?;
        Ok(Some(d.id))
    }

    /// ALTER DATABASE. `others_on(id)` counts the other sessions using a
    /// database (RENAME refuses while there are any).
    pub fn alter_database(
        &mut self,
        name: &str,
        action: &AlterDatabase,
        others_on: &dyn Fn(u32) -> usize,
    ) -> Result<()> {
        match action {
            AlterDatabase::Options(options) => {
                let opts = alter_options(options)?;
                self.lock_databases()?;
                let mut d = (**self.catalog.database_named(name)?).clone();
                self.check_database_owner(&d)?;
                if let Some(allow) = opts.allow_connections {
                    if !allow && d.id == self.catalog.database {
                        return Err(Error::new(
                            SqlState::INVALID_PARAMETER_VALUE,
                            "cannot disallow connections for current database",
                        ));
                    }
                    d.allow_connections = allow;
                }
                if let Some(n) = opts.connection_limit {
                    d.connection_limit = n;
                }
                self.put_database(&d)
            }
            AlterDatabase::RenameTo(new) => {
                self.lock_databases()?;
                let mut d = (**self.catalog.database_named(name)?).clone();
                self.check_database_owner(&d)?;
                let actor = self.actor_role()?;
                if !actor.superuser && !actor.createdb {
                    return Err(Error::new(
                        SqlState::INSUFFICIENT_PRIVILEGE,
                        "permission denied to rename database",
                    ));
                }
                if self.catalog.database_by_name(new).is_some() {
                    return Err(Error::new(
                        SqlState::DUPLICATE_DATABASE,
                        format!("database \"{new}\" already exists"),
                    ));
                }
                if d.id == self.catalog.database {
                    return Err(Error::unsupported("current database cannot be renamed"));
                }
                let others = others_on(d.id);
                if others > 0 {
                    return Err(database_in_use(name, others));
                }
                d.name = new.clone();
                self.put_database(&d)
            }
            AlterDatabase::OwnerTo(spec) => {
                self.lock_roles_and_databases()?;
                let mut d = (**self.catalog.database_named(name)?).clone();
                let new = match spec {
                    RoleSpec::Name(n) => self.catalog.role_named(n)?.clone(),
                    RoleSpec::CurrentUser => self.actor_role()?,
                    RoleSpec::SessionUser => self.catalog.role(self.session_user)?.clone(),
                };
                if d.owner == new.id {
                    return Ok(());
                }
                let actor = self.actor_role()?;
                if !actor.superuser {
                    self.check_database_owner(&d)?;
                    self.check_member_of(&new)?;
                    if !actor.createdb {
                        return Err(Error::new(
                            SqlState::INSUFFICIENT_PRIVILEGE,
                            "permission denied to change owner of database",
                        ));
                    }
                }
                d.owner = new.id;
                self.put_database(&d)
            }
        }
    }
}

/// The option names CREATE DATABASE knows.
fn is_create_option(name: &str) -> bool {
    matches!(
        name,
        "owner"
            | "template"
            | "encoding"
            | "locale"
            | "lc_collate"
            | "lc_ctype"
            | "locale_provider"
            | "icu_locale"
            | "collation_version"
            | "oid"
            | "strategy"
            | "tablespace"
            | "location"
            | "allow_connections"
            | "connection_limit"
            | "is_template"
    )
}

/// TABLESPACE: only `pg_default` exists.
fn check_tablespace(v: &OptValue) -> Result<()> {
    let t = v.as_text();
    if t == "pg_default" {
        return Ok(());
    }
    Err(Error::new(
        SqlState::UNDEFINED_OBJECT,
        format!("tablespace \"{t}\" does not exist"),
    ))
}

fn alter_options(options: &[DefElem]) -> Result<DatabaseOptions> {
    let mut seen = HashSet::new();
    let mut out = DatabaseOptions::default();
    for o in options {
        if !seen.insert(o.name.as_str()) {
            return Err(conflicting());
        }
        match o.name.as_str() {
            "allow_connections" => out.allow_connections = Some(bool_option(o)?),
            "connection_limit" => {
                out.connection_limit = Some(match o.value {
                    None => -1,
                    Some(_) => connection_limit(o)?,
                })
            }
            "is_template" => check_is_template(o)?,
            other => return Err(not_recognized(other)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        let t = |s: &str| check_encoding(&OptValue::Text(s.into()));
        assert!(t("UTF8").is_ok());
        assert!(t("utf-8").is_ok());
        assert!(t("Unicode").is_ok());
        assert!(check_encoding(&OptValue::Number("6".into())).is_ok());
        let e = t("LATIN1").unwrap_err();
        assert_eq!(
            (e.sqlstate(), e.message.as_str()),
            ("22023", "encoding \"LATIN1\" is not supported")
        );
        assert_eq!(
            t("iso-8859-5").unwrap_err().message,
            "encoding \"ISO_8859_5\" is not supported"
        );
        let e = t("FOO").unwrap_err();
        assert_eq!(
            (e.sqlstate(), e.message.as_str()),
            ("42704", "FOO is not a valid encoding name")
        );
        assert_eq!(
            check_encoding(&OptValue::Number("99".into()))
                .unwrap_err()
                .sqlstate(),
            "42704"
        );
    }

    #[test]
    fn locales() {
        assert!(check_locale(&OptValue::Text("C".into())).is_ok());
        assert!(check_locale(&OptValue::Text("C.UTF-8".into())).is_ok());
        assert_eq!(
            check_locale(&OptValue::Text("en_US.UTF-8".into()))
                .unwrap_err()
                .sqlstate(),
            "0A000"
        );
    }
}
