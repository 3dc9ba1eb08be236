//! The `heliosdb` command line.

use clap::{Parser, Subcommand};
use heliosdb_nano::Database;
use heliosdb_nano::cdc::tail::{self, Source, TailOptions};
use heliosdb_nano::server::{ServerConfig, TlsFiles};
use heliosdb_nano::shell::migrate::{self, Action, MigrateOptions};
use heliosdb_nano::shell::{self, ConnParams, Embedded, Format, Remote};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "HeliosDB Nano", bin_name = "heliosdb", version = heliosdb_nano::VERSION)]
#[command(about = "A PostgreSQL-compatible SQL database with tenant isolation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run SQL interactively or from a script, against a data directory,
    /// an in-memory database, or a server (`postgres://` URL).
    Shell {
        /// Connect to a running server: `postgres://user[:password]@host[:port]/dbname`
        /// (or a `host=... port=...` connection string).
        #[arg(value_name = "URL", conflicts_with_all = ["data_dir", "memory", "url_flag"])]
        url: Option<String>,
        /// Same as the positional URL.
        #[arg(long = "url", value_name = "URL", conflicts_with_all = ["data_dir", "memory"])]
        url_flag: Option<String>,
        /// Data directory (created if missing) [default: ./heliosdb-data].
        #[arg(long, conflicts_with = "memory")]
        data_dir: Option<PathBuf>,
        /// Use a fresh in-memory database instead of a data directory.
        #[arg(long)]
        memory: bool,
        /// Run this (SQL and backslash commands) and exit.
        #[arg(short = 'c', long = "command")]
        command: Option<String>,
        /// Run the commands in this file and exit.
        #[arg(short = 'f', long = "file", conflicts_with = "command")]
        file: Option<PathBuf>,
        /// Print results as CSV (header line plus rows).
        #[arg(long)]
        csv: bool,
    },
    /// Serve the PostgreSQL wire protocol on a data directory.
    Serve {
        /// Data directory (created if missing).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address and port to listen on [default: 127.0.0.1:5432].
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Configuration file (postgresql.conf syntax): listen, max_connections,
        /// tls_cert, tls_key, tls_required, data_dir, and defaults for session settings.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Refuse connections beyond this many (53300) [default: 100].
        #[arg(long)]
        max_connections: Option<usize>,
        /// TLS certificate chain (PEM); with --tls-key enables sslmode=require.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// TLS private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Refuse connections without TLS (28000), like a hostssl-only pg_hba.conf.
        #[arg(long)]
        tls_required: bool,
        /// Serve tenants' quota figures as Prometheus text at http://ADDR:PORT/metrics.
        #[arg(long, value_name = "ADDR:PORT")]
        metrics: Option<std::net::SocketAddr>,
    },
    /// Change data capture: read the change log.
    Cdc {
        #[command(subcommand)]
        command: CdcCommand,
    },
    /// Move a tenant's rows to another tenant online (helios.start_migration)
    /// and show the progress until it completes; or follow, pause, resume or
    /// roll back a migration.
    #[command(group(
        clap::ArgGroup::new("action")
            .required(true)
            .args(["source", "follow", "pause", "resume", "rollback"])
    ))]
    Migrate {
        /// A running server: `postgres://user[:password]@host[:port]/dbname`
        /// (or a `host=... port=...` connection string).
        #[arg(value_name = "URL", required_unless_present = "data_dir")]
        url: Option<String>,
        /// A data directory, opened here (not one a server has open); the
        /// migration runs only while it is open.
        #[arg(long, conflicts_with = "url")]
        data_dir: Option<PathBuf>,
        /// Start a migration of this tenant.
        #[arg(long, value_name = "NAME", requires = "target")]
        source: Option<String>,
        /// The tenant to copy to (created if missing; it must have no rows).
        #[arg(long, value_name = "NAME", requires = "source")]
        target: Option<String>,
        /// When the copy is verified, give the target the source's name,
        /// tier, limits and roles (the source is renamed NAME_premigration_ID).
        #[arg(long, requires = "source")]
        cutover: bool,
        /// Start (or resume) the migration and exit instead of following it.
        #[arg(long, conflicts_with_all = ["follow", "pause", "rollback"])]
        no_wait: bool,
        /// Follow this migration until it is over.
        #[arg(long, value_name = "ID", value_parser = migration_id())]
        follow: Option<u64>,
        /// Pause this migration.
        #[arg(long, value_name = "ID", value_parser = migration_id())]
        pause: Option<u64>,
        /// Resume this migration (a failed one starts over), then follow it.
        #[arg(long, value_name = "ID", value_parser = migration_id())]
        resume: Option<u64>,
        /// Roll this migration back: the target's copied rows are removed
        /// (and the target, if the migration created it).
        #[arg(long, value_name = "ID", value_parser = migration_id())]
        rollback: Option<u64>,
    },
}

fn migration_id() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..=i64::MAX as u64)
}

#[derive(Subcommand)]
enum CdcCommand {
    /// Print each change as a JSON line (Debezium-style envelope), from a
    /// data directory or a server (`postgres://` URL).
    Tail {
        /// A running server: `postgres://user[:password]@host[:port]/dbname`
        /// (or a `host=... port=...` connection string).
        #[arg(value_name = "URL", required_unless_present = "data_dir")]
        url: Option<String>,
        /// A data directory, opened here (not one a server has open).
        #[arg(long, conflicts_with = "url")]
        data_dir: Option<PathBuf>,
        /// Only this tenant's changes (name or id).
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        /// Print the changes after this LSN [default: the consumer's
        /// acknowledged LSN, or 0: the oldest retained].
        #[arg(long, value_name = "LSN", value_parser = clap::value_parser!(u64).range(..=i64::MAX as u64))]
        from: Option<u64>,
        /// Keep waiting for new commits (until SIGINT or SIGTERM).
        #[arg(long)]
        follow: bool,
        /// Only this table (`name` or `schema.name`); repeatable.
        #[arg(long = "table", value_name = "TABLE")]
        tables: Vec<String>,
        /// Print schema changes too (op "ddl").
        #[arg(long)]
        ddl: bool,
        /// Start after this consumer's acknowledged LSN and acknowledge each
        /// printed batch (helios.consumer_ack), so a restart resumes.
        #[arg(long, value_name = "NAME")]
        consumer: Option<String>,
    },
}

fn serve(
    data_dir: Option<PathBuf>,
    listen: Option<std::net::SocketAddr>,
    config_file: Option<PathBuf>,
    max_connections: Option<usize>,
    tls: Option<(PathBuf, PathBuf)>,
    tls_required: bool,
    metrics: Option<std::net::SocketAddr>,
) -> heliosdb_nano::Result<()> {
    let mut config = ServerConfig::default();
    let mut dir = None;
    if let Some(path) = &config_file {
        dir = config.apply_file(path)?;
    }
    // Command-line values win over the file.
    if let Some(d) = data_dir {
        dir = Some(d);
    }
    if let Some(l) = listen {
        config.listen = l;
    }
    if let Some(m) = max_connections {
        config.max_connections = m;
    }
    if let Some((cert, key)) = tls {
        config.tls = Some(TlsFiles { cert, key });
    }
    if tls_required {
        config.tls_required = true;
    }
    if metrics.is_some() {
        config.metrics = metrics;
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from("./heliosdb-data"));
    let db = Database::open(&dir)?;
    tracing::info!("data directory {}", dir.display());
    heliosdb_nano::server::serve(db, config)
}

fn embedded_shell(data_dir: Option<PathBuf>, memory: bool, opts: shell::Options) -> i32 {
    let data_dir = data_dir.unwrap_or_else(|| PathBuf::from("./heliosdb-data"));
    let (db, location) = if memory {
        (Database::open_in_memory(), "in memory".to_string())
    } else {
        (
            Database::open(&data_dir),
            format!("in the data directory \"{}\"", data_dir.display()),
        )
    };
    let db = match db {
        Ok(db) => db,
        Err(e) => {
            let _ = shell::print_error(&mut std::io::stderr(), &e);
            return 1;
        }
    };
    let mut session = db.connect();
    let code = shell::main(&mut Embedded::new(&mut session, location), opts);
    drop(session);
    if let Err(e) = db.sync() {
        let _ = shell::print_error(&mut std::io::stderr(), &e);
    }
    code
}

fn remote_shell(url: &str, opts: shell::Options) -> i32 {
    let connected = ConnParams::parse(url).and_then(Remote::connect);
    match connected {
        Ok(mut remote) => shell::main(&mut remote, opts),
        Err(e) => {
            eprintln!("heliosdb shell: error: {}", e.message);
            if let Some(d) = &e.detail {
                eprintln!("DETAIL: {d}");
            }
            2
        }
    }
}

fn cdc_tail(opts: TailOptions) -> i32 {
    let stop = tail::stop_on_signals();
    let stdout = std::io::stdout();
    match tail::run(&opts, &mut stdout.lock(), &stop) {
        Ok(()) => 0,
        Err(e) => {
            let _ = tail::print_error(&mut std::io::stderr(), &e);
            1
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Serve {
            data_dir,
            listen,
            config,
            max_connections,
            tls_cert,
            tls_key,
            tls_required,
            metrics,
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("HELIOSDB_LOG")
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .init();
            match serve(
                data_dir,
                listen,
                config,
                max_connections,
                tls_cert.zip(tls_key),
                tls_required,
                metrics,
            ) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = shell::print_error(&mut std::io::stderr(), &e);
                    1
                }
            }
        }
        Command::Shell {
            url,
            url_flag,
            data_dir,
            memory,
            command,
            file,
            csv,
        } => {
            let opts = shell::Options {
                format: if csv { Format::Csv } else { Format::Aligned },
                command,
                file,
            };
            match url.or(url_flag) {
                Some(url) => remote_shell(&url, opts),
                None => embedded_shell(data_dir, memory, opts),
            }
        }
        Command::Cdc {
            command:
                CdcCommand::Tail {
                    url,
                    data_dir,
                    tenant,
                    from,
                    follow,
                    tables,
                    ddl,
                    consumer,
                },
        } => cdc_tail(TailOptions {
            source: match (data_dir, url) {
                (Some(dir), _) => Source::DataDir(dir),
                (None, url) => Source::Url(url.unwrap_or_default()),
            },
            tenant,
            from,
            follow,
            tables,
            ddl,
            consumer,
        }),
        Command::Migrate {
            url,
            data_dir,
            source,
            target,
            cutover,
            no_wait,
            follow,
            pause,
            resume,
            rollback,
        } => {
            let action = match (source, target, follow, pause, resume, rollback) {
                (Some(source), Some(target), ..) => Action::Start {
                    source,
                    target,
                    cutover,
                },
                (_, _, Some(id), ..) => Action::Follow(id),
                (_, _, _, Some(id), ..) => Action::Pause(id),
                (_, _, _, _, Some(id), _) => Action::Resume(id),
                (.., Some(id)) => Action::Rollback(id),
                // clap requires one of them.
                _ => unreachable!("no migration action"),
            };
            let stop = tail::stop_on_signals();
            migrate::run(
                &MigrateOptions {
                    source: match (data_dir, url) {
                        (Some(dir), _) => Source::DataDir(dir),
                        (None, url) => Source::Url(url.unwrap_or_default()),
                    },
                    action,
                    wait: !no_wait,
                },
                &stop,
            )
        }
    };
    std::process::exit(code);
}
