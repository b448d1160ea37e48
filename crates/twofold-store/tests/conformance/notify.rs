//! Cross-node wake-ups: a topic notified through one pool reaches a listener on another
//! (two pools stand for two nodes).

use std::time::Duration;

use twofold_store::postgres::Wake;
use twofold_store::{PgNotifier, PostgresStore};

#[tokio::test]
async fn a_topic_notified_on_one_node_wakes_the_other() {
    let Some((node_a, schema)) = crate::postgres().await else {
        return;
    };
    let node_b = PostgresStore::connect(schema.url()).await.expect("second node");
    let mut topics = PgNotifier::new(&node_b).listen().await.expect("listen");
    let notifier = PgNotifier::new(&node_a);
    notifier.notify("webs_one").await.expect("notify");
    notifier.notify("webs_two").await.expect("notify");
    for expected in ["webs_one", "webs_two"] {
        let got = tokio::time::timeout(Duration::from_secs(5), topics.next()).await;
        assert_eq!(got.expect("in time").expect("topic"), Wake::Topic(expected.into()));
    }
    // Nothing else arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), topics.next())
            .await
            .is_err()
    );
    // The listener holds one of node B's connections; close waits for it.
    drop(topics);
    node_b.close().await;
    node_a.close().await;
    schema.drop_now().await.expect("drop schema");
}
