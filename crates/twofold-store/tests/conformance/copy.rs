//! `migrate-data`: SQLite → PostgreSQL keeps every row as stored.

use twofold_core::Store;
use twofold_core::device::DeviceId;
use twofold_core::model::Service;
use twofold_core::store::{AuditEvent, InsertUser, NewOrg};

use crate::fixtures::{T0, new_user, org, sms_device, totp_device, user};

#[tokio::test]
async fn sqlite_rows_arrive_in_postgres_unchanged() {
    let (sqlite, _dir) = crate::sqlite().await;
    let Some((pg, schema)) = crate::postgres().await else {
        return;
    };
    let src: &dyn Store = sqlite.as_ref();
    let o = org(src, "acme").await;
    let alice = user(src, o, "Alice").await;
    let gone = user(src, o, "gone").await;
    let bob = user(src, o, "bob").await;
    assert!(src.delete_user(gone).await.unwrap());
    src.pair_device(&totp_device(o, alice, 61), 5, None).await.unwrap();
    src.pair_device(&sms_device(o, alice, 62, "+1555"), 5, None)
        .await
        .unwrap();
    assert!(src.swap_counter(DeviceId(61), None, 99).await.unwrap());
    src.add_membership(bob, Service::Web, T0).await.unwrap();
    src.add_membership(bob, Service::RescueCode, T0).await.unwrap();
    src.set_user_flags(bob, Some(true), None).await.unwrap();
    src.append_audit(&AuditEvent {
        org_id: o,
        user_id: Some(alice),
        username: Some("Alice".into()),
        device_id: Some(DeviceId(61)),
        op: "authoffline".into(),
        error_id: 200,
        source_ip: None,
        created_ms: T0,
    })
    .await
    .unwrap();

    let counts = twofold_store::copy::sqlite_to_postgres(&sqlite, &pg)
        .await
        .expect("copy");
    let count = |t: &str| counts.iter().find(|(n, _)| n == t).map(|(_, c)| *c);
    assert_eq!(
        (
            count("orgs"),
            count("users"),
            count("devices"),
            count("audit"),
            count("user_services")
        ),
        (Some(1), Some(2), Some(2), Some(1), Some(2))
    );

    let target = pg.clone();
    let pg: &dyn Store = pg.as_ref();
    let a = pg.user_by_name(o, "alice").await.unwrap().expect("alice");
    assert_eq!((a.id, a.username.as_str()), (alice, "Alice"));
    let devices = pg.devices_of(alice).await.unwrap();
    assert_eq!(devices, src.devices_of(alice).await.unwrap());
    assert_eq!(devices[0].counter, Some(99));
    assert_eq!(pg.memberships(bob).await.unwrap(), src.memberships(bob).await.unwrap());
    assert!(pg.auth_guard(bob).await.unwrap().admin_locked);
    assert_eq!(
        pg.recent_audit(alice, 5).await.unwrap(),
        src.recent_audit(alice, 5).await.unwrap()
    );
    // Identities continue after the copied ids: a new user never takes a deleted one's id.
    let InsertUser::Created(carol) = pg.insert_user(&new_user(o, "carol"), None).await.unwrap() else {
        panic!("carol not created");
    };
    assert!(carol.id.0 > bob.0);
    let second = pg
        .create_org(&NewOrg {
            alias: "b".into(),
            name: "b".into(),
            created_ms: T0,
        })
        .await
        .unwrap()
        .expect("org");
    assert!(second.id.0 > o.0);

    // A second run refuses: the target is no longer empty.
    let again = twofold_store::copy::sqlite_to_postgres(&sqlite, &target)
        .await
        .expect_err("non-empty target");
    assert!(again.to_string().contains("not empty"), "{again}");
    schema.drop_now().await.expect("drop schema");
}
