//! Where the command's words go, in one place. The rules:
//!
//! * **Results** (tables, JSON a script reads) go to stdout through [`print`]: one
//!   locked write, so a closed pipe (`ulm eval … | head -1`) ends the command quietly
//!   with exit 0 instead of a panic.
//! * **One summary line** per command (what was read, what was written) goes to stderr
//!   through [`Context::summary`](crate::cmd::Context::summary); `-q` silences it.
//!   Details (timings, per-block numbers) go to `tracing::info!`, shown with `-v`.
//! * **The run config** (the options in effect, as the library's validated config) is
//!   written beside the outputs by [`write_run_config`].
//! * **Exit codes**: 0 success (and a closed stdout pipe), 1 a failure the user can fix
//!   (bad input, bad option — every ordinary error), 2 an internal error: a panic, or an
//!   error made with [`internal`].

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Writes `text` to stdout in one locked write and flushes it.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Writes one line to stderr (ignoring a closed stderr: there is nowhere left to say it).
pub fn eprint_line(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// The command-line name of a `clap::ValueEnum` choice (e.g. `no-shift`), as written
/// into configs and echoed commands.
pub fn choice_name<T: clap::ValueEnum>(v: &T) -> String {
    v.to_possible_value().map(|p| p.get_name().to_string()).unwrap_or_default()
}

/// `<out stem>.config.json` beside the output file `out`.
pub fn config_path(out: &Path) -> PathBuf {
    let stem = out.file_stem().map_or_else(|| "out".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}.config.json"))
}

/// Writes the run config of `command` to `path` (pretty JSON, atomically): `command`
/// and the ulm `version` first, then the keys of `body` (an object).
pub fn write_run_config(path: &Path, command: &str, body: serde_json::Value) -> anyhow::Result<()> {
    let mut v = serde_json::Map::new();
    v.insert("command".into(), command.into());
    v.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    match body {
        serde_json::Value::Object(m) => v.extend(m),
        other => {
            v.insert("config".into(), other);
        }
    }
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(v))? + "\n";
    ulm_io::atomic_write_bytes(path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

/// An error that is ulm's fault, not the user's (exit code 2).
#[derive(Debug)]
pub struct Internal(pub String);

impl std::fmt::Display for Internal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "internal error: {} (this is a bug; please report it with the command line)", self.0)
    }
}

impl std::error::Error for Internal {}

/// An internal error (exit code 2) with message `msg`.
pub fn internal(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Internal(msg.into()))
}

/// The exit code for an error: 0 for a closed stdout pipe, 2 for an internal error, 1
/// for everything else.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.is::<Internal>()) {
        2
    } else if e
        .chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    {
        0
    } else {
        1
    }
}

/// The message of `e` with its causes, `outer: cause: …`, leaving out a cause whose text
/// the message already holds (library errors often write `path: {source}` and also expose
/// the source, which `{:#}` would print twice).
pub fn error_message(e: &anyhow::Error) -> String {
    ulm_core::chain_message(e.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_names_each_cause_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = anyhow::Error::new(ulm_io::Error::io(std::path::Path::new("locs.csv"), io)).context("reading tracks");
        let text = error_message(&e);
        assert_eq!(text.matches("entity not found").count(), 1, "{text}");
        assert!(text.starts_with("reading tracks: locs.csv: "), "{text}");
        // Distinct causes are all kept.
        let e = anyhow::anyhow!("bad value 3").context("meta.json").context("reading meta");
        assert_eq!(error_message(&e), "reading meta: meta.json: bad value 3");
    }

    #[test]
    fn exit_codes_follow_the_rules() {
        let user = anyhow::anyhow!("bad option").context("reading x");
        assert_eq!(exit_code(&user), 1);
        let bug = internal("simulator returned real frames").context("writing outputs");
        assert_eq!(exit_code(&bug), 2);
        let pipe = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe)).context("printing");
        assert_eq!(exit_code(&pipe), 0);
        assert_eq!(config_path(Path::new("a/locs.csv")), Path::new("a/locs.config.json"));
    }
}
