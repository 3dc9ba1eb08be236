//! POSIX regular-expression matching (`~`, `~*`, `!~`, `!~*`), on the
//! `regex` crate's syntax, which agrees with PostgreSQL's for the common
//! forms (anchors, classes, alternation, repetition).

use super::Func;
use crate::error::{Error, Result, SqlState};
use crate::types::Value;
use std::cell::RefCell;

thread_local! {
    /// The most recently compiled pattern: a pattern is usually a constant.
    static LAST: RefCell<Option<(String, bool, regex::Regex)>> = const { RefCell::new(None) };
}

fn matches(text: &str, pattern: &str, case_insensitive: bool) -> Result<bool> {
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((p, ci, re)) = &*last
            && p == pattern
            && *ci == case_insensitive
        {
            return Ok(re.is_match(text));
        }
        let re = regex::RegexBuilder::new(pattern)
            .case_insensitive(case_insensitive)
            .build()
            .map_err(|e| {
                Error::new(
                    SqlState::INVALID_REGULAR_EXPRESSION,
                    format!("invalid regular expression: {e}"),
                )
            })?;
        let m = re.is_match(text);
        *last = Some((pattern.to_string(), case_insensitive, re));
        Ok(m)
    })
}

/// Evaluates the regex functions (`None` for any other function).
pub fn eval(f: &Func, vals: &[Value]) -> Result<Option<Value>> {
    let ci = match f {
        Func::RegexMatch => false,
        Func::RegexIMatch => true,
        _ => return Ok(None),
    };
    let text = vals[0].to_string();
    let pattern = vals[1].to_string();
    Ok(Some(Value::Bool(matches(&text, &pattern, ci)?)))
}
