//! The Stripe adapter against a real peer: the npm package stripe-stateful-mock, a stateful
//! imitation of Stripe's HTTP API. Each test starts its own server on a free loopback port
//! (so objects from other tests never show up in its lists) and stops it when done.
//!
//! The first run installs the package with npm under `~/.cache/ledgerdesk-tools/stripe-mock`
//! (see [`stripe_mock_module`]); without node and npm these tests fail, loudly.

use gateway::{CardDetails, Gateway, GatewayError, Outcome, Stripe};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MOCK_VERSION: &str = "0.0.16";
/// The mock accepts any key that starts with `sk_test_`.
const KEY: &str = "sk_test_ledgerdesk";

/// The installed stripe-stateful-mock package directory, installing it with npm first when
/// the wanted version is missing. Parallel test processes serialise on a `flock` lock file,
/// so one installs and the others find it done.
fn stripe_mock_module() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is not set: nowhere to install the mock");
    let tools = PathBuf::from(home).join(".cache/ledgerdesk-tools");
    let prefix = tools.join("stripe-mock");
    let module = prefix.join("node_modules/stripe-stateful-mock");
    std::fs::create_dir_all(&prefix).unwrap_or_else(|e| panic!("mkdir {prefix:?}: {e}"));
    // $1 module dir, $2 npm prefix, $3 version.
    let script = r#"grep -qs "\"version\": \"$3\"" "$1/package.json" ||
        npm install --no-audit --no-fund --prefix "$2" "stripe-stateful-mock@$3""#;
    let out = Command::new("flock")
        .arg(tools.join("stripe-mock.lock"))
        .args(["sh", "-c", script, "sh"])
        .arg(&module)
        .arg(&prefix)
        .arg(MOCK_VERSION)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run flock/sh to install stripe-stateful-mock: {e}"));
    assert!(
        out.status.success() && module.join("dist/index.js").is_file(),
        "installing stripe-stateful-mock@{MOCK_VERSION} into {prefix:?} failed ({}):\n\
         --- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    module
}

/// A running stripe-stateful-mock, killed on drop.
struct Mock {
    child: Child,
    base: String,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Mock {
    /// Starts the package's Express app on 127.0.0.1, on a port the kernel picks (the
    /// package's own `bin` listens on every interface at `$PORT`), and waits until it answers.
    fn start() -> Mock {
        let module = stripe_mock_module();
        const LAUNCH: &str = "const s = require(process.argv[1]).createExpressApp()\
            .listen(0, '127.0.0.1', () => console.log(s.address().port));";
        let mut child = Command::new("node")
            .arg("-e")
            .arg(LAUNCH)
            .arg(module.join("dist/index.js"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut first = String::new();
            let _ = lines.read_line(&mut first);
            let _ = tx.send(first);
            // Keep draining so the server never blocks on a full pipe.
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        let mut mock = Mock {
            child,
            base: String::new(),
        };
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("stripe-stateful-mock did not report its port within 30 s");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            let status = mock.child.try_wait();
            panic!("stripe-stateful-mock did not start (said {line:?}, status {status:?})")
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "port {port} never answered");
            std::thread::sleep(Duration::from_millis(20));
        }
        mock.base = format!("http://127.0.0.1:{port}");
        mock
    }

    fn gateway(&self) -> Gateway {
        Gateway::Stripe(Stripe::new(&self.base, KEY, Duration::from_secs(10)).unwrap())
    }

    /// Sends the server a signal (`STOP`, `CONT`).
    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// A GET on the mock's API, as JSON.
    async fn get(&self, path: &str) -> serde_json::Value {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        serde_json::from_str(&resp.text().await.unwrap()).unwrap()
    }

    /// Every charge the mock holds (it keeps declined ones too, as Stripe does).
    async fn charges(&self) -> Vec<serde_json::Value> {
        let list = self.get("/v1/charges?limit=100").await;
        list["data"].as_array().unwrap().clone()
    }
}

fn reference(o: Outcome) -> String {
    match o {
        Outcome::Succeeded { reference } => reference,
        other => panic!("expected success, got {other:?}"),
    }
}

fn declined_code(o: Result<Outcome, GatewayError>) -> String {
    match o {
        Ok(Outcome::Declined { code, .. }) => code,
        other => panic!("expected a decline, got {other:?}"),
    }
}

fn invalid_param(r: Result<impl std::fmt::Debug, GatewayError>) -> String {
    match r {
        Err(GatewayError::Invalid { param, .. }) => param,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn attaching_a_token_creates_a_customer_with_the_card() {
    let m = Mock::start();
    let gw = m.gateway();
    let card = gw.describe_token("tok_visa").await.unwrap();
    assert_eq!((card.brand.as_str(), card.last4.as_str()), ("visa", "4242"));
    let (customer, card_id) = card.token.split_once('/').unwrap();
    assert!(
        customer.starts_with("cus_") && card_id.starts_with("card_"),
        "{card:?}"
    );
    assert!(
        (1..=12).contains(&card.exp_month) && card.exp_year >= 2020,
        "{card:?}"
    );

    let held = m.get(&format!("/v1/customers/{customer}")).await;
    assert_eq!(held["default_source"], card_id);
    // Describing the stored token reads the card back and creates nothing.
    assert_eq!(gw.describe_token(&card.token).await.unwrap(), card);

    let mc = gw.describe_token("tok_mastercard").await.unwrap();
    assert_eq!(
        (mc.brand.as_str(), mc.last4.as_str()),
        ("mastercard", "4444")
    );
    let amex = gw.describe_token("tok_amex").await.unwrap();
    assert_eq!(amex.brand, "amex");

    let list = m.get("/v1/customers?limit=100").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 3);

    assert_eq!(
        invalid_param(gw.describe_token("cus_nobody/card_none").await),
        "customer"
    );
    assert_eq!(
        invalid_param(gw.describe_token("pm_card_visa").await),
        "token"
    );
}

#[tokio::test]
async fn a_card_stripe_will_not_attach_is_invalid() {
    let m = Mock::start();
    let e = m
        .gateway()
        .describe_token("tok_chargeDeclinedInsufficientFunds")
        .await
        .unwrap_err();
    match e {
        GatewayError::Invalid { param, message } => {
            assert_eq!(param, "token");
            assert!(message.contains("insufficient_funds"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn card_numbers_are_refused() {
    let gw = Gateway::Stripe(
        Stripe::new("https://api.stripe.com", KEY, Duration::from_secs(1)).unwrap(),
    );
    assert_eq!(gw.name(), "stripe");
    let card = CardDetails {
        number: "4242424242424242".into(),
        exp_month: 12,
        exp_year: 2030,
    };
    match gw.tokenize(&card, (2026, 11)).await {
        Err(GatewayError::Invalid { param, message }) => {
            assert_eq!(param, "card");
            assert!(message.contains("Stripe.js"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_charge_succeeds_once_per_key() {
    let m = Mock::start();
    let gw = m.gateway();
    let card = gw.describe_token("tok_visa").await.unwrap();
    let ch = reference(gw.charge(&card.token, 1250, "USD", "pay_1").await.unwrap());
    assert!(ch.starts_with("ch_"), "{ch}");
    let held = m.get(&format!("/v1/charges/{ch}")).await;
    assert_eq!(held["amount"], 1250);
    assert_eq!(held["currency"], "usd");
    assert_eq!(held["status"], "succeeded");
    assert_eq!(held["metadata"]["idempotency_key"], "pay_1");

    let again = reference(gw.charge(&card.token, 1250, "USD", "pay_1").await.unwrap());
    assert_eq!(again, ch, "the same key names the same charge");
    assert_eq!(m.charges().await.len(), 1, "one charge for one key");

    let other = reference(gw.charge(&card.token, 1250, "USD", "pay_2").await.unwrap());
    assert_ne!(other, ch);
    assert_eq!(m.charges().await.len(), 2);

    // The same key with other parameters is a mistake, not a new charge.
    assert_eq!(
        invalid_param(gw.charge(&card.token, 999, "usd", "pay_1").await),
        "idempotency_key"
    );
    assert_eq!(m.charges().await.len(), 2);
}

#[tokio::test]
async fn declines_carry_stripes_code_and_repeat_by_key() {
    let m = Mock::start();
    let gw = m.gateway();
    // Cards that attach but decline when charged.
    let fail = gw.describe_token("tok_chargeCustomerFail").await.unwrap();
    let first = gw.charge(&fail.token, 1000, "usd", "pay_d").await;
    assert_eq!(
        first,
        Ok(Outcome::Declined {
            code: "card_declined".into(),
            message: "Your card was declined.".into()
        })
    );
    assert_eq!(gw.charge(&fail.token, 1000, "usd", "pay_d").await, first);
    let held = m.charges().await;
    assert_eq!(held.len(), 1, "a repeated decline is one failed charge");
    assert_eq!(held[0]["status"], "failed");

    let processing = gw
        .describe_token("tok_chargeDeclinedProcessingError")
        .await
        .unwrap();
    assert_eq!(
        declined_code(gw.charge(&processing.token, 1000, "usd", "pay_p").await),
        "processing_error"
    );

    // Stripe's decline test tokens charged directly as one-time sources.
    for (token, code) in [
        ("tok_chargeDeclined", "card_declined"),
        ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("tok_chargeDeclinedExpiredCard", "expired_card"),
        ("tok_chargeDeclinedIncorrectCvc", "incorrect_cvc"),
        ("tok_chargeDeclinedFraudulent", "card_declined"),
    ] {
        let key = format!("pay_{token}");
        let o = gw.charge(token, 1000, "usd", &key).await;
        assert_eq!(declined_code(o.clone()), code, "{token}");
        assert_eq!(
            gw.charge(token, 1000, "usd", &key).await,
            o,
            "{token} again"
        );
    }
    assert_eq!(m.charges().await.len(), 7);
}

#[tokio::test]
async fn refunds_full_partial_and_never_more_than_charged() {
    let m = Mock::start();
    let gw = m.gateway();
    let card = gw.describe_token("tok_visa").await.unwrap();

    let full = reference(gw.charge(&card.token, 2000, "eur", "pay_f").await.unwrap());
    let re = reference(gw.refund(&full, 2000, "ref_f").await.unwrap());
    assert!(re.starts_with("re_"), "{re}");
    assert_eq!(
        reference(gw.refund(&full, 2000, "ref_f").await.unwrap()),
        re
    );
    let held = m.get(&format!("/v1/charges/{full}")).await;
    assert_eq!(
        (held["amount_refunded"].as_i64(), held["refunded"].as_bool()),
        (Some(2000), Some(true))
    );
    let refunds = m.get(&format!("/v1/refunds?charge={full}")).await;
    assert_eq!(
        refunds["data"].as_array().unwrap().len(),
        1,
        "one refund for one key"
    );
    assert!(
        gw.refund(&full, 1, "ref_f2").await.is_err(),
        "nothing is left to refund"
    );

    let part = reference(gw.charge(&card.token, 1000, "usd", "pay_p").await.unwrap());
    let r1 = reference(gw.refund(&part, 300, "ref_1").await.unwrap());
    assert_eq!(reference(gw.refund(&part, 300, "ref_1").await.unwrap()), r1);
    assert_eq!(
        invalid_param(gw.refund(&part, 800, "ref_2").await),
        "amount"
    );
    let held = m.get(&format!("/v1/charges/{part}")).await;
    assert_eq!(held["amount_refunded"], 300);
    let r3 = reference(gw.refund(&part, 700, "ref_3").await.unwrap());
    assert_ne!(r3, r1);
    let held = m.get(&format!("/v1/charges/{part}")).await;
    assert_eq!(held["amount_refunded"], 1000);

    let more = reference(gw.charge(&card.token, 500, "usd", "pay_m").await.unwrap());
    assert_eq!(
        invalid_param(gw.refund(&more, 501, "ref_m").await),
        "amount"
    );
    assert_eq!(
        m.get(&format!("/v1/charges/{more}")).await["amount_refunded"],
        0
    );

    assert!(matches!(
        gw.refund("ch_none", 100, "ref_x").await,
        Err(GatewayError::Invalid { .. })
    ));
}

#[tokio::test]
async fn bad_requests_name_the_parameter() {
    let m = Mock::start();
    let gw = m.gateway();
    let card = gw.describe_token("tok_visa").await.unwrap();
    assert_eq!(
        invalid_param(gw.charge(&card.token, 1000, "zzz", "p1").await),
        "currency"
    );
    assert_eq!(
        invalid_param(gw.charge(&card.token, 10, "usd", "p2").await),
        "amount"
    );
    assert_eq!(
        invalid_param(gw.charge("sandbox_token", 1000, "usd", "p3").await),
        "token"
    );
    let (customer, _) = card.token.split_once('/').unwrap();
    assert_eq!(
        invalid_param(
            gw.charge(&format!("{customer}/card_gone"), 1000, "usd", "p4")
                .await
        ),
        "source"
    );
    assert!(m.charges().await.is_empty());
}

#[tokio::test]
async fn a_bad_api_key_is_invalid() {
    let m = Mock::start();
    let gw =
        Gateway::Stripe(Stripe::new(&m.base, "sk_live_wrong", Duration::from_secs(10)).unwrap());
    assert_eq!(
        invalid_param(gw.describe_token("tok_visa").await),
        "api_key"
    );
    assert_eq!(
        invalid_param(gw.charge("tok_visa", 1000, "usd", "k").await),
        "api_key"
    );
}

#[tokio::test]
async fn rate_limits_server_errors_and_no_server_are_unavailable() {
    let m = Mock::start();
    let gw = m.gateway();
    for token in ["tok_429", "tok_500"] {
        let r = gw.charge(token, 1000, "usd", &format!("pay_{token}")).await;
        assert!(
            matches!(r, Err(GatewayError::Unavailable(_))),
            "{token}: {r:?}"
        );
    }

    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gone = Gateway::Stripe(
        Stripe::new(&format!("http://{closed}"), KEY, Duration::from_secs(5)).unwrap(),
    );
    let r = gone.charge("tok_visa", 1000, "usd", "k").await;
    assert!(matches!(r, Err(GatewayError::Unavailable(_))), "{r:?}");
    let r = gone.describe_token("tok_visa").await;
    assert!(matches!(r, Err(GatewayError::Unavailable(_))), "{r:?}");
}

#[tokio::test]
async fn a_silent_server_times_out_and_a_retry_with_the_key_charges_once() {
    let m = Mock::start();
    let gw = m.gateway();
    let impatient = Gateway::Stripe(Stripe::new(&m.base, KEY, Duration::from_millis(700)).unwrap());
    let card = gw.describe_token("tok_visa").await.unwrap();
    // A stopped server still accepts connections (the kernel does) but never answers.
    m.signal("STOP");
    let lost = impatient.charge(&card.token, 1500, "usd", "pay_lost").await;
    m.signal("CONT");
    assert_eq!(lost, Err(GatewayError::Timeout));
    // The lost request may yet be served now; either way the retry names the one charge.
    let ch = reference(
        gw.charge(&card.token, 1500, "usd", "pay_lost")
            .await
            .unwrap(),
    );
    let held = m.charges().await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["id"], ch.as_str());
}
