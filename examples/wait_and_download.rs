// Workflow: run a report once, wait for its execution with visible progress, and stream the file to disk.
//
//     cargo run --example wait_and_download
//
// Runs against the embedded emulator; point `Client::builder` at a `Program` with real credentials to use the
// service (see the quickstart).

use std::time::Duration;

use partner_center_insights::emulator::{Clock, DEV_TOKEN, Emulator, ExecutionTiming};
use partner_center_insights::{Client, Program, SingleItem, WaitProgress};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::builder()
        .clock(Clock::real_time())
        .execution_timing(ExecutionTiming::demo())
        .file_rows(50_000)
        .start()
        .await?;
    let client = Client::builder(emulator.base_url(Program::Marketplace)).bearer_token(DEV_TOKEN).build()?;

    // A system query (every program has some) run once, right away.
    let queries = client.get_queries().include_only_system_queries(true).send().await?;
    let query = queries.value.first().ok_or("the service lists no system query")?;
    println!("running system query {} ({})", query.name.as_deref().unwrap_or("?"), query.query_id);
    let report = client
        .create_report()
        .body_map(|r| r.report_name("wait-and-download").query_id(&query.query_id).execute_now(true))
        .send()
        .await?
        .into_single()?;

    let execution = client
        .wait_for_execution(&report.report_id)
        .poll_interval(Duration::from_millis(500))
        .timeout(Duration::from_secs(60))
        .on_progress(|progress| match progress {
            WaitProgress::Execution { status, .. } => println!("  execution is {status}"),
            _ => println!("  no execution yet"),
        })
        .await?;

    let path = std::env::temp_dir().join("wait-and-download.csv");
    let mut shown_mib = 0;
    let done = client
        .download_execution_to_file(&execution, &path, |p| {
            if p.bytes >> 20 > shown_mib {
                shown_mib = p.bytes >> 20;
                println!("  downloaded {shown_mib} MiB");
            }
        })
        .await?;
    println!("{} bytes ({}) in {}", done.bytes, done.content_type.as_deref().unwrap_or("?"), path.display());
    std::fs::remove_file(path)?;
    emulator.shutdown().await;
    Ok(())
}
