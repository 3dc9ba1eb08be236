//! Data types with PostgreSQL's names and type OIDs.

use serde::{Deserialize, Serialize};

/// A SQL data type. Modifiers (`varchar(n)`, `numeric(p,s)`) are part of the type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// `numeric(precision, scale)`; `None` is unconstrained `numeric`.
    Numeric(Option<(u32, u32)>),
    Text,
    /// `varchar(n)`; `None` is unbounded.
    Varchar(Option<u32>),
    /// `char(n)` (bpchar); blank-padded to n.
    Char(u32),
    Bytea,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Interval,
    Uuid,
    Json,
    Jsonb,
    /// One-dimensional array of the element type.
    Array(Box<DataType>),
    /// A composite (row) type: the id of its catalog definition, 0 for an
    /// anonymous `record` (`ROW(...)`).
    Composite(u32),
    /// The type of an untyped NULL or an untyped string literal before coercion.
    Unknown,
}

use crate::error::{Error, Result, SqlState};
use sqlparser::ast;

fn undefined_type(name: &str) -> Error {
    Error::new(
        SqlState::UNDEFINED_OBJECT,
        format!("type \"{name}\" does not exist"),
    )
}

fn numeric_mod(info: &ast::ExactNumberInfo) -> Result<Option<(u32, u32)>> {
    let (p, s) = match info {
        ast::ExactNumberInfo::None => return Ok(None),
        ast::ExactNumberInfo::Precision(p) => (*p, 0),
        ast::ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s as u64),
    };
    if p == 0 || p > 28 {
        return Err(Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("NUMERIC precision {p} must be between 1 and 28"),
        ));
    }
    if s > p {
        return Err(Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("NUMERIC scale {s} must be between 0 and precision {p}"),
        ));
    }
    Ok(Some((p as u32, s as u32)))
}

fn char_len(l: &Option<ast::CharacterLength>) -> Result<Option<u32>> {
    match l {
        None => Ok(None),
        Some(ast::CharacterLength::Max) => Ok(None),
        Some(ast::CharacterLength::IntegerLength { length, .. }) => {
            if *length == 0 || *length > 10_485_760 {
                return Err(Error::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    "length for type varchar must be between 1 and 10485760".to_string(),
                ));
            }
            Ok(Some(*length as u32))
        }
    }
}

impl DataType {
    /// Maps a type name by its PostgreSQL spelling (`int4`, `varchar`, ...).
    pub fn from_name(name: &str) -> Result<DataType> {
        Ok(match name.to_lowercase().as_str() {
            "bool" | "boolean" => DataType::Bool,
            "int2" | "smallint" | "smallserial" | "serial2" => DataType::Int2,
            "int" | "int4" | "integer" | "serial" | "serial4" => DataType::Int4,
            "int8" | "bigint" | "bigserial" | "serial8" => DataType::Int8,
            // Object identifiers are bigint here (see sql::system).
            "oid" => DataType::Int8,
            "float4" | "real" => DataType::Float4,
            "float8" | "float" | "double precision" => DataType::Float8,
            "numeric" | "decimal" => DataType::Numeric(None),
            "text" | "name" | "citext" => DataType::Text,
            "varchar" | "character varying" => DataType::Varchar(None),
            "char" | "bpchar" | "character" => DataType::Char(1),
            "bytea" => DataType::Bytea,
            "date" => DataType::Date,
            "time" => DataType::Time,
            "timestamp" => DataType::Timestamp,
            "timestamptz" => DataType::Timestamptz,
            "interval" => DataType::Interval,
            "uuid" => DataType::Uuid,
            "json" => DataType::Json,
            "jsonb" => DataType::Jsonb,
            other => {
                if let Some(elem) = other.strip_suffix("[]") {
                    return Ok(DataType::Array(Box::new(DataType::from_name(elem)?)));
                }
                if let Some(elem) = other.strip_prefix('_') {
                    return Ok(DataType::Array(Box::new(DataType::from_name(elem)?)));
                }
                return Err(undefined_type(other));
            }
        })
    }

    /// Maps sqlparser's type syntax to a type.
    pub fn from_sql(ty: &ast::DataType) -> Result<DataType> {
        use ast::DataType as A;
        Ok(match ty {
            A::Boolean | A::Bool => DataType::Bool,
            A::SmallInt(_) | A::Int2(_) => DataType::Int2,
            A::Int(_) | A::Integer(_) | A::Int4(_) => DataType::Int4,
            A::BigInt(_) | A::Int8(_) => DataType::Int8,
            A::Real | A::Float4 => DataType::Float4,
            A::Float(info) => match info {
                ast::ExactNumberInfo::Precision(p) if *p <= 24 => DataType::Float4,
                _ => DataType::Float8,
            },
            A::Double(_) | A::DoublePrecision | A::Float8 | A::Float64 => DataType::Float8,
            A::Numeric(info) | A::Decimal(info) | A::Dec(info) => {
                DataType::Numeric(numeric_mod(info)?)
            }
            A::Text | A::String(_) => DataType::Text,
            A::Varchar(l) | A::CharacterVarying(l) | A::CharVarying(l) => {
                DataType::Varchar(char_len(l)?)
            }
            A::Char(l) | A::Character(l) => DataType::Char(char_len(l)?.unwrap_or(1)),
            A::Bytea => DataType::Bytea,
            A::Date => DataType::Date,
            A::Time(_, tz) => match tz {
                ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz => {
                    return Err(Error::unsupported("time with time zone is not supported"));
                }
                _ => DataType::Time,
            },
            A::Timestamp(_, tz) => match tz {
                ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz => DataType::Timestamptz,
                _ => DataType::Timestamp,
            },
            A::Interval { .. } => DataType::Interval,
            A::Uuid => DataType::Uuid,
            A::JSON => DataType::Json,
            A::JSONB => DataType::Jsonb,
            A::Array(def) => match def {
                ast::ArrayElemTypeDef::AngleBracket(t)
                | ast::ArrayElemTypeDef::SquareBracket(t, _)
                | ast::ArrayElemTypeDef::Qualified(t, _)
                | ast::ArrayElemTypeDef::Parenthesis(t) => {
                    DataType::Array(Box::new(DataType::from_sql(t)?))
                }
                ast::ArrayElemTypeDef::None => return Err(undefined_type("array")),
            },
            A::Custom(name, mods) => {
                let n = name.to_string().trim_matches('"').to_lowercase();
                let n = n.strip_prefix("pg_catalog.").unwrap_or(&n).to_string();
                let base = DataType::from_name(&n)?;
                match (base, mods.as_slice()) {
                    (DataType::Varchar(_), [l]) => DataType::Varchar(Some(
                        l.parse()
                            .map_err(|_| undefined_type(&format!("{n}({l})")))?,
                    )),
                    (DataType::Char(_), [l]) => {
                        DataType::Char(l.parse().map_err(|_| undefined_type(&n))?)
                    }
                    (DataType::Numeric(_), [p]) => {
                        let p: u64 = p.parse().map_err(|_| undefined_type(&n))?;
                        DataType::Numeric(numeric_mod(&ast::ExactNumberInfo::Precision(p))?)
                    }
                    (DataType::Numeric(_), [p, s]) => {
                        let p: u64 = p.parse().map_err(|_| undefined_type(&n))?;
                        let s: u64 = s.parse().map_err(|_| undefined_type(&n))?;
                        DataType::Numeric(numeric_mod(&ast::ExactNumberInfo::PrecisionAndScale(
                            p, s as i64,
                        ))?)
                    }
                    (b, []) => b,
                    (b, _) => b,
                }
            }
            other => return Err(undefined_type(&other.to_string().to_lowercase())),
        })
    }

    /// PostgreSQL's display name (`format_type`).
    pub fn name(&self) -> String {
        match self {
            DataType::Bool => "boolean".into(),
            DataType::Int2 => "smallint".into(),
            DataType::Int4 => "integer".into(),
            DataType::Int8 => "bigint".into(),
            DataType::Float4 => "real".into(),
            DataType::Float8 => "double precision".into(),
            DataType::Numeric(None) => "numeric".into(),
            DataType::Numeric(Some((p, s))) => format!("numeric({p},{s})"),
            DataType::Text => "text".into(),
            DataType::Varchar(None) => "character varying".into(),
            DataType::Varchar(Some(n)) => format!("character varying({n})"),
            DataType::Char(n) => format!("character({n})"),
            DataType::Bytea => "bytea".into(),
            DataType::Date => "date".into(),
            DataType::Time => "time without time zone".into(),
            DataType::Timestamp => "timestamp without time zone".into(),
            DataType::Timestamptz => "timestamp with time zone".into(),
            DataType::Interval => "interval".into(),
            DataType::Uuid => "uuid".into(),
            DataType::Json => "json".into(),
            DataType::Jsonb => "jsonb".into(),
            DataType::Array(e) => format!("{}[]", e.name()),
            // The type's own name needs the catalog (see `format_type`).
            DataType::Composite(_) => "record".into(),
            DataType::Unknown => "unknown".into(),
        }
    }

    /// PostgreSQL's type OID.
    pub fn oid(&self) -> u32 {
        match self {
            DataType::Bool => 16,
            DataType::Bytea => 17,
            DataType::Int8 => 20,
            DataType::Int2 => 21,
            DataType::Int4 => 23,
            DataType::Text => 25,
            DataType::Json => 114,
            DataType::Float4 => 700,
            DataType::Float8 => 701,
            DataType::Unknown => 705,
            DataType::Char(_) => 1042,
            DataType::Varchar(_) => 1043,
            DataType::Date => 1082,
            DataType::Time => 1083,
            DataType::Timestamp => 1114,
            DataType::Timestamptz => 1184,
            DataType::Interval => 1186,
            DataType::Numeric(_) => 1700,
            DataType::Uuid => 2950,
            DataType::Jsonb => 3802,
            DataType::Composite(0) => 2249,
            DataType::Composite(id) => *id,
            DataType::Array(e) => match e.as_ref() {
                DataType::Bool => 1000,
                DataType::Bytea => 1001,
                DataType::Int2 => 1005,
                DataType::Int4 => 1007,
                DataType::Text => 1009,
                DataType::Char(_) => 1014,
                DataType::Varchar(_) => 1015,
                DataType::Int8 => 1016,
                DataType::Float4 => 1021,
                DataType::Float8 => 1022,
                DataType::Timestamp => 1115,
                DataType::Date => 1182,
                DataType::Time => 1183,
                DataType::Timestamptz => 1185,
                DataType::Interval => 1187,
                DataType::Numeric(_) => 1231,
                DataType::Uuid => 2951,
                DataType::Json => 199,
                DataType::Jsonb => 3807,
                DataType::Composite(_) => 2287,
                _ => 1009,
            },
        }
    }

    /// The type with PostgreSQL OID `oid` (None for types the engine lacks).
    pub fn from_oid(oid: u32) -> Option<DataType> {
        let scalar = |oid| {
            Some(match oid {
                16 => DataType::Bool,
                17 => DataType::Bytea,
                20 => DataType::Int8,
                21 => DataType::Int2,
                23 => DataType::Int4,
                25 | 19 => DataType::Text,
                114 => DataType::Json,
                700 => DataType::Float4,
                701 => DataType::Float8,
                705 => DataType::Unknown,
                1042 => DataType::Char(1),
                1043 => DataType::Varchar(None),
                1082 => DataType::Date,
                1083 => DataType::Time,
                1114 => DataType::Timestamp,
                1184 => DataType::Timestamptz,
                1186 => DataType::Interval,
                1700 => DataType::Numeric(None),
                2950 => DataType::Uuid,
                3802 => DataType::Jsonb,
                _ => return None,
            })
        };
        let array_elem = match oid {
            1000 => 16,
            1001 => 17,
            1005 => 21,
            1007 => 23,
            1009 => 25,
            1014 => 1042,
            1015 => 1043,
            1016 => 20,
            1021 => 700,
            1022 => 701,
            1115 => 1114,
            1182 => 1082,
            1183 => 1083,
            1185 => 1184,
            1187 => 1186,
            1231 => 1700,
            2951 => 2950,
            199 => 114,
            3807 => 3802,
            _ => return scalar(oid),
        };
        Some(DataType::Array(Box::new(scalar(array_elem)?)))
    }

    pub fn is_integer(&self) -> bool {
        matches!(self, DataType::Int2 | DataType::Int4 | DataType::Int8)
    }

    pub fn is_float(&self) -> bool {
        matches!(self, DataType::Float4 | DataType::Float8)
    }

    pub fn is_numeric(&self) -> bool {
        self.is_integer() || self.is_float() || matches!(self, DataType::Numeric(_))
    }

    pub fn is_text(&self) -> bool {
        matches!(
            self,
            DataType::Text | DataType::Varchar(_) | DataType::Char(_)
        )
    }

    pub fn is_temporal(&self) -> bool {
        matches!(
            self,
            DataType::Date
                | DataType::Time
                | DataType::Timestamp
                | DataType::Timestamptz
                | DataType::Interval
        )
    }

    /// Rank in the numeric promotion order (int2 < int4 < int8 < numeric < float4 < float8).
    fn numeric_rank(&self) -> Option<u8> {
        Some(match self {
            DataType::Int2 => 1,
            DataType::Int4 => 2,
            DataType::Int8 => 3,
            DataType::Numeric(_) => 4,
            DataType::Float4 => 5,
            DataType::Float8 => 6,
            _ => return None,
        })
    }

    /// PostgreSQL's implicit (and assignment-safe) casts.
    pub fn can_coerce_implicitly(from: &DataType, to: &DataType) -> bool {
        if from == to || *from == DataType::Unknown {
            return true;
        }
        match (from.numeric_rank(), to.numeric_rank()) {
            (Some(a), Some(b)) => return a <= b,
            (Some(_), None) | (None, Some(_)) => return false,
            _ => {}
        }
        matches!(
            (from, to),
            (a, b) if a.is_text() && b.is_text()
        ) || matches!(
            (from, to),
            (DataType::Date, DataType::Timestamp | DataType::Timestamptz)
                | (DataType::Timestamp, DataType::Timestamptz)
                | (DataType::Timestamptz, DataType::Timestamp)
                | (DataType::Json, DataType::Jsonb)
                | (DataType::Jsonb, DataType::Json)
        )
    }

    /// Whether an explicit cast exists.
    pub fn can_cast(from: &DataType, to: &DataType) -> bool {
        if Self::can_coerce_implicitly(from, to) || from.is_text() || to.is_text() {
            return true;
        }
        if from.is_numeric() && to.is_numeric() {
            return true;
        }
        matches!(
            (from, to),
            (DataType::Bool, DataType::Int4)
                | (DataType::Int4, DataType::Bool)
                | (DataType::Int8, DataType::Bool)
                | (DataType::Timestamp | DataType::Timestamptz, DataType::Date)
                | (DataType::Timestamp | DataType::Timestamptz, DataType::Time)
                | (DataType::Interval, DataType::Time)
                | (DataType::Time, DataType::Interval)
                | (
                    DataType::Jsonb,
                    DataType::Bool
                        | DataType::Int2
                        | DataType::Int4
                        | DataType::Int8
                        | DataType::Float8
                        | DataType::Numeric(_)
                )
                | (DataType::Array(_), DataType::Array(_))
        )
    }

    /// The common type for UNION, CASE, COALESCE, IN and VALUES columns.
    pub fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
        if a == b {
            return Some(a.clone());
        }
        match (a, b) {
            (DataType::Unknown, t) | (t, DataType::Unknown) => return Some(t.clone()),
            _ => {}
        }
        if let (Some(ra), Some(rb)) = (a.numeric_rank(), b.numeric_rank()) {
            let t = if ra >= rb { a } else { b };
            return Some(match t {
                DataType::Numeric(_) => DataType::Numeric(None),
                DataType::Float4 if ra.max(rb) == 5 && ra.min(rb) <= 4 => DataType::Float8,
                other => other.clone(),
            });
        }
        if a.is_text() && b.is_text() {
            return Some(match (a, b) {
                (DataType::Varchar(_), DataType::Varchar(_)) => DataType::Varchar(None),
                _ => DataType::Text,
            });
        }
        match (a, b) {
            (DataType::Numeric(_), DataType::Numeric(_)) => Some(DataType::Numeric(None)),
            (DataType::Timestamp, DataType::Timestamptz)
            | (DataType::Timestamptz, DataType::Timestamp) => Some(DataType::Timestamptz),
            (DataType::Date, DataType::Timestamp) | (DataType::Timestamp, DataType::Date) => {
                Some(DataType::Timestamp)
            }
            (DataType::Date, DataType::Timestamptz) | (DataType::Timestamptz, DataType::Date) => {
                Some(DataType::Timestamptz)
            }
            (DataType::Json, DataType::Jsonb) | (DataType::Jsonb, DataType::Json) => {
                Some(DataType::Jsonb)
            }
            (DataType::Array(x), DataType::Array(y)) => {
                DataType::common_type(x, y).map(|t| DataType::Array(Box::new(t)))
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}
