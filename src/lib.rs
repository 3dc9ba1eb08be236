//! HeliosDB Nano: a PostgreSQL-compatible SQL database, embedded or served.

pub mod error;
