// A proxy named in the environment never sees a secret sent over plain http: the client and the token endpoint
// reach a loopback host directly. (Its own binary: the proxy variables are the whole process's.)

mod common;

use common::{Reply, TEST_TOKEN, TestServer, mpn, response_example};
use partner_center_insights::entra::{Authority, ClientCredentials};
use partner_center_insights::{Client, TokenProvider};

#[tokio::test]
async fn plain_http_to_loopback_bypasses_a_proxy_from_the_environment() {
    let proxy = TestServer::always(Reply::json(502, r#"{"message":"via the proxy"}"#)).await;
    // SAFETY: this binary's only test, before any client exists; nothing else reads the environment meanwhile.
    for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        unsafe { std::env::set_var(name, proxy.url("")) };
    }
    // Whatever the machine running the tests says about hosts to reach directly.
    for name in ["NO_PROXY", "no_proxy"] {
        unsafe { std::env::remove_var(name) };
    }
    // The proxy would take a client that does not opt out: the environment is in effect.
    let server = TestServer::always(Reply::json(200, &response_example("Reports").to_string())).await;
    let plain = partner_center_insights::http_client_builder().unwrap().build().unwrap();
    assert_eq!(plain.get(server.url("/x")).send().await.unwrap().status(), 502);
    assert_eq!((proxy.request_count(), server.request_count()), (1, 0));

    let client = Client::builder(mpn(&server)).bearer_token(TEST_TOKEN).build().unwrap();
    client.get_reports().send().await.expect("answered by the server itself");
    let token_endpoint = TestServer::always(Reply::json(
        200,
        r#"{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eXAiOiJKV1Qi.proxy-test.s3cret"}"#,
    ))
    .await;
    let credential = ClientCredentials::builder("contoso.onmicrosoft.com", "app", "client-s3cret")
        .authority(Authority::parse(&token_endpoint.url("")).unwrap())
        .build()
        .unwrap();
    credential.token().await.expect("a token from the loopback endpoint itself");
    assert_eq!((proxy.request_count(), server.request_count(), token_endpoint.request_count()), (1, 1, 1));

    // Downloads: a link to storage elsewhere goes through the proxy (a tunnel: it sees the host, not the link); a
    // plain-http link to a loopback host (the emulator's) does not.
    let execution = |link: String| -> partner_center_insights::types::Execution {
        serde_json::from_value(serde_json::json!({"executionId": "e1", "reportAccessSecureLink": link})).unwrap()
    };
    let elsewhere = execution("https://storage.invalid/r.csv?sig=s3cret-signature".to_owned());
    client.download_execution(&elsewhere, &mut Vec::new(), |_| {}).await.expect_err("the proxy refuses the tunnel");
    let tunnel = proxy.requests().last().map(|r| r.request_line.clone());
    assert_eq!(tunnel.as_deref(), Some("CONNECT storage.invalid:443 HTTP/1.1"));
    let storage = TestServer::always(Reply::body(200, "text/csv", "a,b\n1,2\n")).await;
    let loopback = execution(storage.url("/r.csv?sig=s3cret-signature"));
    let mut file = Vec::new();
    client.download_execution(&loopback, &mut file, |_| {}).await.expect("straight from the loopback host");
    assert_eq!((file.as_slice(), proxy.request_count(), storage.request_count()), (&b"a,b\n1,2\n"[..], 2, 1));
}
