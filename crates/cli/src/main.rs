//! `ledgerdesk`: the one binary. Commands: serve, migrate, demo, bill-run, verify, bench.
//! Every command takes `--database URL` (or `LEDGERDESK_DATABASE_URL`), default
//! `sqlite://ledgerdesk.db`; a `postgres://` URL works the same way.

mod bench;

/// mimalloc instead of the system allocator (see docs/PERFORMANCE.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use store::Db;

#[derive(Parser)]
#[command(
    name = "ledgerdesk",
    version,
    about = "Billing and the service desk that answers for it"
)]
struct Cli {
    /// sqlite://FILE (created if missing) or postgres://USER@HOST/DB
    #[arg(
        long,
        global = true,
        env = "LEDGERDESK_DATABASE_URL",
        default_value = "sqlite://ledgerdesk.db"
    )]
    database: String,
    /// The payment gateway: sandbox (built in, Stripe's test-card meanings) or stripe.
    #[arg(
        long,
        global = true,
        env = "LEDGERDESK_GATEWAY",
        default_value = "sandbox"
    )]
    gateway: String,
    /// Stripe secret key (sk_…), for --gateway stripe.
    #[arg(
        long,
        global = true,
        env = "LEDGERDESK_STRIPE_API_KEY",
        hide_env_values = true
    )]
    stripe_api_key: Option<String>,
    /// Stripe API base URL (without /v1).
    #[arg(
        long,
        global = true,
        env = "LEDGERDESK_STRIPE_API_BASE",
        default_value = "https://api.stripe.com"
    )]
    stripe_api_base: String,
    /// SMTP server for notifications: smtp://HOST:PORT, smtp://USER:PASS@HOST:587?tls=required
    /// or smtps://HOST:465. Without one, notifications are recorded as skipped.
    #[arg(long, global = true, env = "LEDGERDESK_SMTP_URL")]
    smtp_url: Option<String>,
    /// Sender of notifications.
    #[arg(
        long,
        global = true,
        env = "LEDGERDESK_MAIL_FROM",
        default_value = "Ledgerdesk <billing@localhost>"
    )]
    mail_from: String,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    fn gateway(&self) -> Result<gateway::Gateway> {
        match self.gateway.as_str() {
            "sandbox" => Ok(gateway::Gateway::Sandbox(gateway::Sandbox::new())),
            "stripe" => {
                let key = self.stripe_api_key.as_deref().context(
                    "--gateway stripe needs --stripe-api-key (LEDGERDESK_STRIPE_API_KEY)",
                )?;
                let s = gateway::Stripe::new(
                    &self.stripe_api_base,
                    key,
                    std::time::Duration::from_secs(30),
                )
                .map_err(|e| anyhow::anyhow!("stripe gateway: {e}"))?;
                Ok(gateway::Gateway::Stripe(s))
            }
            other => bail!("--gateway must be sandbox or stripe, got {other:?}"),
        }
    }

    fn mailer(&self) -> Result<mail::Mailer> {
        match &self.smtp_url {
            Some(url) => mail::Mailer::smtp(url, &self.mail_from).map_err(|e| anyhow::anyhow!(e)),
            None => Ok(mail::Mailer::Off),
        }
    }

    fn worker(&self, db: Db, gateway: gateway::Gateway) -> Result<app::jobs::Worker> {
        let mut w = app::jobs::Worker::new(db, gateway);
        w.mailer = self.mailer()?;
        Ok(w)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (migrates, and loads the demo organisation into a new database).
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Do not load demo data into a new database.
        #[arg(long)]
        no_demo: bool,
        /// Where the pages are reached (https://billing.example.com), for the links in
        /// emails (portal sign-in links); default http://LISTEN.
        #[arg(long, env = "LEDGERDESK_PUBLIC_URL")]
        public_url: Option<String>,
        /// Pages rendered at once; the rest wait their turn (default: two per core).
        #[arg(long, env = "LEDGERDESK_PAGE_SLOTS")]
        page_slots: Option<usize>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Load the demo organisation (catalog, ~200 customers, a year of history).
    Demo,
    /// Invoice every subscription period that has started by --at (default now).
    BillRun {
        /// RFC 3339 instant, e.g. 2026-12-01T00:00:00Z
        #[arg(long)]
        at: Option<DateTime<Utc>>,
        /// Only this organisation.
        #[arg(long)]
        org: Option<String>,
        /// Leave the invoices as drafts for review instead of finalizing them.
        #[arg(long)]
        draft: bool,
    },
    /// Check every ledger and invoice invariant; exits 1 naming each violation.
    Verify,
    /// Run background jobs (charging invoices, retries). `serve` runs one worker too; any
    /// number may share a database.
    Worker {
        /// Exit once no job is due instead of waiting for more.
        #[arg(long)]
        exit_when_idle: bool,
        /// Jobs claimed per pass.
        #[arg(long, default_value_t = 20)]
        batch: i64,
    },
    /// Take inbound email from a Maildir (`DIR/new`, moved to `DIR/cur` once stored) into
    /// an organisation's desk: tickets, replies, acknowledgements.
    FetchMail {
        /// The Maildir (with new/ and cur/).
        #[arg(long)]
        maildir: std::path::PathBuf,
        /// The organisation the mailbox belongs to (org_…).
        #[arg(long)]
        org: String,
        /// Keep polling every 5 seconds instead of stopping when new/ is empty.
        #[arg(long)]
        watch: bool,
    },
    /// Advance a test clock (see `POST /v1/test_clocks/{id}/advance`).
    AdvanceClock {
        /// The clock's id (clock_…).
        clock: String,
        /// RFC 3339 instant to advance to, e.g. 2027-01-01T00:00:00Z
        #[arg(long)]
        to: DateTime<Utc>,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

async fn open(url: &str) -> Result<Db> {
    let db = Db::connect(url)
        .await
        .with_context(|| format!("cannot open database {url}"))?;
    db.migrate().await.context("cannot migrate the database")?;
    Ok(db)
}

fn spinner(msg: &str) -> ProgressBar {
    if std::io::stderr().is_terminal() {
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_message(msg.to_string());
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    } else {
        ProgressBar::hidden()
    }
}

async fn load_demo(db: &Db) -> Result<app::demo::DemoSummary> {
    let pb = spinner("loading demo data");
    let s = app::demo::load(db, Utc::now())
        .await
        .map_err(|e| anyhow::anyhow!("demo: {e}"))?;
    pb.finish_and_clear();
    eprintln!(
        "demo organisation {}: {} customers, {} subscriptions, {} invoices, {} credit notes, {} payments",
        s.org_id, s.customers, s.subscriptions, s.invoices, s.credit_notes, s.payments
    );
    Ok(s)
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LEDGERDESK_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            ref listen,
            no_demo,
            ref public_url,
            page_slots,
        } => {
            let db = open(&cli.database).await?;
            let fresh = {
                let mut tx = db.read().await?;
                !store::orgs::any_org(&mut tx).await?
            };
            let demo = if fresh && !no_demo {
                Some(load_demo(&db).await?)
            } else {
                None
            };
            // Planner statistics now and every hour (see `Db::optimize`).
            {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
                    loop {
                        every.tick().await;
                        if let Err(e) = db.optimize().await {
                            tracing::warn!(error = %e, "optimize failed");
                        }
                    }
                });
            }
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            if let Some(d) = &demo {
                let org = &d.org_id;
                eprintln!("demo API key: {}", app::demo::DEMO_API_KEY);
                eprintln!(
                    "customer portal: http://{addr}/portal/{org}/login as {} (password {})",
                    d.portal_email.as_deref().unwrap_or("-"),
                    app::demo::DEMO_PASSWORD
                );
                eprintln!(
                    "agent console:   http://{addr}/console/{org}/login as {} (password {})",
                    d.staff_emails.join(" or "),
                    app::demo::DEMO_PASSWORD
                );
            }
            eprintln!(
                "ledgerdesk listening on http://{addr} (database {})",
                cli.database
            );
            println!("listening on http://{addr}");
            let mut state = web::AppState::new(db.clone());
            state.gateway = cli.gateway()?;
            if let Some(n) = page_slots {
                state.pages = web::ui::slots::PageSlots::new(n);
            }
            state.public_url = Some(
                public_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{addr}")),
            );
            let worker = cli.worker(db, state.gateway.clone())?;
            tokio::spawn(async move { work(worker, false).await });
            web::serve(state, listener).await?;
        }
        Command::Worker {
            exit_when_idle,
            batch,
        } => {
            let db = Db::connect(&cli.database).await?;
            db.migrate().await?;
            let mut worker = cli.worker(db, cli.gateway()?)?;
            worker.batch = batch;
            eprintln!("{} running jobs of {}", worker.id, cli.database);
            let done = work(worker, exit_when_idle).await;
            eprintln!(
                "jobs: {} succeeded, {} to be retried, {} failed, {} lost to another worker",
                done.succeeded, done.retried, done.failed, done.lost
            );
        }
        Command::FetchMail {
            maildir,
            org,
            watch,
        } => {
            let db = open(&cli.database).await?;
            let mut tx = db.read().await?;
            if store::orgs::get_org(&mut tx, &org).await?.is_none() {
                bail!("no such organisation: {org}");
            }
            drop(tx);
            let (mut stored, mut refused) = (0, 0);
            loop {
                let ctx = app::Ctx::new(org.clone(), Utc::now());
                let pass = app::desk::inbound::ingest_maildir(&db, &ctx, &maildir, 500)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                stored += pass.stored;
                refused += pass.refused;
                if pass.read == 0 {
                    if !watch {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            }
            eprintln!("{stored} message(s) stored, {refused} refused");
        }
        Command::Migrate => {
            let db = Db::connect(&cli.database).await?;
            let n = db.migrate().await?;
            eprintln!("applied {n} migration(s) to {}", cli.database);
        }
        Command::Demo => {
            let db = open(&cli.database).await?;
            let s = load_demo(&db).await?;
            println!("demo API key: {}", s.api_key);
        }
        Command::BillRun { at, org, draft } => {
            let db = open(&cli.database).await?;
            let at = at.unwrap_or_else(Utc::now);
            let pb = spinner("billing");
            let started = std::time::Instant::now();
            let report = app::billrun::run_with(&db, org.as_deref(), at, !draft, |n| {
                pb.set_message(format!("billing: {n} invoices"))
            })
            .await
            .map_err(|e| anyhow::anyhow!("bill run: {e}"))?;
            pb.finish_and_clear();
            eprintln!(
                "bill run at {}: {} subscriptions, {} invoices, {} ended, in {:.2?}",
                at.to_rfc3339(),
                report.subscriptions_examined,
                report.invoices_created,
                report.subscriptions_ended,
                started.elapsed()
            );
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Verify => {
            let db = open(&cli.database).await?;
            let violations = verify(&db).await?;
            if !violations.is_empty() {
                for v in &violations {
                    eprintln!("VIOLATION {}: {}", v.invariant, v.detail);
                }
                bail!("{} invariant violation(s)", violations.len());
            }
            eprintln!("verify: every invariant holds");
        }
        Command::AdvanceClock { ref clock, to } => {
            let db = open(&cli.database).await?;
            let org = app::clocks::org_of(&db, clock)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let ctx = app::Ctx::new(org, Utc::now());
            let input = app::clocks::TestClockAdvance { frozen_time: to };
            let pb = spinner("advancing the test clock");
            let (c, r) = app::clocks::advance(&db, &cli.gateway()?, &ctx, clock, &input)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            pb.finish_and_clear();
            eprintln!(
                "test clock {} is at {}: {} steps, {} invoices, {} jobs run",
                c.id, c.frozen_time, r.steps, r.invoices_created, r.jobs_run
            );
        }
        Command::Bench { which } => {
            bench::run(&cli.database, which).await?;
        }
    }
    Ok(())
}

/// Runs job passes at the wall clock: at once while there is work, every second when idle
/// (or returns, with `exit_when_idle`). A pass that fails (database down) is logged and
/// tried again after a pause.
async fn work(worker: app::jobs::Worker, exit_when_idle: bool) -> app::jobs::Pass {
    let mut total = app::jobs::Pass::default();
    loop {
        match worker.run_once(Utc::now()).await {
            Ok(p) => {
                total.claimed += p.claimed;
                total.succeeded += p.succeeded;
                total.retried += p.retried;
                total.failed += p.failed;
                total.lost += p.lost;
                total.dispatched += p.dispatched;
                if p.claimed > 0 || p.dispatched > 0 {
                    continue;
                }
                if exit_when_idle {
                    return total;
                }
            }
            Err(e) => tracing::warn!(error = %e, "job pass failed; retrying"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// The store's invariants, then every organisation's audit chain.
async fn verify(db: &Db) -> Result<Vec<store::verify::Violation>> {
    let mut tx = db.read().await?;
    let mut out = store::verify::check_all(&mut tx).await?;
    drop(tx);
    for detail in app::desk::audit::verify_chains(db).await? {
        out.push(store::verify::Violation {
            invariant: "audit_chain",
            detail,
        });
    }
    Ok(out)
}
