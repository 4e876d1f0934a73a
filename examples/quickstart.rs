// The README's main job: create a query and a scheduled report, pause it, resume it, run it once, wait for the
// execution, download the file, and print what happened. Against the embedded emulator unless credentials are set.
//
//     cargo run --example quickstart
//
// With credentials it runs against the real service (see `Target::from_environment`). It creates one query and
// two reports (a scheduled one and a run-once one, which counts against the 5-per-hour ExecuteNow quota) and
// deletes all three at the end, also when a step in between fails.

use std::io::Write;
use std::time::{Duration, Instant};

use partner_center_insights::emulator::{Clock, DEV_TOKEN, Emulator, ExecutionTiming};
use partner_center_insights::{
    Client, ClientCredentials, Error, Program, RecurrenceInterval, RefreshTokenCredential, ReportStatus, SingleItem,
    Timestamp, WaitProgress,
};

/// Where the job runs.
enum Target {
    Emulator(Emulator),
    Service { program: Program, client: Client },
}

impl Target {
    /// The real service when `PARTNER_CENTER_CLIENT_ID` is set: `PARTNER_CENTER_PROGRAM` is `marketplace` (default;
    /// app-only, with `PARTNER_CENTER_TENANT_ID` and `PARTNER_CENTER_CLIENT_SECRET`) or `partner` (app + user,
    /// which also needs `PARTNER_CENTER_REFRESH_TOKEN`). Otherwise a fresh emulator on a free local port.
    async fn from_environment() -> Result<Self, Box<dyn std::error::Error>> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let Some(client_id) = var("PARTNER_CENTER_CLIENT_ID") else {
            let emulator =
                Emulator::builder().clock(Clock::real_time()).execution_timing(ExecutionTiming::demo()).start().await?;
            return Ok(Self::Emulator(emulator));
        };
        let tenant = var("PARTNER_CENTER_TENANT_ID").ok_or("PARTNER_CENTER_TENANT_ID is not set")?;
        let secret = var("PARTNER_CENTER_CLIENT_SECRET").ok_or("PARTNER_CENTER_CLIENT_SECRET is not set")?;
        let (program, client) = match var("PARTNER_CENTER_PROGRAM").as_deref().unwrap_or("marketplace") {
            "partner" => {
                let refresh = var("PARTNER_CENTER_REFRESH_TOKEN").ok_or("PARTNER_CENTER_REFRESH_TOKEN is not set")?;
                let credential =
                    RefreshTokenCredential::builder(tenant, client_id, refresh).client_secret(secret).build()?;
                (Program::Partner, Client::builder(Program::Partner).token_provider(credential).build()?)
            }
            "marketplace" => {
                let credential = ClientCredentials::new(tenant, client_id, secret)?;
                (Program::Marketplace, Client::builder(Program::Marketplace).token_provider(credential).build()?)
            }
            other => return Err(format!("PARTNER_CENTER_PROGRAM is `{other}`: use `marketplace` or `partner`").into()),
        };
        Ok(Self::Service { program, client })
    }

    fn program(&self) -> Program {
        match self {
            Self::Emulator(_) => Program::Marketplace,
            Self::Service { program, .. } => *program,
        }
    }

    fn client(&self) -> Result<Client, Error> {
        match self {
            Self::Emulator(emulator) => {
                Client::builder(emulator.base_url(Program::Marketplace)).bearer_token(DEV_TOKEN).build()
            }
            Self::Service { client, .. } => Ok(client.clone()),
        }
    }
}

fn query_text(program: Program) -> &'static str {
    match program {
        Program::Marketplace => {
            "SELECT CustomerName, OfferName, UsageDate, NormalizedUsage FROM ISVUsage TIMESPAN LAST_MONTH"
        }
        Program::Partner => "SELECT CustomerTenantId, CustomerName, ServiceName FROM AzureUsage TIMESPAN LAST_MONTH",
    }
}

fn status(report: &partner_center_insights::types::Report) -> String {
    report.report_status.as_ref().map_or("?", ReportStatus::as_str).to_owned()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = Target::from_environment().await?;
    let program = target.program();
    let client = target.client()?;
    match &target {
        Target::Emulator(emulator) => {
            println!("No PARTNER_CENTER_CLIENT_ID set: using the embedded emulator at {}", emulator.origin())
        }
        Target::Service { .. } => println!(
            "Using the Partner Center service ({program:?}); creating 1 query and 2 reports, deleted at the end"
        ),
    }
    let started = Instant::now();

    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let query = client
        .create_query()
        .body_map(|q| {
            q.name(format!("quickstart-{suffix}"))
                .description(Some("partner-center-insights quickstart".to_owned()))
                .query(query_text(program))
        })
        .send()
        .await?
        .into_single()?;
    let query_id = query.query_id;
    println!("created query    {query_id}");

    // The reports made, for the cleanup below, which runs whatever happens in between: a failure half way (say the
    // ExecuteNow quota) would otherwise leave a report that runs every day on the account.
    let mut reports = Vec::new();
    let flow = async {
        let scheduled = client
            .create_report()
            .body_map(|r| {
                r.report_name(format!("quickstart-{suffix}"))
                    .query_id(&query_id)
                    .start_time(Timestamp::now() + Duration::from_secs(5 * 3600))
                    .recurrence_interval(RecurrenceInterval::new(24).expect("24 hours is allowed"))
            })
            .send()
            .await?
            .into_single()?;
        let report_id = scheduled.report_id.clone();
        reports.push(report_id.clone());
        println!("created report   {report_id} ({})", status(&scheduled));

        let paused = client.pause_report().report_id(&report_id).send().await?.into_single()?;
        let before = status(&paused);
        println!("paused           {report_id} ({before})");
        let resumed = client.resume_report().report_id(&report_id).send().await?.into_single()?;
        let after = status(&resumed);
        println!("resumed          {report_id} ({after})");

        // A scheduled report first runs hours from now; a run-once report shows the rest of the flow right away.
        let once = client
            .create_report()
            .body_map(|r| r.report_name(format!("quickstart-now-{suffix}")).query_id(&query_id).execute_now(true))
            .send()
            .await?
            .into_single()?;
        let once_id = once.report_id;
        reports.push(once_id.clone());
        println!("triggered run    {once_id}");
        let poll =
            if matches!(target, Target::Emulator(_)) { Duration::from_millis(500) } else { Duration::from_secs(15) };
        let execution = client
            .wait_for_execution(once_id.as_str())
            .poll_interval(poll)
            .max_interval(poll * 4)
            .on_progress(|progress| match progress {
                WaitProgress::Execution { execution_id, status } => {
                    println!("  waiting: execution {execution_id} is {status}")
                }
                _ => println!("  waiting: no execution yet"),
            })
            .await?;

        let path = std::env::temp_dir().join(format!("quickstart-{suffix}.csv"));
        let mut last_shown = 0;
        let download = client
            .download_execution_to_file(&execution, &path, |p| {
                if p.bytes - last_shown >= 1 << 20 {
                    last_shown = p.bytes;
                    print!("\r  downloading: {} KiB", p.bytes / 1024);
                    let _ = std::io::stdout().flush();
                }
            })
            .await?;
        let text = std::fs::read_to_string(&path);
        std::fs::remove_file(&path)?;
        let rows = text?.lines().count().saturating_sub(1); // the first line is the header
        println!("downloaded       {} bytes to {}", download.bytes, path.display());
        Ok::<_, Box<dyn std::error::Error>>((report_id, before, after, once_id, execution, rows))
    }
    .await;

    // Every report and the query, also after a failure (whose error is returned after the cleanup).
    let mut cleanup = Ok(());
    for id in &reports {
        if let Err(e) = client.delete_report().report_id(id).send().await.map_err(Error::from) {
            eprintln!("could not delete report {id}: {e}");
            cleanup = Err(e);
        }
    }
    if let Err(e) = client.delete_query().query_id(&query_id).send().await.map_err(Error::from) {
        eprintln!("could not delete query {query_id}: {e}");
        cleanup = Err(e);
    }
    let (report_id, before, after, once_id, execution, rows) = flow?;
    cleanup?;
    println!("cleaned up       1 query, 2 reports\n");

    let rule = "-".repeat(100);
    let execution_status = execution.execution_status.as_ref().map_or("?".to_owned(), ToString::to_string);
    println!("{rule}");
    println!(
        "{:<38} {:<10} {:>14} {:>13} {:>12} {:>9}",
        "report", "kind", "before resume", "after resume", "execution", "rows"
    );
    println!("{rule}");
    println!("{report_id:<38} {:<10} {before:>14} {after:>13} {:>12} {:>9}", "scheduled", "-", "-");
    println!("{once_id:<38} {:<10} {:>14} {:>13} {execution_status:>12} {rows:>9}", "run once", "-", "-");
    println!("{rule}");
    println!("done in {:.1} s", started.elapsed().as_secs_f64());

    // The job checks its own outcome, so a run that printed a table of the wrong states fails (as in CI).
    if (before.as_str(), after.as_str()) != ("Paused", "Active") {
        return Err(format!("pause and resume answered `{before}` then `{after}`, not `Paused` then `Active`").into());
    }
    if let Target::Emulator(emulator) = target {
        emulator.shutdown().await;
        // The emulator's files always have rows; a real query may rightly have none.
        if rows == 0 {
            return Err("the emulator's file had no rows".into());
        }
    }
    Ok(())
}
