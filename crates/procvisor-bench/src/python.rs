//! Running the Python side of a workload.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Runs `python/<script>.py` with `args`; the script prints `RESULT <seconds> <operations>`.
/// Returns the seconds per operation.
pub(crate) fn run(script: &str, args: &[String]) -> Result<Duration, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(format!("{script}.py"));
    let output = Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run python3 {}: {e}", path.display()))?;
    if !output.status.success() {
        return Err(format!(
            "python3 {script}.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| format!("python3 {script}.py printed no RESULT line: {stdout}"))?;
    let mut parts = line.split_whitespace();
    let seconds: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or("bad RESULT seconds")?;
    let ops: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or("bad RESULT operations")?;
    Ok(Duration::from_secs_f64(seconds / ops))
}
