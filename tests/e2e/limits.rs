//! What one user may hold: connections, under a burst too.

use boomerang_e2e::*;

#[tokio::test]
async fn one_connection_more_than_a_user_may_hold_is_refused_with_429() {
    // GIVEN alice holding the most connections allowed
    let app = spawn_app_with(|c| c.shared.max_connections_per_user = 3).await;
    let mut tabs = Vec::new();
    for _ in 0..3 {
        tabs.push(app.tab("alice").await);
    }
    // WHEN she opens one more, THEN the upgrade is refused with 429
    match app.tab_with_token(&app.token("alice")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 429),
        Err(e) => panic!("refused the wrong way: {e}"),
        Ok(_) => panic!("a fourth connection was accepted"),
    }
    // AND bob is not affected
    let _bob = app.tab("bob").await;
    // AND once she closes one, she may open another
    tabs.pop().unwrap().close().await;
    eventually("a slot frees up", || async {
        app.tab_with_token(&app.token("alice")).await.is_ok()
    })
    .await;
}

#[tokio::test]
async fn a_burst_of_200_connects_for_one_user_leaves_at_most_the_limit_open() {
    // GIVEN a limit of 50 sockets per user (the default)
    let app = spawn_app().await;
    let token = app.token("alice");
    // WHEN 200 of alice's tabs connect at once
    let tries = (0..200).map(|_| app.tab_with_token(&token));
    let tabs: Vec<_> = futures::future::join_all(tries)
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    // THEN at most 50 are open, and stored
    assert!(tabs.len() <= 50, "{} sockets open", tabs.len());
    assert!(!tabs.is_empty());
    assert!(
        app.stack.open_sockets() <= 50,
        "{}",
        app.stack.open_sockets()
    );
    assert_eq!(app.connection_ids("alice").await.len(), tabs.len());
}
