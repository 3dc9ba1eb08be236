//! Built-in scalar functions: name resolution, result types and evaluation.
//!
//! [`resolve_call`] picks an overload the way PostgreSQL does (exact type
//! matches first, then implicit casts, preferring `text`, `double precision`
//! and `timestamptz`); the binder then casts every argument to the chosen
//! parameter type, so evaluation sees exactly the declared types. The
//! functions themselves live in `string`, `math` and `datetime` (with the
//! `to_char` family in `format`).

mod array;
mod datetime;
mod format;
mod math;
mod regex;
mod string;

use super::expr::{EvalCtx, Expr};
use crate::error::{Error, Result, SqlState};
use crate::types::{DataType, Value};

/// A domain's constraints bound for evaluation: CHECK expressions over a
/// one-column row holding the value (`VALUE`).
#[derive(Clone, Debug, PartialEq)]
pub struct BoundDomain {
    pub name: String,
    pub not_null: bool,
    pub checks: Vec<(String, Expr)>,
    /// The constraints apply to each element of an array (a value of an
    /// array of the domain).
    pub elements: bool,
}

impl BoundDomain {
    /// Fails as PostgreSQL does when `v` is not a value of the domain: NULL
    /// under NOT NULL (23502), a CHECK that is false (23514; NULL passes).
    pub fn check(&self, v: &Value, ctx: &EvalCtx) -> Result<()> {
        if self.elements {
            if let Value::Array(_, items) = v {
                for item in items {
                    self.check_value(item, ctx)?;
                }
            }
            return Ok(());
        }
        self.check_value(v, ctx)
    }

    fn check_value(&self, v: &Value, ctx: &EvalCtx) -> Result<()> {
        if v.is_null() && self.not_null {
            return Err(Error::new(
                SqlState::NOT_NULL_VIOLATION,
                format!("domain {} does not allow null values", self.name),
            ));
        }
        let row = std::slice::from_ref(v);
        for (name, check) in &self.checks {
            if let Value::Bool(false) = check.eval(row, ctx)? {
                return Err(Error::new(
                    SqlState::CHECK_VIOLATION,
                    format!(
                        "value for domain {} violates check constraint \"{name}\"",
                        self.name
                    ),
                ));
            }
        }
        Ok(())
    }
}
use rust_decimal::prelude::ToPrimitive;

macro_rules! funcs {
    ($($v:ident = $n:literal),* $(,)?) => {
        /// A resolved built-in scalar function.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Func {
            /// `nextval(seq)`; the sequence id when known at bind time.
            NextVal(Option<u32>),
            CurrVal(Option<u32>),
            SetVal(Option<u32>),
            /// A value becoming of a domain (a cast to it): its NOT NULL
            /// and CHECK constraints, then the value unchanged.
            DomainCheck(std::sync::Arc<BoundDomain>),
            /// `(array, subscript, value)`: the array with that element set
            /// (INSERT's `a[i]` targets); arrays of the element type.
            ArrayAssign(DataType),
            /// A row's fields in the record output form, `(1,abc)`.
            RecordOut,
            /// `(record)`: field k of a composite value (NULL of NULL).
            FieldSelect(usize),
            /// `(record, value)`: the composite value of type id (with n
            /// fields) with field k set; a NULL record starts as all NULLs.
            FieldAssign(usize, u32, usize),
            /// The arguments as a composite value of type id (0: record)
            /// whose fields have these types.
            MakeRecord(u32, Vec<DataType>),
            /// `IS [NOT] NULL` of a composite value (true: NOT NULL): all
            /// fields NULL (none NULL), or the value NULL (not).
            RecordNullTest(bool),
            /// Text in the record input form as a value of composite type
            /// id (the field types of it and of the types it holds).
            RecordIn(u32, std::sync::Arc<crate::types::RecordTypes>),
            /// A call of a PL/pgSQL function, compiled where it was bound.
            Plpgsql(std::sync::Arc<crate::sql::plpgsql::Function>),
            /// `heliosdb_debug_panic(text)`: panics, so tests can check that
            /// the server contains a panic. Only in debug builds.
            #[cfg(debug_assertions)]
            DebugPanic,
            $($v),*
        }

        impl Func {
            pub fn name(&self) -> &'static str {
                match self {
                    Func::NextVal(_) => "nextval",
                    Func::CurrVal(_) => "currval",
                    Func::SetVal(_) => "setval",
                    Func::DomainCheck(_) => "coerce_to_domain",
                    Func::ArrayAssign(_) => "array_assign",
                    Func::RecordOut => "record_out",
                    Func::FieldSelect(_) => "field_select",
                    Func::FieldAssign(..) => "field_assign",
                    Func::MakeRecord(..) => "row",
                    Func::RecordIn(..) => "record_in",
                    Func::Plpgsql(_) => "plpgsql_call",
                    Func::RecordNullTest(_) => "record_null_test",
                    #[cfg(debug_assertions)]
                    Func::DebugPanic => "heliosdb_debug_panic",
                    $(Func::$v => $n),*
                }
            }
        }
    };
}

funcs! {
    Now = "now", StatementTimestamp = "statement_timestamp", CurrentDate = "current_date",
    GenRandomUuid = "gen_random_uuid", Random = "random",
    Coalesce = "COALESCE", NullIf = "NULLIF", Greatest = "GREATEST", Least = "LEAST",
    JsonbBuildObject = "jsonb_build_object", JsonBuildObject = "json_build_object",
    ToJsonb = "to_jsonb", CurrentSetting = "current_setting", Version = "version",
    CurrentSchema = "current_schema", GenerateSeries = "generate_series",
    CurrentUser = "current_user", SessionUser = "session_user",
    CurrentTenantId = "current_tenant_id",
    // session
    SetConfig = "set_config", PgBackendPid = "pg_backend_pid",
    InetServerAddr = "inet_server_addr", InetServerPort = "inet_server_port",
    InetClientAddr = "inet_client_addr", InetClientPort = "inet_client_port",
    // arrays and catalog
    ArrayToString = "array_to_string", StringToArray = "string_to_array", ArrayUpper = "array_upper", ArrayLower = "array_lower",
    ArrayLength = "array_length", Cardinality = "cardinality", FormatType = "format_type",
    PgSizePretty = "pg_size_pretty", RegexMatch = "textregexeq", RegexIMatch = "texticregexeq", ArrayElement = "array_element",
    // string
    Lower = "lower", Upper = "upper", Initcap = "initcap", Length = "length",
    OctetLength = "octet_length", Substr = "substr", Strpos = "strpos", Btrim = "btrim",
    Ltrim = "ltrim", Rtrim = "rtrim", Concat = "concat", ConcatWs = "concat_ws",
    Replace = "replace", SplitPart = "split_part", Left = "left", Right = "right",
    Lpad = "lpad", Rpad = "rpad", Repeat = "repeat", Reverse = "reverse", Md5 = "md5",
    Format = "format", StartsWith = "starts_with", Translate = "translate", Ascii = "ascii",
    Chr = "chr", ToHex = "to_hex", QuoteIdent = "quote_ident", QuoteLiteral = "quote_literal",
    QuoteNullable = "quote_nullable", Overlay = "overlay",
    // math
    Abs = "abs", Round = "round", Trunc = "trunc", Floor = "floor", Ceil = "ceil",
    Mod = "mod", Power = "power", Sqrt = "sqrt", Cbrt = "cbrt", Exp = "exp", Ln = "ln",
    Log = "log", Sign = "sign", Pi = "pi", Div = "div", Degrees = "degrees",
    Radians = "radians", Gcd = "gcd", Lcm = "lcm",
    // date/time
    DateTrunc = "date_trunc", DatePart = "date_part", Extract = "extract", Age = "age",
    ToChar = "to_char", ToDate = "to_date", ToTimestamp = "to_timestamp",
    MakeDate = "make_date", MakeTimestamp = "make_timestamp",
    MakeInterval = "make_interval", JustifyDays = "justify_days",
    JustifyHours = "justify_hours", JustifyInterval = "justify_interval",
}

/// Overloads of a function: parameter types and result type.
type Sig = (Vec<DataType>, DataType);
type Sigs = Vec<Sig>;

/// The overloads of a function with fixed signatures.
fn overloads(name: &str) -> Option<(Func, Sigs)> {
    use DataType as T;
    const TX: T = T::Text;
    const I4: T = T::Int4;
    const I8: T = T::Int8;
    const F8: T = T::Float8;
    const N: T = T::Numeric(None);
    const TS: T = T::Timestamp;
    const TZ: T = T::Timestamptz;
    const IV: T = T::Interval;
    let s = |ps: &[T], r: T| (ps.to_vec(), r);
    let each = |ts: &[T], f: &dyn Fn(&T) -> (Vec<T>, T)| ts.iter().map(f).collect::<Sigs>();
    let fl_num = |arity: usize| each(&[F8, N], &|t| (vec![t.clone(); arity], t.clone()));
    let text1 = vec![s(&[TX], TX)];
    Some(match name {
        "lower" => (Func::Lower, text1),
        "upper" => (Func::Upper, text1),
        "initcap" => (Func::Initcap, text1),
        "reverse" => (Func::Reverse, text1),
        "quote_ident" => (Func::QuoteIdent, text1),
        "md5" => (Func::Md5, vec![s(&[TX], TX), s(&[T::Bytea], TX)]),
        "length" => (Func::Length, vec![s(&[TX], I4), s(&[T::Bytea], I4)]),
        "char_length" | "character_length" => (Func::Length, vec![s(&[TX], I4)]),
        "octet_length" => (Func::OctetLength, vec![s(&[TX], I4), s(&[T::Bytea], I4)]),
        "btrim" | "ltrim" | "rtrim" => (
            match name {
                "btrim" => Func::Btrim,
                "ltrim" => Func::Ltrim,
                _ => Func::Rtrim,
            },
            vec![s(&[TX], TX), s(&[TX, TX], TX)],
        ),
        "substr" | "substring" => (Func::Substr, vec![s(&[TX, I4], TX), s(&[TX, I4, I4], TX)]),
        "strpos" => (Func::Strpos, vec![s(&[TX, TX], I4)]),
        "replace" => (Func::Replace, vec![s(&[TX, TX, TX], TX)]),
        "translate" => (Func::Translate, vec![s(&[TX, TX, TX], TX)]),
        "split_part" => (Func::SplitPart, vec![s(&[TX, TX, I4], TX)]),
        "left" => (Func::Left, vec![s(&[TX, I4], TX)]),
        "right" => (Func::Right, vec![s(&[TX, I4], TX)]),
        "repeat" => (Func::Repeat, vec![s(&[TX, I4], TX)]),
        "lpad" | "rpad" => (
            if name == "lpad" {
                Func::Lpad
            } else {
                Func::Rpad
            },
            vec![s(&[TX, I4], TX), s(&[TX, I4, TX], TX)],
        ),
        "starts_with" => (Func::StartsWith, vec![s(&[TX, TX], T::Bool)]),
        "ascii" => (Func::Ascii, vec![s(&[TX], I4)]),
        "chr" => (Func::Chr, vec![s(&[I4], TX)]),
        "to_hex" => (Func::ToHex, vec![s(&[I4], TX), s(&[I8], TX)]),
        "overlay" => (
            Func::Overlay,
            vec![s(&[TX, TX, I4], TX), s(&[TX, TX, I4, I4], TX)],
        ),
        "abs" => (
            Func::Abs,
            each(&[T::Int2, I4, I8, T::Float4, F8, N], &|t| {
                (vec![t.clone()], t.clone())
            }),
        ),
        "round" | "trunc" => {
            let mut v = fl_num(1);
            v.push(s(&[N, I4], N));
            (
                if name == "round" {
                    Func::Round
                } else {
                    Func::Trunc
                },
                v,
            )
        }
        "floor" => (Func::Floor, fl_num(1)),
        "ceil" | "ceiling" => (Func::Ceil, fl_num(1)),
        "sign" => (Func::Sign, fl_num(1)),
        "sqrt" => (Func::Sqrt, fl_num(1)),
        "exp" => (Func::Exp, fl_num(1)),
        "ln" => (Func::Ln, fl_num(1)),
        "log" | "log10" => {
            let mut v = fl_num(1);
            if name == "log" {
                v.push(s(&[N, N], N));
            }
            (Func::Log, v)
        }
        "power" | "pow" => (Func::Power, fl_num(2)),
        "cbrt" => (Func::Cbrt, vec![s(&[F8], F8)]),
        "degrees" => (Func::Degrees, vec![s(&[F8], F8)]),
        "radians" => (Func::Radians, vec![s(&[F8], F8)]),
        "pi" => (Func::Pi, vec![s(&[], F8)]),
        "div" => (Func::Div, vec![s(&[N, N], N)]),
        "mod" => (
            Func::Mod,
            each(&[T::Int2, I4, I8, N], &|t| (vec![t.clone(); 2], t.clone())),
        ),
        "gcd" | "lcm" => (
            if name == "gcd" { Func::Gcd } else { Func::Lcm },
            each(&[I4, I8], &|t| (vec![t.clone(); 2], t.clone())),
        ),
        "date_trunc" => (
            Func::DateTrunc,
            vec![s(&[TX, TS], TS), s(&[TX, TZ], TZ), s(&[TX, IV], IV)],
        ),
        "date_part" => (
            Func::DatePart,
            each(&[TS, TZ, T::Date, T::Time, IV], &|t| {
                (vec![TX, t.clone()], F8)
            }),
        ),
        // EXTRACT(field FROM x) arrives as extract(field, x).
        "extract" => (
            Func::Extract,
            each(&[TS, TZ, T::Date, T::Time, IV], &|t| {
                (vec![TX, t.clone()], N)
            }),
        ),
        "age" => (
            Func::Age,
            vec![
                s(&[TS, TS], IV),
                s(&[TZ, TZ], IV),
                s(&[TS], IV),
                s(&[TZ], IV),
            ],
        ),
        "to_char" => (
            Func::ToChar,
            each(&[TS, TZ, IV, N, I4, I8, T::Float4, F8], &|t| {
                (vec![t.clone(), TX], TX)
            }),
        ),
        "to_date" => (Func::ToDate, vec![s(&[TX, TX], T::Date)]),
        "to_timestamp" => (Func::ToTimestamp, vec![s(&[TX, TX], TZ), s(&[F8], TZ)]),
        "make_date" => (Func::MakeDate, vec![s(&[I4, I4, I4], T::Date)]),
        "make_timestamp" => (Func::MakeTimestamp, vec![s(&[I4, I4, I4, I4, I4, F8], TS)]),
        "make_interval" => (
            Func::MakeInterval,
            (0..=7)
                .map(|n| {
                    let ps = [I4, I4, I4, I4, I4, I4, F8];
                    (ps[..n].to_vec(), IV)
                })
                .collect(),
        ),
        "justify_days" => (Func::JustifyDays, vec![s(&[IV], IV)]),
        "justify_hours" => (Func::JustifyHours, vec![s(&[IV], IV)]),
        "justify_interval" => (Func::JustifyInterval, vec![s(&[IV], IV)]),
        _ => return None,
    })
}

/// Ignores type modifiers and treats varchar/char as text when matching.
fn base_type(t: &DataType) -> DataType {
    match t {
        DataType::Numeric(_) => DataType::Numeric(None),
        t if t.is_text() => DataType::Text,
        t => t.clone(),
    }
}

fn is_preferred(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Text | DataType::Float8 | DataType::Timestamptz | DataType::Interval
    )
}

/// Picks the best overload for the argument types (PostgreSQL's rules,
/// simplified: most exact matches, then unknowns resolved as text, then
/// preferred types; ties go to the first listed).
fn pick(name: &str, args: &[DataType], sigs: Sigs) -> Result<Sig> {
    let mut best: Option<((usize, usize, usize), Sig)> = None;
    for sig in sigs {
        let ps = &sig.0;
        if ps.len() != args.len()
            || !args
                .iter()
                .zip(ps)
                .all(|(a, p)| DataType::can_coerce_implicitly(&base_type(a), p))
        {
            continue;
        }
        let mut score = (0, 0, 0);
        for (a, p) in args.iter().zip(ps) {
            if base_type(a) == *p {
                score.0 += 1;
            } else if *a == DataType::Unknown && *p == DataType::Text {
                score.1 += 1;
            } else if is_preferred(p) {
                score.2 += 1;
            }
        }
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, sig));
        }
    }
    best.map(|(_, s)| s)
        .ok_or_else(|| undefined_function(name, args))
}

/// Resolves a call: the function, its result type and the type each
/// argument must be cast to.
pub fn resolve_call(name: &str, arg_types: &[DataType]) -> Result<(Func, DataType, Vec<DataType>)> {
    use DataType as T;
    if let Some((func, sigs)) = overloads(name) {
        let (params, ret) = pick(name, arg_types, sigs)?;
        return Ok((func, ret, params));
    }
    let n = arg_types.len();
    let arity = |ok: bool| -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(undefined_function(name, arg_types))
        }
    };
    // Arguments of "any" type keep their own type (unknown literals become text).
    let any = || -> Vec<DataType> {
        arg_types
            .iter()
            .map(|t| if *t == T::Unknown { T::Text } else { t.clone() })
            .collect()
    };
    let common = || -> Result<DataType> {
        let mut t = T::Unknown;
        for a in arg_types {
            t = DataType::common_type(&t, a).ok_or_else(|| {
                Error::new(
                    SqlState::DATATYPE_MISMATCH,
                    format!(
                        "{} types {} and {} cannot be matched",
                        name.to_uppercase(),
                        t.name(),
                        a.name()
                    ),
                )
            })?;
        }
        Ok(if t == T::Unknown { T::Text } else { t })
    };
    let (func, ret, params) = match name {
        "nextval" | "currval" => {
            arity(n == 1)?;
            let f = if name == "nextval" {
                Func::NextVal(None)
            } else {
                Func::CurrVal(None)
            };
            (f, T::Int8, any())
        }
        "setval" => {
            arity(n == 2 || n == 3)?;
            (Func::SetVal(None), T::Int8, any())
        }
        "now" | "transaction_timestamp" | "current_timestamp" => {
            arity(n == 0)?;
            (Func::Now, T::Timestamptz, vec![])
        }
        "statement_timestamp" | "clock_timestamp" => {
            arity(n == 0)?;
            (Func::StatementTimestamp, T::Timestamptz, vec![])
        }
        "current_date" => {
            arity(n == 0)?;
            (Func::CurrentDate, T::Date, vec![])
        }
        "gen_random_uuid" | "uuid_generate_v4" => {
            arity(n == 0)?;
            (Func::GenRandomUuid, T::Uuid, vec![])
        }
        "random" => {
            arity(n == 0)?;
            (Func::Random, T::Float8, vec![])
        }
        "coalesce" | "greatest" | "least" => {
            arity(n >= 1)?;
            let f = match name {
                "coalesce" => Func::Coalesce,
                "greatest" => Func::Greatest,
                _ => Func::Least,
            };
            let t = common()?;
            (f, t.clone(), vec![t; n])
        }
        "nullif" => {
            arity(n == 2)?;
            let t = if arg_types[0] == T::Unknown {
                common()?
            } else {
                arg_types[0].clone()
            };
            let second = if arg_types[1] == T::Unknown {
                t.clone()
            } else {
                arg_types[1].clone()
            };
            (Func::NullIf, t.clone(), vec![t, second])
        }
        "concat" => {
            arity(n >= 1)?;
            (Func::Concat, T::Text, any())
        }
        "concat_ws" | "format" => {
            arity(n >= if name == "format" { 1 } else { 2 })?;
            let mut p = any();
            p[0] = T::Text;
            let f = if name == "format" {
                Func::Format
            } else {
                Func::ConcatWs
            };
            (f, T::Text, p)
        }
        "quote_literal" | "quote_nullable" => {
            arity(n == 1)?;
            let f = if name == "quote_literal" {
                Func::QuoteLiteral
            } else {
                Func::QuoteNullable
            };
            (f, T::Text, any())
        }
        "jsonb_build_object" | "json_build_object" => {
            arity(n.is_multiple_of(2))?;
            if name == "jsonb_build_object" {
                (Func::JsonbBuildObject, T::Jsonb, any())
            } else {
                (Func::JsonBuildObject, T::Json, any())
            }
        }
        "to_jsonb" => {
            arity(n == 1)?;
            (Func::ToJsonb, T::Jsonb, any())
        }
        "current_tenant_id" => {
            arity(n == 0)?;
            (Func::CurrentTenantId, T::Uuid, vec![])
        }
        "current_setting" => {
            arity(n == 1 || n == 2)?;
            let mut p = any();
            if n == 2 {
                p[1] = T::Bool;
            }
            (Func::CurrentSetting, T::Text, p)
        }
        "array_to_string" => {
            arity((n == 2 || n == 3) && matches!(arg_types[0], T::Array(_)))?;
            let mut p = any();
            p[1] = T::Text;
            if n == 3 {
                p[2] = T::Text;
            }
            (Func::ArrayToString, T::Text, p)
        }
        "string_to_array" => {
            arity(n == 2 || n == 3)?;
            (
                Func::StringToArray,
                T::Array(Box::new(T::Text)),
                vec![T::Text; n],
            )
        }
        "array_upper" | "array_lower" | "array_length" => {
            arity(n == 2 && matches!(arg_types[0], T::Array(_)))?;
            let f = match name {
                "array_upper" => Func::ArrayUpper,
                "array_lower" => Func::ArrayLower,
                _ => Func::ArrayLength,
            };
            (f, T::Int4, vec![arg_types[0].clone(), T::Int4])
        }
        "cardinality" => {
            arity(n == 1 && matches!(arg_types[0], T::Array(_)))?;
            (Func::Cardinality, T::Int4, any())
        }
        "pg_size_pretty" => {
            arity(n == 1)?;
            (Func::PgSizePretty, T::Text, vec![T::Int8])
        }
        "format_type" => {
            arity(n == 2)?;
            (Func::FormatType, T::Text, vec![T::Int8, T::Int4])
        }
        #[cfg(debug_assertions)]
        "heliosdb_debug_panic" => {
            arity(n == 1)?;
            (Func::DebugPanic, T::Text, vec![T::Text])
        }
        "version" => {
            arity(n == 0)?;
            (Func::Version, T::Text, vec![])
        }
        "set_config" => {
            arity(n == 3)?;
            (Func::SetConfig, T::Text, vec![T::Text, T::Text, T::Bool])
        }
        "pg_backend_pid" | "inet_server_port" | "inet_client_port" => {
            arity(n == 0)?;
            let f = match name {
                "pg_backend_pid" => Func::PgBackendPid,
                "inet_server_port" => Func::InetServerPort,
                _ => Func::InetClientPort,
            };
            (f, T::Int4, vec![])
        }
        // The engine has no inet type: the address is text (`127.0.0.1`).
        "inet_server_addr" | "inet_client_addr" => {
            arity(n == 0)?;
            let f = if name == "inet_server_addr" {
                Func::InetServerAddr
            } else {
                Func::InetClientAddr
            };
            (f, T::Text, vec![])
        }
        "current_schema" => {
            arity(n == 0)?;
            (Func::CurrentSchema, T::Text, vec![])
        }
        "current_user" | "current_role" | "user" => {
            arity(n == 0)?;
            (Func::CurrentUser, T::Text, vec![])
        }
        "session_user" => {
            arity(n == 0)?;
            (Func::SessionUser, T::Text, vec![])
        }
        "generate_series" => {
            return Err(Error::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                "generate_series is only supported in FROM or as a whole select-list item",
            ));
        }
        _ => return Err(undefined_function(name, arg_types)),
    };
    Ok((func, ret, params))
}

/// Result-type rule of a function given its argument types.
pub fn resolve(name: &str, arg_types: &[DataType]) -> Result<(Func, DataType)> {
    resolve_call(name, arg_types).map(|(f, t, _)| (f, t))
}

pub fn undefined_function(name: &str, arg_types: &[DataType]) -> Error {
    let args: Vec<String> = arg_types.iter().map(|t| t.name()).collect();
    Error::new(
        SqlState::UNDEFINED_FUNCTION,
        format!("function {}({}) does not exist", name, args.join(", ")),
    )
    .with_hint("No function matches the given name and argument types. You might need to add explicit type casts.")
}

/// Text of a text-typed argument.
fn text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::Text(s) => std::borrow::Cow::Borrowed(s),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

/// Integer of an integer-typed argument.
fn int(v: &Value) -> Result<i64> {
    v.as_i64()
        .ok_or_else(|| Error::internal(format!("expected an integer, got {v:?}")))
}

/// 54000 "requested length too large" unless `len` bytes fit PostgreSQL's 1 GB limit.
fn check_len(len: Option<usize>) -> Result<usize> {
    const MAX_ALLOC: usize = 0x3fff_ffff;
    match len {
        Some(n) if n <= MAX_ALLOC => Ok(n),
        _ => Err(Error::new(
            SqlState::PROGRAM_LIMIT_EXCEEDED,
            "requested length too large",
        )),
    }
}

/// The value of a function's only argument.
fn eval_one(args: &[Expr], row: &[Value], ctx: &EvalCtx) -> Result<Value> {
    match args.first() {
        Some(a) => a.eval(row, ctx),
        None => Ok(Value::Null),
    }
}

pub(crate) fn to_json(v: &Value) -> Result<serde_json::Value> {
    use serde_json::Value as J;
    Ok(match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int2(i) => J::from(*i),
        Value::Int4(i) => J::from(*i),
        Value::Int8(i) => J::from(*i),
        Value::Float4(f) => serde_json::Number::from_f64(*f as f64)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::Float8(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::Numeric(d) => match d.to_string().parse::<serde_json::Number>() {
            Ok(n) => J::Number(n),
            Err(_) => J::String(d.to_string()),
        },
        Value::Jsonb(j) => j.clone(),
        Value::Json(s) => serde_json::from_str(s).map_err(|e| {
            Error::new(
                SqlState::INVALID_TEXT_REPRESENTATION,
                format!("invalid json: {e}"),
            )
        })?,
        Value::Array(_, items) => J::Array(items.iter().map(to_json).collect::<Result<_>>()?),
        other => J::String(other.to_string()),
    })
}

impl Func {
    /// Volatile functions give a new value per call (never folded or used as index keys).
    pub fn is_volatile(&self) -> bool {
        matches!(
            self,
            Func::NextVal(_)
                | Func::SetVal(_)
                | Func::SetConfig
                | Func::GenRandomUuid
                | Func::Random
                | Func::StatementTimestamp
        ) || self.is_debug_panic()
            || matches!(self, Func::Plpgsql(f) if f.volatile)
    }

    /// Debug builds' `heliosdb_debug_panic` (never folded at bind time).
    fn is_debug_panic(&self) -> bool {
        #[cfg(debug_assertions)]
        if matches!(self, Func::DebugPanic) {
            return true;
        }
        false
    }

    /// Immutable functions give the same result for the same arguments at
    /// any time and in any session (what index expressions may call);
    /// volatile ones and those reading the clock, settings or the session
    /// (PostgreSQL's stable functions) are not.
    pub fn is_immutable(&self) -> bool {
        if let Func::Plpgsql(f) = self {
            return f.immutable;
        }
        !self.is_volatile()
            && !matches!(
                self,
                Func::Now
                    | Func::CurrentDate
                    | Func::CurrVal(_)
                    | Func::CurrentSetting
                    | Func::CurrentSchema
                    | Func::CurrentUser
                    | Func::SessionUser
                    | Func::Version
                    | Func::PgBackendPid
                    | Func::InetServerAddr
                    | Func::InetServerPort
                    | Func::InetClientAddr
                    | Func::InetClientPort
                    | Func::ToChar
                    | Func::ToDate
                    | Func::ToTimestamp
                    | Func::Format
            )
    }

    /// Strict functions return NULL when any argument is NULL.
    fn is_strict(&self) -> bool {
        if let Func::Plpgsql(f) = self {
            return f.strict;
        }
        !matches!(
            self,
            Func::NullIf
                | Func::Concat
                | Func::ConcatWs
                | Func::Format
                | Func::QuoteNullable
                | Func::JsonbBuildObject
                | Func::JsonBuildObject
                | Func::CurrentSetting
                | Func::SetConfig
                | Func::FormatType
                | Func::StringToArray
        )
    }

    pub fn eval(&self, args: &[Expr], row: &[Value], ctx: &EvalCtx) -> Result<Value> {
        // Lazily evaluated functions first.
        match self {
            // Row-level security filters call this for every row: no detours.
            Func::CurrentTenantId => {
                return Ok(match ctx.env.current_tenant_id()? {
                    Some(id) => Value::Uuid(id),
                    None => Value::Null,
                });
            }
            Func::Plpgsql(f) => {
                let vals = Expr::eval_all(args, row, ctx)?;
                return f.call(vals, ctx);
            }
            Func::ArrayAssign(elem) => {
                let vals = args
                    .iter()
                    .map(|a| a.eval(row, ctx))
                    .collect::<Result<Vec<_>>>()?;
                let [arr, sub, v] = vals.as_slice() else {
                    return Err(Error::internal("array_assign takes three arguments"));
                };
                return array::assign(elem, arr, sub, v.clone());
            }
            Func::RecordOut => {
                let fields = args
                    .iter()
                    .map(|a| {
                        let v = a.eval(row, ctx)?;
                        Ok((!v.is_null()).then(|| v.to_string()))
                    })
                    .collect::<Result<Vec<_>>>()?;
                return Ok(Value::Text(crate::sql::binder::row::record_out(&fields)));
            }
            Func::FieldSelect(k) => {
                let v = eval_one(args, row, ctx)?;
                return match v {
                    Value::Record(_, mut fields) if *k < fields.len() => {
                        Ok(std::mem::replace(&mut fields[*k], Value::Null))
                    }
                    Value::Null => Ok(Value::Null),
                    other => Err(Error::internal(format!(
                        "field {k} selected from {}",
                        other.data_type().name()
                    ))),
                };
            }
            Func::FieldAssign(k, id, n) => {
                let (Some(base), Some(v)) = (args.first(), args.get(1)) else {
                    return Err(Error::internal("field_assign takes two arguments"));
                };
                let mut fields = match base.eval(row, ctx)? {
                    Value::Record(_, fields) if fields.len() == *n => fields,
                    _ => vec![Value::Null; *n],
                };
                if let Some(f) = fields.get_mut(*k) {
                    *f = v.eval(row, ctx)?;
                }
                return Ok(Value::Record(*id, fields));
            }
            Func::MakeRecord(id, _) => {
                let fields = args
                    .iter()
                    .map(|a| a.eval(row, ctx))
                    .collect::<Result<Vec<_>>>()?;
                return Ok(Value::Record(*id, fields));
            }
            Func::RecordNullTest(not) => {
                return Ok(Value::Bool(match eval_one(args, row, ctx)? {
                    Value::Null => !*not,
                    Value::Record(_, fields) => fields.iter().all(|f| f.is_null() != *not),
                    _ => *not,
                }));
            }
            Func::RecordIn(id, types) => {
                return match eval_one(args, row, ctx)? {
                    Value::Null => Ok(Value::Null),
                    v => Value::parse_record(&v.to_string(), *id, types),
                };
            }
            Func::DomainCheck(d) => {
                let v = args
                    .first()
                    .map(|a| a.eval(row, ctx))
                    .transpose()?
                    .unwrap_or(Value::Null);
                d.check(&v, ctx)?;
                return Ok(v);
            }
            Func::Coalesce => {
                for a in args {
                    let v = a.eval(row, ctx)?;
                    if !v.is_null() {
                        return Ok(v);
                    }
                }
                return Ok(Value::Null);
            }
            Func::Greatest | Func::Least => {
                let mut best: Option<Value> = None;
                for a in args {
                    let v = a.eval(row, ctx)?;
                    if v.is_null() {
                        continue;
                    }
                    best = Some(match best {
                        None => v,
                        Some(b) => {
                            let better = match v.sql_cmp(&b) {
                                Some(std::cmp::Ordering::Greater) => *self == Func::Greatest,
                                Some(std::cmp::Ordering::Less) => *self == Func::Least,
                                _ => false,
                            };
                            if better { v } else { b }
                        }
                    });
                }
                return Ok(best.unwrap_or(Value::Null));
            }
            _ => {}
        }
        let vals: Vec<Value> = args
            .iter()
            .map(|a| a.eval(row, ctx))
            .collect::<Result<_>>()?;
        if self.is_strict() && vals.iter().any(Value::is_null) {
            return Ok(Value::Null);
        }
        if let Some(v) = string::eval(self, &vals)? {
            return Ok(v);
        }
        if let Some(v) = array::eval(self, &vals)? {
            return Ok(v);
        }
        if let Some(v) = regex::eval(self, &vals)? {
            return Ok(v);
        }
        if let Some(v) = math::eval(self, &vals)? {
            return Ok(v);
        }
        let env = ctx.env;
        if let Some(v) = datetime::eval(self, &vals, env.transaction_time())? {
            return Ok(v);
        }
        let seq_of = |known: &Option<u32>, v: &Value| -> Result<u32> {
            match known {
                Some(id) => Ok(*id),
                None => env.sequence_by_name(&v.to_string()),
            }
        };
        Ok(match self {
            Func::NextVal(id) => Value::Int8(env.nextval(seq_of(id, &vals[0])?)?),
            Func::CurrVal(id) => Value::Int8(env.currval(seq_of(id, &vals[0])?)?),
            Func::SetVal(id) => {
                let seq = seq_of(id, &vals[0])?;
                let value = match vals[1].clone().cast(&DataType::Int8)? {
                    Value::Int8(i) => i,
                    _ => return Err(Error::internal("setval value is not bigint")),
                };
                let called = match vals.get(2) {
                    Some(v) => matches!(v.clone().cast(&DataType::Bool)?, Value::Bool(true)),
                    None => true,
                };
                Value::Int8(env.setval(seq, value, called)?)
            }
            Func::Now => Value::Timestamptz(env.transaction_time()),
            Func::StatementTimestamp => Value::Timestamptz(env.statement_time()),
            Func::CurrentDate => Value::Date(env.transaction_time().date_naive()),
            Func::GenRandomUuid => Value::Uuid(uuid::Uuid::new_v4()),
            Func::Random => {
                let bytes = uuid::Uuid::new_v4().as_u64_pair().0;
                Value::Float8((bytes >> 11) as f64 / (1u64 << 53) as f64)
            }
            Func::NullIf => {
                if vals[0].sql_cmp(&vals[1]) == Some(std::cmp::Ordering::Equal) {
                    Value::Null
                } else {
                    vals[0].clone()
                }
            }
            Func::JsonbBuildObject | Func::JsonBuildObject => {
                let mut map = serde_json::Map::new();
                for pair in vals.chunks(2) {
                    if pair[0].is_null() {
                        return Err(Error::new(
                            SqlState::NULL_VALUE_NOT_ALLOWED,
                            "argument 1: key must not be null",
                        ));
                    }
                    map.insert(pair[0].to_string(), to_json(&pair[1])?);
                }
                let obj = serde_json::Value::Object(map);
                if *self == Func::JsonbBuildObject {
                    Value::Jsonb(obj)
                } else {
                    Value::Json(obj.to_string())
                }
            }
            Func::ToJsonb => Value::Jsonb(to_json(&vals[0])?),
            Func::CurrentSetting => {
                if vals[0].is_null() {
                    return Ok(Value::Null);
                }
                let missing_ok = matches!(vals.get(1), Some(Value::Bool(true)));
                match env.current_setting(&vals[0].to_string(), missing_ok)? {
                    Some(s) => Value::Text(s),
                    None => Value::Null,
                }
            }
            Func::Version => Value::Text(crate::version_string()),
            #[cfg(debug_assertions)]
            Func::DebugPanic => panic!("heliosdb_debug_panic: {}", text(&vals[0])),
            Func::SetConfig => {
                let Value::Text(name) = &vals[0] else {
                    return Err(Error::new(
                        SqlState::NULL_VALUE_NOT_ALLOWED,
                        "SET requires parameter name",
                    ));
                };
                let value = match &vals[1] {
                    Value::Null => None,
                    v => Some(text(v)),
                };
                let local = matches!(vals[2], Value::Bool(true));
                Value::Text(env.set_config(name, value.as_deref(), local)?)
            }
            Func::PgBackendPid => Value::Int4(env.backend_pid()),
            Func::InetServerAddr => opt_ip(env.server_addr()),
            Func::InetClientAddr => opt_ip(env.client_addr()),
            Func::InetServerPort => opt_port(env.server_addr()),
            Func::InetClientPort => opt_port(env.client_addr()),
            Func::CurrentUser => Value::Text(env.current_user()?),
            Func::SessionUser => Value::Text(env.session_user()?),
            Func::CurrentSchema => match env.current_setting("search_path", true)? {
                Some(p) => Value::Text(
                    p.split(',')
                        .map(|s| s.trim().trim_matches('"').to_string())
                        .find(|s| !s.is_empty() && s != "$user")
                        .unwrap_or_else(|| "public".into()),
                ),
                None => Value::Text("public".into()),
            },
            Func::GenerateSeries => {
                return Err(Error::internal("generate_series evaluated as a scalar"));
            }
            other => {
                return Err(Error::internal(format!(
                    "{} has no evaluator",
                    other.name()
                )));
            }
        })
    }
}

fn opt_ip(a: Option<std::net::SocketAddr>) -> Value {
    a.map(|a| Value::Text(a.ip().to_string()))
        .unwrap_or(Value::Null)
}

fn opt_port(a: Option<std::net::SocketAddr>) -> Value {
    a.map(|a| Value::Int4(i32::from(a.port())))
        .unwrap_or(Value::Null)
}

/// Converts a numeric-ish value to i64 (used by LIMIT/OFFSET and series bounds).
pub fn value_to_i64(v: &Value) -> Result<Option<i64>> {
    Ok(match v {
        Value::Null => None,
        Value::Int2(i) => Some(*i as i64),
        Value::Int4(i) => Some(*i as i64),
        Value::Int8(i) => Some(*i),
        Value::Numeric(d) => Some(
            d.round()
                .to_i64()
                .ok_or_else(|| Error::out_of_range("bigint"))?,
        ),
        Value::Float4(_) | Value::Float8(_) | Value::Text(_) => {
            match v.clone().cast(&DataType::Int8)? {
                Value::Int8(i) => Some(i),
                _ => None,
            }
        }
        other => {
            return Err(Error::new(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "cannot use a value of type {} as an integer",
                    other.data_type().name()
                ),
            ));
        }
    })
}
