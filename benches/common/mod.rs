//! What the benchmarks share: their command-line options, the timed loop,
//! the median and a one-value query.
#![allow(dead_code)] // each benchmark uses its own subset

use std::time::{Duration, Instant};

/// The single bigint a query returns.
pub fn one_i64(s: &mut heliosdb_nano::Session, sql: &str) -> i64 {
    s.query(sql, &[])
        .unwrap()
        .get(0)
        .unwrap()
        .get::<i64>(0)
        .unwrap()
}

/// The value after `--name` on the command line, else `default`.
pub fn option<T: std::str::FromStr>(name: &str, default: T) -> T {
    let v: Vec<String> = std::env::args().collect();
    match v.iter().position(|a| a == name) {
        Some(i) => v
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{name} needs a value")),
        None => default,
    }
}

/// Runs `op` for `secs` seconds and returns operations per second.
pub fn measure(secs: f64, mut op: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    let limit = Duration::from_secs_f64(secs);
    let mut n = 0u64;
    while start.elapsed() < limit {
        for _ in 0..16 {
            op(n);
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
