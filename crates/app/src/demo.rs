//! Demo data: a realistic organisation with a year of history (written by `ledgerdesk demo`
//! and by `serve` on a new database), so every screen has something real to show.
//!
//! What `load` creates, all through the ordinary use cases (nothing is written behind their
//! back, so every invariant of BILLING.md holds afterwards):
//! - The organisation "Northwind Cloud" (seller country DE) with the fixed key
//!   [`DEMO_API_KEY`].
//! - Tax rates: DE 19 %, FR 20 %, NL 21 %, GB 20 %, US-CA 7.25 %.
//! - A catalog priced in USD and EUR in every pricing model: Starter and Pro (flat,
//!   monthly), Pro yearly, Business (per seat), API calls (graduated, with a flat fee on the
//!   first tier), Storage (volume), SMS (package of 1,000), Pro EU (EUR only, VAT
//!   inclusive), Premium Support (quarterly), API overage (metered) and Onboarding (one-time).
//!   Coupons: 20 % once, 10 % for 3 periods, 5.00 USD off Starter forever.
//! - About 200 customers in DE, FR, NL, US (CA, NY), GB and RU — companies and people,
//!   English and Russian (locale `ru`, some names in Cyrillic), several time zones, EU B2B
//!   customers with VAT ids (reverse charge), a few tax-exempt ones, contacts and metadata.
//! - Twelve months of history ending at `now`: customers arrive over the year and subscribe
//!   (some with a trial, calendar alignment or a coupon); a daily bill run invoices every
//!   renewal at its historical time; in between, upgrades, downgrades, quantity changes,
//!   cancellations (at period end and immediate with proration), one-off invoices (one left
//!   as a draft), credit notes, voids, write-offs and retention discounts happen.
//!
//! The history is pseudo-random but seeded, so every load tells the same story. The clock
//! is simulated by passing historical instants in [`Ctx`]; nothing here reads the clock.

use crate::catalog::{
    self, CouponCreate, CurrencyAmountInput, DecimalInput, PriceCreate, ProductCreate, Recurring,
    TaxRateCreate, TierInput,
};
use crate::customers::{self, Address, ContactInput, CustomerCreate, TaxIdInput};
use crate::invoicing::{
    self, CreditNoteCreate, CreditNoteLineCreate, Invoice, InvoiceCreate, LineCreate,
};
use crate::subscriptions::{
    self, DiscountCreate, ItemChange, ItemCreate, Subscription, SubscriptionCancel,
    SubscriptionChange, SubscriptionCreate,
};
use crate::{Ctx, Result};
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use store::Db;

/// The fixed API key of the demo organisation, printed by `serve` and `demo`.
pub const DEMO_API_KEY: &str = "sk_demo_ledgerdesk_0000000000000000";

/// What `load` created.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub org_id: String,
    pub api_key: String,
    pub customers: u64,
    pub subscriptions: u64,
    pub invoices: u64,
    pub credit_notes: u64,
    pub payments: u64,
    /// Sign-in emails of the demo staff (agent, supervisor, admin) and of one customer's
    /// portal login; all use [`DEMO_PASSWORD`].
    pub staff_emails: Vec<String>,
    pub portal_email: Option<String>,
}

/// The password of the demo's staff and portal logins.
pub const DEMO_PASSWORD: &str = "ledgerdesk-demo";

/// Number of demo customers.
const CUSTOMERS: usize = 200;
/// Days of history.
const DAYS: i64 = 365;
/// The seed of the story.
const SEED: u64 = 0x4e6f_7274_6877_696e;

/// Loads the demo organisation with history up to `now`.
pub async fn load(db: &Db, now: DateTime<Utc>) -> Result<DemoSummary> {
    let org = crate::orgs::create_org(db, "Northwind Cloud", "DE", now).await?;
    crate::orgs::add_api_key(db, &org.org_id, "demo", DEMO_API_KEY, now).await?;
    let start = now - Duration::days(DAYS);
    let ctx = Ctx::new(org.org_id.clone(), start);
    tax_rates(db, &ctx).await?;
    let cat = build_catalog(db, &ctx).await?;
    let mut sim = Sim {
        db,
        org_id: org.org_id.clone(),
        start,
        rng: StdRng::seed_from_u64(SEED),
        cat,
        customers: Vec::new(),
        subs: Vec::new(),
        touched: BTreeSet::new(),
        drafts: Vec::new(),
        counts: Counts::default(),
        gateway: gateway::Gateway::Sandbox(gateway::Sandbox::new()),
    };
    sim.run(start, now).await?;
    let payments = {
        let mut tx = db.read().await?;
        store::bench::count_succeeded_payments(&mut tx, &org.org_id).await? as u64
    };
    let live: Vec<String> = sim
        .subs
        .iter()
        .filter(|s| !s.ended)
        .map(|s| sim.customers[s.customer].id.clone())
        .collect();
    let (staff_emails, portal_email) = desk_demo(db, &org.org_id, &live, now).await?;
    Ok(DemoSummary {
        staff_emails,
        portal_email,
        org_id: org.org_id,
        api_key: DEMO_API_KEY.into(),
        customers: sim.counts.customers,
        subscriptions: sim.counts.subscriptions,
        invoices: sim.counts.invoices,
        credit_notes: sim.counts.credit_notes,
        payments,
    })
}

/// The service desk's demo: three staff users, a portal login for one customer with a live
/// subscription, and a few open tickets about real invoices.
async fn desk_demo(
    db: &Db,
    org: &str,
    live_customers: &[String],
    now: DateTime<Utc>,
) -> Result<(Vec<String>, Option<String>)> {
    use crate::desk::{portal, staff, tickets, StaffCtx};
    let sctx = StaffCtx::api_key(Ctx::new(org, now));
    let people = [
        ("alex.agent@northwind.example", "Alex Agent", "agent", "en"),
        (
            "sam.supervisor@northwind.example",
            "Sam Supervisor",
            "supervisor",
            "en",
        ),
        ("dana.admin@northwind.example", "Дана Админ", "admin", "ru"),
    ];
    let mut emails = Vec::new();
    for (email, name, role, locale) in people {
        staff::create(
            db,
            &sctx,
            staff::StaffInput {
                email: email.into(),
                name: name.into(),
                role: role.into(),
                password: DEMO_PASSWORD.into(),
                team: None,
                locale: Some(locale.into()),
                capacity: None,
            },
        )
        .await?;
        emails.push(email.to_string());
    }
    let mut portal_email = None;
    let mut asked = 0;
    for cid in live_customers {
        let c = crate::customers::get(db, &sctx.ctx, cid).await?;
        let Some(email) = c.email.clone() else {
            continue;
        };
        if portal_email.is_none() {
            portal::create(
                db,
                &sctx,
                cid,
                portal::PortalUserInput {
                    email: email.clone(),
                    password: Some(DEMO_PASSWORD.into()),
                },
            )
            .await?;
            portal_email = Some(email.clone());
        }
        let invoice = crate::invoicing::list(db, &sctx.ctx, Some(cid), None, None, None, Some(1))
            .await?
            .data
            .into_iter()
            .next();
        let (subject, body, category) = match asked {
            0 => (
                "Question about my last invoice",
                "Hello, why is my last invoice higher than the month before? Thanks.",
                "invoice_discrepancy",
            ),
            1 => (
                "Card payment failed",
                "My card payment did not go through, can you try again?",
                "payment_issue",
            ),
            _ => (
                "Счёт на оплату",
                "Здравствуйте! Можно ли оплатить счёт банковским переводом?",
                "payment_terms",
            ),
        };
        tickets::create(
            db,
            &StaffCtx::system(Ctx::new(org, now)),
            tickets::CreateTicket {
                customer: Some(cid.clone()),
                requester_email: Some(email),
                requester_name: Some(c.name.clone()),
                subject: subject.into(),
                body: Some(body.into()),
                channel: Some("email".into()),
                category: Some(category.into()),
                priority: None,
                team: None,
                assignee: None,
                tags: Vec::new(),
                links: invoice
                    .map(|i| {
                        vec![tickets::LinkInput {
                            object_type: "invoice".into(),
                            id: i.id,
                        }]
                    })
                    .unwrap_or_default(),
            },
        )
        .await?;
        asked += 1;
        if asked == 3 {
            break;
        }
    }
    Ok((emails, portal_email))
}

// ---------------------------------------------------------------------------------------
// Tax rates and catalog

async fn tax_rates(db: &Db, ctx: &Ctx) -> Result<()> {
    let rates = [
        ("USt. 19 %", "19", "DE", None),
        ("TVA 20 %", "20", "FR", None),
        ("BTW 21 %", "21", "NL", None),
        ("VAT 20 %", "20", "GB", None),
        ("CA sales tax 7.25 %", "7.25", "US", Some("CA")),
    ];
    for (name, pct, country, region) in rates {
        catalog::create_tax_rate(
            db,
            ctx,
            &TaxRateCreate {
                display_name: name.into(),
                percentage: DecimalInput::Text(pct.into()),
                country: country.into(),
                region: region.map(str::to_string),
            },
        )
        .await?;
    }
    Ok(())
}

/// What a price is, for choosing plan changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Starter,
    Pro,
    ProEu,
    Business,
    ProYearly,
    ApiCalls,
    Storage,
    Sms,
    Support,
    Overage,
}

struct Catalog {
    starter: String,
    pro: String,
    pro_eu: String,
    business: String,
    pro_yearly: String,
    api_calls: String,
    storage: String,
    sms: String,
    support: String,
    overage: String,
    onboarding: String,
    kinds: BTreeMap<String, Kind>,
    welcome20: String,
    loyal10: String,
    starter5_usd: String,
}

impl Catalog {
    fn kind(&self, price: &str) -> Option<Kind> {
        self.kinds.get(price).copied()
    }
}

fn flat(amount: i64) -> CurrencyAmountInput {
    CurrencyAmountInput {
        amount: Some(amount),
        ..Default::default()
    }
}

fn per_unit(amount: i64) -> CurrencyAmountInput {
    CurrencyAmountInput {
        unit_amount: Some(amount),
        ..Default::default()
    }
}

fn package(amount: i64, size: u64) -> CurrencyAmountInput {
    CurrencyAmountInput {
        amount: Some(amount),
        package_size: Some(size),
        ..Default::default()
    }
}

/// Tiers as (up_to, unit amount as a decimal string, flat fee).
fn tiers(t: &[(Option<u64>, &str, i64)]) -> CurrencyAmountInput {
    CurrencyAmountInput {
        tiers: Some(
            t.iter()
                .map(|(up_to, unit, fee)| TierInput {
                    up_to: *up_to,
                    unit_amount: None,
                    unit_amount_decimal: Some((*unit).into()),
                    flat_amount: (*fee != 0).then_some(*fee),
                })
                .collect(),
        ),
        ..Default::default()
    }
}

fn recurring(interval: &str, count: u32, usage_type: &str) -> Option<Recurring> {
    Some(Recurring {
        interval: interval.into(),
        interval_count: count,
        usage_type: usage_type.into(),
    })
}

fn usd_eur(
    usd: CurrencyAmountInput,
    eur: CurrencyAmountInput,
) -> BTreeMap<String, CurrencyAmountInput> {
    BTreeMap::from([("USD".to_string(), usd), ("EUR".to_string(), eur)])
}

async fn product(db: &Db, ctx: &Ctx, name: &str, description: &str) -> Result<String> {
    Ok(catalog::create_product(
        db,
        ctx,
        &ProductCreate {
            name: name.into(),
            description: Some(description.into()),
        },
    )
    .await?
    .id)
}

#[allow(clippy::too_many_arguments)]
async fn price(
    db: &Db,
    ctx: &Ctx,
    product: &str,
    nickname: &str,
    recurring: Option<Recurring>,
    model: &str,
    tax_behavior: Option<&str>,
    currency_amounts: BTreeMap<String, CurrencyAmountInput>,
) -> Result<String> {
    Ok(catalog::create_price(
        db,
        ctx,
        &PriceCreate {
            product: product.into(),
            nickname: Some(nickname.into()),
            recurring,
            model: model.into(),
            tax_behavior: tax_behavior.map(str::to_string),
            currency_amounts,
        },
    )
    .await?
    .id)
}

async fn build_catalog(db: &Db, ctx: &Ctx) -> Result<Catalog> {
    let monthly = || recurring("month", 1, "licensed");
    let p_starter = product(db, ctx, "Starter", "For small teams getting started").await?;
    let p_pro = product(db, ctx, "Pro", "Everything a growing business needs").await?;
    let p_business = product(db, ctx, "Business", "Per-seat plan with SSO and audit log").await?;
    let p_api = product(db, ctx, "API calls", "Requests to the Northwind API").await?;
    let p_storage = product(db, ctx, "Storage", "Object storage, per GB").await?;
    let p_sms = product(db, ctx, "SMS", "Text messages, sold in packs of 1,000").await?;
    let p_support = product(db, ctx, "Premium Support", "24/7 support with a 1-hour SLA").await?;
    let p_onboarding = product(db, ctx, "Onboarding", "Guided setup and data import").await?;

    let starter = price(
        db,
        ctx,
        &p_starter,
        "Starter monthly",
        monthly(),
        "flat",
        None,
        usd_eur(flat(2900), flat(2700)),
    )
    .await?;
    let pro = price(
        db,
        ctx,
        &p_pro,
        "Pro monthly",
        monthly(),
        "flat",
        None,
        usd_eur(flat(9900), flat(8900)),
    )
    .await?;
    let pro_eu = price(
        db,
        ctx,
        &p_pro,
        "Pro monthly (EU, VAT included)",
        monthly(),
        "flat",
        Some("inclusive"),
        BTreeMap::from([("EUR".to_string(), flat(10900))]),
    )
    .await?;
    let pro_yearly = price(
        db,
        ctx,
        &p_pro,
        "Pro yearly",
        recurring("year", 1, "licensed"),
        "flat",
        None,
        usd_eur(flat(99000), flat(89000)),
    )
    .await?;
    let business = price(
        db,
        ctx,
        &p_business,
        "Business per seat",
        monthly(),
        "per_unit",
        None,
        usd_eur(per_unit(1500), per_unit(1400)),
    )
    .await?;
    let api_calls = price(
        db,
        ctx,
        &p_api,
        "API calls (graduated)",
        monthly(),
        "graduated",
        None,
        usd_eur(
            tiers(&[
                (Some(10_000), "0", 1000),
                (Some(100_000), "0.2", 0),
                (None, "0.1", 0),
            ]),
            tiers(&[
                (Some(10_000), "0", 900),
                (Some(100_000), "0.18", 0),
                (None, "0.09", 0),
            ]),
        ),
    )
    .await?;
    let storage = price(
        db,
        ctx,
        &p_storage,
        "Storage per GB (volume)",
        monthly(),
        "volume",
        None,
        usd_eur(
            tiers(&[(Some(100), "25", 0), (Some(1000), "20", 0), (None, "15", 0)]),
            tiers(&[(Some(100), "23", 0), (Some(1000), "18", 0), (None, "14", 0)]),
        ),
    )
    .await?;
    let sms = price(
        db,
        ctx,
        &p_sms,
        "SMS per started 1,000",
        monthly(),
        "package",
        None,
        usd_eur(package(900, 1000), package(800, 1000)),
    )
    .await?;
    let support = price(
        db,
        ctx,
        &p_support,
        "Premium Support quarterly",
        recurring("month", 3, "licensed"),
        "flat",
        None,
        usd_eur(flat(29900), flat(27900)),
    )
    .await?;
    let overage = price(
        db,
        ctx,
        &p_api,
        "API overage (metered)",
        recurring("month", 1, "metered"),
        "per_unit",
        None,
        usd_eur(
            CurrencyAmountInput {
                unit_amount_decimal: Some("0.05".into()),
                ..Default::default()
            },
            CurrencyAmountInput {
                unit_amount_decimal: Some("0.045".into()),
                ..Default::default()
            },
        ),
    )
    .await?;
    let onboarding = price(
        db,
        ctx,
        &p_onboarding,
        "Onboarding package",
        None,
        "flat",
        None,
        usd_eur(flat(50000), flat(45000)),
    )
    .await?;

    let coupon = |name: &str,
                  pct: Option<&str>,
                  amount_off: Option<i64>,
                  duration: &str,
                  periods: Option<u32>,
                  products: Option<Vec<String>>| CouponCreate {
        name: name.into(),
        percent_off: pct.map(|p| DecimalInput::Text(p.into())),
        amount_off,
        currency: amount_off.map(|_| "USD".to_string()),
        duration: duration.into(),
        duration_in_periods: periods,
        applies_to_products: products,
    };
    let welcome20 = catalog::create_coupon(
        db,
        ctx,
        &coupon(
            "WELCOME20: 20 % off the first invoice",
            Some("20"),
            None,
            "once",
            None,
            None,
        ),
    )
    .await?
    .id;
    let loyal10 = catalog::create_coupon(
        db,
        ctx,
        &coupon(
            "LOYAL10: 10 % off for 3 months",
            Some("10"),
            None,
            "repeating",
            Some(3),
            None,
        ),
    )
    .await?
    .id;
    let starter5_usd = catalog::create_coupon(
        db,
        ctx,
        &coupon(
            "STARTER5: 5.00 USD off Starter, forever",
            None,
            Some(500),
            "forever",
            None,
            Some(vec![p_starter.clone()]),
        ),
    )
    .await?
    .id;

    let kinds = BTreeMap::from([
        (starter.clone(), Kind::Starter),
        (pro.clone(), Kind::Pro),
        (pro_eu.clone(), Kind::ProEu),
        (business.clone(), Kind::Business),
        (pro_yearly.clone(), Kind::ProYearly),
        (api_calls.clone(), Kind::ApiCalls),
        (storage.clone(), Kind::Storage),
        (sms.clone(), Kind::Sms),
        (support.clone(), Kind::Support),
        (overage.clone(), Kind::Overage),
    ]);
    Ok(Catalog {
        starter,
        pro,
        pro_eu,
        business,
        pro_yearly,
        api_calls,
        storage,
        sms,
        support,
        overage,
        onboarding,
        kinds,
        welcome20,
        loyal10,
        starter5_usd,
    })
}

// ---------------------------------------------------------------------------------------
// Customers

struct CityInfo {
    city: &'static str,
    postal: &'static str,
    region: Option<&'static str>,
}

const fn city(city: &'static str, postal: &'static str, region: Option<&'static str>) -> CityInfo {
    CityInfo {
        city,
        postal,
        region,
    }
}

/// A market: where customers live and what they look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Market {
    De,
    Fr,
    Nl,
    UsCa,
    UsNy,
    Gb,
    Ru,
}

impl Market {
    fn country(self) -> &'static str {
        match self {
            Market::De => "DE",
            Market::Fr => "FR",
            Market::Nl => "NL",
            Market::UsCa | Market::UsNy => "US",
            Market::Gb => "GB",
            Market::Ru => "RU",
        }
    }

    fn currency(self) -> &'static str {
        match self {
            Market::De | Market::Fr | Market::Nl | Market::Ru => "EUR",
            Market::UsCa | Market::UsNy | Market::Gb => "USD",
        }
    }

    fn time_zone(self) -> &'static str {
        match self {
            Market::De => "Europe/Berlin",
            Market::Fr => "Europe/Paris",
            Market::Nl => "Europe/Amsterdam",
            Market::UsCa => "America/Los_Angeles",
            Market::UsNy => "America/New_York",
            Market::Gb => "UTC",
            Market::Ru => "Europe/Moscow",
        }
    }

    fn tld(self) -> &'static str {
        match self {
            Market::De => "de",
            Market::Fr => "fr",
            Market::Nl => "nl",
            Market::UsCa | Market::UsNy => "com",
            Market::Gb => "co.uk",
            Market::Ru => "ru",
        }
    }

    fn cities(self) -> &'static [CityInfo] {
        const DE: &[CityInfo] = &[
            city("Berlin", "10115", None),
            city("München", "80331", None),
            city("Hamburg", "20095", None),
            city("Köln", "50667", None),
            city("Frankfurt am Main", "60311", None),
            city("Leipzig", "04109", None),
        ];
        const FR: &[CityInfo] = &[
            city("Paris", "75002", None),
            city("Lyon", "69002", None),
            city("Marseille", "13001", None),
            city("Toulouse", "31000", None),
            city("Bordeaux", "33000", None),
            city("Lille", "59000", None),
        ];
        const NL: &[CityInfo] = &[
            city("Amsterdam", "1012 AB", None),
            city("Rotterdam", "3011 AA", None),
            city("Utrecht", "3511 AB", None),
            city("Den Haag", "2511 AA", None),
            city("Eindhoven", "5611 AA", None),
        ];
        const CA: &[CityInfo] = &[
            city("San Francisco", "94105", Some("CA")),
            city("Los Angeles", "90012", Some("CA")),
            city("San Diego", "92101", Some("CA")),
            city("San Jose", "95113", Some("CA")),
            city("Oakland", "94612", Some("CA")),
        ];
        const NY: &[CityInfo] = &[
            city("New York", "10001", Some("NY")),
            city("Brooklyn", "11201", Some("NY")),
            city("Buffalo", "14202", Some("NY")),
            city("Rochester", "14604", Some("NY")),
            city("Albany", "12207", Some("NY")),
        ];
        const GB: &[CityInfo] = &[
            city("London", "EC1A 1BB", None),
            city("Manchester", "M1 1AE", None),
            city("Bristol", "BS1 4DJ", None),
            city("Edinburgh", "EH1 1YZ", None),
            city("Leeds", "LS1 4DY", None),
        ];
        const RU: &[CityInfo] = &[
            city("Москва", "101000", None),
            city("Санкт-Петербург", "190000", None),
            city("Новосибирск", "630099", None),
            city("Екатеринбург", "620014", None),
            city("Казань", "420111", None),
        ];
        match self {
            Market::De => DE,
            Market::Fr => FR,
            Market::Nl => NL,
            Market::UsCa => CA,
            Market::UsNy => NY,
            Market::Gb => GB,
            Market::Ru => RU,
        }
    }

    fn streets(self) -> &'static [&'static str] {
        match self {
            Market::De => &[
                "Friedrichstraße",
                "Hauptstraße",
                "Bahnhofstraße",
                "Schillerstraße",
                "Goethestraße",
                "Lindenallee",
            ],
            Market::Fr => &[
                "rue de Rivoli",
                "rue Victor Hugo",
                "boulevard Haussmann",
                "rue de la République",
                "avenue Jean Jaurès",
            ],
            Market::Nl => &[
                "Keizersgracht",
                "Herengracht",
                "Damrak",
                "Coolsingel",
                "Oudegracht",
            ],
            Market::UsCa => &[
                "Market Street",
                "Mission Street",
                "Sunset Boulevard",
                "Broadway",
                "Main Street",
            ],
            Market::UsNy => &[
                "5th Avenue",
                "Broadway",
                "Madison Avenue",
                "Court Street",
                "State Street",
            ],
            Market::Gb => &[
                "High Street",
                "King's Road",
                "Baker Street",
                "Deansgate",
                "Princes Street",
            ],
            Market::Ru => &[
                "ул. Тверская",
                "Невский проспект",
                "ул. Ленина",
                "ул. Гагарина",
                "проспект Мира",
            ],
        }
    }

    fn address_line(self, rng: &mut StdRng) -> String {
        let street = pick(rng, self.streets());
        let n = rng.random_range(1..=180);
        match self {
            Market::De | Market::Nl => format!("{street} {n}"),
            Market::Ru => format!("{street}, д. {n}"),
            Market::Fr => format!("{n} {street}"),
            _ => format!("{n} {street}"),
        }
    }

    fn phone(self, rng: &mut StdRng) -> String {
        let mut digits = |n: usize| -> String {
            (0..n)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect()
        };
        match self {
            Market::De => format!("+49 30 {}", digits(7)),
            Market::Fr => {
                let d = digits(8);
                format!("+33 1 {} {} {} {}", &d[0..2], &d[2..4], &d[4..6], &d[6..8])
            }
            Market::Nl => format!("+31 20 {} {}", digits(3), digits(4)),
            Market::UsCa => format!("+1 415-555-{}", digits(4)),
            Market::UsNy => format!("+1 212-555-{}", digits(4)),
            Market::Gb => format!("+44 20 7946 {}", digits(4)),
            Market::Ru => format!("+7 495 {}-{}-{}", digits(3), digits(2), digits(2)),
        }
    }

    fn company_suffix(self, rng: &mut StdRng) -> &'static str {
        let options: &[&'static str] = match self {
            Market::De => &["GmbH", "GmbH", "AG", "UG"],
            Market::Fr => &["SAS", "SARL", "SA"],
            Market::Nl => &["B.V."],
            Market::UsCa | Market::UsNy => &["Inc.", "LLC", "Corp."],
            Market::Gb => &["Ltd", "Ltd", "plc"],
            Market::Ru => &["LLC"],
        };
        options[rng.random_range(0..options.len())]
    }

    fn company_prefixes(self) -> &'static [&'static str] {
        match self {
            Market::De => &[
                "Rheinwerk",
                "Alpenblick",
                "Nordlicht",
                "Elbtal",
                "Isarwerk",
                "Spreewald",
                "Schwarzwald",
                "Bergmann & Söhne",
                "Weber",
                "Lindenhof",
            ],
            Market::Fr => &[
                "Lumière",
                "Belle Rive",
                "Montclair",
                "Atelier Durand",
                "Côte Bleue",
                "Vallée",
                "Bastille",
                "Marchand & Fils",
                "Soleil",
            ],
            Market::Nl => &[
                "Van Dijk", "Oranje", "Dijkstra", "Grachten", "Tulp", "Zeeland", "Polder",
                "De Molen", "Vermeer",
            ],
            _ => &[
                "Acme",
                "Blue Harbor",
                "Evergreen",
                "Summit",
                "Bright Path",
                "Northstar",
                "Silverline",
                "Redwood",
                "Ironclad",
                "Harbor Light",
                "Crescent",
                "Pinecrest",
                "Granite Peak",
                "Lighthouse",
                "Copperleaf",
                "Oakridge",
                "Falcon",
                "Riverbend",
            ],
        }
    }

    /// Person names as (first, last), with an ASCII form for e-mail addresses.
    fn person(self, rng: &mut StdRng) -> (String, String) {
        let (firsts, lasts): (&[&str], &[&str]) = match self {
            Market::De => (
                &[
                    "Lukas",
                    "Anna",
                    "Jonas",
                    "Lena",
                    "Felix",
                    "Marie",
                    "Paul",
                    "Sophie",
                    "Maximilian",
                    "Hannah",
                ],
                &[
                    "Müller",
                    "Schmidt",
                    "Schneider",
                    "Fischer",
                    "Weber",
                    "Wagner",
                    "Becker",
                    "Hoffmann",
                ],
            ),
            Market::Fr => (
                &[
                    "Julien", "Camille", "Louis", "Chloé", "Hugo", "Léa", "Arthur", "Manon",
                    "Gabriel", "Inès",
                ],
                &[
                    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
                ],
            ),
            Market::Nl => (
                &[
                    "Daan", "Sanne", "Bram", "Lotte", "Sem", "Fleur", "Jesse", "Eva", "Thijs",
                    "Noor",
                ],
                &[
                    "de Jong",
                    "Jansen",
                    "de Vries",
                    "van den Berg",
                    "Bakker",
                    "Visser",
                    "Smit",
                    "Meijer",
                ],
            ),
            Market::Gb => (
                &[
                    "Oliver",
                    "Charlotte",
                    "Harry",
                    "Amelia",
                    "George",
                    "Isla",
                    "Jack",
                    "Emily",
                    "Thomas",
                    "Grace",
                ],
                &[
                    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Clarke",
                ],
            ),
            _ => (
                &[
                    "James", "Emily", "Michael", "Sarah", "David", "Olivia", "Daniel", "Jessica",
                    "Ryan", "Ashley",
                ],
                &[
                    "Johnson",
                    "Miller",
                    "Davis",
                    "Garcia",
                    "Rodriguez",
                    "Anderson",
                    "Walker",
                    "Nguyen",
                ],
            ),
        };
        (pick(rng, firsts).to_string(), pick(rng, lasts).to_string())
    }
}

/// Russian first names: (Cyrillic, Latin, female).
const RU_FIRST: &[(&str, &str, bool)] = &[
    ("Иван", "Ivan", false),
    ("Дмитрий", "Dmitry", false),
    ("Сергей", "Sergey", false),
    ("Алексей", "Alexey", false),
    ("Николай", "Nikolay", false),
    ("Анна", "Anna", true),
    ("Екатерина", "Ekaterina", true),
    ("Ольга", "Olga", true),
    ("Мария", "Maria", true),
    ("Татьяна", "Tatiana", true),
];

/// Russian surnames: (Cyrillic male, Cyrillic female, Latin male, Latin female).
const RU_LAST: &[(&str, &str, &str, &str)] = &[
    ("Петров", "Петрова", "Petrov", "Petrova"),
    ("Иванов", "Иванова", "Ivanov", "Ivanova"),
    ("Смирнов", "Смирнова", "Smirnov", "Smirnova"),
    ("Кузнецов", "Кузнецова", "Kuznetsov", "Kuznetsova"),
    ("Соколов", "Соколова", "Sokolov", "Sokolova"),
    ("Попов", "Попова", "Popov", "Popova"),
    ("Лебедев", "Лебедева", "Lebedev", "Lebedeva"),
    ("Новиков", "Новикова", "Novikov", "Novikova"),
];

/// Roots of Russian company names: (Cyrillic, Latin).
const RU_ROOT: &[(&str, &str)] = &[
    ("Север", "Sever"),
    ("Волга", "Volga"),
    ("Урал", "Ural"),
    ("Нева", "Neva"),
    ("Байкал", "Baikal"),
    ("Сибирь", "Sibir"),
    ("Ладога", "Ladoga"),
    ("Алтай", "Altai"),
    ("Кама", "Kama"),
    ("Онега", "Onega"),
];

const RU_CORE: &[(&str, &str)] = &[
    ("Софт", "Soft"),
    ("Логистик", "Logistic"),
    ("Дата", "Data"),
    ("Телеком", "Telecom"),
    ("Трейд", "Trade"),
    ("Медиа", "Media"),
    ("Системс", "Systems"),
];

const INDUSTRIES: &[&str] = &[
    "Analytics",
    "Logistics",
    "Software",
    "Labs",
    "Media",
    "Health",
    "Robotics",
    "Foods",
    "Design",
    "Consulting",
    "Energy",
    "Payments",
    "Travel",
    "Studios",
    "Security",
];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Lowercase ASCII letters and digits of `s` (for e-mail addresses and domains).
fn slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            'ä' | 'Ä' => Some('a'),
            'ö' | 'Ö' => Some('o'),
            'ü' | 'Ü' => Some('u'),
            'é' | 'è' | 'ê' | 'É' => Some('e'),
            'ç' => Some('c'),
            'ô' => Some('o'),
            'ß' => Some('s'),
            _ => None,
        })
        .collect()
}

fn digits(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// One generated customer, ready for `customers::create`.
fn customer_input(rng: &mut StdRng, i: usize, used: &mut BTreeSet<String>) -> CustomerCreate {
    let market = match rng.random_range(0..100) {
        0..=24 => Market::De,
        25..=36 => Market::Fr,
        37..=46 => Market::Nl,
        47..=60 => Market::UsCa,
        61..=73 => Market::UsNy,
        74..=84 => Market::Gb,
        _ => Market::Ru,
    };
    let company = rng.random_bool(0.8);
    let cyrillic = market == Market::Ru && rng.random_bool(0.5);
    let industry = *pick(rng, INDUSTRIES);
    // Name and the ASCII domain or mailbox derived from it; retried until unused.
    let mut attempt = 0;
    let (name, mail_slug) = loop {
        attempt += 1;
        let (n, s) = if market == Market::Ru {
            if company {
                let (rc, rl) = *pick(rng, RU_ROOT);
                let (cc, cl) = *pick(rng, RU_CORE);
                if cyrillic {
                    let form = pick(rng, &["ООО", "АО"]);
                    (format!("{form} «{rc}{cc}»"), slug(&format!("{rl}{cl}")))
                } else {
                    (format!("{rl} {cl} LLC"), slug(&format!("{rl}{cl}")))
                }
            } else {
                let (fc, fl, female) = *pick(rng, RU_FIRST);
                let (lm, lf, llm, llf) = *pick(rng, RU_LAST);
                let (lc, ll) = if female { (lf, llf) } else { (lm, llm) };
                let s = format!("{}.{}", slug(fl), slug(ll));
                if cyrillic {
                    (format!("{fc} {lc}"), s)
                } else {
                    (format!("{fl} {ll}"), s)
                }
            }
        } else if company {
            let prefix = *pick(rng, market.company_prefixes());
            let suffix = market.company_suffix(rng);
            (
                format!("{prefix} {industry} {suffix}"),
                slug(&format!("{prefix}{industry}")),
            )
        } else {
            let (f, l) = market.person(rng);
            (format!("{f} {l}"), format!("{}.{}", slug(&f), slug(&l)))
        };
        if used.insert(n.clone()) {
            break (n, s);
        }
        if attempt > 20 {
            let n = format!("{n} ({i})");
            used.insert(n.clone());
            break (n, format!("{s}{i}"));
        }
    };
    let domain = format!("{mail_slug}.{}", market.tld());
    let email = if company {
        format!("billing@{domain}")
    } else {
        let host = match market {
            Market::Ru => pick(rng, &["yandex.ru", "mail.ru", "gmail.com"]),
            Market::De => pick(rng, &["gmx.de", "web.de", "gmail.com"]),
            Market::Fr => pick(rng, &["orange.fr", "gmail.com"]),
            _ => pick(rng, &["gmail.com", "outlook.com", "icloud.com"]),
        };
        format!("{mail_slug}@{host}")
    };
    let c = pick(rng, market.cities());
    let address = Address {
        line1: Some(market.address_line(rng)),
        line2: (company && rng.random_bool(0.3)).then(|| match market {
            Market::Ru => format!("офис {}", rng.random_range(1..=40)),
            Market::De => format!("{}. Etage", rng.random_range(1..=6)),
            _ => format!("Suite {}", rng.random_range(100..=900)),
        }),
        city: Some(c.city.into()),
        postal_code: Some(c.postal.into()),
        region: c.region.map(str::to_string),
        country: Some(market.country().into()),
    };
    let mut tax_ids = Vec::new();
    if company {
        match market {
            Market::Fr if rng.random_bool(0.7) => tax_ids.push(TaxIdInput {
                kind: "eu_vat".into(),
                value: format!("FR{}", digits(rng, 11)),
            }),
            Market::Nl if rng.random_bool(0.7) => tax_ids.push(TaxIdInput {
                kind: "eu_vat".into(),
                value: format!("NL{}B01", digits(rng, 9)),
            }),
            Market::De if rng.random_bool(0.5) => tax_ids.push(TaxIdInput {
                kind: "eu_vat".into(),
                value: format!("DE{}", digits(rng, 9)),
            }),
            Market::Gb if rng.random_bool(0.5) => tax_ids.push(TaxIdInput {
                kind: "gb_vat".into(),
                value: format!("GB{}", digits(rng, 9)),
            }),
            Market::UsCa | Market::UsNy if rng.random_bool(0.4) => tax_ids.push(TaxIdInput {
                kind: "us_ein".into(),
                value: format!("{}-{}", digits(rng, 2), digits(rng, 7)),
            }),
            Market::Ru if rng.random_bool(0.6) => tax_ids.push(TaxIdInput {
                kind: "ru_inn".into(),
                value: digits(rng, 10),
            }),
            _ => {}
        }
    }
    // Non-profits and universities in the US buy tax-free.
    let tax_exempt =
        company && matches!(market, Market::UsCa | Market::UsNy) && rng.random_bool(0.1);
    let mut contacts = Vec::new();
    if company {
        let roles: &[&str] = match rng.random_range(0..3) {
            0 => &["billing"],
            1 => &["primary", "billing"],
            _ => &["primary", "billing", "technical"],
        };
        for role in roles {
            let (display, mailbox) = if market == Market::Ru {
                let (fc, fl, female) = *pick(rng, RU_FIRST);
                let (lm, lf, llm, llf) = *pick(rng, RU_LAST);
                let (lc, ll) = if female { (lf, llf) } else { (lm, llm) };
                let mailbox = format!("{}.{}", slug(fl), slug(ll));
                if cyrillic {
                    (format!("{fc} {lc}"), mailbox)
                } else {
                    (format!("{fl} {ll}"), mailbox)
                }
            } else {
                let (f, l) = market.person(rng);
                (format!("{f} {l}"), format!("{}.{}", slug(&f), slug(&l)))
            };
            contacts.push(ContactInput {
                name: display,
                email: Some(format!("{mailbox}@{domain}")),
                phone: rng.random_bool(0.6).then(|| market.phone(rng)),
                role: Some((*role).into()),
            });
        }
    }
    let segment = if company {
        *pick(
            rng,
            &[
                "smb",
                "smb",
                "smb",
                "mid_market",
                "mid_market",
                "enterprise",
            ],
        )
    } else {
        "individual"
    };
    let mut metadata = BTreeMap::from([
        ("segment".to_string(), segment.to_string()),
        (
            "source".to_string(),
            pick(rng, &["website", "website", "sales", "partner", "referral"]).to_string(),
        ),
        ("crm_id".to_string(), format!("NW-{:05}", 10_000 + i)),
    ]);
    if company {
        metadata.insert("industry".into(), industry.to_lowercase());
    }
    if tax_exempt {
        metadata.insert(
            "tax_exemption".into(),
            format!("certificate EX-{}", digits(rng, 6)),
        );
    }
    // A few teams run from Tokyo.
    let time_zone = if market != Market::Ru && rng.random_bool(0.05) {
        "Asia/Tokyo"
    } else {
        market.time_zone()
    };
    CustomerCreate {
        name,
        email: Some(email),
        phone: rng.random_bool(0.8).then(|| market.phone(rng)),
        external_id: Some(format!("crm-{:05}", 10_000 + i)),
        time_zone: Some(time_zone.into()),
        locale: Some(if market == Market::Ru { "ru" } else { "en" }.into()),
        currency: market.currency().into(),
        tax_exempt,
        address: Some(address),
        tax_ids,
        contacts,
        metadata,
        // Terms by position, not by the generator, so the rest of the demo stays as it was:
        // a third due on receipt, a third net 14, a third net 30; every fourth charged
        // automatically.
        collection_method: Some(
            if i.is_multiple_of(4) {
                "charge_automatically"
            } else {
                "send_invoice"
            }
            .into(),
        ),
        days_until_due: Some([0, 14, 30][i % 3]),
        test_clock: None,
    }
}

// ---------------------------------------------------------------------------------------
// The simulation

#[derive(Debug, Default)]
struct Counts {
    customers: u64,
    subscriptions: u64,
    invoices: u64,
    credit_notes: u64,
}

struct CustomerRec {
    id: String,
    currency: String,
}

struct SubRec {
    id: String,
    customer: usize,
    ended: bool,
}

/// Things that happen on a day, in order of their minute.
#[derive(Debug, Clone, Copy)]
enum Event {
    NewCustomer(usize),
    SecondSubscription(usize),
    Random,
    FinalizeDraft(usize),
    Void,
    WriteOff,
}

struct Sim<'a> {
    db: &'a Db,
    org_id: String,
    /// The first day of the history.
    start: DateTime<Utc>,
    rng: StdRng,
    cat: Catalog,
    customers: Vec<CustomerRec>,
    subs: Vec<SubRec>,
    /// Invoices a correction (credit note, void, write-off) already touched.
    touched: BTreeSet<String>,
    /// Drafts waiting to be finalized: (invoice id, day).
    drafts: Vec<(String, i64)>,
    counts: Counts,
    /// The sandbox gateway the automatically charged customers' cards are at.
    gateway: gateway::Gateway,
}

impl Sim<'_> {
    fn ctx(&self, t: DateTime<Utc>) -> Ctx {
        Ctx::new(self.org_id.clone(), t)
    }

    fn invoice_made<T>(&mut self, inv: &Option<T>) {
        if inv.is_some() {
            self.counts.invoices += 1;
        }
    }

    /// The day's money: the job queue charges the cards of customers charged
    /// automatically, and customers who are sent invoices pay some of those due by bank
    /// transfer (about a third of them each day; one in twenty pays half), so the history
    /// has payments, declines, partial payments and a few overdue invoices.
    async fn collect(&mut self, t: DateTime<Utc>) -> Result<()> {
        let worker = crate::jobs::Worker::new(self.db.clone(), self.gateway.clone());
        loop {
            let pass = worker.run_once(t).await?;
            if pass.claimed == 0 && pass.dispatched == 0 {
                break;
            }
        }
        let ctx = self.ctx(t);
        let open = {
            let mut tx = self.db.read().await?;
            store::payments::open_amounts(&mut tx, &self.org_id, None).await?
        };
        for r in open {
            let today = t
                .with_timezone(
                    &billing::period::parse_tz(&r.time_zone)
                        .map_err(|e| crate::AppError::billing("time_zone", e))?,
                )
                .date_naive();
            let due = r.due_date.is_some_and(|d| d <= today);
            if r.collection_method != "send_invoice" || !due || !self.rng.random_bool(0.35) {
                continue;
            }
            let amount = if self.rng.random_bool(0.05) {
                (r.amount_remaining / 2).max(1)
            } else {
                r.amount_remaining
            };
            crate::payments::record(
                self.db,
                &ctx,
                &crate::payments::PaymentCreate {
                    customer: r.customer_id.clone(),
                    amount,
                    currency: Some(r.currency.clone()),
                    method: "bank_transfer".into(),
                    reference: Some(format!("SEPA {}", &r.invoice_id[4..12])),
                    invoice: Some(r.invoice_id.clone()),
                },
            )
            .await?;
        }
        Ok(())
    }

    async fn bill_run(&mut self, t: DateTime<Utc>) -> Result<()> {
        let r = crate::billrun::run(self.db, Some(&self.org_id), t, |_| {}).await?;
        self.counts.invoices += r.invoices_created;
        Ok(())
    }

    async fn run(&mut self, start: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
        // When customers arrive: a cohort in the first weeks, the rest over the year.
        let mut plan: BTreeMap<i64, Vec<(i64, Event)>> = BTreeMap::new();
        for i in 0..CUSTOMERS {
            let day = if self.rng.random_bool(0.5) {
                self.rng.random_range(0..21)
            } else {
                self.rng.random_range(21..DAYS - 10)
            };
            let minute = self.rng.random_range(0..600);
            plan.entry(day)
                .or_default()
                .push((minute, Event::NewCustomer(i)));
            if self.rng.random_bool(0.2) {
                let later = day + self.rng.random_range(7..120);
                if later < DAYS {
                    let m = self.rng.random_range(0..600);
                    plan.entry(later)
                        .or_default()
                        .push((m, Event::SecondSubscription(i)));
                }
            }
        }
        for day in 5..DAYS {
            for _ in 0..self.rng.random_range(0..3) {
                let m = self.rng.random_range(0..600);
                plan.entry(day).or_default().push((m, Event::Random));
            }
        }
        // A few corrections for sure, whatever the dice say.
        for (day, ev) in [
            (95, Event::Void),
            (180, Event::WriteOff),
            (240, Event::Void),
            (300, Event::WriteOff),
            (330, Event::Void),
        ] {
            plan.entry(day).or_default().push((300, ev));
        }
        let mut used_names = BTreeSet::new();
        let mut ids: BTreeMap<usize, usize> = BTreeMap::new();
        for day in 0..=DAYS {
            let t = if day == DAYS {
                now
            } else {
                start + Duration::days(day)
            };
            self.bill_run(t).await?;
            if day == DAYS {
                break;
            }
            let mut events = plan.remove(&day).unwrap_or_default();
            for (i, (_, d)) in self.drafts.iter().enumerate() {
                if *d == day {
                    events.push((self.rng.random_range(0..600), Event::FinalizeDraft(i)));
                }
            }
            events.sort_by_key(|e| e.0);
            for (minute, ev) in events {
                let at = t + Duration::minutes(60 + minute);
                match ev {
                    Event::NewCustomer(i) => {
                        let input = customer_input(&mut self.rng, i, &mut used_names);
                        let c = customers::create(self.db, &self.ctx(at), &input).await?;
                        if c.collection_method == "charge_automatically" {
                            // A card on file: mostly good ones, one in ten that fails.
                            let token = match i % 10 {
                                0 => "tok_chargeDeclinedInsufficientFunds",
                                1 | 5 => "tok_mastercard",
                                _ => "tok_visa",
                            };
                            crate::payments::attach_method(
                                self.db,
                                &self.gateway,
                                &self.ctx(at),
                                &crate::payments::PaymentMethodCreate {
                                    customer: c.id.clone(),
                                    kind: "card".into(),
                                    card: None,
                                    token: Some(token.into()),
                                    bank: None,
                                    set_default: None,
                                },
                            )
                            .await?;
                        }
                        self.counts.customers += 1;
                        ids.insert(i, self.customers.len());
                        self.customers.push(CustomerRec {
                            id: c.id,
                            currency: c.currency,
                        });
                        let idx = self.customers.len() - 1;
                        self.subscribe(idx, at + Duration::minutes(2), false)
                            .await?;
                    }
                    Event::SecondSubscription(i) => {
                        if let Some(&idx) = ids.get(&i) {
                            self.subscribe(idx, at, true).await?;
                        }
                    }
                    Event::FinalizeDraft(i) => {
                        let id = self.drafts[i].0.clone();
                        invoicing::finalize(self.db, &self.ctx(at), &id).await?;
                    }
                    Event::Random => self.random_action(at).await?,
                    Event::Void => self.void(at).await?,
                    Event::WriteOff => self.write_off(at).await?,
                }
            }
            self.collect(t + Duration::hours(23)).await?;
        }
        // One estimate stays a draft, for the drafts screen.
        if let Some(c) = self.customers.first() {
            let id = c.id.clone();
            let t = now - Duration::hours(2);
            invoicing::create(
                self.db,
                &self.ctx(t),
                &InvoiceCreate {
                    customer: id,
                    currency: None,
                    lines: vec![
                        LineCreate {
                            description: Some("Custom integration work (estimate)".into()),
                            price: None,
                            quantity: Some(12),
                            amount: Some(if c.currency == "USD" { 15000 } else { 14000 }),
                        },
                        LineCreate {
                            description: None,
                            price: Some(self.cat.onboarding.clone()),
                            quantity: Some(1),
                            amount: None,
                        },
                    ],
                    coupons: Vec::new(),
                    memo: Some("Estimate — to be confirmed with the customer".into()),
                    finalize: false,
                },
            )
            .await?;
            self.counts.invoices += 1;
        }
        Ok(())
    }

    /// Subscribes customer `idx` at `at` to a plan chosen for them.
    async fn subscribe(&mut self, idx: usize, at: DateTime<Utc>, second: bool) -> Result<()> {
        let eur = self.customers[idx].currency == "EUR";
        let rng = &mut self.rng;
        let cat = &self.cat;
        let item = |price: &String, quantity: i64| ItemCreate {
            price: price.clone(),
            quantity: Some(quantity),
        };
        let mut coupon = None;
        let items = if second {
            match rng.random_range(0..3) {
                0 => vec![item(&cat.support, 1)],
                1 => vec![item(&cat.pro_yearly, 1)],
                _ => vec![item(&cat.storage, rng.random_range(20..600))],
            }
        } else {
            match rng.random_range(0..100) {
                0..=24 => {
                    if !eur && rng.random_bool(0.3) {
                        coupon = Some(cat.starter5_usd.clone());
                    }
                    vec![item(&cat.starter, 1)]
                }
                25..=39 => vec![item(&cat.pro, 1)],
                40..=47 => vec![item(&cat.pro, 1), item(&cat.overage, 1)],
                48..=52 if eur => vec![item(&cat.pro_eu, 1)],
                48..=52 => vec![item(&cat.pro, 1)],
                53..=67 => vec![item(&cat.business, rng.random_range(3..40))],
                68..=74 => vec![item(&cat.pro_yearly, 1)],
                75..=82 => vec![
                    item(&cat.api_calls, rng.random_range(5..400) * 1000),
                    item(&cat.storage, rng.random_range(20..2500)),
                    item(&cat.sms, rng.random_range(500..25_000)),
                ],
                83..=88 => vec![item(&cat.storage, rng.random_range(20..1500))],
                89..=93 => vec![item(&cat.sms, rng.random_range(500..40_000))],
                94..=96 => vec![item(&cat.api_calls, rng.random_range(5..800) * 1000)],
                _ => vec![item(&cat.support, 1)],
            }
        };
        let yearly_or_quarterly = items
            .iter()
            .any(|i| i.price == cat.pro_yearly || i.price == cat.support);
        let trial_days = match rng.random_range(0..100) {
            0..=14 if !second => Some(14),
            15..=19 if !second => Some(30),
            _ => None,
        };
        let calendar_aligned =
            trial_days.is_none() && !yearly_or_quarterly && rng.random_bool(0.15);
        if coupon.is_none() && !second && rng.random_bool(0.12) {
            coupon = Some(cat.welcome20.clone());
        }
        let input = SubscriptionCreate {
            customer: self.customers[idx].id.clone(),
            items,
            start: Some(at),
            trial_days,
            calendar_aligned,
            coupon,
        };
        let (sub, inv) = subscriptions::create(self.db, &self.ctx(at), &input).await?;
        self.counts.subscriptions += 1;
        self.invoice_made(&inv);
        self.subs.push(SubRec {
            id: sub.id,
            customer: idx,
            ended: false,
        });
        Ok(())
    }

    async fn random_action(&mut self, at: DateTime<Utc>) -> Result<()> {
        // Bring every period up to `at` first, so proration sees the current period.
        self.bill_run(at).await?;
        match self.rng.random_range(0..100) {
            0..=21 => self.upgrade(at).await,
            22..=33 => self.downgrade(at).await,
            34..=49 => self.quantity_change(at).await,
            50..=59 => self.cancel(at).await,
            60..=72 => self.credit_note(at).await,
            73..=81 => self.one_off(at).await,
            82..=88 => self.discount(at).await,
            89 => self.void(at).await,
            90 => self.write_off(at).await,
            _ => self.add_metered(at).await,
        }
    }

    /// A live subscription that can change now: not canceled, not ending, nothing pending.
    async fn changeable(&mut self, at: DateTime<Utc>) -> Result<Option<(usize, Subscription)>> {
        let live: Vec<usize> = (0..self.subs.len())
            .filter(|&i| !self.subs[i].ended)
            .collect();
        if live.is_empty() {
            return Ok(None);
        }
        for _ in 0..8 {
            let i = *pick(&mut self.rng, &live);
            let s = subscriptions::get(self.db, &self.ctx(at), &self.subs[i].id).await?;
            if s.status == "canceled" || s.ended_at.is_some() {
                self.subs[i].ended = true;
                continue;
            }
            let pending = s
                .items
                .iter()
                .any(|it| it.pending_price.is_some() || it.pending_quantity.is_some());
            if s.cancel_at_period_end || pending {
                continue;
            }
            return Ok(Some((i, s)));
        }
        Ok(None)
    }

    async fn apply_change(
        &mut self,
        at: DateTime<Utc>,
        sub: &str,
        items: Vec<ItemChange>,
        effective: Option<&str>,
    ) -> Result<()> {
        let change = SubscriptionChange {
            items,
            effective: effective.map(str::to_string),
        };
        let (_, inv) = subscriptions::change(self.db, &self.ctx(at), sub, &change).await?;
        self.invoice_made(&inv);
        Ok(())
    }

    async fn upgrade(&mut self, at: DateTime<Utc>) -> Result<()> {
        let Some((i, s)) = self.changeable(at).await? else {
            return Ok(());
        };
        let eur = self.customers[self.subs[i].customer].currency == "EUR";
        for it in &s.items {
            let change = match self.cat.kind(&it.price) {
                Some(Kind::Starter) => {
                    let to = if eur && self.rng.random_bool(0.3) {
                        self.cat.pro_eu.clone()
                    } else {
                        self.cat.pro.clone()
                    };
                    (Some(to), Some(1))
                }
                Some(Kind::Pro | Kind::ProEu) => (
                    Some(self.cat.business.clone()),
                    Some(self.rng.random_range(9..=20)),
                ),
                Some(Kind::Business) => (None, Some(it.quantity + self.rng.random_range(1..=5))),
                Some(Kind::ApiCalls | Kind::Storage | Kind::Sms) => {
                    let q = it.quantity * self.rng.random_range(15..=25) / 10 + 1;
                    (None, Some(q.min(subscriptions::MAX_QUANTITY)))
                }
                _ => continue,
            };
            let items = vec![ItemChange {
                id: Some(it.id.clone()),
                price: change.0,
                quantity: change.1,
                deleted: false,
            }];
            return self.apply_change(at, &s.id, items, None).await;
        }
        Ok(())
    }

    async fn downgrade(&mut self, at: DateTime<Utc>) -> Result<()> {
        let Some((_, s)) = self.changeable(at).await? else {
            return Ok(());
        };
        let effective = self.rng.random_bool(0.25).then_some("now");
        for it in &s.items {
            let change = match self.cat.kind(&it.price) {
                Some(Kind::Pro | Kind::ProEu) => (Some(self.cat.starter.clone()), Some(1)),
                Some(Kind::Business) if it.quantity > 2 => (
                    None,
                    Some(it.quantity - self.rng.random_range(1..it.quantity - 1)),
                ),
                Some(Kind::ApiCalls | Kind::Storage | Kind::Sms) if it.quantity > 1 => {
                    (None, Some((it.quantity / 2).max(1)))
                }
                _ => continue,
            };
            let items = vec![ItemChange {
                id: Some(it.id.clone()),
                price: change.0,
                quantity: change.1,
                deleted: false,
            }];
            return self.apply_change(at, &s.id, items, effective).await;
        }
        Ok(())
    }

    async fn quantity_change(&mut self, at: DateTime<Utc>) -> Result<()> {
        let Some((_, s)) = self.changeable(at).await? else {
            return Ok(());
        };
        for it in &s.items {
            let q = match self.cat.kind(&it.price) {
                Some(Kind::Business) => (it.quantity + self.rng.random_range(-3..=6)).max(1),
                Some(Kind::ApiCalls) => self.rng.random_range(5..600) * 1000,
                Some(Kind::Storage) => self.rng.random_range(20..2500),
                Some(Kind::Sms) => self.rng.random_range(500..40_000),
                _ => continue,
            };
            if q == it.quantity {
                return Ok(());
            }
            let items = vec![ItemChange {
                id: Some(it.id.clone()),
                price: None,
                quantity: Some(q),
                deleted: false,
            }];
            return self.apply_change(at, &s.id, items, None).await;
        }
        Ok(())
    }

    async fn add_metered(&mut self, at: DateTime<Utc>) -> Result<()> {
        let Some((_, s)) = self.changeable(at).await? else {
            return Ok(());
        };
        let kinds: Vec<Option<Kind>> = s.items.iter().map(|i| self.cat.kind(&i.price)).collect();
        let monthly_plan = kinds
            .iter()
            .any(|k| matches!(k, Some(Kind::Pro | Kind::ProEu | Kind::Business)));
        if !monthly_plan || kinds.contains(&Some(Kind::Overage)) {
            return Ok(());
        }
        let items = vec![ItemChange {
            id: None,
            price: Some(self.cat.overage.clone()),
            quantity: Some(1),
            deleted: false,
        }];
        self.apply_change(at, &s.id, items, None).await
    }

    async fn cancel(&mut self, at: DateTime<Utc>) -> Result<()> {
        let Some((i, s)) = self.changeable(at).await? else {
            return Ok(());
        };
        let input = match self.rng.random_range(0..100) {
            0..=54 => SubscriptionCancel::default(),
            55..=89 => SubscriptionCancel {
                at_period_end: Some(false),
                prorate: true,
            },
            _ => SubscriptionCancel {
                at_period_end: Some(false),
                prorate: false,
            },
        };
        let immediate = input.at_period_end == Some(false);
        let (_, inv) = subscriptions::cancel(self.db, &self.ctx(at), &s.id, &input).await?;
        self.invoice_made(&inv);
        if immediate {
            self.subs[i].ended = true;
        }
        Ok(())
    }

    /// A customer's open invoices no correction has touched yet, oldest first.
    async fn open_invoices(&mut self, at: DateTime<Utc>) -> Result<Option<Vec<Invoice>>> {
        if self.customers.is_empty() {
            return Ok(None);
        }
        for _ in 0..6 {
            let c = self.rng.random_range(0..self.customers.len());
            let page = invoicing::list(
                self.db,
                &self.ctx(at),
                Some(&self.customers[c].id),
                None,
                Some("open"),
                None,
                Some(25),
            )
            .await?;
            let mut invs: Vec<Invoice> = page
                .data
                .into_iter()
                .filter(|inv| {
                    !self.touched.contains(&inv.id)
                        && inv.amount_credited == 0
                        && inv.amount_paid == 0
                        && inv.amount_remaining > 0
                        && inv.lines.iter().any(|l| l.total > 1)
                })
                .collect();
            if !invs.is_empty() {
                invs.sort_by(|a, b| a.number.cmp(&b.number));
                return Ok(Some(invs));
            }
        }
        Ok(None)
    }

    async fn credit_note(&mut self, at: DateTime<Utc>) -> Result<()> {
        let Some(invs) = self.open_invoices(at).await? else {
            return Ok(());
        };
        let inv = &invs[self.rng.random_range(0..invs.len())];
        let reason = *pick(&mut self.rng, invoicing::CREDIT_REASONS);
        let (lines, memo) = if self.rng.random_bool(0.5) {
            (None, "Credited in full")
        } else {
            let creditable: Vec<_> = inv.lines.iter().filter(|l| l.total > 1).collect();
            let l = creditable[self.rng.random_range(0..creditable.len())];
            (
                Some(vec![CreditNoteLineCreate {
                    invoice_line: l.id.clone(),
                    amount: Some(l.total / 2),
                }]),
                "Half of one line credited",
            )
        };
        let memo = match reason {
            "billing_error" => "Wrong quantity was billed",
            "duplicate" => "Charged twice for the same period",
            "product_unsatisfactory" => "Service outage during the period",
            "goodwill" => "Goodwill gesture after a support case",
            "order_change" => "Order changed after invoicing",
            _ => memo,
        };
        invoicing::create_credit_note(
            self.db,
            &self.ctx(at),
            &CreditNoteCreate {
                invoice: inv.id.clone(),
                reason: reason.into(),
                memo: Some(memo.into()),
                lines,
            },
        )
        .await?;
        self.counts.credit_notes += 1;
        self.touched.insert(inv.id.clone());
        Ok(())
    }

    async fn void(&mut self, at: DateTime<Utc>) -> Result<()> {
        let Some(invs) = self.open_invoices(at).await? else {
            return Ok(());
        };
        let Some(inv) = invs
            .iter()
            .rev()
            .find(|i| i.credit_to_balance == 0 && i.amount_paid == 0)
        else {
            return Ok(());
        };
        invoicing::void(self.db, &self.ctx(at), &inv.id).await?;
        self.touched.insert(inv.id.clone());
        Ok(())
    }

    async fn write_off(&mut self, at: DateTime<Utc>) -> Result<()> {
        let Some(invs) = self.open_invoices(at).await? else {
            return Ok(());
        };
        let inv = &invs[0];
        invoicing::mark_uncollectible(self.db, &self.ctx(at), &inv.id).await?;
        self.touched.insert(inv.id.clone());
        Ok(())
    }

    async fn one_off(&mut self, at: DateTime<Utc>) -> Result<()> {
        if self.customers.is_empty() {
            return Ok(());
        }
        let c = self.rng.random_range(0..self.customers.len());
        let usd = self.customers[c].currency == "USD";
        let mut lines = vec![LineCreate {
            description: None,
            price: Some(self.cat.onboarding.clone()),
            quantity: Some(1),
            amount: None,
        }];
        if self.rng.random_bool(0.4) {
            lines.push(LineCreate {
                description: Some("Data migration (hours)".into()),
                price: None,
                quantity: Some(self.rng.random_range(4..20)),
                amount: Some(if usd { 12000 } else { 11000 }),
            });
        }
        let coupons = if self.rng.random_bool(0.15) {
            vec![self.cat.welcome20.clone()]
        } else {
            Vec::new()
        };
        let finalize = self.rng.random_bool(0.75);
        let inv = invoicing::create(
            self.db,
            &self.ctx(at),
            &InvoiceCreate {
                customer: self.customers[c].id.clone(),
                currency: None,
                lines,
                coupons,
                memo: Some("Thank you for choosing Northwind Cloud.".into()),
                finalize,
            },
        )
        .await?;
        self.counts.invoices += 1;
        if !finalize {
            // Reviewed and sent a few days later.
            let today = (at - self.start).num_days();
            self.drafts
                .push((inv.id, today + self.rng.random_range(1..10)));
        }
        Ok(())
    }

    async fn discount(&mut self, at: DateTime<Utc>) -> Result<()> {
        let Some((i, s)) = self.changeable(at).await? else {
            return Ok(());
        };
        let c = self.subs[i].customer;
        let usd = self.customers[c].currency == "USD";
        let has_starter = s
            .items
            .iter()
            .any(|it| self.cat.kind(&it.price) == Some(Kind::Starter));
        let (coupon, subscription) = if usd && has_starter && self.rng.random_bool(0.5) {
            (self.cat.starter5_usd.clone(), Some(s.id.clone()))
        } else if self.rng.random_bool(0.5) {
            (self.cat.loyal10.clone(), Some(s.id.clone()))
        } else {
            (self.cat.loyal10.clone(), None)
        };
        subscriptions::create_discount(
            self.db,
            &self.ctx(at),
            &self.customers[c].id.clone(),
            &DiscountCreate {
                coupon,
                subscription,
            },
        )
        .await?;
        Ok(())
    }
}
