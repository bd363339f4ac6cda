//! Measuring each size in a fresh process, under a hard deadline.

use super::{Row, Scale};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Every size of `scale`, procvisor and Python in turn (which goes first alternates, so machine
/// noise hits both alike).
pub(super) fn sizes(scale: &Scale, smoke: bool) -> Vec<Row> {
    let sizes = if smoke {
        scale.smoke_sizes
    } else {
        scale.sizes
    };
    let mut rows = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let deadline = (scale.deadline)(size);
        let procvisor = || measured(ours(scale, size, smoke), deadline);
        let python = |script: &str| measured(python(script, size, smoke), deadline);
        let (procvisor, python) = if i % 2 == 0 {
            let p = procvisor();
            (p, scale.python.map(python))
        } else {
            let y = scale.python.map(python);
            (procvisor(), y)
        };
        for (side, result) in [("procvisor", Some(&procvisor)), ("python", python.as_ref())] {
            if let Some(Err(e)) = result {
                eprintln!("{} {size} ({side}): FAILED: {e}", scale.name);
            }
        }
        eprintln!("{}: {} {size} done", scale.name, scale.size);
        rows.push(Row {
            size,
            procvisor,
            python,
        });
    }
    rows
}

/// This binary, measuring one size of `scale`.
fn ours(scale: &Scale, size: u64, smoke: bool) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| "procvisor-bench".into());
    let mut command = Command::new(exe);
    command
        .args(["--scale", "--measure", scale.name])
        .arg(size.to_string());
    if smoke {
        command.arg("--smoke");
    }
    command
}

/// `python3 python/<script>.py SIZE [--smoke]`.
fn python(script: &str, size: u64, smoke: bool) -> Command {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(format!("{script}.py"));
    let mut command = Command::new("python3");
    command.arg(path).arg(size.to_string());
    if smoke {
        command.arg("--smoke");
    }
    command
}

/// Runs `command` in a process group of its own and reads its `MEASURE key value` lines; at
/// `deadline` the whole group (with every process it started) is killed and the size failed.
fn measured(mut command: Command, deadline: Duration) -> Result<BTreeMap<String, f64>, String> {
    command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {command:?}: {e}"))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(status);
        }
        if start.elapsed() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Whatever the end, nothing the size started outlives it (a pool's workers, a forkserver).
    // SAFETY: killpg(2) with a process group id and a signal number has no memory effects.
    unsafe { libc::killpg(child.id() as i32, libc::SIGKILL) };
    let status = match status {
        Some(status) => status,
        None => {
            let _ = child.wait();
            return Err(format!(
                "stuck: no result within {} s (killed)",
                deadline.as_secs()
            ));
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!("exited with {status}: {}", tail.join(" | ")));
    }
    let values: BTreeMap<String, f64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("MEASURE "))
        .filter_map(|l| {
            let (key, value) = l.split_once(' ')?;
            Some((key.to_string(), value.trim().parse().ok()?))
        })
        .collect();
    if values.is_empty() {
        return Err(format!("printed no MEASURE line: {stdout}"));
    }
    Ok(values)
}

/// The `--scale --measure NAME SIZE` child: measures and prints `MEASURE key value` lines.
pub(super) fn child(scale: &Scale, size: u64, smoke: bool) -> ExitCode {
    match (scale.measure)(size, smoke) {
        Ok(values) => {
            let mut out = std::io::stdout().lock();
            for (key, value) in values {
                let _ = writeln!(out, "MEASURE {key} {value}");
            }
            let _ = out.flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{} at {size}: {e}", scale.name);
            ExitCode::FAILURE
        }
    }
}
