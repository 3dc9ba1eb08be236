//! `heliosdb serve --metrics ADDR:PORT`: the tenants' quota figures in
//! Prometheus' text format, from the same rows as `helios.tenant_usage`.
//!
//! A scrape is `GET /metrics` (any other path is 404); the answer is built
//! by a superuser session reading `helios.tenant_usage`, so it shows what
//! SQL shows. The HTTP side is the minimum Prometheus needs: one request
//! per connection, headers read up to a small limit within a few seconds.

use crate::error::{Error, Result};
use crate::session::Database;
use crate::types::Value;
use std::fmt::Write;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The largest request head read.
const MAX_REQUEST: usize = 8 * 1024;

/// Gauges and counters, in `helios.tenant_usage`'s column order after the
/// tenant and tier: (column, metric name, type, help).
const METRICS: [(&str, &str, &str, &str); 10] = [
    (
        "storage_bytes",
        "heliosdb_tenant_storage_bytes",
        "gauge",
        "Bytes of the tenant's rows and index entries.",
    ),
    (
        "max_storage_bytes",
        "heliosdb_tenant_max_storage_bytes",
        "gauge",
        "The tenant's storage limit in bytes.",
    ),
    (
        "connections",
        "heliosdb_tenant_connections",
        "gauge",
        "Sessions running in the tenant.",
    ),
    (
        "max_connections",
        "heliosdb_tenant_max_connections",
        "gauge",
        "The tenant's connection limit.",
    ),
    (
        "qps",
        "heliosdb_tenant_qps",
        "gauge",
        "Statements the tenant ran in the last whole second.",
    ),
    (
        "max_qps",
        "heliosdb_tenant_max_qps",
        "gauge",
        "The tenant's limit of statements per second.",
    ),
    (
        "statements_total",
        "heliosdb_tenant_statements_total",
        "counter",
        "Statements the tenant ran since the server started.",
    ),
    (
        "rejected_storage",
        "heliosdb_tenant_rejected_storage_total",
        "counter",
        "Statements refused for the storage limit (53100).",
    ),
    (
        "rejected_connections",
        "heliosdb_tenant_rejected_connections_total",
        "counter",
        "Sessions refused for the connection limit (53300).",
    ),
    (
        "rejected_qps",
        "heliosdb_tenant_rejected_qps_total",
        "counter",
        "Statements refused for the rate limit (53400).",
    ),
];

/// The Prometheus text of every tenant's figures.
pub fn render(db: &Database) -> Result<String> {
    let mut s = db.connect();
    let cols: Vec<&str> = METRICS.iter().map(|m| m.0).collect();
    let rows = s.query(
        &format!(
            "SELECT tenant, tier, {} FROM helios.tenant_usage ORDER BY tenant",
            cols.join(", ")
        ),
        &[],
    )?;
    let mut out = String::new();
    for (k, (_, name, kind, help)) in METRICS.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for row in rows.iter() {
            let tenant = row.get::<String>(0)?;
            let tier = row.get::<String>(1)?;
            let value = match row.values().get(k + 2) {
                Some(Value::Int8(v)) => *v,
                _ => 0,
            };
            let _ = writeln!(
                out,
                "{name}{{tenant=\"{}\",tier=\"{}\"}} {value}",
                escape(&tenant),
                escape(&tier)
            );
        }
    }
    Ok(out)
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Binds the metrics listener (errors surface at start-up).
pub async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::io(format!("could not listen for metrics on {addr}: {e}")))
}

/// Answers scrapes until `stop` turns true.
pub async fn run(listener: TcpListener, db: Database, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let db = db.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(10), answer(socket, db)).await;
                });
            }
        }
    }
}

/// Reads one request and writes its response.
async fn answer(mut socket: TcpStream, db: Database) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_REQUEST {
            return respond(&mut socket, "431 Request Header Fields Too Large", "").await;
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return respond(&mut socket, "405 Method Not Allowed", "").await;
    }
    if path != "/metrics" && !path.starts_with("/metrics?") {
        return respond(&mut socket, "404 Not Found", "").await;
    }
    let body = tokio::task::spawn_blocking(move || render(&db))
        .await
        .map_err(std::io::Error::other)?;
    match body {
        Ok(text) => respond(&mut socket, "200 OK", &text).await,
        Err(e) => {
            respond(
                &mut socket,
                "500 Internal Server Error",
                &format!("{}\n", e.message),
            )
            .await
        }
    }
}

async fn respond(socket: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body.as_bytes()).await?;
    socket.shutdown().await
}
