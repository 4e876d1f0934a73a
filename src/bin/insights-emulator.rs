// The `insights-emulator` command: runs the emulator on a fixed port with the real-time clock until Ctrl-C,
// printing where everything is. Arguments are parsed by hand: a few flags do not justify a parser dependency.

//! Runs the Partner Center Insights emulator.
//!
//! ```text
//! insights-emulator [--port 10100] [--seed-data seed.json] [--casing camel|pascal] [--file-rows N]
//!                   [--queued-secs 1] [--running-secs 2] [--min-start-lead-secs 0] [--page-size N]
//! ```
//!
//! The seed file format is documented on `partner_center_insights::emulator::Seed`.

use std::process::ExitCode;
use std::time::Duration;

use partner_center_insights::Program;
use partner_center_insights::emulator::{
    Casing, Clock, DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_PASSWORD, DEV_TOKEN, DEV_USERNAME, Emulator, ExecutionTiming,
    Seed,
};

const USAGE: &str = "\
Usage: insights-emulator [options]

Options:
  --port <port>                 port on 127.0.0.1 (default 10100; 0 picks a free one)
  --seed-data <file.json>       queries and reports to create at start (format: see the Seed docs)
  --casing <camel|pascal>       response key casing (default camel, like the service)
  --file-rows <n>               data rows per generated report file (default 100)
  --queued-secs <n>             seconds an execution stays Pending (default 1)
  --running-secs <n>            seconds an execution stays Running (default 2)
  --min-start-lead-secs <n>     how far ahead StartTime must be (default 0: not in the past)
  --page-size <n>               answer lists in pages of n items, linked by nextLink (default: one page)
  -h, --help                    this help";

struct Options {
    port: u16,
    seed: Option<String>,
    casing: Casing,
    file_rows: Option<u64>,
    queued: u64,
    running: u64,
    min_start_lead: u64,
    page_size: u64,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        port: 10100,
        seed: None,
        casing: Casing::Camel,
        file_rows: None,
        queued: 1,
        running: 2,
        min_start_lead: 0,
        page_size: 0,
    };
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |text: String| text.parse::<u64>().map_err(|_| format!("{flag}: `{text}` is not a number"));
        match flag.as_str() {
            "--port" => {
                let text = value()?;
                options.port = text.parse().map_err(|_| format!("--port: `{text}` is not a port"))?;
            }
            "--seed-data" => options.seed = Some(value()?),
            "--casing" => {
                options.casing = match value()?.to_ascii_lowercase().as_str() {
                    "camel" => Casing::Camel,
                    "pascal" => Casing::Pascal,
                    other => return Err(format!("--casing: `{other}` is not camel or pascal")),
                }
            }
            "--file-rows" => options.file_rows = Some(number(value()?)?),
            "--queued-secs" => options.queued = number(value()?)?,
            "--running-secs" => options.running = number(value()?)?,
            "--min-start-lead-secs" => options.min_start_lead = number(value()?)?,
            "--page-size" => options.page_size = number(value()?)?,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(Some(options))
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let mut builder = Emulator::builder()
        .port(options.port)
        .casing(options.casing)
        .clock(Clock::real_time())
        .execution_timing(ExecutionTiming::new(
            Duration::from_secs(options.queued),
            Duration::from_secs(options.running),
        ))
        .min_start_lead(Duration::from_secs(options.min_start_lead))
        .page_size(usize::try_from(options.page_size).unwrap_or(usize::MAX));
    if let Some(path) = &options.seed {
        match Seed::from_file(path) {
            Ok(seed) => builder = builder.seed(seed),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(rows) = options.file_rows {
        builder = builder.file_rows(rows);
    }
    let emulator = match builder.start().await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };

    println!("Partner Center Insights emulator listening on {}", emulator.origin());
    println!("  partner insights (MPN):    {}", emulator.base_url(Program::Partner));
    println!("  commercial marketplace:    {}", emulator.base_url(Program::Marketplace));
    println!("  token endpoint (v1):       {}", emulator.token_url());
    println!("  token endpoint (v2):       {}", emulator.token_url_v2());
    println!("  dev bearer token:          {DEV_TOKEN}");
    println!("  dev app:                   {DEV_CLIENT_ID} / {DEV_CLIENT_SECRET}");
    println!("  dev user:                  {DEV_USERNAME} / {DEV_PASSWORD}");
    println!("  admin:                     {}/_emulator/faults, /_emulator/clock/advance", emulator.origin());
    println!("Press Ctrl-C to stop.");

    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot listen for Ctrl-C: {e}");
    }
    emulator.shutdown().await;
    ExitCode::SUCCESS
}
