//! `twofold-authenticator`: the Twofold companion app on the command line.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use twofold_authenticator::client::{DeviceClient, system_now};
use twofold_authenticator::{Account, KeyFile, Pairing, qr_link};
use twofold_proto::device_api::{DeviceFacts, PushNotice};

/// The Twofold Authenticator: pair with an activation code, answer sign-in pushes, show
/// the app's one-time passcode.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The key file (Ed25519 key and paired accounts; written with mode 0600).
    #[arg(long, env = "TWOFOLD_AUTHENTICATOR_FILE", global = true)]
    key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pair with an activation code (from adduser, activateuser or getactivationcode), or
    /// with the QRRedirection link.
    Pair {
        /// The server's base URL, e.g. http://localhost:8080.
        #[arg(long)]
        server: Option<String>,
        /// The 12-digit activation code.
        #[arg(long)]
        code: Option<String>,
        /// A `…/pingid/QRRedirection?…` link instead of --server and --code.
        link: Option<String>,
        /// Pair as a phone (pushes and OTP) or as the desktop app (OTP only).
        #[arg(long, value_enum, default_value_t = Platform::Android)]
        platform: Platform,
        /// The model reported in deviceDetails.
        #[arg(long, default_value = "Twofold Authenticator CLI")]
        model: String,
        /// The OS reported in deviceDetails.
        #[arg(long, default_value = std::env::consts::OS)]
        os: String,
        /// Switch pushes off (sign-ins then ask for the app's OTP).
        #[arg(long)]
        no_push: bool,
    },
    /// Wait for pushes and answer them.
    Watch {
        /// Answer without asking: approve, deny or ignore (for CI and demos).
        #[arg(long, value_enum)]
        auto: Option<Auto>,
        /// With number matching and --auto approve: the number to pick (else the first
        /// choice).
        #[arg(long)]
        number: Option<u32>,
        /// Stop after this many pushes.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Print the app's current one-time passcode.
    Otp {
        /// The account's username (default: the only or first account).
        #[arg(long)]
        user: Option<String>,
    },
    /// Show the paired accounts as the server knows them.
    Status,
}

#[derive(Clone, Copy, ValueEnum)]
enum Platform {
    Android,
    Iphone,
    Desktop,
}

impl Platform {
    fn wire(self) -> &'static str {
        match self {
            Platform::Android => "Android",
            Platform::Iphone => "iPhone",
            Platform::Desktop => "Desktop",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Auto {
    Approve,
    Deny,
    Ignore,
}

fn default_key_file() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".config/twofold-authenticator/key.json")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let path = cli.key_file.unwrap_or_else(default_key_file);
    let mut file = KeyFile::load_or_generate(&path)?;
    match cli.command {
        Command::Pair {
            server,
            code,
            link,
            platform,
            model,
            os,
            no_push,
        } => {
            let (server, code) = match (server, code, link) {
                (_, _, Some(link)) => qr_link(&link).context("not a QRRedirection link")?,
                (Some(server), Some(code), None) => (server, code),
                _ => bail!("give --server and --code, or the QRRedirection link"),
            };
            pair(&mut file, &server, &code, platform, model, os, !no_push).await
        }
        Command::Watch { auto, number, count } => watch(&file, auto, number, count).await,
        Command::Otp { user } => {
            let account = pick(&file, user.as_deref())?;
            let now = u64::try_from(system_now()() / 1000).unwrap_or(0);
            println!("{}", account.otp_at(now)?);
            Ok(())
        }
        Command::Status => {
            for account in &file.accounts {
                let status = client(&file, account)?.status().await?;
                println!(
                    "{} @ {}: device {} ({}, {}), push {}",
                    status.user_name,
                    account.server,
                    status.device_id,
                    status.platform,
                    status.nickname,
                    if status.facts.push_enabled { "on" } else { "off" }
                );
            }
            if file.accounts.is_empty() {
                println!("not paired");
            }
            Ok(())
        }
    }
}

fn pick<'a>(file: &'a KeyFile, user: Option<&str>) -> anyhow::Result<&'a Account> {
    match user {
        Some(u) => file.accounts.iter().find(|a| a.user_name.eq_ignore_ascii_case(u)),
        None => file.accounts.first(),
    }
    .context("no such paired account; run `pair` first")
}

fn client(file: &KeyFile, account: &Account) -> anyhow::Result<DeviceClient> {
    DeviceClient::new(&account.server, file.key.clone(), account.device_id, system_now())
}

async fn pair(
    file: &mut KeyFile,
    server: &str,
    code: &str,
    platform: Platform,
    model: String,
    os: String,
    push: bool,
) -> anyhow::Result<()> {
    let pairing = Pairing::new(server)?;
    let claimed = pairing.claim(code).await?;
    println!("pairing {} of {}", claimed.user_name, claimed.org_name);
    let facts = DeviceFacts {
        model: Some(model),
        os_version: Some(os),
        app_version: Some(env!("CARGO_PKG_VERSION").into()),
        push_enabled: push && !matches!(platform, Platform::Desktop),
    };
    let registered = match pairing.register(code, &file.key, platform.wire(), facts).await {
        Ok(r) => r,
        Err(e) if e.to_string().contains("multiple_users_per_device") => {
            return Err(e).context(
                "this key file is already paired to another user: pair the new user with its own \
                 --key-file (or allow several users per device: twofold org set <org> \
                 multiple_users_per_device=true); the activation code is now used, so get a new \
                 one with getactivationcode",
            );
        }
        Err(e) => return Err(e),
    };
    let account = Account {
        server: server.trim_end_matches('/').to_string(),
        device_id: registered.device_id,
        device_uuid: registered.device_uuid,
        user_name: registered.user_name,
        org_name: registered.org_name,
        platform: platform.wire().into(),
        totp: registered.totp,
    };
    file.accounts.push(account.clone());
    file.save()?;
    client(file, &account)?.finish_pairing().await?;
    println!("paired: device {} in {}", account.device_id, file.path().display());
    Ok(())
}

async fn watch(file: &KeyFile, auto: Option<Auto>, number: Option<u32>, count: Option<u64>) -> anyhow::Result<()> {
    let accounts: Vec<&Account> = file.accounts.iter().filter(|a| a.receives_push()).collect();
    if accounts.is_empty() {
        bail!("no paired phone account (desktop accounts have no pushes)");
    }
    // One poller per account; answers are made here, one at a time.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, PushNotice)>(16);
    let mut clients = Vec::new();
    for (i, account) in accounts.iter().enumerate() {
        let client = client(file, account)?;
        clients.push(client.clone());
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut since = None;
            let mut seen = std::collections::HashSet::new();
            loop {
                match client.poll(25, since).await {
                    Ok(list) => {
                        since = Some(list.server_time_ms);
                        for id in &list.cancelled {
                            if seen.remove(id) {
                                println!("push {id} was cancelled by the sign-in");
                            }
                        }
                        for push in list.pushes {
                            if seen.insert(push.push_id.clone()) && tx.send((i, push)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("poll failed: {e:#}; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    }
                }
            }
        });
    }
    drop(tx);
    println!("watching {} account(s) for pushes", accounts.len());
    let mut handled = 0u64;
    while let Some((i, push)) = rx.recv().await {
        let account = accounts[i];
        println!(
            "push for {} from {}{}",
            push.user_name,
            push.sp_name.as_deref().unwrap_or("a sign-in"),
            push.sp_logo
                .as_deref()
                .map(|l| format!(" (logo {l})"))
                .unwrap_or_default()
        );
        if let Some(choices) = &push.number_choices {
            println!("number matching: pick the number shown on the sign-in page: {choices:?}");
        }
        let decision = match auto {
            Some(Auto::Ignore) => None,
            Some(Auto::Approve) => Some((true, number.or_else(|| push.number_choices.as_ref()?.first().copied()))),
            Some(Auto::Deny) => Some((false, None)),
            None => ask(&push)?,
        };
        match decision {
            Some((approve, picked)) => {
                let outcome = clients[i].answer(&push.push_id, approve, picked).await?;
                println!("{}: {}", account.user_name, outcome.outcome);
            }
            None => println!("{}: ignored", account.user_name),
        }
        handled += 1;
        if count.is_some_and(|c| handled >= c) {
            break;
        }
    }
    Ok(())
}

/// Asks on the terminal: approve (with the number, under number matching) or deny.
fn ask(push: &PushNotice) -> anyhow::Result<Option<(bool, Option<u32>)>> {
    let prompt = if push.number_choices.is_some() {
        "type the number to approve, n to deny, enter to ignore: "
    } else {
        "approve? [y/n, enter to ignore]: "
    };
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim();
    Ok(match line {
        "" => None,
        "n" | "N" | "no" => Some((false, None)),
        "y" | "Y" | "yes" if push.number_choices.is_none() => Some((true, None)),
        other => match other.parse::<u32>() {
            Ok(n) => Some((true, Some(n))),
            Err(_) => None,
        },
    })
}
