//! The interactive prompt: rustyline line editing, history kept in
//! `~/.heliosdb_history` (or `$HELIOSDB_HISTORY`), psql's prompts, and
//! Ctrl-C that clears the current input at the prompt and cancels the
//! running statement otherwise.

use super::backend::Backend;
use super::{Flow, Format, Input, LineSource, Shell};
use rustyline::error::ReadlineError;
use rustyline::{Config, DefaultEditor};
use std::path::PathBuf;

/// Where history is kept: `$HELIOSDB_HISTORY`, else `~/.heliosdb_history`.
fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HELIOSDB_HISTORY").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".heliosdb_history"))
}

struct Editor {
    rl: DefaultEditor,
}

impl LineSource for Editor {
    fn read_line(&mut self, prompt: &str) -> Input {
        match self.rl.readline(prompt) {
            Ok(line) => Input::Line(line),
            Err(ReadlineError::Interrupted) => Input::Interrupted,
            Err(_) => Input::Eof,
        }
    }

    fn remember(&mut self, entry: &str) {
        let _ = self.rl.add_history_entry(entry);
    }
}

/// While the shell runs a statement, SIGINT cancels it (as psql does)
/// instead of killing the shell; at the prompt the terminal is in raw mode
/// and rustyline reads Ctrl-C as a key. The handler lives for the process.
#[cfg(unix)]
fn cancel_on_ctrl_c(cancel: super::backend::Canceller) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    else {
        return;
    };
    // Installed here, before the first statement can run.
    let Ok(mut sigint) = rt.block_on(async { signal(SignalKind::interrupt()) }) else {
        return;
    };
    std::thread::spawn(move || {
        rt.block_on(async move {
            while sigint.recv().await.is_some() {
                super::migrate::note_interrupt();
                cancel();
            }
        })
    });
}

#[cfg(not(unix))]
fn cancel_on_ctrl_c(_cancel: super::backend::Canceller) {}

/// Runs the prompt until `\q` or Ctrl-D; returns the exit status.
pub(super) fn run(backend: &mut dyn Backend, format: Format) -> i32 {
    println!(
        "HeliosDB Nano {} shell. Type \\? for help, \\q to quit; end statements with ';'.",
        crate::VERSION
    );
    let config = Config::builder()
        .max_history_size(2000)
        .and_then(|b| b.history_ignore_dups(true))
        .map(|b| b.auto_add_history(false).build());
    let rl = config.and_then(DefaultEditor::with_config);
    let mut rl = match rl {
        Ok(rl) => rl,
        Err(e) => {
            eprintln!("cannot start the line editor ({e}); reading plain lines");
            let mut shell = Shell::new(backend, format, true);
            let mut src = super::Script::new(std::io::stdin().lock());
            return match shell.run(&mut src) {
                Flow::Failed(c) => c,
                _ => 0,
            };
        }
    };
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    cancel_on_ctrl_c(backend.canceller());
    let mut editor = Editor { rl };
    let mut shell = Shell::new(backend, format, true);
    let flow = shell.run(&mut editor);
    if let Some(h) = &history
        && let Err(e) = editor.rl.save_history(h)
    {
        eprintln!("could not save history to {}: {e}", h.display());
    }
    match flow {
        Flow::Done => {
            println!("\\q");
            0
        }
        Flow::Quit => 0,
        Flow::Failed(c) => c,
    }
}
