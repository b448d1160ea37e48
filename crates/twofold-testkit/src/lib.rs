//! Test kit: a real Twofold server on a loopback port, with a fixed clock, a seeded RNG
//! and a fresh database, driven through `twofold-client` over TCP exactly as a PingID
//! client would drive it. Used only as a dev-dependency.
//!
//! The database is a new SQLite file, or, when `TWOFOLD_TEST_DATABASE_URL` names a
//! PostgreSQL database, a new schema in it (dropped when the app is), so the whole
//! suite runs on either engine.

mod faulty;

use std::net::SocketAddr;
use std::sync::Arc;

pub use faulty::{Fault, FaultyStore};
use twofold_client::Client;
use twofold_core::ids::{OrgId, UserId};
use twofold_core::model::{TokenScope, UserStatus};
use twofold_core::{Core, FixedClock, SeededRandom, Store};
use twofold_delivery::RecordingSender;
use twofold_proto::properties::{Properties, encode_key};
use twofold_server::{AppState, Settings, router};
use twofold_store::ScratchSchema;

/// 2024-01-02 03:04:05.678 UTC, the tests' "now".
pub const T0_MS: i64 = 1_704_164_645_678;

/// A running server and what tests need to poke at it.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its core (for arranging state the API cannot reach yet and asserting rows).
    pub core: Core,
    /// Its clock.
    pub clock: Arc<FixedClock>,
    /// Fault injection, in front of the real store.
    pub faults: Arc<FaultyStore>,
    /// Every SMS, voice and email message the server sent.
    pub sender: Arc<RecordingSender>,
    /// The settings it was opened with.
    pub settings: Settings,
    /// A client with the bootstrap organization's full-scope token.
    pub client: Client,
    server: tokio::task::JoinHandle<()>,
    worker: tokio::task::JoinHandle<()>,
    outbox_worker: tokio::task::JoinHandle<()>,
    schema: Option<ScratchSchema>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        self.worker.abort();
        self.outbox_worker.abort();
        if let Some(schema) = self.schema.take() {
            // Drop is synchronous and may run inside the test's runtime: a thread of its
            // own removes the schema. Best effort: the test cluster is thrown away anyway.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    let _ = rt.block_on(schema.drop_now());
                }
            })
            .join();
        }
    }
}

/// The variable that makes the tests run on PostgreSQL: a database URL (the tests create
/// and drop their own schemas in it).
pub const TEST_DATABASE_URL: &str = "TWOFOLD_TEST_DATABASE_URL";

/// A fresh schema when the tests run on PostgreSQL, `None` on SQLite.
///
/// # Panics
/// When the variable is set but the database refuses: a silent fallback to SQLite would
/// report a PostgreSQL run that never happened.
pub async fn scratch_schema() -> Option<ScratchSchema> {
    let url = std::env::var(TEST_DATABASE_URL).ok().filter(|u| !u.is_empty())?;
    Some(
        ScratchSchema::create(&url)
            .await
            .unwrap_or_else(|e| panic!("{TEST_DATABASE_URL} is set but unusable: {e}")),
    )
}

impl TestApp {
    /// Starts a server on a fresh data directory.
    ///
    /// # Panics
    /// When the server cannot start: tests cannot proceed anyway.
    pub async fn start() -> Self {
        Self::start_with(|core| core).await
    }

    /// Starts a server whose core `configure` may adjust (e.g. a remote Yubico
    /// validation service).
    ///
    /// # Panics
    /// When the server cannot start.
    pub async fn start_with(configure: impl FnOnce(Core) -> Core) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let mut settings = Settings::for_data_dir(dir.path().to_path_buf(), addr);
        let schema = scratch_schema().await;
        if let Some(s) = &schema {
            settings.database_url = Some(s.url().to_string());
            settings.database_max_connections = 4;
        }
        let clock = Arc::new(FixedClock::at(T0_MS));
        let boot = twofold_server::bootstrap::open(&settings, clock.clone(), Arc::new(SeededRandom::new(7)))
            .await
            .expect("bootstrap");
        let faults = Arc::new(FaultyStore::new(boot.core.store.clone()));
        let sender = Arc::new(RecordingSender::new());
        // Messages go through the durable outbox, as in the server, with the recording
        // sender where the gateways would be.
        let outbox = twofold_delivery::DurableOutbox::new(
            faults.clone(),
            boot.core.master.clone(),
            clock.clone(),
            boot.core.random.clone(),
            sender.clone(),
            twofold_delivery::OutboxPolicy::for_deadline(std::time::Duration::from_secs(5)),
        );
        let outbox_worker = outbox.spawn_worker();
        let mut core = Core::new(
            faults.clone(),
            clock.clone(),
            boot.core.random.clone(),
            boot.core.master.clone(),
            Arc::new(outbox),
        );
        if let Some(signals) = boot.core.signals.clone() {
            core = core.with_signals(signals);
        }
        let core = configure(core);
        let reports_dir = dir.path().join("reports");
        let worker = twofold_server::report::spawn_worker(core.clone(), reports_dir.clone());
        let state = AppState {
            core: core.clone(),
            metrics: twofold_server::metrics::handle(),
            reports_dir,
            limits: std::sync::Arc::default(),
        };
        let server = tokio::spawn(async move {
            twofold_server::serve::serve(listener, router(state), std::future::pending()).await;
        });
        let client = Client::from_file(settings.properties_file()).expect("bootstrap properties");
        Self {
            addr,
            worker,
            outbox_worker,
            core,
            clock,
            faults,
            sender,
            settings,
            client,
            server,
            schema,
            _dir: dir,
        }
    }

    /// The bootstrap organization's properties.
    #[must_use]
    pub fn properties(&self) -> Properties {
        self.client.properties().clone()
    }

    /// A client for a new token of the bootstrap organization with `scope`.
    ///
    /// # Panics
    /// On store failures.
    pub async fn client_with_scope(&self, scope: TokenScope) -> Client {
        let org = self.core.find_org("default").await.expect("default org");
        let issued = self.core.create_token(&org, scope).await.expect("token");
        let mut props = self.properties();
        props.token = issued.token.0;
        props.use_base64_key = encode_key(&issued.key);
        Client::new(props).expect("client")
    }

    /// A client that signs with the right token but a wrong key.
    #[must_use]
    pub fn client_with_wrong_key(&self) -> Client {
        let mut props = self.properties();
        props.use_base64_key = encode_key(&[9u8; 32]);
        Client::new(props).expect("client")
    }

    /// The bootstrap organization's id.
    ///
    /// # Panics
    /// On store failures.
    pub async fn org_id(&self) -> OrgId {
        self.core.find_org("default").await.expect("default org").id
    }

    /// Looks a user up directly in the store.
    ///
    /// # Panics
    /// On store failures.
    pub async fn stored_user(&self, name: &str) -> Option<twofold_core::model::User> {
        let org = self.org_id().await;
        self.core
            .store
            .user_by_name(org, &name.to_lowercase())
            .await
            .expect("store")
    }

    /// Marks a user ACTIVE through the store, standing in for device pairing (which
    /// lands with the one-time-passcode devices).
    ///
    /// # Panics
    /// When the user does not exist.
    pub async fn make_active(&self, name: &str) -> UserId {
        let user = self.stored_user(name).await.expect("user exists");
        let all = [
            UserStatus::Pending,
            UserStatus::NotActive,
            UserStatus::PendingActivation,
            UserStatus::PendingChangeDevice,
            UserStatus::Suspended,
            UserStatus::Active,
        ];
        assert!(
            self.core
                .store
                .transition_status(user.id, &all, UserStatus::Active)
                .await
                .expect("store")
        );
        user.id
    }

    /// The store without fault injection.
    #[must_use]
    pub fn store(&self) -> Arc<dyn Store> {
        self.faults.inner()
    }
}
