// Walking every page of a list operation by following `nextLink`, through the same hooks as the generated calls
// (token, retries, casing), and only to the API's own host so the token cannot be sent elsewhere.

use std::collections::{HashSet, VecDeque};

use progenitor_client::{ClientHooks, OperationInfo};
use serde::de::DeserializeOwned;

use crate::hooks::{MS_REQUEST_ID, record_sent_request_id};
use crate::{Client, ClientInfo, Error, OperationError, types};

/// An envelope of a list operation: items and, when the result is paged, the link to the next page. Sealed: only
/// this crate implements it, for the spec's list operations, whose first page's path [`Client::pages`] knows.
pub trait Page: sealed::Sealed + DeserializeOwned + Send {
    /// The type of the items.
    type Item: Send;
    /// The operation that returns this envelope (its id, snake_case).
    const OPERATION_ID: &'static str;
    /// The link to the next page, if any.
    fn next_link(&self) -> Option<&str>;
    /// The items of this page.
    fn into_items(self) -> Vec<Self::Item>;
}

mod sealed {
    /// Keeps `Page` to this crate's envelopes, so it can grow without breaking anyone.
    pub trait Sealed {}
}

macro_rules! page {
    ($envelope:ident, $item:ty, $operation:literal) => {
        impl sealed::Sealed for types::$envelope {}

        impl Page for types::$envelope {
            type Item = $item;
            const OPERATION_ID: &'static str = $operation;

            fn next_link(&self) -> Option<&str> {
                self.next_link.as_deref().filter(|link| !link.trim().is_empty())
            }

            fn into_items(self) -> Vec<Self::Item> {
                self.value
            }
        }
    };
}

page!(DatasetEnvelope, types::Dataset, "get_datasets");
page!(QueryEnvelope, types::Query, "get_queries");
page!(ReportEnvelope, types::Report, "get_reports");
page!(ExecutionEnvelope, types::Execution, "get_report_executions");
page!(QueryResultEnvelope, types::QueryResultRow, "try_query");

/// Every page of a list, starting from its first; see [`Client::pages`].
#[derive(Debug)]
pub struct Pages<'a, P: Page> {
    client: &'a Client,
    pending: Option<P>,
    next: Option<String>,
    /// The page `next` came from, whose path a link that is only a query keeps (`None` for the first page).
    next_from: Option<reqwest::Url>,
    /// Every page fetched so far (resolved): a link back to one of them would loop forever.
    fetched: HashSet<reqwest::Url>,
    items: VecDeque<P::Item>,
}

impl Client {
    /// Every page of a list, starting from the `first` one a list operation returned, following `nextLink`.
    ///
    /// Links go only to the API's own host. A relative link is read against the API's base on every page
    /// (`ScheduledReport/execution/{id}?skip=3` is `…/mpn/ScheduledReport/execution/{id}?skip=3`), and a link that
    /// is only a query (`?skip=3`) keeps the path of the page that carried it. The first page's own URL is not
    /// known: there such a link takes the list's path, except on the executions list, whose path names its report
    /// (an [`ErrorKind::InvalidResponse`](crate::ErrorKind::InvalidResponse) error). A walk ends with an error at a
    /// link back to a page it fetched; a link back to the first page is followed once (its items come twice)
    /// before that.
    ///
    /// ```no_run
    /// # async fn run(client: partner_center_insights::Client) -> Result<(), partner_center_insights::Error> {
    /// let first = client.get_reports().send().await?.into_inner();
    /// let reports = client.pages(first).all_items().await?;
    /// println!("{} reports", reports.len());
    /// # Ok(()) }
    /// ```
    pub fn pages<P: Page>(&self, first: P) -> Pages<'_, P> {
        Pages {
            client: self,
            pending: Some(first),
            next: None,
            next_from: None,
            fetched: HashSet::new(),
            items: VecDeque::new(),
        }
    }
}

impl<P: Page> Pages<'_, P> {
    /// The next page, or `None` after the last.
    ///
    /// A page that failed to come for a reason that may pass ([`Error::is_transient`]: a timeout, a broken
    /// connection, 429, a 5xx) leaves the walk where it was, as does dropping this future before it is done: the
    /// next call asks for the same page again, so such an error never shortens the list unseen. Any other failure
    /// (a 404, a page of the wrong shape) and a `nextLink` that cannot be followed (another host, a page already
    /// read) end the walk after their error, so a caller that reads on past errors does not ask for it forever.
    ///
    /// # Errors
    /// When fetching a page fails (after retries), or a `nextLink` is not a URL, points to another host or back to
    /// a page already read, or cannot be placed ([`ErrorKind::InvalidResponse`](crate::ErrorKind::InvalidResponse):
    /// the service wrote it).
    pub async fn next_page(&mut self) -> Option<Result<P, Error>> {
        if let Some(first) = self.pending.take() {
            self.next = first.next_link().map(str::to_owned);
            return Some(Ok(first));
        }
        let link = self.next.as_deref()?;
        // A link that cannot be followed fails the same way every time: it ends the walk (after its error), so a
        // caller that reads on past errors does not spin on it.
        let url = match self.resolve(link) {
            Ok(url) => url,
            Err(error) => {
                self.next = None;
                return Some(Err(error));
            }
        };
        if self.fetched.contains(&url) {
            // A page that links to itself, or back to an earlier page, would be fetched forever.
            let error = Error::invalid_response(format!("nextLink `{link}` leads back to a page already read"));
            self.next = None;
            return Some(Err(error));
        }
        // The link is consumed only once its page has come: a fetch that fails for a reason that may pass, or whose
        // future is dropped, leaves the walk where it was, so the next call asks for the same page instead of ending
        // the list early. Asking again after any other failure would fail the same way, forever.
        let page = self.fetch(url.clone()).await;
        match &page {
            Ok(page) => {
                self.fetched.insert(url.clone());
                self.next = page.next_link().map(str::to_owned);
                self.next_from = Some(url);
            }
            Err(error) if !error.is_transient() => self.next = None,
            Err(_) => {}
        }
        Some(page)
    }

    /// The next item of any page, or `None` after the last item of the last page.
    ///
    /// After an error that may pass, or when this future is dropped, the next call goes on from the same item; after
    /// any other error it returns `None`, as [`next_page`](Self::next_page) does.
    ///
    /// # Errors
    /// As [`next_page`](Self::next_page).
    pub async fn next_item(&mut self) -> Option<Result<P::Item, Error>> {
        loop {
            if let Some(item) = self.items.pop_front() {
                return Some(Ok(item));
            }
            match self.next_page().await? {
                Ok(page) => self.items.extend(page.into_items()),
                Err(error) => return Some(Err(error)),
            }
        }
    }

    /// The items of every page.
    ///
    /// # Errors
    /// As [`next_page`](Self::next_page).
    pub async fn all_items(mut self) -> Result<Vec<P::Item>, Error> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await {
            all.extend(page?.into_items());
        }
        Ok(all)
    }

    /// The page `link` names, if it is on the API's own host (the request carries the token); without fragment,
    /// which is never sent.
    fn resolve(&self, link: &str) -> Result<reqwest::Url, Error> {
        // A relative link is read inside the base (whose path has no trailing slash: `ScheduledReport?…` is
        // `…/mpn/ScheduledReport?…`, not `…/v1/ScheduledReport?…`), on every page alike: the first page's own URL
        // is not known, and read against a later page's URL a link such as `ScheduledReport/execution/{id}?skip=3`
        // would repeat the path. A query (or fragment) alone keeps the path of the page that carried it; on the first
        // page, the list's. Leading spaces and control characters are dropped as the URL parser drops them.
        let base = reqwest::Url::parse(&format!("{}/", self.client.baseurl()))
            .map_err(|e| Error::invalid_argument(e.to_string()))?;
        let not_a_url = |e| Error::invalid_response(format!("nextLink `{link}` is not a URL: {e}"));
        let mut url = if link.trim_start_matches(|c: char| c <= ' ').starts_with(['?', '#']) {
            match (&self.next_from, first_page_path(P::OPERATION_ID)) {
                (Some(page), _) => page.join(link),
                (None, Some(path)) => base.join(path).and_then(|first| first.join(link)),
                (None, None) => {
                    return Err(Error::invalid_response(format!(
                        "nextLink `{link}` is only a query, and the first page's address is not known"
                    )));
                }
            }
        } else {
            base.join(link)
        }
        .map_err(not_a_url)?;
        url.set_fragment(None);
        if url.origin() != base.origin() {
            return Err(Error::invalid_response(format!(
                "nextLink `{link}` leaves the API's host; not following it with the token"
            )));
        }
        Ok(url)
    }

    async fn fetch(&self, url: reqwest::Url) -> Result<P, Error> {
        let info = OperationInfo { operation_id: P::OPERATION_ID };
        let mut request = self.client.client().get(url).header(reqwest::header::ACCEPT, "application/json").build()?;
        // Not `pre`: its argument rules are for requests the builders made, not for links the service wrote.
        self.client.prepare::<types::ErrorEnvelope>(&mut request).await?;
        let sent_request_id = request.headers().get(&MS_REQUEST_ID).cloned();
        let result = self.client.exec(request, &info).await;
        self.client.post::<types::ErrorEnvelope>(&result, &info).await?;
        let response = result?;
        // As the generated operations do: 200 decodes, documented error statuses carry the envelope.
        let status = response.status();
        if status == reqwest::StatusCode::OK {
            // Decoded here rather than by `ResponseValue::from_response`, whose decode error keeps only the body: a
            // page of the wrong shape keeps its request id (or the one sent) and its attempt count.
            let mut headers = response.headers().clone();
            let body = response.bytes().await?;
            serde_json::from_slice(&body).map_err(|e| {
                record_sent_request_id(&mut headers, sent_request_id);
                Error::wrong_shape(&headers, body, e)
            })
        } else if status.is_client_error() || status.is_server_error() {
            let envelope = progenitor_client::ResponseValue::<types::ErrorEnvelope>::from_response::<
                types::ErrorEnvelope,
            >(response)
            .await?;
            Err(OperationError::ErrorResponse(envelope).into())
        } else {
            Err(OperationError::UnexpectedResponse(response).into())
        }
    }
}

/// The path of a list's first page inside the base, for a link on it that is only a query. The executions list has
/// none: its path names the report, which its first page need not show.
fn first_page_path(operation_id: &str) -> Option<&'static str> {
    match operation_id {
        "get_datasets" => Some("ScheduledDataset"),
        "get_queries" => Some("ScheduledQueries"),
        "get_reports" => Some("ScheduledReport"),
        "try_query" => Some("ScheduledQueries/testQueryResult"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_link_on_a_first_page_takes_its_list_s_path_from_the_spec() {
        let spec = include_str!("../../openapi/insights.yaml");
        let lists = [
            types::DatasetEnvelope::OPERATION_ID,
            types::QueryEnvelope::OPERATION_ID,
            types::ReportEnvelope::OPERATION_ID,
            types::QueryResultEnvelope::OPERATION_ID,
        ];
        for operation in lists {
            let path = first_page_path(operation).unwrap_or_else(|| panic!("{operation} has a path"));
            let at = spec.find(&format!("\n  /{path}:\n")).unwrap_or_else(|| panic!("{path} is in the spec"));
            let next_path = spec[at + 1..].find("\n  /").map_or(spec.len(), |end| at + 1 + end);
            // The spec names operations in camelCase: `get_datasets` is `getDatasets`.
            let camel = operation.split('_').enumerate().fold(String::new(), |mut camel, (i, word)| {
                let (first, rest) = word.split_at(1);
                camel.push_str(&if i == 0 { first.to_owned() } else { first.to_uppercase() });
                camel.push_str(rest);
                camel
            });
            assert!(spec[at..next_path].contains(&format!("operationId: {camel}\n")), "{operation} at {path}");
        }
        assert_eq!(first_page_path(types::ExecutionEnvelope::OPERATION_ID), None);
    }
}
