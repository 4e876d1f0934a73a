// Workflow: list every report, across pages. The service pages with `nextLink`; `Client::pages` follows it (on the
// API's own host only, with the same token, retries and casing handling as every call). The emulator is told to
// answer in pages of two, so the five reports below come in three pages.
//
//     cargo run --example all_pages

use partner_center_insights::emulator::{DEV_TOKEN, Emulator};
use partner_center_insights::{Client, Program, ReportStatus};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::builder().page_size(2).start().await?;
    let client = Client::builder(emulator.base_url(Program::Partner)).bearer_token(DEV_TOKEN).build()?;

    // A few reports to list: one per system query (the queries come in pages too: all of them, in one go).
    let first = client.get_queries().include_only_system_queries(true).send().await?.into_inner();
    let queries = client.pages(first).all_items().await?;
    for query in queries.iter().take(5) {
        let name = format!("all-pages-{}", query.name.as_deref().unwrap_or("query"));
        client
            .create_report()
            .body_map(|r| r.report_name(name).query_id(&query.query_id).execute_now(true))
            .send()
            .await?;
    }

    let first = client.get_reports().send().await?.into_inner();
    println!("first page: {} reports, nextLink {:?}", first.value.len(), first.next_link);
    let mut pages = client.pages(first);
    let mut listed = 0;
    while let Some(report) = pages.next_item().await {
        let report = report?;
        let status = report.report_status.as_ref().map_or("?", ReportStatus::as_str);
        println!("{}  {:<8} {}", report.report_id, status, report.report_name.unwrap_or_default());
        listed += 1;
    }
    println!("{listed} reports in all");
    emulator.shutdown().await;
    Ok(())
}
