// Typed forms of the generated builders' text parameters, where the service takes a list in one string: written
// here because a spec cannot say "`;`-separated", so the generator can only offer a `String`.

use crate::{ExecutionStatus, builder};

impl builder::GetReportExecutions<'_> {
    /// Only executions in any of these states: the typed form of [`execution_status`](Self::execution_status),
    /// which takes the service's `;`-separated list as text. An empty list sets no filter.
    ///
    /// ```no_run
    /// # async fn run(client: partner_center_insights::Client) -> Result<(), partner_center_insights::Error> {
    /// use partner_center_insights::ExecutionStatus;
    /// let under_way = client
    ///     .get_report_executions()
    ///     .report_id("0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44")
    ///     .execution_statuses(&[ExecutionStatus::Pending, ExecutionStatus::Running])
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn execution_statuses(self, statuses: &[ExecutionStatus]) -> Self {
        if statuses.is_empty() {
            return self;
        }
        self.execution_status(statuses.iter().map(ExecutionStatus::as_str).collect::<Vec<_>>().join(";"))
    }
}
