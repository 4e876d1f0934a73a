// A proxy named in the environment never sees a secret sent over plain http: the client and the token endpoint
// reach a loopback host directly. (Its own binary: the proxy variables are the whole process's.)

mod common;

use common::{Reply, TEST_TOKEN, TestServer, mpn, response_example};
use partner_center_insights::entra::{Authority, ClientCredentials};
use partner_center_insights::{Client, TokenProvider};

#[tokio::test]
async fn plain_http_to_loopback_bypasses_a_proxy_from_the_environment() {
    let proxy = TestServer::always(Reply::json(502, r#"{"message":"via the proxy"}"#)).await;
    for name in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        // SAFETY: this binary's only test, before any client exists; nothing else reads the environment meanwhile.
        unsafe { std::env::set_var(name, proxy.url("")) };
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
}
