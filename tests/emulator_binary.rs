// The `insights-emulator` command as a user runs it: its help, its flag errors, and a run on the real-time clock
// that a client completes against (the in-process emulator tests use the manual clock, which this path does not).

#![cfg(feature = "emulator")]

mod emulator_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use emulator_support::{create_query, execute_now};
use partner_center_insights::emulator::DEV_TOKEN;
use partner_center_insights::{Client, ExecutionStatus, Program};

const EMULATOR: &str = env!("CARGO_BIN_EXE_insights-emulator");

#[test]
fn help_is_printed_and_bad_flags_are_refused_with_the_usage() {
    let help = Command::new(EMULATOR).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("Usage: insights-emulator [options]"));

    for (args, reason) in [
        (&["--port", "70000"][..], "--port: `70000` is not a port"),
        (&["--casing", "kebab"], "--casing: `kebab` is not camel or pascal"),
        (&["--file-rows"], "--file-rows needs a value"),
        (&["--queued-secs", "-1"], "--queued-secs: `-1` is not a number"),
        (&["--page-size", "two"], "--page-size: `two` is not a number"),
        (&["--port", "0", "--verbose"], "unknown option `--verbose`"),
    ] {
        let refused = Command::new(EMULATOR).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with(&format!("error: {reason}\n")) && stderr.contains("Usage:"), "{stderr}");
    }

    let missing = Command::new(EMULATOR).args(["--port", "0", "--seed-data", "no-such-seed.json"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains("no-such-seed.json"), "{stderr}");
}

/// The running command, stopped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_report_run_once_completes_on_the_real_time_clock() {
    let child = Command::new(EMULATOR)
        .args(["--port", "0", "--queued-secs", "0", "--running-secs", "5", "--file-rows", "5", "--casing", "pascal"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    // What it prints on start, up to the last line (the base URLs among it).
    let mut base_url = None;
    for line in BufReader::new(running.0.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("  partner insights (MPN):") {
            base_url = Some(url.trim().to_owned());
        }
        if line == "Press Ctrl-C to stop." {
            break;
        }
    }
    let base_url = base_url.expect("the partner insights base URL is printed");
    assert!(base_url.starts_with("http://127.0.0.1:") && base_url.ends_with("/insights/v1/mpn"), "{base_url}");

    let client = Client::builder(base_url).bearer_token(DEV_TOKEN).build().unwrap();
    let query = create_query(&client, Program::Partner).await;
    let report = execute_now(&client, &query, "on the real clock").await;
    // Queued 0 s, running 5 s (from the start of the second it was created in): not done yet (no execution at all
    // until the clock's next tick, then running), done four or five seconds later with nobody advancing the clock.
    // (Four seconds of slack, for a loaded machine.)
    let early = client.get_report_executions().report_id(&report).send().await;
    let completed =
        |e: &partner_center_insights::types::Execution| e.execution_status == Some(ExecutionStatus::Completed);
    assert!(!early.is_ok_and(|answer| answer.value.iter().any(completed)), "done at once");
    let execution = client
        .wait_for_execution(&report)
        .poll_interval(Duration::from_millis(200))
        .timeout(Duration::from_secs(60))
        .await
        .expect("the run completes");
    assert_eq!(execution.execution_status, Some(ExecutionStatus::Completed));
    let mut file = Vec::new();
    let download = client.download_execution(&execution, &mut file, |_| {}).await.unwrap();
    let text = String::from_utf8(file).unwrap();
    assert_eq!((download.bytes as usize, text.lines().count()), (text.len(), 1 + 5), "a header and 5 rows:\n{text}");
}
