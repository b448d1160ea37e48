//! `twofoldctl`: a PingID API client for operators and scripts. It reads any
//! `pingid.properties`, signs each request, verifies the response signature and prints
//! the decoded `responseBody` as JSON. Exit status: 0 for errorId 200 and the 300xx flow
//! statuses, 1 for any other errorId, 2 when no PingID answer was obtained.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::Value;
use twofold_client::{Client, Reply};
use twofold_proto::ErrorId;
use twofold_proto::ops::devices::GetActivationCode;
use twofold_proto::ops::users::{AddUser, EditUser, UserBypass};

/// A PingID API client: works against Twofold or any PingID-compatible server.
#[derive(Debug, Parser)]
#[command(name = "twofoldctl", version, about)]
struct Cli {
    /// The properties file to use.
    #[arg(long, env = "TWOFOLD_PROPS", default_value = "twofold-data/pingid.properties")]
    props: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Call any operation with a raw JSON reqBody: `call getuserdetails '{"userName":"alice"}'`.
    Call {
        /// Operation segment, e.g. adduser.
        op: String,
        /// The reqBody as JSON.
        #[arg(default_value = "{}")]
        body: String,
    },
    /// Create a user.
    Adduser {
        /// Username.
        #[arg(long)]
        user: String,
        /// Also issue an activation code.
        #[arg(long)]
        activate: bool,
        /// First name.
        #[arg(long)]
        fname: Option<String>,
        /// Last name.
        #[arg(long)]
        lname: Option<String>,
        /// Email.
        #[arg(long)]
        email: Option<String>,
        /// REGULAR or ADMIN.
        #[arg(long)]
        role: Option<String>,
    },
    /// Show a user.
    Getuserdetails {
        /// Username.
        #[arg(long)]
        user: String,
    },
    /// Replace a user's profile (fields not given are cleared, as PingID does).
    Edituser {
        /// Username.
        #[arg(long)]
        user: String,
        /// First name.
        #[arg(long)]
        fname: Option<String>,
        /// Last name.
        #[arg(long)]
        lname: Option<String>,
        /// Email.
        #[arg(long)]
        email: Option<String>,
        /// REGULAR or ADMIN.
        #[arg(long)]
        role: Option<String>,
    },
    /// Delete a user.
    Deleteuser {
        /// Username.
        #[arg(long)]
        user: String,
    },
    /// Suspend a user.
    Suspenduser {
        /// Username.
        #[arg(long)]
        user: String,
    },
    /// Reactivate a suspended user, or issue an activation code.
    Activateuser {
        /// Username.
        #[arg(long)]
        user: String,
        /// DESKTOP or MOBILE.
        #[arg(long)]
        device_type: Option<String>,
    },
    /// Add a user to a service.
    Addservice {
        /// Username.
        #[arg(long)]
        user: String,
        /// Service alias (web, vpn, ...).
        #[arg(long)]
        sp_alias: String,
    },
    /// Remove a user from a service (Twofold extension).
    Removeservice {
        /// Username.
        #[arg(long)]
        user: String,
        /// Service alias.
        #[arg(long)]
        sp_alias: String,
    },
    /// Set (with --until) or clear (without) a user's bypass.
    Userbypass {
        /// Username.
        #[arg(long)]
        user: String,
        /// Epoch milliseconds; omit to clear the bypass.
        #[arg(long)]
        until: Option<i64>,
        /// Services (repeatable); omit for all of the user's services.
        #[arg(long = "sp-alias")]
        sp_aliases: Vec<String>,
    },
    /// Issue an activation code.
    Getactivationcode {
        /// Username.
        #[arg(long)]
        user: String,
        /// Validity in hours (1-336, default 48).
        #[arg(long)]
        hours: Option<i64>,
        /// DESKTOP or MOBILE.
        #[arg(long)]
        device_type: Option<String>,
    },
    /// Show the pairing status of an activation code.
    Pairingstatus {
        /// The 12-digit code.
        #[arg(long)]
        code: String,
    },
}

fn print<T>(reply: Result<Reply<T>, twofold_client::ClientError>) -> ExitCode {
    match reply {
        Ok(reply) => {
            let body = Value::Object(reply.body);
            println!("{}", serde_json::to_string_pretty(&body).unwrap_or_default());
            if ErrorId::from_code(reply.error_id).is_some_and(ErrorId::is_success) {
                ExitCode::SUCCESS
            } else {
                eprintln!("HTTP {} errorId {}", reply.http_status, reply.error_id);
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> ExitCode {
    let client = match Client::from_file(&cli.props) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Call { op, body } => match serde_json::from_str::<Value>(&body) {
            Ok(body) => print(client.call_raw(&op.to_ascii_lowercase(), &body).await),
            Err(e) => {
                eprintln!("error: the body is not JSON: {e}");
                ExitCode::from(2)
            }
        },
        Command::Adduser {
            user,
            activate,
            fname,
            lname,
            email,
            role,
        } => print(
            client
                .add_user(&AddUser {
                    user_name: user,
                    activate_user: activate,
                    role,
                    email,
                    fname,
                    lname,
                    ..AddUser::default()
                })
                .await,
        ),
        Command::Getuserdetails { user } => print(client.get_user_details(&user).await),
        Command::Edituser {
            user,
            fname,
            lname,
            email,
            role,
        } => print(
            client
                .edit_user(&EditUser {
                    user_name: user,
                    activate_user: None,
                    email,
                    fname,
                    lname,
                    role,
                })
                .await,
        ),
        Command::Deleteuser { user } => print(client.delete_user(&user).await),
        Command::Suspenduser { user } => print(client.suspend_user(&user).await),
        Command::Activateuser { user, device_type } => print(client.activate_user(&user, device_type.as_deref()).await),
        Command::Addservice { user, sp_alias } => print(client.add_service(&user, &sp_alias).await),
        Command::Removeservice { user, sp_alias } => print(client.remove_service(&user, &sp_alias).await),
        Command::Userbypass {
            user,
            until,
            sp_aliases,
        } => print(
            client
                .user_bypass(&UserBypass {
                    user_name: user,
                    bypass_until: until,
                    sp_aliases: (!sp_aliases.is_empty()).then_some(sp_aliases),
                })
                .await,
        ),
        Command::Getactivationcode {
            user,
            hours,
            device_type,
        } => print(
            client
                .get_activation_code(&GetActivationCode {
                    user_name: user,
                    device_type,
                    hours_until_expiration: hours,
                })
                .await,
        ),
        Command::Pairingstatus { code } => print(client.pairing_status(&code).await),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(run(cli)),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
