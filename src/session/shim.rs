//! TEMPORARY until the roles branch merges: the login API the server uses.
use super::{Database, Session};
use crate::error::Result;

pub const BOOTSTRAP_SUPERUSER: &str = "heliosdb";

impl Database {
    pub fn connect_as(&self, _role: &str) -> Result<Session> {
        Ok(self.connect())
    }
    pub fn superuser_has_password(&self) -> Result<bool> {
        Ok(false)
    }
}
