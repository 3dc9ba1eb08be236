//! The remote backend: a PostgreSQL wire-protocol client for
//! `heliosdb shell postgres://...`.
//!
//! It speaks the simple query protocol over a blocking TCP socket, as psql
//! does, using `postgres-protocol` for message framing and authentication
//! (cleartext, MD5, SCRAM-SHA-256). Speaking the protocol directly, rather
//! than through a driver, keeps what psql shows: the full command tag of
//! every statement (`CREATE TABLE`, `INSERT 0 1`), the column type oids of
//! each result (numbers are right-aligned), notices, and the copy
//! sub-protocol for `COPY ... FROM STDIN` / `TO STDOUT`. TLS is not
//! supported: `sslmode=require` is refused rather than silently ignored.

use super::backend::{Backend, Canceller, Outcome, ShellError, ShellResult};
use super::format::{Column, Table};
use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::sasl::{ChannelBinding, SCRAM_SHA_256, ScramSha256};
use postgres_protocol::message::{backend::Message, frontend};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Where and as whom to connect, from a `postgres://` URL or a
/// `key=value` connection string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnParams {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub dbname: String,
    pub application_name: String,
    pub connect_timeout: Option<Duration>,
}

fn bad(msg: impl Into<String>) -> ShellError {
    ShellError::connection(msg)
}

fn percent_decode(s: &str) -> ShellResult<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(format!("invalid percent-encoded token: \"{s}\"")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(format!("invalid UTF-8 in \"{s}\"")))
}

impl ConnParams {
    /// Parses `postgres[ql]://[user[:password]@][host][:port][/dbname][?k=v&...]`
    /// or `host=... port=... user=... dbname=...`. Missing values come from
    /// `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, then
    /// `127.0.0.1`, 5432, `heliosdb`, no password, `heliosdb`.
    pub fn parse(s: &str) -> ShellResult<ConnParams> {
        let mut kv: Vec<(String, String)> = Vec::new();
        let rest = s
            .strip_prefix("postgresql://")
            .or_else(|| s.strip_prefix("postgres://"));
        if let Some(rest) = rest {
            let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
            let (authority, path) = main.split_once('/').unwrap_or((main, ""));
            let (userinfo, hostport) = match authority.rsplit_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, authority),
            };
            if let Some(u) = userinfo {
                let (user, pw) = match u.split_once(':') {
                    Some((user, pw)) => (user, Some(pw)),
                    None => (u, None),
                };
                if !user.is_empty() {
                    kv.push(("user".into(), percent_decode(user)?));
                }
                if let Some(pw) = pw {
                    kv.push(("password".into(), percent_decode(pw)?));
                }
            }
            let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
                // [ipv6]:port
                let (h, p) = h
                    .split_once(']')
                    .ok_or_else(|| bad(format!("invalid IPv6 host in URI: \"{s}\"")))?;
                (h, p.strip_prefix(':').unwrap_or(""))
            } else {
                hostport.split_once(':').unwrap_or((hostport, ""))
            };
            if !host.is_empty() {
                kv.push(("host".into(), percent_decode(host)?));
            }
            if !port.is_empty() {
                kv.push(("port".into(), port.to_string()));
            }
            if !path.is_empty() {
                kv.push(("dbname".into(), percent_decode(path)?));
            }
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').ok_or_else(|| {
                    bad(format!("missing \"=\" after \"{pair}\" in connection URI"))
                })?;
                kv.push((percent_decode(k)?, percent_decode(v)?));
            }
        } else {
            if !s.contains('=') {
                return Err(bad(format!(
                    "\"{s}\" is neither a postgres:// URL nor a key=value connection string \
                     (use --data-dir for a data directory)"
                )));
            }
            for word in s.split_whitespace() {
                let (k, v) = word.split_once('=').ok_or_else(|| {
                    bad(format!(
                        "missing \"=\" after \"{word}\" in connection info string"
                    ))
                })?;
                kv.push((k.to_string(), v.trim_matches('\'').to_string()));
            }
        }
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut p = ConnParams {
            host: env("PGHOST").unwrap_or_else(|| "127.0.0.1".into()),
            port: 5432,
            user: env("PGUSER").unwrap_or_else(|| crate::session::BOOTSTRAP_SUPERUSER.into()),
            password: env("PGPASSWORD"),
            dbname: env("PGDATABASE").unwrap_or_else(|| "heliosdb".into()),
            application_name: "heliosdb shell".into(),
            connect_timeout: None,
        };
        let mut port = env("PGPORT");
        for (k, v) in kv {
            match k.as_str() {
                "host" | "hostaddr" => p.host = v,
                "port" => port = Some(v),
                "user" => p.user = v,
                "password" => p.password = Some(v),
                "dbname" => p.dbname = v,
                "application_name" => p.application_name = v,
                "connect_timeout" => {
                    let secs: u64 = v
                        .parse()
                        .map_err(|_| bad(format!("invalid connect_timeout value: \"{v}\"")))?;
                    p.connect_timeout = (secs > 0).then(|| Duration::from_secs(secs));
                }
                "sslmode" => match v.as_str() {
                    "disable" | "allow" | "prefer" => {}
                    _ => {
                        return Err(bad(format!(
                            "sslmode \"{v}\" is not supported: heliosdb shell connects without TLS"
                        )));
                    }
                },
                other => return Err(bad(format!("invalid connection option \"{other}\""))),
            }
        }
        if let Some(port) = port {
            p.port = port
                .parse()
                .map_err(|_| bad(format!("invalid port number: \"{port}\"")))?;
        }
        if p.host.starts_with('/') {
            return Err(bad(format!(
                "Unix-domain sockets are not supported (host \"{}\")",
                p.host
            )));
        }
        Ok(p)
    }
}

/// Whether psql right-aligns values of the type with this oid (integers,
/// floats, numeric, oid, money, xid, cid).
fn numeric_oid(oid: u32) -> bool {
    matches!(
        oid,
        20 | 21 | 23 | 26 | 28 | 29 | 700 | 701 | 790 | 1700 | 5069
    )
}

/// A connected session on a server.
pub struct Remote {
    stream: TcpStream,
    params: ConnParams,
    rbuf: BytesMut,
    wbuf: BytesMut,
    /// BackendKeyData: process id and secret for cancel requests.
    key: Option<(i32, i32)>,
    /// The connection failed; every further call reports that.
    broken: bool,
}

fn io_err(e: std::io::Error) -> ShellError {
    bad(format!("server closed the connection unexpectedly ({e})"))
}

fn error_fields(fields: &mut postgres_protocol::message::backend::ErrorFields) -> ShellError {
    let mut e = ShellError::new("XX000", "");
    while let Ok(Some(f)) = fields.next() {
        let v = String::from_utf8_lossy(f.value_bytes()).into_owned();
        match f.type_() {
            b'C' => e.code = v,
            b'M' => e.message = v,
            b'D' => e.detail = Some(v),
            b'H' => e.hint = Some(v),
            _ => {}
        }
    }
    e
}

/// psql's rendering of a notice: `NOTICE:  message` (plus DETAIL/HINT).
fn print_notice(fields: &mut postgres_protocol::message::backend::ErrorFields) {
    let mut severity = String::from("NOTICE");
    let mut lines = Vec::new();
    while let Ok(Some(f)) = fields.next() {
        let v = String::from_utf8_lossy(f.value_bytes()).into_owned();
        match f.type_() {
            b'S' => severity = v,
            b'M' => lines.insert(0, v),
            b'D' => lines.push(format!("DETAIL:  {v}")),
            b'H' => lines.push(format!("HINT:  {v}")),
            _ => {}
        }
    }
    let mut err = std::io::stderr().lock();
    for (i, l) in lines.iter().enumerate() {
        if i == 0 {
            let _ = writeln!(err, "{severity}:  {l}");
        } else {
            let _ = writeln!(err, "{l}");
        }
    }
}

impl Remote {
    /// Connects and authenticates.
    pub fn connect(params: ConnParams) -> ShellResult<Remote> {
        let addr = (params.host.as_str(), params.port);
        let connected = match params.connect_timeout {
            Some(t) => {
                use std::net::ToSocketAddrs;
                let mut last = None;
                let mut stream = None;
                for a in addr.to_socket_addrs().map_err(|e| {
                    bad(format!(
                        "could not translate host name \"{}\": {e}",
                        params.host
                    ))
                })? {
                    match TcpStream::connect_timeout(&a, t) {
                        Ok(s) => {
                            stream = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                stream.ok_or_else(|| last.unwrap_or_else(|| std::io::ErrorKind::NotFound.into()))
            }
            None => TcpStream::connect(addr),
        };
        let stream = connected.map_err(|e| {
            bad(format!(
                "connection to server at \"{}\", port {} failed: {e}",
                params.host, params.port
            ))
        })?;
        let _ = stream.set_nodelay(true);
        let mut r = Remote {
            stream,
            params,
            rbuf: BytesMut::with_capacity(64 * 1024),
            wbuf: BytesMut::new(),
            key: None,
            broken: false,
        };
        r.startup()?;
        Ok(r)
    }

    fn flush(&mut self) -> ShellResult<()> {
        let r = self.stream.write_all(&self.wbuf);
        self.wbuf.clear();
        r.map_err(|e| {
            self.broken = true;
            io_err(e)
        })
    }

    fn read(&mut self) -> ShellResult<Message> {
        loop {
            match Message::parse(&mut self.rbuf) {
                Ok(Some(m)) => return Ok(m),
                Ok(None) => {}
                Err(e) => {
                    self.broken = true;
                    return Err(bad(format!("invalid message from server: {e}")));
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).map_err(|e| {
                self.broken = true;
                io_err(e)
            })?;
            if n == 0 {
                self.broken = true;
                return Err(bad("server closed the connection unexpectedly"));
            }
            self.rbuf.extend_from_slice(&chunk[..n]);
        }
    }

    fn password(&self) -> ShellResult<&str> {
        self.params.password.as_deref().ok_or_else(|| {
            ShellError::new(
                "28P01",
                format!(
                    "password required for user \"{}\" (give it in the URL or PGPASSWORD)",
                    self.params.user
                ),
            )
        })
    }

    fn startup(&mut self) -> ShellResult<()> {
        let params = [
            ("user", self.params.user.as_str()),
            ("database", self.params.dbname.as_str()),
            ("application_name", self.params.application_name.as_str()),
            ("client_encoding", "UTF8"),
        ];
        frontend::startup_message(params.iter().copied(), &mut self.wbuf).map_err(io_err)?;
        self.flush()?;
        let mut scram: Option<ScramSha256> = None;
        loop {
            match self.read()? {
                Message::AuthenticationOk => {}
                Message::AuthenticationCleartextPassword => {
                    let pw = self.password()?.to_string();
                    frontend::password_message(pw.as_bytes(), &mut self.wbuf).map_err(io_err)?;
                    self.flush()?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let pw = self.password()?;
                    let hash = postgres_protocol::authentication::md5_hash(
                        self.params.user.as_bytes(),
                        pw.as_bytes(),
                        body.salt(),
                    );
                    frontend::password_message(hash.as_bytes(), &mut self.wbuf).map_err(io_err)?;
                    self.flush()?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut mechanisms = body.mechanisms();
                    let mut has_scram = false;
                    while let Ok(Some(m)) = mechanisms.next() {
                        has_scram |= m == SCRAM_SHA_256;
                    }
                    if !has_scram {
                        return Err(bad("the server offers no supported SASL mechanism"));
                    }
                    let pw = self.password()?;
                    let s = ScramSha256::new(pw.as_bytes(), ChannelBinding::unsupported());
                    frontend::sasl_initial_response(SCRAM_SHA_256, s.message(), &mut self.wbuf)
                        .map_err(io_err)?;
                    scram = Some(s);
                    self.flush()?;
                }
                Message::AuthenticationSaslContinue(body) => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| bad("unexpected SASL message from server"))?;
                    s.update(body.data())
                        .map_err(|e| bad(format!("SCRAM authentication failed: {e}")))?;
                    frontend::sasl_response(s.message(), &mut self.wbuf).map_err(io_err)?;
                    self.flush()?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| bad("unexpected SASL message from server"))?;
                    s.finish(body.data())
                        .map_err(|e| bad(format!("SCRAM authentication failed: {e}")))?;
                }
                Message::BackendKeyData(k) => self.key = Some((k.process_id(), k.secret_key())),
                Message::ParameterStatus(_) => {}
                Message::NoticeResponse(n) => print_notice(&mut n.fields()),
                Message::ErrorResponse(e) => {
                    let mut err = error_fields(&mut e.fields());
                    // The session never started: report it as a connection
                    // failure (exit status 2) but keep the server's SQLSTATE
                    // in the message.
                    err.message = format!(
                        "connection to server at \"{}\", port {} failed: {}",
                        self.params.host, self.params.port, err.message
                    );
                    self.broken = true;
                    return Err(ShellError {
                        code: "08006".into(),
                        detail: err.detail.or(Some(format!("SQLSTATE {}", err.code))),
                        ..err
                    });
                }
                Message::ReadyForQuery(_) => return Ok(()),
                _ => return Err(bad("unsupported authentication request from server")),
            }
        }
    }

    /// Reads results up to ReadyForQuery, or up to a CopyInResponse (the
    /// copy then continues with [`Backend::copy_data`]).
    fn results(&mut self, copy_out: &mut dyn Write) -> Vec<ShellResult<Outcome>> {
        let mut out = Vec::new();
        let mut table: Option<Table> = None;
        let mut copying_out = false;
        let mut write_failed: Option<ShellError> = None;
        loop {
            let m = match self.read() {
                Ok(m) => m,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            };
            match m {
                Message::RowDescription(body) => {
                    let mut columns = Vec::new();
                    let mut fields = body.fields();
                    while let Ok(Some(f)) = fields.next() {
                        columns.push(Column {
                            name: f.name().to_string(),
                            numeric: numeric_oid(f.type_oid()),
                        });
                    }
                    table = Some(Table {
                        columns,
                        rows: Vec::new(),
                    });
                }
                Message::DataRow(body) => {
                    let buf = body.buffer();
                    let mut row = Vec::new();
                    let mut ranges = body.ranges();
                    while let Ok(Some(r)) = ranges.next() {
                        row.push(r.map(|r| String::from_utf8_lossy(&buf[r]).into_owned()));
                    }
                    if let Some(t) = table.as_mut() {
                        t.rows.push(row);
                    }
                }
                Message::CommandComplete(body) => {
                    let tag = body.tag().unwrap_or("").to_string();
                    if let Some(e) = write_failed.take() {
                        out.push(Err(e));
                    } else {
                        out.push(Ok(Outcome {
                            tag,
                            table: table.take(),
                            copy_out: std::mem::take(&mut copying_out),
                            ..Outcome::default()
                        }));
                    }
                }
                Message::EmptyQueryResponse => {}
                Message::ErrorResponse(body) => out.push(Err(error_fields(&mut body.fields()))),
                Message::NoticeResponse(body) => print_notice(&mut body.fields()),
                Message::NotificationResponse(n) => {
                    eprintln!(
                        "Asynchronous notification \"{}\" received from server process with PID {}.",
                        n.channel().unwrap_or(""),
                        n.process_id()
                    );
                }
                Message::CopyInResponse(_) => {
                    out.push(Ok(Outcome {
                        tag: "COPY".into(),
                        copy_in: true,
                        ..Outcome::default()
                    }));
                    return out;
                }
                Message::CopyOutResponse(_) => copying_out = true,
                Message::CopyData(body) => {
                    if write_failed.is_none()
                        && let Err(e) = copy_out.write_all(body.data())
                    {
                        write_failed =
                            Some(ShellError::io(format!("could not write COPY data: {e}")));
                    }
                }
                Message::CopyDone | Message::ParameterStatus(_) => {}
                Message::ReadyForQuery(_) => return out,
                _ => {}
            }
        }
    }
}

impl Backend for Remote {
    fn execute(&mut self, sql: &str, copy_out: &mut dyn Write) -> Vec<ShellResult<Outcome>> {
        if self.broken {
            return vec![Err(bad("no connection to the server"))];
        }
        if let Err(e) = frontend::query(sql, &mut self.wbuf) {
            self.wbuf.clear();
            return vec![Err(ShellError::new("22021", e.to_string()))];
        }
        if let Err(e) = self.flush() {
            return vec![Err(e)];
        }
        self.results(copy_out)
    }

    fn copy_data(&mut self, data: &[u8]) -> ShellResult<()> {
        frontend::CopyData::new(data)
            .map_err(io_err)?
            .write(&mut self.wbuf);
        if self.wbuf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(())
    }

    fn copy_end(&mut self, failure: Option<&str>) -> Vec<ShellResult<Outcome>> {
        match failure {
            Some(msg) => {
                if let Err(e) = frontend::copy_fail(msg, &mut self.wbuf) {
                    return vec![Err(io_err(e))];
                }
            }
            None => frontend::copy_done(&mut self.wbuf),
        }
        if let Err(e) = self.flush() {
            return vec![Err(e)];
        }
        self.results(&mut std::io::sink())
    }

    fn canceller(&self) -> Canceller {
        let key = self.key;
        let (host, port) = (self.params.host.clone(), self.params.port);
        Box::new(move || {
            if let Some((pid, secret)) = key {
                let mut buf = BytesMut::new();
                frontend::cancel_request(pid, secret, &mut buf);
                if let Ok(mut s) = TcpStream::connect((host.as_str(), port)) {
                    let _ = s.write_all(&buf);
                }
            }
        })
    }

    fn location(&self) -> String {
        format!(
            "on host \"{}\" at port \"{}\"",
            self.params.host, self.params.port
        )
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if !self.broken {
            frontend::terminate(&mut self.wbuf);
            let _ = self.stream.write_all(&self.wbuf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_connection_strings() {
        let p = ConnParams::parse(
            "postgres://al%40ice:p%3Aw@db.example:6543/app?application_name=x&sslmode=disable",
        )
        .unwrap();
        assert_eq!(
            (
                p.host.as_str(),
                p.port,
                p.user.as_str(),
                p.password.as_deref(),
                p.dbname.as_str(),
                p.application_name.as_str()
            ),
            ("db.example", 6543, "al@ice", Some("p:w"), "app", "x")
        );
        let p = ConnParams::parse("postgresql://[::1]:7000/d").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.dbname.as_str()),
            ("::1", 7000, "d")
        );
        let p = ConnParams::parse("host=127.0.0.1 port=5555 user=bob dbname=heliosdb").unwrap();
        assert_eq!((p.port, p.user.as_str()), (5555, "bob"));
        assert!(ConnParams::parse("postgres://h/?sslmode=require").is_err());
        assert!(ConnParams::parse("postgres://h:notaport/").is_err());
        assert!(ConnParams::parse("postgres://h/?bogus=1").is_err());
        let e = ConnParams::parse("./data").unwrap_err();
        assert!(e.message.contains("--data-dir"), "{}", e.message);
    }
}
