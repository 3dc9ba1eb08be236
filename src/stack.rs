//! Stack-depth safety for recursive code (parsing, binding, evaluation).
//!
//! SQL nests arbitrarily (`((((1))))`, long `a + b + ...` chains, long
//! `UNION` chains), and the caller's thread may have a small stack (the
//! server gives each connection a thread with a modest one). Three guards
//! keep deep input from overflowing it, so it ends in a depth-limit error
//! (54001), never in a stack overflow that would abort the process:
//!
//! * [`guard`] wraps functions that recurse over expressions and plans
//!   (binder, evaluation, optimizer, executor): it moves onto a fresh
//!   heap-allocated stack segment when the current one is nearly exhausted.
//! * [`parser`] runs sqlparser, which recurses without calling back into us,
//!   with a recursion limit that fits the stack at hand, and only when a
//!   statement nests deeper than that again on a segment sized for the full
//!   limit — so ordinary statements parse in place.
//! * [`statement`] gives a statement stack in proportion to its text before
//!   it runs: long chains become equally deep syntax trees, which derived
//!   code (`Clone`, `Drop`, visitors) walks recursively without a guard.
//!
//! Sizes are calibrated by measurement (the stack high-water mark of
//! adversarial statements); debug builds' frames are several times larger,
//! so their constants are too.

const DEBUG: bool = cfg!(debug_assertions);

/// [`guard`] switches segments when less than this remains.
const RED_ZONE: usize = 256 * 1024;
const SEGMENT: usize = 4 * 1024 * 1024;

/// Stack one level of sqlparser's recursion counter may take: measured worst
/// about 23 KiB in release builds (nested parenthesized joins) and about
/// 165 KiB in debug builds, with margin.
const PARSER_LEVEL: usize = if DEBUG { 256 * 1024 } else { 32 * 1024 };
/// Stack kept free beside the parser's levels (our own frames around it).
const PARSER_RESERVE: usize = if DEBUG { 1024 * 1024 } else { 256 * 1024 };

/// Stack a statement needs whatever its length, and per byte of its text. A
/// chain grows by a level every few bytes (`+1` is two, `UNION ALL SELECT
/// 1` eighteen), and code without a guard walks each level (derived `Clone`
/// and `Drop`, visitors). Measured on a stack large enough that no guard
/// switched: a 1000-long `UNION ALL` chain took 4.2 MiB in a release build
/// (240 bytes per byte of text, guarded code included); in a debug build
/// an expression chain's visitor alone takes 1.1 KiB per byte.
const STATEMENT_BASE: usize = if DEBUG { 1024 * 1024 } else { 256 * 1024 };
const STATEMENT_PER_BYTE: usize = if DEBUG { 2048 } else { 256 };
/// The most [`statement`] asks for. The parser's limits bound how deep a
/// syntax tree nests whatever the statement's length (2000 levels of
/// expressions and set operations, 200 of parser recursion, 100 array
/// dimensions), and walking that takes a few MiB in release builds. Address
/// space, not memory: only the pages a statement touches are backed.
const STATEMENT_MAX: usize = if DEBUG { 512 << 20 } else { 64 << 20 };

/// Stack the current thread has left, if known.
fn remaining() -> usize {
    stacker::remaining_stack().unwrap_or(0)
}

/// Runs `f`, first switching to a new stack segment if less than 256 KiB remain.
#[inline]
pub(crate) fn guard<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}

/// Stack a statement of `len` bytes of SQL is given by [`statement`].
fn statement_need(len: usize) -> usize {
    len.saturating_mul(STATEMENT_PER_BYTE)
        .saturating_add(STATEMENT_BASE)
        .min(STATEMENT_MAX)
}

/// Runs `f`, the work of a statement of `len` bytes of SQL (parsing,
/// planning, running and dropping it), on a stack in proportion to its
/// length: in place when the current stack has that much left (any
/// statement of a few hundred bytes, on a connection's thread), else on a
/// heap-allocated segment.
pub(crate) fn statement<R>(len: usize, f: impl FnOnce() -> R) -> R {
    let need = statement_need(len);
    stacker::maybe_grow(need, need, f)
}

/// How a parse attempt with a lower recursion limit than asked for ended.
pub(crate) enum Parsed<T> {
    /// Done (successfully or not); `T` is the answer.
    Done(T),
    /// It ran out of recursion levels or stack; only a retry with more can tell.
    NeedsMore,
}

/// Runs a parse — `f(levels, last)`, which gives sqlparser the recursion
/// limit `levels` — with the stack it needs: in place with as many levels
/// as the current stack holds, and, if that is fewer than `limit` and the
/// parse needs more (`NeedsMore`), again on a segment with room for `limit`
/// levels (and for a statement of `len` bytes). The last attempt (`last`)
/// must not answer `NeedsMore`; if it does, the statement is too deeply
/// nested (`too_deep`).
pub(crate) fn parser<T>(
    limit: usize,
    len: usize,
    too_deep: impl Fn() -> T,
    f: impl Fn(usize, bool) -> Parsed<T>,
) -> T {
    let last = |levels| match f(levels, true) {
        Parsed::Done(t) => t,
        Parsed::NeedsMore => too_deep(),
    };
    let here = remaining().saturating_sub(PARSER_RESERVE) / PARSER_LEVEL;
    if here >= limit {
        return last(limit);
    }
    // Fewer levels than a plain statement takes would only parse twice.
    if here >= 8
        && let Parsed::Done(t) = f(here, false)
    {
        return t;
    }
    let size = (PARSER_RESERVE + limit * PARSER_LEVEL).max(statement_need(len));
    stacker::grow(size, || last(limit))
}

/// True when less than `need` bytes of stack remain (recursive code that
/// cannot switch stacks checks this to stop in time).
pub(crate) fn low(need: usize) -> bool {
    remaining() < need
}

/// Stack below which the parser's depth check gives up in place and asks
/// for a larger stack (it walks expressions up to 1000 levels deep: about
/// 60 bytes a level in release builds, 2.2 KiB in debug builds).
pub(crate) const DEPTH_CHECK_LOW: usize = if DEBUG { 512 * 1024 } else { 64 * 1024 };
