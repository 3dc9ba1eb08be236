//! The `heliosdb` command line.

use clap::{Parser, Subcommand};
use heliosdb_nano::Database;
use heliosdb_nano::shell::{self, Format};
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
    /// Run SQL against a data directory (or an in-memory database).
    Shell {
        /// Data directory (created if missing).
        #[arg(long, default_value = "./heliosdb-data", conflicts_with = "memory")]
        data_dir: PathBuf,
        /// Use a fresh in-memory database instead of a data directory.
        #[arg(long)]
        memory: bool,
        /// Run this SQL and exit.
        #[arg(short = 'c', long = "command")]
        command: Option<String>,
        /// Print results as CSV (header line plus rows).
        #[arg(long)]
        csv: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Shell {
            data_dir,
            memory,
            command,
            csv,
        } => {
            let db = if memory {
                Database::open_in_memory()
            } else {
                Database::open(&data_dir)
            };
            match db {
                Ok(db) => {
                    let mut session = db.connect();
                    let format = if csv { Format::Csv } else { Format::Aligned };
                    let code = shell::main(&mut session, command, format);
                    drop(session);
                    if let Err(e) = db.sync() {
                        let _ = shell::print_error(&mut std::io::stderr(), &e);
                    }
                    code
                }
                Err(e) => {
                    let _ = shell::print_error(&mut std::io::stderr(), &e);
                    1
                }
            }
        }
    };
    std::process::exit(code);
}
