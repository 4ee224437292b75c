use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::Value;

/// mimalloc instead of the system allocator: every request allocates (parameters, the JSON it
/// answers), and glibc's malloc was a tenth of the time of a request under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;

/// wabagate: Meta Business Manager's system users, tokens and WhatsApp Business Account
/// delegation, wire-compatible with the Graph API.
///
/// `serve` runs the server; the other commands are its client, for wabagate or any
/// Graph-compatible base URL (`--graph-url https://graph.facebook.com` with a real token).
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Exit codes of the client commands:\n  0  done (`access plan`: no changes)\n  1  the Graph API answered an error (its message, code, subcode and fbtrace_id are printed)\n  2  `access plan`: there are changes to apply\n  3  the Graph API could not be reached, or did not answer JSON\n  4  the command line or an input file is wrong\n  5  `access apply` was not confirmed\n\nExamples:\n  wabagate serve\n  export WABAGATE_TOKEN=$(jq -r .admin_token wabagate-data/bootstrap.json)\n  wabagate system-users list\n  wabagate access grant --waba 1234567890123456 --system-user \"Onboarding Bot\" --tasks MANAGE"
)]
struct Cli {
    #[command(flatten)]
    client: cli::ClientArgs,
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size of the `serve` settings does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve the Graph API.
    ///
    /// On an empty store it creates the demo world (or the world of --fixtures) and writes
    /// DIR/bootstrap.json (mode 0600) with its ids and the admin token.
    ///
    /// Every flag is also an environment variable (shown below) and a key of the --config TOML
    /// file (the flag's name, `-` or `_`): the command line wins over the environment, which wins
    /// over the file, which wins over the defaults. docs/configuration.md has the table.
    #[command(
        after_help = "Examples:\n  wabagate serve\n  wabagate serve --listen 0.0.0.0:8787 --data /var/lib/wabagate\n  wabagate serve --fixtures docs/fixtures.example.toml --data ./ci-data\n  wabagate serve --config /etc/wabagate.toml"
    )]
    Serve {
        /// A TOML file of settings, keyed by flag name (`listen = "0.0.0.0:8787"`).
        #[arg(long, env = "WABAGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long, env = "WABAGATE_LISTEN", default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        /// Data directory: the SQLite store and bootstrap.json.
        #[arg(long, env = "WABAGATE_DATA", default_value = "./wabagate-data")]
        data: PathBuf,
        /// The URL clients reach this server by (`https://graph.example.test`): the base of the
        /// `paging` links it answers. Default: `http://` and the listening address.
        #[arg(long, env = "WABAGATE_PUBLIC_URL", value_parser = wabagate::parse_public_url)]
        public_url: Option<String>,
        /// A TOML file declaring the world to create on an empty store, instead of the demo world.
        #[arg(long, env = "WABAGATE_FIXTURES")]
        fixtures: Option<PathBuf>,
        /// Keep the world in PostgreSQL instead of SQLite, shared with every server given the same
        /// URL (`postgres://user@host:5432/db`, optionally `?schema=NAME`).
        #[arg(long, env = "WABAGATE_DATABASE")]
        database: Option<String>,
        /// How message templates are reviewed: `immediate`, `manual`, or the seconds after
        /// which a PENDING template is APPROVED.
        #[arg(long, env = "WABAGATE_TEMPLATE_REVIEW", default_value = "5s", value_parser = service::TemplateReview::parse)]
        template_review: service::TemplateReview,
        /// Rate limit: calls per app per rolling hour; beyond it, code 4 (docs/rate-limits.md).
        #[arg(long, env = "WABAGATE_APP_CALLS_PER_HOUR", value_parser = clap::value_parser!(u32).range(1..))]
        app_calls_per_hour: Option<u32>,
        /// Rate limit: calls per app per WABA per rolling hour; beyond it, code 80007.
        #[arg(long, env = "WABAGATE_WABA_CALLS_PER_HOUR", value_parser = clap::value_parser!(u32).range(1..))]
        waba_calls_per_hour: Option<u32>,
        /// Rate limit: messages per phone number per second; beyond it, code 130429.
        #[arg(long, env = "WABAGATE_MESSAGES_PER_SECOND", value_parser = clap::value_parser!(u32).range(1..))]
        messages_per_second: Option<u32>,
        /// Inject a fault: `METHOD PATH EFFECT`, as in `post */assigned_users error=0.3` or
        /// `* * latency=200ms`. Repeatable; in the environment, separated by `;`.
        #[arg(long = "fault", env = "WABAGATE_FAULTS", value_delimiter = ';', value_parser = service::limits::Fault::parse)]
        faults: Vec<service::limits::Fault>,
        /// How long a webhook delivery is retried (backing off from 1 s to 10 min) before it is
        /// given up: `30s`, `10m`, `2h`, `7d`.
        #[arg(long, env = "WABAGATE_WEBHOOK_RETRY_FOR", default_value = "7d", value_parser = service::webhooks::parse_duration)]
        webhook_retry_for: Duration,
        /// How long a webhook callback has to answer.
        #[arg(long, env = "WABAGATE_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = service::webhooks::parse_duration)]
        webhook_timeout: Duration,
        /// When a sent message's `delivered` status webhook follows its `sent` one (`never` for none).
        #[arg(long, env = "WABAGATE_MESSAGE_DELIVERED_AFTER", default_value = "1s", value_parser = service::webhooks::Delay::parse)]
        message_delivered_after: service::webhooks::Delay,
        /// When a sent message's `read` status webhook follows its `sent` one (`never` for none).
        #[arg(long, env = "WABAGATE_MESSAGE_READ_AFTER", default_value = "2s", value_parser = service::webhooks::Delay::parse)]
        message_read_after: service::webhooks::Delay,
        /// How long sent messages are kept; older ones are pruned (`30d`, `12h`).
        #[arg(long, env = "WABAGATE_MESSAGE_RETENTION", default_value = "30d", value_parser = service::webhooks::parse_duration)]
        message_retention: Duration,
        /// Refuse webhook callbacks on loopback, link-local and private addresses (checked on the
        /// addresses a callback resolves to, when the handshake and each delivery are sent).
        #[arg(long, env = "WABAGATE_WEBHOOK_DENY_PRIVATE")]
        webhook_deny_private: bool,
        /// Log lines as text for people or JSON for machines; one line per request either way.
        /// Levels and targets with RUST_LOG (`warn` quiets the request lines).
        #[arg(long, env = "WABAGATE_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormat,
        /// How long a stopping server (SIGTERM, Ctrl-C) waits for the requests in flight.
        #[arg(long, env = "WABAGATE_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = service::webhooks::parse_duration)]
        shutdown_timeout: Duration,
    },
    /// Write a consistent copy of a SQLite store to a new file, while servers may be using it.
    /// (For PostgreSQL, use pg_dump.)
    #[command(
        after_help = "Examples:\n  wabagate backup --to wabagate-backup.db\n  wabagate backup --data /var/lib/wabagate --to /backups/wabagate-$(date +%F).db\n\nTo restore, stop the server and put the copy in place of DATA/wabagate.db."
    )]
    Backup {
        /// The data directory of the store to copy.
        #[arg(long, env = "WABAGATE_DATA", default_value = "./wabagate-data")]
        data: PathBuf,
        /// The new file to write (it must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Copy a whole store (world, audit log, messages) into another, empty one, and check both
    /// hold the same. Stop the servers of the source first.
    #[command(
        after_help = "Examples:\n  wabagate copy --from sqlite://wabagate-data/wabagate.db --to postgres://postgres@127.0.0.1:5432/wabagate\n  wabagate copy --from postgres://db.internal/wabagate --to sqlite://backup.db"
    )]
    Copy {
        /// The store to copy: sqlite://PATH or postgres://…
        #[arg(long)]
        from: String,
        /// The empty store to copy into: sqlite://PATH or postgres://…
        #[arg(long)]
        to: String,
    },
    /// Print a shell completion script: `wabagate completions bash > /etc/bash_completion.d/wabagate`.
    #[command(
        after_help = "Examples:\n  wabagate completions bash > ~/.local/share/bash-completion/completions/wabagate\n  wabagate completions zsh > \"${fpath[1]}/_wabagate\"\n  wabagate completions fish > ~/.config/fish/completions/wabagate.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    #[command(flatten)]
    Client(cli::ClientCommand),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).init(),
    }
}

/// The settings of `serve --config FILE` (or WABAGATE_CONFIG), put into the environment as the
/// flags' variables where the environment does not set them already, before the command line is
/// parsed: so the command line beats the environment, which beats the file.
fn apply_config_file(args: &[std::ffi::OsString]) -> Result<(), String> {
    use clap::CommandFactory;
    if args.get(1).and_then(|a| a.to_str()) != Some("serve") {
        return Ok(());
    }
    let mut path = std::env::var_os("WABAGATE_CONFIG").map(PathBuf::from);
    let mut rest = args.iter().skip(2).map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = rest.next() {
        if arg == "--config" {
            path = rest.next().map(PathBuf::from);
        } else if let Some(p) = arg.strip_prefix("--config=") {
            path = Some(PathBuf::from(p));
        }
    }
    let Some(path) = path else { return Ok(()) };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
    let command = Cli::command();
    let serve = command.find_subcommand("serve").expect("serve is a command");
    let flags: Vec<(String, String)> = serve
        .get_arguments()
        .filter_map(|a| Some((a.get_long()?.to_string(), a.get_env()?.to_string_lossy().into_owned())))
        .filter(|(long, _)| long != "config")
        .collect();
    for (key, value) in table {
        let name = key.replace('_', "-");
        let Some((_, env)) = flags.iter().find(|(long, _)| *long == name) else {
            let known: Vec<&str> = flags.iter().map(|(l, _)| l.as_str()).collect();
            return Err(format!("{}: '{key}' is not a setting; the settings are {}", path.display(), known.join(", ")));
        };
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s),
                    other => Err(format!("{}: '{key}' must list strings, not {}", path.display(), other.type_str())),
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(";"),
            other => return Err(format!("{}: '{key}' cannot be a {}", path.display(), other.type_str())),
        };
        if std::env::var_os(env).is_none() {
            // SAFETY: set on the main thread before any other thread starts.
            unsafe { std::env::set_var(env, value) };
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Err(e) = apply_config_file(&args) {
        eprintln!("wabagate serve: {e}");
        return ExitCode::from(cli::USAGE_EXIT);
    }
    // A wrong command line exits 4 (clap's own 2 means "changes" for `access plan`).
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { cli::USAGE_EXIT } else { 0 });
        }
    };
    init_logging(match &cli.command {
        Command::Serve { log_format, .. } => *log_format,
        _ => LogFormat::Text,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    match cli.command {
        Command::Serve {
            listen,
            public_url,
            data,
            fixtures,
            database,
            template_review,
            app_calls_per_hour,
            waba_calls_per_hour,
            messages_per_second,
            faults,
            webhook_retry_for,
            webhook_timeout,
            message_delivered_after,
            message_read_after,
            message_retention,
            webhook_deny_private,
            shutdown_timeout,
            log_format: _,
            config: _,
        } => {
            let rate_limits =
                service::limits::RateLimits { app_calls_per_hour, waba_calls_per_hour, messages_per_second };
            let webhooks = service::webhooks::WebhookSettings {
                retry_for: webhook_retry_for,
                timeout: webhook_timeout,
                delivered_after: message_delivered_after.0,
                read_after: message_read_after.0,
                deny_private: webhook_deny_private,
            };
            let settings = service::Settings { template_review, rate_limits, faults, webhooks, message_retention };
            runtime.block_on(serve(wabagate::ServeConfig {
                listen,
                data,
                fixtures,
                database,
                clock: Arc::new(service::Clock::default()),
                settings,
                public_url,
                shutdown_deadline: shutdown_timeout,
            }))
        }
        Command::Copy { from, to } => runtime.block_on(copy(from, to)),
        Command::Backup { data, to } => {
            let db = data.join(wabagate::DATABASE_FILE);
            match store::SqliteStore::backup(&db, &to) {
                Ok(bytes) => {
                    println!("backed up {} to {} ({bytes} bytes; integrity checked)", db.display(), to.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("wabagate backup: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            // Into a buffer first: clap_complete panics on a closed pipe (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "wabagate", &mut script);
            cli::output::print(&String::from_utf8_lossy(&script));
            ExitCode::SUCCESS
        }
        Command::Client(command) => ExitCode::from(runtime.block_on(cli::run(cli.client, command))),
    }
}

async fn copy(from: String, to: String) -> ExitCode {
    let opened =
        async { Ok::<_, wabagate::StartError>((wabagate::copy::open(&from).await?, wabagate::copy::open(&to).await?)) };
    let (source, target) = match opened.await {
        Ok(stores) => stores,
        Err(e) => {
            eprintln!("wabagate copy: {e}");
            return ExitCode::FAILURE;
        }
    };
    match tokio::task::spawn_blocking(move || wabagate::copy::copy(source.as_ref(), target.as_ref(), true)).await {
        Ok(Ok(c)) => {
            println!(
                "copied {} changes, {} audit events and {} messages from {from} to {to}; both stores hold the same",
                c.changes, c.audit_events, c.messages
            );
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("wabagate copy: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("wabagate copy: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(cfg: wabagate::ServeConfig) -> ExitCode {
    // Listen for the signals first: one that arrives while the store loads still stops cleanly.
    let stop = shutdown_signal();
    let data = cfg.data.clone();
    let server = match wabagate::start(cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wabagate: {e}");
            return ExitCode::FAILURE;
        }
    };
    welcome(&server, &data);
    stop.await;
    tracing::info!("shutting down");
    server.stop().await;
    ExitCode::SUCCESS
}

fn welcome(server: &wabagate::Server, data: &std::path::Path) {
    let b = &server.bootstrap;
    let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    println!("wabagate is listening on {}", server.graph_url);
    println!("  data directory    {}", data.display());
    if b.get("business_id").is_some() {
        println!("  business          {}", s("business_id"));
        println!("  app               {}", s("app_id"));
        println!("  admin system user {}", s("admin_system_user_id"));
        println!("  WABA              {}  (phone number {})", s("waba_id"), s("phone_number_id"));
        println!("  client business   {}  (WABA {}, shared FULL)", s("client_business_id"), s("client_waba_id"));
        println!("  credit line       {}", s("extended_credit_id"));
    }
    match &server.seeded {
        Some(seeded) if b.get("admin_token").is_some() => {
            println!();
            println!("First start: a demo world was created. These secrets are shown once (also in");
            println!("{}, mode 0600):", data.join(wabagate::BOOTSTRAP_FILE).display());
            println!("  admin token       {}", s("admin_token"));
            println!("  app secret        {}", s("app_secret"));
            println!("  console sign-in   {} / {}", s("person_email"), s("person_password"));
            let _ = seeded;
        }
        Some(seeded) => {
            println!();
            println!("First start: the fixtures' world was created ({} objects named).", seeded.ids.len());
            println!(
                "Generated tokens and secrets are in {} (mode 0600).",
                data.join(wabagate::BOOTSTRAP_FILE).display()
            );
        }
        None => println!(
            "  (existing store; ids and the admin token are in {})",
            data.join(wabagate::BOOTSTRAP_FILE).display()
        ),
    }
    println!();
    println!("Try: curl -s \"{}/v23.0/me?access_token=$TOKEN\"", server.graph_url);
}

/// Resolves on SIGTERM or Ctrl-C; the handlers are installed when this is called, not awaited.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (mut term, mut int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match term.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let int = async {
                match int.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = term => {},
                _ = int => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// docs/configuration.md lists every flag of `serve` with its variable and default.
    #[test]
    fn the_configuration_table_matches_the_flags() {
        let doc = include_str!("../../../docs/configuration.md");
        let command = super::Cli::command();
        let serve = command.find_subcommand("serve").unwrap();
        for arg in serve.get_arguments() {
            let long = format!("`--{}`", arg.get_long().unwrap());
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| {long} ")))
                .unwrap_or_else(|| panic!("{long} is not in the table"));
            let env = arg.get_env().unwrap().to_string_lossy();
            assert!(row.contains(&format!("`{env}`")), "{long}: the table does not say {env}");
            match arg.get_default_values().first() {
                Some(d) => assert!(row.contains(&format!("`{}`", d.to_string_lossy())), "{long}: default {d:?}"),
                None => assert!(row.contains("| — |"), "{long}: the table shows a default it has not"),
            }
        }
        let rows = doc.lines().filter(|l| l.starts_with("| `--")).count();
        assert_eq!(rows, serve.get_arguments().count(), "rows for flags serve does not have");
    }
}
