//! Running the Python side of a workload.

use crate::harness::Sample;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Runs `python/<script>.py` with `args`; the script prints `RESULT <seconds> <operations>`.
/// Returns the seconds per operation.
pub(crate) fn run(script: &str, args: &[String]) -> Result<Duration, String> {
    sample(script, args).map(|s| s.per_op)
}

/// As [`run`], also reading the operations' times if the script printed them, as
/// `LATENCIES <batch> <seconds>...`: the seconds of each batch of `batch` operations.
pub(crate) fn sample(script: &str, args: &[String]) -> Result<Sample, String> {
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
    let mut sample = Sample::from(Duration::from_secs_f64(seconds / ops));
    if let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("LATENCIES ")) {
        let mut parts = line.split_whitespace();
        let batch: u32 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|&b| b > 0)
            .ok_or("bad LATENCIES batch")?;
        sample.ops = parts
            .map(|s| {
                s.parse::<f64>()
                    .map(|secs| Duration::from_secs_f64(secs / f64::from(batch)))
                    .map_err(|_| format!("bad LATENCIES time {s}"))
            })
            .collect::<Result<_, _>>()?;
        sample.batch = batch;
    }
    Ok(sample)
}
