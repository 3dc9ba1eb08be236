//! Stack-depth safety for recursive code (parsing, binding, evaluation).
//!
//! SQL nests arbitrarily (`((((1))))`, long `a + b + ...` chains), and the
//! caller's thread may have a small stack. Recursive functions run through
//! [`guard`], which moves onto a fresh heap-allocated stack segment when the
//! current one is nearly exhausted, so deep input ends in a depth-limit error
//! (54001), never in a stack overflow.

const RED_ZONE: usize = 256 * 1024;
const SEGMENT: usize = 4 * 1024 * 1024;

/// Runs `f`, first switching to a new stack segment if less than 256 KiB remain.
#[inline]
pub(crate) fn guard<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}

/// Like [`guard`] for code that recurses without calling back into us
/// (the SQL parser): guarantees several MiB of stack up front.
pub(crate) fn guard_large<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(8 * 1024 * 1024, 16 * 1024 * 1024, f)
}
