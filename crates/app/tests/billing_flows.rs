//! Use cases against a real database, each test on SQLite and on PostgreSQL: customers,
//! catalog, the BILLING.md proration example, invoices, discounts, credit notes, the ledger
//! and isolation between organisations. Every flow ends with `store::verify` clean.

mod common;

use app::catalog::{CurrencyAmountInput, PriceCreate, PriceUpdate, TierInput};
use app::customers::{CustomerUpdate, TaxIdInput};
use app::invoicing::{CreditNoteCreate, CreditNoteLineCreate};
use app::subscriptions::{ItemChange, SubscriptionChange};
use billing::pricing::{PricingModel, Tier};
use common::*;
use rust_decimal::Decimal;
use std::str::FromStr;

on_both_backends!(
    customers_create_update_get_list,
    customers_reject_bad_input_naming_the_param,
    catalog_prices_in_every_model,
    catalog_rejects_invalid_prices_and_protects_used_ones,
    proration_example_preview_apply_and_downgrade,
    invoices_lifecycle_numbers_void_uncollectible,
    invoices_credit_balance_and_negative_total,
    discounts_apply_to_the_right_invoices,
    credit_notes_never_exceed_invoiced,
    organisations_are_isolated,
);

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

// ---------------------------------------------------------------------------------------
// Customers

async fn customers_create_update_get_list(db: Db) {
    let ctx = org(&db, t("2026-01-05T10:00:00Z")).await;
    let mut input = customer_input("Ada Lovelace", "EUR", "Europe/Berlin", "de");
    input.email = Some("Ada@Example.com".into());
    input.external_id = Some("crm-1".into());
    input.tax_ids = vec![TaxIdInput {
        kind: "eu_vat".into(),
        value: "de 123456789".into(),
    }];
    let ada = app::customers::create(&db, &ctx, &input).await.unwrap();
    assert!(ada.id.starts_with("cus_"), "{}", ada.id);
    assert_eq!(ada.time_zone, "Europe/Berlin");
    assert_eq!(ada.currency, "EUR");
    assert_eq!(ada.locale, "en");
    assert_eq!(ada.address.country.as_deref(), Some("DE"));
    assert_eq!(ada.tax_ids.len(), 1);
    assert_eq!(ada.tax_ids[0].value, "DE123456789");
    assert_eq!(ada.credit_balance, 0);

    let mut input = customer_input("Grace Hopper", "USD", "America/New_York", "US");
    input.email = Some("grace@navy.example".into());
    input.external_id = Some("crm-2".into());
    let grace = app::customers::create(&db, &ctx, &input).await.unwrap();

    let later = at(&ctx, t("2026-01-06T10:00:00Z"));
    let upd = app::customers::update(
        &db,
        &later,
        &ada.id,
        &CustomerUpdate {
            name: Some("Ada King".into()),
            locale: Some("ru".into()),
            external_id: Some("crm-1b".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(upd.name, "Ada King");
    assert_eq!(upd.locale, "ru");
    assert_eq!(upd.external_id.as_deref(), Some("crm-1b"));
    assert_eq!(upd.email.as_deref(), Some("Ada@Example.com"));
    let got = app::customers::get(&db, &ctx, &ada.id).await.unwrap();
    assert_eq!(got.name, "Ada King");
    assert_eq!(got.currency, "EUR");
    assert_eq!(got.tax_ids.len(), 1);

    let search = |q: &'static str| {
        let db = db.clone();
        let ctx = ctx.clone();
        async move {
            let page = app::customers::list(&db, &ctx, Some(q), None, None)
                .await
                .unwrap();
            let mut ids: Vec<String> = page.data.into_iter().map(|c| c.id).collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(search("ada@example.com").await, vec![ada.id.clone()]);
    assert_eq!(search("GRACE@NAVY.EXAMPLE").await, vec![grace.id.clone()]);
    assert_eq!(search("king").await, vec![ada.id.clone()]);
    assert_eq!(search("Hop").await, vec![grace.id.clone()]);
    assert_eq!(search("crm-2").await, vec![grace.id.clone()]);
    assert_eq!(search("crm-1b").await, vec![ada.id.clone()]);
    assert_eq!(search("crm-1").await, Vec::<String>::new());
    assert_eq!(search("nobody").await, Vec::<String>::new());
    // LIKE wildcards in the query are matched literally.
    assert_eq!(search("_").await, Vec::<String>::new());
    assert_eq!(search("%").await, Vec::<String>::new());

    let all = app::customers::list(&db, &ctx, None, None, None)
        .await
        .unwrap();
    assert_eq!(all.data.len(), 2);
    assert!(!all.has_more);
    let p1 = app::customers::list(&db, &ctx, None, None, Some(1))
        .await
        .unwrap();
    assert_eq!(p1.data.len(), 1);
    assert!(p1.has_more);
    let p2 = app::customers::list(&db, &ctx, None, Some(&p1.data[0].id), Some(1))
        .await
        .unwrap();
    assert_eq!(p2.data.len(), 1);
    assert!(!p2.has_more);
    assert_ne!(p1.data[0].id, p2.data[0].id);

    // external_id is unique per organisation, on create and on update.
    let mut dup = customer_input("Copy", "EUR", "UTC", "DE");
    dup.external_id = Some("crm-2".into());
    expect_invalid(app::customers::create(&db, &ctx, &dup).await, "external_id");
    expect_invalid(
        app::customers::update(
            &db,
            &ctx,
            &ada.id,
            &CustomerUpdate {
                external_id: Some("crm-2".into()),
                ..Default::default()
            },
        )
        .await,
        "external_id",
    );
    assert_eq!(
        app::customers::get(&db, &ctx, &ada.id)
            .await
            .unwrap()
            .external_id
            .as_deref(),
        Some("crm-1b")
    );
    // Another organisation may use the same external id.
    let other = org(&db, ctx.now).await;
    let mut same = customer_input("Elsewhere", "EUR", "UTC", "DE");
    same.external_id = Some("crm-2".into());
    app::customers::create(&db, &other, &same).await.unwrap();
    expect_not_found(app::customers::get(&db, &ctx, "cus_doesnotexist0000000").await);
    assert_clean(&db).await;
}

async fn customers_reject_bad_input_naming_the_param(db: Db) {
    let ctx = org(&db, t("2026-01-05T10:00:00Z")).await;
    let bad_tz = customer_input("A", "EUR", "Europe/Atlantis", "DE");
    expect_invalid(
        app::customers::create(&db, &ctx, &bad_tz).await,
        "time_zone",
    );
    let bad_cur = customer_input("A", "EURO", "UTC", "DE");
    expect_invalid(
        app::customers::create(&db, &ctx, &bad_cur).await,
        "currency",
    );
    let mut bad_locale = customer_input("A", "EUR", "UTC", "DE");
    bad_locale.locale = Some("de".into());
    expect_invalid(
        app::customers::create(&db, &ctx, &bad_locale).await,
        "locale",
    );
    let mut bad_vat = customer_input("A", "EUR", "UTC", "DE");
    bad_vat.tax_ids = vec![
        TaxIdInput {
            kind: "eu_vat".into(),
            value: "DE123456789".into(),
        },
        TaxIdInput {
            kind: "eu_vat".into(),
            value: "XX123456".into(),
        },
    ];
    expect_invalid(
        app::customers::create(&db, &ctx, &bad_vat).await,
        "tax_ids[1].value",
    );
    let mut bad_email = customer_input("A", "EUR", "UTC", "DE");
    bad_email.email = Some("not an email".into());
    expect_invalid(app::customers::create(&db, &ctx, &bad_email).await, "email");
    let bad_country = customer_input("A", "EUR", "UTC", "Germany");
    expect_invalid(
        app::customers::create(&db, &ctx, &bad_country).await,
        "address.country",
    );
    // Nothing was written by the rejected requests.
    let page = app::customers::list(&db, &ctx, None, None, None)
        .await
        .unwrap();
    assert_eq!(page.data.len(), 0);

    let c = customer(&db, &ctx, "Valid", "EUR", "UTC", "DE").await;
    let upd = |u: CustomerUpdate| {
        let (db, ctx, id) = (db.clone(), ctx.clone(), c.id.clone());
        async move { app::customers::update(&db, &ctx, &id, &u).await }
    };
    expect_invalid(
        upd(CustomerUpdate {
            time_zone: Some("Nowhere/Here".into()),
            ..Default::default()
        })
        .await,
        "time_zone",
    );
    expect_invalid(
        upd(CustomerUpdate {
            locale: Some("fr".into()),
            ..Default::default()
        })
        .await,
        "locale",
    );
    expect_invalid(
        upd(CustomerUpdate {
            tax_ids: Some(vec![TaxIdInput {
                kind: "eu_vat".into(),
                value: "12".into(),
            }]),
            ..Default::default()
        })
        .await,
        "tax_ids[0].value",
    );
    let still = app::customers::get(&db, &ctx, &c.id).await.unwrap();
    assert_eq!(still.time_zone, "UTC");
    assert_eq!(still.locale, "en");
    assert!(still.tax_ids.is_empty());
    assert_clean(&db).await;
}

// ---------------------------------------------------------------------------------------
// Catalog

fn tier(up_to: Option<u64>, unit: &str, flat: Option<i64>) -> TierInput {
    TierInput {
        up_to,
        unit_amount: None,
        unit_amount_decimal: Some(unit.into()),
        flat_amount: flat,
    }
}

fn tiers(list: Vec<TierInput>) -> CurrencyAmountInput {
    CurrencyAmountInput {
        tiers: Some(list),
        ..Default::default()
    }
}

fn price_create(
    product: &str,
    model: &str,
    amounts: &[(&str, CurrencyAmountInput)],
    recurring: bool,
) -> PriceCreate {
    PriceCreate {
        product: product.into(),
        nickname: None,
        recurring: if recurring { monthly() } else { None },
        model: model.into(),
        tax_behavior: None,
        currency_amounts: common::amounts(amounts),
    }
}

fn std_tiers() -> Vec<TierInput> {
    vec![
        tier(Some(1000), "0", Some(500)),
        tier(Some(10_000), "0.2", None),
        tier(None, "0.1", None),
    ]
}

async fn catalog_prices_in_every_model(db: Db) {
    let ctx = org(&db, t("2026-01-05T10:00:00Z")).await;
    let api = product(&db, &ctx, "API calls").await;
    let create = |p: PriceCreate| {
        let (db, ctx) = (db.clone(), ctx.clone());
        async move { app::catalog::create_price(&db, &ctx, &p).await.unwrap() }
    };
    let flat = create(price_create(
        &api.id,
        "flat",
        &[("EUR", flat_amount(3000)), ("USD", flat_amount(3300))],
        true,
    ))
    .await;
    let per_unit = create(price_create(
        &api.id,
        "per_unit",
        &[(
            "USD",
            CurrencyAmountInput {
                unit_amount_decimal: Some("0.15".into()),
                ..Default::default()
            },
        )],
        false,
    ))
    .await;
    let graduated = create(price_create(
        &api.id,
        "graduated",
        &[("USD", tiers(std_tiers()))],
        false,
    ))
    .await;
    let volume = create(price_create(
        &api.id,
        "volume",
        &[(
            "USD",
            tiers(vec![
                tier(Some(1000), "0", None),
                tier(Some(10_000), "0.2", None),
                tier(None, "0.1", None),
            ]),
        )],
        false,
    ))
    .await;
    let package = create(price_create(
        &api.id,
        "package",
        &[(
            "USD",
            CurrencyAmountInput {
                amount: Some(500),
                package_size: Some(1000),
                ..Default::default()
            },
        )],
        false,
    ))
    .await;

    // Stored as given, read back per currency.
    let got = app::catalog::get_price(&db, &ctx, &flat.id).await.unwrap();
    assert_eq!(got.kind, "recurring");
    assert_eq!(got.recurring.as_ref().unwrap().interval, "month");
    assert_eq!(got.currency_amounts.len(), 2);
    assert_eq!(
        got.currency_amounts["EUR"],
        PricingModel::Flat {
            amount: Decimal::from(3000)
        }
    );
    assert_eq!(
        got.currency_amounts["USD"],
        PricingModel::Flat {
            amount: Decimal::from(3300)
        }
    );
    let got = app::catalog::get_price(&db, &ctx, &per_unit.id)
        .await
        .unwrap();
    assert_eq!(got.kind, "one_time");
    assert_eq!(
        got.currency_amounts["USD"],
        PricingModel::PerUnit {
            unit_amount: dec("0.15")
        }
    );
    let got = app::catalog::get_price(&db, &ctx, &graduated.id)
        .await
        .unwrap();
    assert_eq!(
        got.currency_amounts["USD"],
        PricingModel::Graduated {
            tiers: vec![
                Tier {
                    up_to: Some(1000),
                    unit_amount: dec("0"),
                    flat_amount: dec("500")
                },
                Tier {
                    up_to: Some(10_000),
                    unit_amount: dec("0.2"),
                    flat_amount: dec("0")
                },
                Tier {
                    up_to: None,
                    unit_amount: dec("0.1"),
                    flat_amount: dec("0")
                },
            ]
        }
    );
    let listed = app::catalog::list_prices(&db, &ctx, Some(&api.id), None, Some(100))
        .await
        .unwrap();
    assert_eq!(listed.data.len(), 5);

    // Priced on an invoice of a USD customer (no tax rate for the US here).
    let us = customer(&db, &ctx, "US Buyer", "USD", "America/New_York", "US").await;
    let inv = app::invoicing::create(
        &db,
        &ctx,
        &one_off(
            &us.id,
            vec![
                price_line(&flat.id, 1),
                price_line(&per_unit.id, 1000),
                price_line(&per_unit.id, 10),
                price_line(&per_unit.id, 3),
                price_line(&graduated.id, 25_000),
                price_line(&graduated.id, 1000),
                price_line(&volume.id, 25_000),
                price_line(&volume.id, 10_000),
                price_line(&package.id, 25_000),
                price_line(&package.id, 25_001),
            ],
            true,
        ),
    )
    .await
    .unwrap();
    let amounts: Vec<i64> = inv.lines.iter().map(|l| l.amount).collect();
    assert_eq!(
        amounts,
        vec![3300, 150, 2, 0, 3800, 500, 2500, 2000, 12_500, 13_000]
    );
    assert_eq!(inv.total_tax, 0);
    assert_eq!(inv.total, 37_752);
    assert_eq!(inv.lines[1].quantity, "1000");
    // The same flat price bills in EUR for a EUR customer.
    let eu = customer(&db, &ctx, "EU Buyer", "EUR", "Europe/Paris", "FR").await;
    let inv = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&eu.id, vec![price_line(&flat.id, 1)], false),
    )
    .await
    .unwrap();
    assert_eq!(inv.subtotal, 3000);
    assert_eq!(inv.currency, "EUR");
    // …but a USD-only price does not.
    expect_invalid(
        app::invoicing::create(
            &db,
            &ctx,
            &one_off(&eu.id, vec![price_line(&package.id, 1)], false),
        )
        .await,
        "lines[0].price",
    );
    assert_clean(&db).await;
}

async fn catalog_rejects_invalid_prices_and_protects_used_ones(db: Db) {
    let ctx = org(&db, t("2026-01-05T10:00:00Z")).await;
    let p = product(&db, &ctx, "Plan").await;
    let try_create = |pc: PriceCreate| {
        let (db, ctx) = (db.clone(), ctx.clone());
        async move { app::catalog::create_price(&db, &ctx, &pc).await }
    };
    // Decreasing bounds, a bounded last tier, no tiers at all.
    let decreasing = vec![
        tier(Some(100), "1", None),
        tier(Some(50), "1", None),
        tier(None, "1", None),
    ];
    expect_invalid(
        try_create(price_create(
            &p.id,
            "graduated",
            &[("EUR", tiers(decreasing))],
            true,
        ))
        .await,
        "currency_amounts.EUR",
    );
    let bounded = vec![tier(Some(100), "1", None), tier(Some(200), "1", None)];
    expect_invalid(
        try_create(price_create(
            &p.id,
            "volume",
            &[("EUR", tiers(bounded))],
            true,
        ))
        .await,
        "currency_amounts.EUR",
    );
    expect_invalid(
        try_create(price_create(
            &p.id,
            "graduated",
            &[("EUR", tiers(vec![]))],
            true,
        ))
        .await,
        "currency_amounts.EUR",
    );
    expect_invalid(
        try_create(price_create(
            &p.id,
            "graduated",
            &[("EUR", CurrencyAmountInput::default())],
            true,
        ))
        .await,
        "currency_amounts.EUR.tiers",
    );
    expect_invalid(
        try_create(price_create(
            &p.id,
            "graduated",
            &[(
                "EUR",
                tiers(vec![tier(Some(10), "-1", None), tier(None, "1", None)]),
            )],
            true,
        ))
        .await,
        "currency_amounts.EUR.tiers[0].unit_amount",
    );
    expect_invalid(
        try_create(price_create(
            &p.id,
            "package",
            &[(
                "EUR",
                CurrencyAmountInput {
                    amount: Some(500),
                    package_size: Some(0),
                    ..Default::default()
                },
            )],
            true,
        ))
        .await,
        "currency_amounts.EUR",
    );
    expect_invalid(
        try_create(price_create(
            &p.id,
            "flat",
            &[("EUR", flat_amount(-1))],
            true,
        ))
        .await,
        "currency_amounts.EUR.amount",
    );
    expect_invalid(
        try_create(price_create(
            &p.id,
            "per_unit",
            &[(
                "EUR",
                CurrencyAmountInput {
                    unit_amount_decimal: Some("abc".into()),
                    ..Default::default()
                },
            )],
            true,
        ))
        .await,
        "currency_amounts.EUR.unit_amount_decimal",
    );
    expect_invalid(
        try_create(price_create(
            &p.id,
            "stairstep",
            &[("EUR", flat_amount(1))],
            true,
        ))
        .await,
        "model",
    );
    expect_invalid(
        try_create(price_create(
            &p.id,
            "flat",
            &[("EURO", flat_amount(1))],
            true,
        ))
        .await,
        "currency_amounts.EURO",
    );
    let none = app::catalog::list_prices(&db, &ctx, None, None, Some(100))
        .await
        .unwrap();
    assert_eq!(none.data.len(), 0, "rejected prices were written");

    // Unused: deleted. Used by a subscription: price_in_use, but archivable.
    let unused = monthly_flat(&db, &ctx, &p.id, "EUR", 100).await;
    app::catalog::delete_price(&db, &ctx, &unused.id)
        .await
        .unwrap();
    expect_not_found(app::catalog::get_price(&db, &ctx, &unused.id).await);
    expect_not_found(app::catalog::delete_price(&db, &ctx, &unused.id).await);

    let used = monthly_flat(&db, &ctx, &p.id, "EUR", 1000).await;
    let c = customer(&db, &ctx, "Buyer", "EUR", "UTC", "US").await;
    app::subscriptions::create(&db, &ctx, &sub_input(&c.id, &used.id, None))
        .await
        .unwrap();
    expect_state(
        app::catalog::delete_price(&db, &ctx, &used.id).await,
        "price_in_use",
    );
    let archived = app::catalog::update_price(
        &db,
        &ctx,
        &used.id,
        &PriceUpdate {
            nickname: None,
            active: Some(false),
        },
    )
    .await
    .unwrap();
    assert!(!archived.active);
    assert!(
        !app::catalog::get_price(&db, &ctx, &used.id)
            .await
            .unwrap()
            .active
    );
    // An archived price takes no new subscriptions.
    expect_invalid(
        app::subscriptions::create(&db, &ctx, &sub_input(&c.id, &used.id, None)).await,
        "items[0].price",
    );

    // Used on an invoice, whether priced at creation or added to a draft later.
    let one_time = app::catalog::create_price(
        &db,
        &ctx,
        &price_create(&p.id, "flat", &[("EUR", flat_amount(700))], false),
    )
    .await
    .unwrap();
    let draft_price = app::catalog::create_price(
        &db,
        &ctx,
        &price_create(&p.id, "flat", &[("EUR", flat_amount(900))], false),
    )
    .await
    .unwrap();
    let draft = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![price_line(&one_time.id, 1)], false),
    )
    .await
    .unwrap();
    expect_state(
        app::catalog::delete_price(&db, &ctx, &one_time.id).await,
        "price_in_use",
    );
    let draft = app::invoicing::add_lines(&db, &ctx, &draft.id, &[price_line(&draft_price.id, 2)])
        .await
        .unwrap();
    assert_eq!(
        draft.subtotal,
        700 + 900,
        "a flat price ignores the quantity"
    );
    expect_state(
        app::catalog::delete_price(&db, &ctx, &draft_price.id).await,
        "price_in_use",
    );
    let fin = app::invoicing::finalize(&db, &ctx, &draft.id)
        .await
        .unwrap();
    assert_eq!(fin.lines[1].price.as_deref(), Some(draft_price.id.as_str()));
    app::catalog::get_price(&db, &ctx, &draft_price.id)
        .await
        .unwrap();
    assert_clean(&db).await;
}

// ---------------------------------------------------------------------------------------
// The proration example of BILLING.md

async fn proration_example_preview_apply_and_downgrade(db: Db) {
    let ctx = org(&db, t("2025-12-01T00:00:00Z")).await;
    de_vat(&db, &ctx).await;
    let basic_p = product(&db, &ctx, "Basic").await;
    let pro_p = product(&db, &ctx, "Pro").await;
    let basic = monthly_flat(&db, &ctx, &basic_p.id, "EUR", 3000).await;
    let pro = monthly_flat(&db, &ctx, &pro_p.id, "EUR", 9000).await;
    let c = customer(&db, &ctx, "Berlin GmbH", "EUR", "Europe/Berlin", "DE").await;

    // Started at Berlin midnight of Jan 1 (= 2025-12-31T23:00Z), recorded that morning.
    let created = at(&ctx, t("2026-01-01T09:00:00Z"));
    let (sub, first) = app::subscriptions::create(
        &db,
        &created,
        &sub_input(&c.id, &basic.id, Some(t("2025-12-31T23:00:00Z"))),
    )
    .await
    .unwrap();
    assert_eq!(sub.current_period_start, t("2025-12-31T23:00:00Z"));
    assert_eq!(sub.current_period_end, t("2026-01-31T23:00:00Z"));
    assert_eq!(sub.current_period_start_date.to_string(), "2026-01-01");
    assert_eq!(sub.current_period_end_date.to_string(), "2026-02-01");
    let first = first.expect("first period invoiced at creation");
    assert_eq!(first.number.as_deref(), Some("INV-2026-000001"));
    assert_eq!(first.billing_reason, "subscription_create");
    assert_eq!(
        (first.subtotal, first.total_tax, first.total),
        (3000, 570, 3570)
    );
    assert_eq!(first.status, "open");

    let upgrade = SubscriptionChange {
        items: vec![ItemChange {
            id: Some(sub.items[0].id.clone()),
            price: Some(pro.id.clone()),
            quantity: None,
            deleted: false,
        }],
        effective: None,
    };
    let jan16 = at(&ctx, t("2026-01-16T10:00:00Z"));
    let before = invoice_count(&db, &ctx.org_id).await;
    assert_eq!(before, 1);
    let preview = app::subscriptions::preview_change(&db, &jan16, &sub.id, &upgrade)
        .await
        .unwrap();
    assert_eq!(preview.effective, "now");
    assert_eq!(preview.proration_date.to_string(), "2026-01-16");
    assert_eq!(preview.amount_per_period_before, 3000);
    assert_eq!(preview.amount_per_period_after, 9000);
    let pi = preview.invoice.expect("an upgrade is invoiced at once");
    let lines: Vec<i64> = pi.lines.iter().map(|l| l.amount).collect();
    assert_eq!(lines, vec![-1548, 4645]);
    assert_eq!(pi.lines[0].price.as_deref(), Some(basic.id.as_str()));
    assert_eq!(pi.lines[1].price.as_deref(), Some(pro.id.as_str()));
    assert_eq!(pi.subtotal, 3097);
    assert_eq!(pi.total_tax, 588);
    assert_eq!(pi.total, 3685);
    assert_eq!(pi.amount_due, 3685);
    assert_eq!(
        pi.lines.iter().map(|l| l.tax_amount).sum::<i64>(),
        588,
        "tax split to lines adds up"
    );
    // Nothing written by the preview.
    assert_eq!(invoice_count(&db, &ctx.org_id).await, 1);
    let unchanged = app::subscriptions::get(&db, &ctx, &sub.id).await.unwrap();
    assert_eq!(unchanged.items[0].price, basic.id);
    assert_balance(&db, &ctx, &c.id, 3570, 0).await;

    let (changed, inv) = app::subscriptions::change(&db, &jan16, &sub.id, &upgrade)
        .await
        .unwrap();
    let inv = inv.expect("upgrade invoice");
    assert_eq!(inv.number.as_deref(), Some("INV-2026-000002"));
    assert_eq!(inv.status, "open");
    assert_eq!(inv.billing_reason, "subscription_update");
    assert_eq!(
        inv.lines.iter().map(|l| l.amount).collect::<Vec<_>>(),
        vec![-1548, 4645]
    );
    assert_eq!(
        inv.lines.iter().map(|l| l.tax_amount).collect::<Vec<_>>(),
        pi.lines.iter().map(|l| l.tax_amount).collect::<Vec<_>>()
    );
    assert_eq!(
        (inv.total_tax, inv.total, inv.amount_due),
        (588, 3685, 3685)
    );
    assert_eq!(changed.items.len(), 1);
    assert_eq!(changed.items[0].price, pro.id);
    assert_eq!(invoice_count(&db, &ctx.org_id).await, 2);
    assert_balance(&db, &ctx, &c.id, 3570 + 3685, 0).await;
    assert_clean(&db).await;

    // A downgrade waits for the period end.
    let downgrade = SubscriptionChange {
        items: vec![ItemChange {
            id: Some(sub.items[0].id.clone()),
            price: Some(basic.id.clone()),
            quantity: None,
            deleted: false,
        }],
        effective: None,
    };
    let jan20 = at(&ctx, t("2026-01-20T10:00:00Z"));
    let preview = app::subscriptions::preview_change(&db, &jan20, &sub.id, &downgrade)
        .await
        .unwrap();
    assert_eq!(preview.effective, "period_end");
    assert!(preview.invoice.is_none());
    let (down, none) = app::subscriptions::change(&db, &jan20, &sub.id, &downgrade)
        .await
        .unwrap();
    assert!(none.is_none());
    assert_eq!(down.items[0].price, pro.id);
    assert_eq!(
        down.items[0].pending_price.as_deref(),
        Some(basic.id.as_str())
    );
    assert_eq!(invoice_count(&db, &ctx.org_id).await, 2);

    // A bill run before the period end does nothing; at the next period it applies it.
    let early = app::billrun::run(&db, None, t("2026-01-31T22:59:59Z"), |_| {})
        .await
        .unwrap();
    assert_eq!(early.invoices_created, 0);
    let r = app::billrun::run(&db, None, t("2026-02-01T00:00:00Z"), |_| {})
        .await
        .unwrap();
    assert_eq!(r.invoices_created, 1);
    let s = app::subscriptions::get(&db, &ctx, &sub.id).await.unwrap();
    assert_eq!(s.items.len(), 1);
    assert_eq!(s.items[0].price, basic.id);
    assert_eq!(s.items[0].pending_price, None);
    assert_eq!(s.current_period_start_date.to_string(), "2026-02-01");
    assert_eq!(s.current_period_end, t("2026-02-28T23:00:00Z"));
    let cycle = app::invoicing::list(&db, &ctx, None, Some(&sub.id), None, None, Some(10))
        .await
        .unwrap();
    assert_eq!(cycle.data.len(), 3);
    let renewal = cycle
        .data
        .iter()
        .find(|i| i.billing_reason == "subscription_cycle")
        .expect("renewal invoice");
    assert_eq!(renewal.number.as_deref(), Some("INV-2026-000003"));
    assert_eq!(
        renewal.lines.iter().map(|l| l.amount).collect::<Vec<_>>(),
        vec![3000]
    );
    assert_eq!(renewal.lines[0].price.as_deref(), Some(basic.id.as_str()));
    assert_eq!((renewal.total_tax, renewal.total), (570, 3570));
    assert_eq!(renewal.period_start, Some(t("2026-01-31T23:00:00Z")));
    // Repeating the run bills nothing twice.
    let again = app::billrun::run(&db, None, t("2026-02-01T00:00:00Z"), |_| {})
        .await
        .unwrap();
    assert_eq!(again.invoices_created, 0);
    assert_eq!(invoice_count(&db, &ctx.org_id).await, 3);
    assert_balance(&db, &ctx, &c.id, 3570 + 3685 + 3570, 0).await;
    assert_clean(&db).await;
}

// ---------------------------------------------------------------------------------------
// Invoices

async fn invoices_lifecycle_numbers_void_uncollectible(db: Db) {
    let ctx = org(&db, t("2026-03-02T10:00:00Z")).await;
    de_vat(&db, &ctx).await;
    let c = customer(&db, &ctx, "Kunde", "EUR", "Europe/Berlin", "DE").await;

    let draft = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Setup", 10_000)], false),
    )
    .await
    .unwrap();
    assert_eq!(draft.status, "draft");
    assert_eq!(draft.number, None);
    assert_eq!(
        (draft.subtotal, draft.total_tax, draft.total),
        (10_000, 1900, 11_900)
    );
    let entries = app::ledger::entries(&db, &ctx, None, None, Some(100))
        .await
        .unwrap();
    assert_eq!(entries.data.len(), 0, "a draft posts nothing");
    assert_balance(&db, &ctx, &c.id, 0, 0).await;

    let draft = app::invoicing::add_lines(&db, &ctx, &draft.id, &[amount_line("Training", 5000)])
        .await
        .unwrap();
    assert_eq!(draft.lines.len(), 2);
    assert_eq!(
        (draft.subtotal, draft.total_tax, draft.total),
        (15_000, 2850, 17_850)
    );
    assert_eq!(draft.number, None);

    let inv1 = app::invoicing::finalize(&db, &ctx, &draft.id)
        .await
        .unwrap();
    assert_eq!(inv1.number.as_deref(), Some("INV-2026-000001"));
    assert_eq!(inv1.status, "open");
    assert_eq!((inv1.amount_due, inv1.amount_remaining), (17_850, 17_850));
    expect_state(
        app::invoicing::finalize(&db, &ctx, &draft.id).await,
        "invoice_not_draft",
    );
    expect_state(
        app::invoicing::add_lines(&db, &ctx, &draft.id, &[amount_line("More", 1)]).await,
        "invoice_not_draft",
    );
    let entries = app::ledger::entries(&db, &ctx, Some(&c.id), None, Some(100))
        .await
        .unwrap();
    let receivable: i64 = entries
        .data
        .iter()
        .filter(|e| e.account == "receivable")
        .map(|e| e.debit - e.credit)
        .sum();
    assert_eq!(receivable, 17_850);
    assert_balance(&db, &ctx, &c.id, 17_850, 0).await;

    // A draft that is deleted never takes a number.
    let gone = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Oops", 1)], false),
    )
    .await
    .unwrap();
    app::invoicing::delete_draft(&db, &ctx, &gone.id)
        .await
        .unwrap();
    expect_not_found(app::invoicing::get(&db, &ctx, &gone.id).await);

    let inv2 = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Extra", 1000)], true),
    )
    .await
    .unwrap();
    assert_eq!(inv2.number.as_deref(), Some("INV-2026-000002"));
    assert_eq!(inv2.total, 1190);
    assert_balance(&db, &ctx, &c.id, 17_850 + 1190, 0).await;

    let void = app::invoicing::void(&db, &ctx, &inv2.id).await.unwrap();
    assert_eq!(void.status, "void");
    assert_eq!(void.number.as_deref(), Some("INV-2026-000002"));
    assert_eq!(void.amount_remaining, 0);
    expect_state(
        app::invoicing::void(&db, &ctx, &inv2.id).await,
        "invoice_not_voidable",
    );
    let inv2_entries: Vec<_> = app::ledger::entries(&db, &ctx, None, None, Some(100))
        .await
        .unwrap()
        .data
        .into_iter()
        .filter(|e| e.invoice.as_deref() == Some(inv2.id.as_str()))
        .collect();
    assert_eq!(inv2_entries.len(), 6, "posting and its exact reversal");
    for account in ["receivable", "revenue", "tax_payable"] {
        let net: i64 = inv2_entries
            .iter()
            .filter(|e| e.account == account)
            .map(|e| e.debit - e.credit)
            .sum();
        assert_eq!(net, 0, "{account} after void");
    }
    assert_eq!(
        inv2_entries
            .iter()
            .filter(|e| e.kind == "invoice_voided")
            .count(),
        3
    );
    assert_balance(&db, &ctx, &c.id, 17_850, 0).await;

    let inv3 = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Hardware", 2000)], true),
    )
    .await
    .unwrap();
    assert_eq!(inv3.number.as_deref(), Some("INV-2026-000003"));
    let bad = app::invoicing::mark_uncollectible(&db, &ctx, &inv3.id)
        .await
        .unwrap();
    assert_eq!(bad.status, "uncollectible");
    assert!(bad.marked_uncollectible_at.is_some());
    let bad_debt: i64 = app::ledger::entries(&db, &ctx, None, None, Some(100))
        .await
        .unwrap()
        .data
        .iter()
        .filter(|e| e.account == "bad_debt")
        .map(|e| e.debit - e.credit)
        .sum();
    assert_eq!(bad_debt, 2380);
    expect_state(
        app::invoicing::mark_uncollectible(&db, &ctx, &inv3.id).await,
        "invoice_not_open",
    );
    expect_state(
        app::invoicing::void(&db, &ctx, &inv3.id).await,
        "invoice_not_voidable",
    );
    assert_balance(&db, &ctx, &c.id, 17_850, 0).await;

    // Currency mismatch.
    let mut wrong = one_off(&c.id, vec![amount_line("USD?", 100)], true);
    wrong.currency = Some("USD".into());
    expect_invalid(app::invoicing::create(&db, &ctx, &wrong).await, "currency");
    let mut right = one_off(&c.id, vec![amount_line("EUR", 100)], true);
    right.currency = Some("EUR".into());
    let inv4 = app::invoicing::create(&db, &ctx, &right).await.unwrap();
    assert_eq!(inv4.number.as_deref(), Some("INV-2026-000004"));

    // A new year starts a new series.
    let next_year = at(&ctx, t("2027-01-02T10:00:00Z"));
    let inv5 = app::invoicing::create(
        &db,
        &next_year,
        &one_off(&c.id, vec![amount_line("Renewal", 100)], true),
    )
    .await
    .unwrap();
    assert_eq!(inv5.number.as_deref(), Some("INV-2027-000001"));
    let numbered = scalar(
        &db,
        "SELECT COUNT(*) FROM invoices WHERE org_id = $1 AND number IS NOT NULL",
        &ctx.org_id,
    )
    .await;
    assert_eq!(numbered, 5);
    assert_balance(&db, &ctx, &c.id, 17_850 + 119 + 119, 0).await;
    assert_clean(&db).await;
}

async fn invoices_credit_balance_and_negative_total(db: Db) {
    let ctx = org(&db, t("2026-03-02T10:00:00Z")).await;
    de_vat(&db, &ctx).await;
    let c = customer(&db, &ctx, "Kunde", "EUR", "Europe/Berlin", "DE").await;

    let neg = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Goodwill adjustment", -5000)], true),
    )
    .await
    .unwrap();
    assert_eq!(neg.total, -5950);
    assert_eq!(neg.total_tax, -950);
    assert_eq!(neg.amount_due, 0);
    assert_eq!(neg.credit_to_balance, 5950);
    assert_eq!(neg.status, "paid");
    assert_balance(&db, &ctx, &c.id, 0, 5950).await;

    // Fully covered by the balance.
    let covered = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Month", 3000)], true),
    )
    .await
    .unwrap();
    assert_eq!(covered.total, 3570);
    assert_eq!(covered.credit_applied, 3570);
    assert_eq!(covered.amount_due, 0);
    assert_eq!(covered.status, "paid");
    assert_balance(&db, &ctx, &c.id, 0, 2380).await;

    // A draft takes the balance only when it is finalized.
    let draft = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Month", 4000)], false),
    )
    .await
    .unwrap();
    assert_eq!(draft.credit_applied, 0);
    assert_balance(&db, &ctx, &c.id, 0, 2380).await;
    let part = app::invoicing::finalize(&db, &ctx, &draft.id)
        .await
        .unwrap();
    assert_eq!(part.total, 4760);
    assert_eq!(part.credit_applied, 2380);
    assert_eq!((part.amount_due, part.amount_remaining), (2380, 2380));
    assert_eq!(part.status, "open");
    assert_balance(&db, &ctx, &c.id, 2380, 0).await;
    assert_clean(&db).await;

    // Voiding gives the credit it took back.
    let v = app::invoicing::void(&db, &ctx, &part.id).await.unwrap();
    assert_eq!(v.status, "void");
    assert_balance(&db, &ctx, &c.id, 0, 2380).await;
    assert_clean(&db).await;

    // Voiding the negative invoice would take back credit that has been spent: refused.
    let spend = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Month", 2000)], true),
    )
    .await
    .unwrap();
    assert_eq!(spend.credit_applied, 2380);
    assert_balance(&db, &ctx, &c.id, 0, 0).await;
    expect_state(
        app::invoicing::void(&db, &ctx, &neg.id).await,
        "credit_already_used",
    );
    assert_eq!(
        app::invoicing::get(&db, &ctx, &neg.id)
            .await
            .unwrap()
            .status,
        "paid"
    );
    assert_balance(&db, &ctx, &c.id, 0, 0).await;
    assert_clean(&db).await;
}

// ---------------------------------------------------------------------------------------
// Discounts

fn coupon(
    name: &str,
    percent: Option<&str>,
    amount_off: Option<i64>,
    duration: &str,
    periods: Option<u32>,
    products: Option<Vec<String>>,
) -> app::catalog::CouponCreate {
    app::catalog::CouponCreate {
        name: name.into(),
        percent_off: percent.map(|p| app::catalog::DecimalInput::Text(p.into())),
        amount_off,
        currency: amount_off.map(|_| "EUR".to_string()),
        duration: duration.into(),
        duration_in_periods: periods,
        applies_to_products: products,
    }
}

async fn invoices_of(db: &Db, ctx: &Ctx, sub: &str) -> Vec<app::invoicing::Invoice> {
    let mut v = app::invoicing::list(db, ctx, None, Some(sub), None, None, Some(100))
        .await
        .unwrap()
        .data;
    v.sort_by_key(|i| i.period_start);
    v
}

async fn discounts_apply_to_the_right_invoices(db: Db) {
    let ctx = org(&db, t("2026-01-01T00:00:00Z")).await;
    de_vat(&db, &ctx).await;
    let platform = product(&db, &ctx, "Platform").await;
    let seats = product(&db, &ctx, "Seats").await;
    let platform_price = monthly_flat(&db, &ctx, &platform.id, "EUR", 10_000).await;
    let seats_price = monthly_flat(&db, &ctx, &seats.id, "EUR", 2000).await;
    let once = app::catalog::create_coupon(
        &db,
        &ctx,
        &coupon("10% once", Some("10"), None, "once", None, None),
    )
    .await
    .unwrap();
    let seats_off = app::catalog::create_coupon(
        &db,
        &ctx,
        &coupon(
            "5 EUR off seats",
            None,
            Some(500),
            "forever",
            None,
            Some(vec![seats.id.clone()]),
        ),
    )
    .await
    .unwrap();
    let repeating = app::catalog::create_coupon(
        &db,
        &ctx,
        &coupon("20% x2", Some("20"), None, "repeating", Some(2), None),
    )
    .await
    .unwrap();
    expect_invalid(
        app::catalog::create_coupon(
            &db,
            &ctx,
            &coupon("bad", Some("20"), None, "repeating", None, None),
        )
        .await,
        "duration_in_periods",
    );
    expect_invalid(
        app::catalog::create_coupon(
            &db,
            &ctx,
            &coupon("bad", Some("120"), None, "once", None, None),
        )
        .await,
        "percent_off",
    );

    // US customers: no tax rate applies, so totals are the discounted subtotals.
    let d1 = customer(&db, &ctx, "Once", "EUR", "UTC", "US").await;
    let d2 = customer(&db, &ctx, "Forever", "EUR", "UTC", "US").await;
    let d3 = customer(&db, &ctx, "Repeating", "EUR", "UTC", "US").await;
    app::subscriptions::create_discount(
        &db,
        &ctx,
        &d1.id,
        &app::subscriptions::DiscountCreate {
            coupon: once.id.clone(),
            subscription: None,
        },
    )
    .await
    .unwrap();
    app::subscriptions::create_discount(
        &db,
        &ctx,
        &d2.id,
        &app::subscriptions::DiscountCreate {
            coupon: seats_off.id.clone(),
            subscription: None,
        },
    )
    .await
    .unwrap();
    let (s1, _) =
        app::subscriptions::create(&db, &ctx, &sub_input(&d1.id, &platform_price.id, None))
            .await
            .unwrap();
    let mut two = sub_input(&d2.id, &platform_price.id, None);
    two.items.push(app::subscriptions::ItemCreate {
        price: seats_price.id.clone(),
        quantity: Some(1),
    });
    let (s2, _) = app::subscriptions::create(&db, &ctx, &two).await.unwrap();
    let mut three = sub_input(&d3.id, &platform_price.id, None);
    three.coupon = Some(repeating.id.clone());
    let (s3, _) = app::subscriptions::create(&db, &ctx, &three).await.unwrap();
    // Another subscription of d3 does not get s3's coupon.
    let (s3b, s3b_inv) =
        app::subscriptions::create(&db, &ctx, &sub_input(&d3.id, &seats_price.id, None))
            .await
            .unwrap();
    assert_eq!(s3b_inv.unwrap().total_discount, 0);

    for at in ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"] {
        app::billrun::run(&db, None, t(at), |_| {}).await.unwrap();
    }
    let totals = |v: &[app::invoicing::Invoice]| -> Vec<(i64, i64)> {
        v.iter().map(|i| (i.total_discount, i.total)).collect()
    };
    let i1 = invoices_of(&db, &ctx, &s1.id).await;
    assert_eq!(totals(&i1), vec![(1000, 9000), (0, 10_000), (0, 10_000)]);
    let i2 = invoices_of(&db, &ctx, &s2.id).await;
    assert_eq!(
        totals(&i2),
        vec![(500, 11_500), (500, 11_500), (500, 11_500)]
    );
    for inv in &i2 {
        let per_line: std::collections::BTreeMap<Option<&str>, i64> = inv
            .lines
            .iter()
            .map(|l| (l.product.as_deref(), l.discount_amount))
            .collect();
        assert_eq!(
            per_line,
            [
                (Some(platform.id.as_str()), 0),
                (Some(seats.id.as_str()), 500)
            ]
            .into_iter()
            .collect()
        );
    }
    let i3 = invoices_of(&db, &ctx, &s3.id).await;
    assert_eq!(totals(&i3), vec![(2000, 8000), (2000, 8000), (0, 10_000)]);
    let i3b = invoices_of(&db, &ctx, &s3b.id).await;
    assert_eq!(totals(&i3b), vec![(0, 2000), (0, 2000), (0, 2000)]);

    // One-off invoices take only the coupons passed with them.
    let plain = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&d2.id, vec![price_line(&seats_price.id, 1)], true),
    )
    .await
    .unwrap();
    assert_eq!((plain.total_discount, plain.total), (0, 2000));
    let mut with = one_off(&d3.id, vec![amount_line("Consulting", 1000)], true);
    with.coupons = vec![once.id.clone()];
    let with = app::invoicing::create(&db, &ctx, &with).await.unwrap();
    assert_eq!((with.total_discount, with.total), (100, 900));
    // A product-scoped amount-off coupon touches only that product's lines, and nothing
    // when that line is zero.
    let mut capped = one_off(
        &d2.id,
        vec![price_line(&seats_price.id, 1), amount_line("Small", 100)],
        true,
    );
    capped.coupons = vec![seats_off.id.clone()];
    let capped = app::invoicing::create(&db, &ctx, &capped).await.unwrap();
    assert_eq!((capped.total_discount, capped.total), (500, 1600));
    let mut tiny = one_off(
        &d2.id,
        vec![price_line(&seats_price.id, 0), amount_line("Small", 100)],
        true,
    );
    tiny.coupons = vec![seats_off.id.clone()];
    let tiny = app::invoicing::create(&db, &ctx, &tiny).await.unwrap();
    assert_eq!((tiny.total_discount, tiny.total), (0, 100));
    assert_clean(&db).await;
    for c in [&d1, &d2, &d3] {
        let open =
            app::invoicing::list(&db, &ctx, Some(&c.id), None, Some("open"), None, Some(100))
                .await
                .unwrap();
        let due: i64 = open.data.iter().map(|i| i.amount_due).sum();
        assert_balance(&db, &ctx, &c.id, due, 0).await;
    }
}

// ---------------------------------------------------------------------------------------
// Credit notes

fn cn(invoice: &str, reason: &str, lines: Option<Vec<(&str, Option<i64>)>>) -> CreditNoteCreate {
    CreditNoteCreate {
        invoice: invoice.into(),
        reason: reason.into(),
        memo: None,
        lines: lines.map(|ls| {
            ls.into_iter()
                .map(|(l, a)| CreditNoteLineCreate {
                    invoice_line: l.into(),
                    amount: a,
                })
                .collect()
        }),
    }
}

async fn credit_notes_never_exceed_invoiced(db: Db) {
    let ctx = org(&db, t("2026-04-01T10:00:00Z")).await;
    de_vat(&db, &ctx).await;
    let c = customer(&db, &ctx, "Kunde", "EUR", "Europe/Berlin", "DE").await;
    let inv = app::invoicing::create(
        &db,
        &ctx,
        &one_off(
            &c.id,
            vec![amount_line("A", 10_000), amount_line("B", 5000)],
            true,
        ),
    )
    .await
    .unwrap();
    assert_eq!(inv.total, 17_850);
    let (l1, l2) = (inv.lines[0].id.clone(), inv.lines[1].id.clone());
    assert_eq!((inv.lines[0].total, inv.lines[1].total), (11_900, 5950));

    expect_invalid(
        app::invoicing::create_credit_note(&db, &ctx, &cn(&inv.id, "mistake", None)).await,
        "reason",
    );
    let cn1 = app::invoicing::create_credit_note(
        &db,
        &ctx,
        &cn(&inv.id, "billing_error", Some(vec![(&l1, Some(5950))])),
    )
    .await
    .unwrap();
    assert_eq!(cn1.number, "CN-2026-000001");
    assert_eq!((cn1.total, cn1.total_net, cn1.total_tax), (5950, 5000, 950));
    assert_eq!(
        (cn1.amount_to_invoice, cn1.amount_to_credit_balance),
        (5950, 0)
    );
    let after = app::invoicing::get(&db, &ctx, &inv.id).await.unwrap();
    assert_eq!(
        (after.amount_credited, after.amount_remaining),
        (5950, 11_900)
    );
    assert_eq!(after.status, "open");
    assert_balance(&db, &ctx, &c.id, 11_900, 0).await;

    // Exceeding what remains of the line is refused and writes nothing.
    expect_invalid(
        app::invoicing::create_credit_note(
            &db,
            &ctx,
            &cn(&inv.id, "duplicate", Some(vec![(&l1, Some(5951))])),
        )
        .await,
        "lines[0].amount",
    );
    expect_invalid(
        app::invoicing::create_credit_note(
            &db,
            &ctx,
            &cn(&inv.id, "duplicate", Some(vec![(&l2, Some(6000))])),
        )
        .await,
        "lines[0].amount",
    );
    expect_invalid(
        app::invoicing::create_credit_note(
            &db,
            &ctx,
            &cn(&inv.id, "duplicate", Some(vec![(&l2, Some(0))])),
        )
        .await,
        "lines[0].amount",
    );
    expect_invalid(
        app::invoicing::create_credit_note(
            &db,
            &ctx,
            &cn(
                &inv.id,
                "duplicate",
                Some(vec![(&l2, Some(10)), (&l2, Some(10))]),
            ),
        )
        .await,
        "lines[1].invoice_line",
    );
    expect_invalid(
        app::invoicing::create_credit_note(
            &db,
            &ctx,
            &cn(
                &inv.id,
                "duplicate",
                Some(vec![("il_nosuchline0000000000", None)]),
            ),
        )
        .await,
        "lines[0].invoice_line",
    );
    let listed = app::invoicing::list_credit_notes(&db, &ctx, Some(&inv.id), None, None, Some(100))
        .await
        .unwrap();
    assert_eq!(listed.data.len(), 1);

    // The rest of line 1 (amount omitted), then all that remains (lines omitted).
    let cn2 = app::invoicing::create_credit_note(
        &db,
        &ctx,
        &cn(&inv.id, "order_change", Some(vec![(&l1, None)])),
    )
    .await
    .unwrap();
    assert_eq!(cn2.number, "CN-2026-000002");
    assert_eq!((cn2.total, cn2.total_tax), (5950, 950));
    expect_invalid(
        app::invoicing::create_credit_note(
            &db,
            &ctx,
            &cn(&inv.id, "duplicate", Some(vec![(&l1, Some(1))])),
        )
        .await,
        "lines[0].amount",
    );
    // Numbers of the invoice series are unaffected by credit notes.
    let other = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("C", 100)], true),
    )
    .await
    .unwrap();
    assert_eq!(other.number.as_deref(), Some("INV-2026-000002"));
    let cn3 = app::invoicing::create_credit_note(&db, &ctx, &cn(&inv.id, "goodwill", None))
        .await
        .unwrap();
    assert_eq!(cn3.number, "CN-2026-000003");
    assert_eq!(cn3.total, 5950);
    assert_eq!(cn3.lines.len(), 1);
    assert_eq!(cn3.lines[0].invoice_line, l2);
    let done = app::invoicing::get(&db, &ctx, &inv.id).await.unwrap();
    assert_eq!((done.amount_credited, done.amount_remaining), (17_850, 0));
    assert_eq!(done.status, "paid");
    expect_state(
        app::invoicing::create_credit_note(&db, &ctx, &cn(&inv.id, "goodwill", None)).await,
        "nothing_to_credit",
    );
    assert_balance(&db, &ctx, &c.id, 119, 0).await;
    assert_clean(&db).await;

    // A paid invoice (here settled from the credit balance): the credit goes to the balance.
    app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Refund", -10_000)], true),
    )
    .await
    .unwrap();
    let paid = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Pro", 10_000)], true),
    )
    .await
    .unwrap();
    assert_eq!((paid.status.as_str(), paid.amount_due), ("paid", 0));
    assert_balance(&db, &ctx, &c.id, 119, 0).await;
    let cn4 = app::invoicing::create_credit_note(
        &db,
        &ctx,
        &cn(
            &paid.id,
            "product_unsatisfactory",
            Some(vec![(&paid.lines[0].id, Some(2380))]),
        ),
    )
    .await
    .unwrap();
    assert_eq!(cn4.number, "CN-2026-000004");
    assert_eq!(
        (cn4.amount_to_invoice, cn4.amount_to_credit_balance),
        (0, 2380)
    );
    assert_eq!((cn4.total_net, cn4.total_tax), (2000, 380));
    assert_balance(&db, &ctx, &c.id, 119, 2380).await;

    // Void and draft invoices take no credit notes.
    let void = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("X", 100)], false),
    )
    .await
    .unwrap();
    expect_state(
        app::invoicing::create_credit_note(&db, &ctx, &cn(&void.id, "duplicate", None)).await,
        "invoice_not_creditable",
    );
    let void = app::invoicing::finalize(&db, &ctx, &void.id).await.unwrap();
    assert_eq!(void.credit_applied, 119);
    app::invoicing::void(&db, &ctx, &void.id).await.unwrap();
    expect_state(
        app::invoicing::create_credit_note(&db, &ctx, &cn(&void.id, "duplicate", None)).await,
        "invoice_not_creditable",
    );
    let all = app::invoicing::list_credit_notes(&db, &ctx, None, Some(&c.id), None, Some(100))
        .await
        .unwrap();
    assert_eq!(all.data.len(), 4);
    assert_balance(&db, &ctx, &c.id, 119, 2380).await;
    assert_clean(&db).await;
}

// ---------------------------------------------------------------------------------------
// Isolation between organisations

async fn organisations_are_isolated(db: Db) {
    let a = org(&db, t("2026-01-01T00:00:00Z")).await;
    let b = org(&db, t("2026-01-01T00:00:00Z")).await;
    de_vat(&db, &a).await;
    let mut input = customer_input("Secret A", "EUR", "UTC", "DE");
    input.email = Some("secret@a.example".into());
    input.external_id = Some("a-1".into());
    let ca = app::customers::create(&db, &a, &input).await.unwrap();
    let pa = product(&db, &a, "A product").await;
    let price_a = monthly_flat(&db, &a, &pa.id, "EUR", 1000).await;
    let unused_a = monthly_flat(&db, &a, &pa.id, "EUR", 1).await;
    let coupon_a = app::catalog::create_coupon(
        &db,
        &a,
        &coupon("A10", Some("10"), None, "once", None, None),
    )
    .await
    .unwrap();
    let (sub_a, inv_a) = app::subscriptions::create(&db, &a, &sub_input(&ca.id, &price_a.id, None))
        .await
        .unwrap();
    let inv_a = inv_a.unwrap();
    let draft_a = app::invoicing::create(
        &db,
        &a,
        &one_off(&ca.id, vec![amount_line("Draft", 100)], false),
    )
    .await
    .unwrap();
    let cn_a = app::invoicing::create_credit_note(
        &db,
        &a,
        &cn(
            &inv_a.id,
            "goodwill",
            Some(vec![(&inv_a.lines[0].id, Some(100))]),
        ),
    )
    .await
    .unwrap();

    // B's own data, so "empty" means filtered rather than an empty database.
    let cb = customer(&db, &b, "B customer", "EUR", "UTC", "DE").await;
    let pb = product(&db, &b, "B product").await;
    let price_b = monthly_flat(&db, &b, &pb.id, "EUR", 500).await;

    expect_not_found(app::customers::get(&db, &b, &ca.id).await);
    expect_not_found(
        app::customers::update(
            &db,
            &b,
            &ca.id,
            &CustomerUpdate {
                name: Some("Hijack".into()),
                ..Default::default()
            },
        )
        .await,
    );
    expect_not_found(
        app::customers::add_contact(
            &db,
            &b,
            &ca.id,
            &app::customers::ContactInput {
                name: "X".into(),
                email: None,
                phone: None,
                role: None,
            },
        )
        .await,
    );
    for q in ["secret@a.example", "a-1", "Secret"] {
        let found = app::customers::list(&db, &b, Some(q), None, None)
            .await
            .unwrap();
        assert!(found.data.is_empty(), "B found A's customer by {q}");
    }
    let b_customers = app::customers::list(&db, &b, None, None, Some(100))
        .await
        .unwrap();
    assert_eq!(
        b_customers
            .data
            .iter()
            .map(|c| c.id.clone())
            .collect::<Vec<_>>(),
        vec![cb.id.clone()]
    );
    expect_not_found(app::ledger::customer_balance(&db, &b, &ca.id).await);

    expect_not_found(app::catalog::get_product(&db, &b, &pa.id).await);
    expect_not_found(app::catalog::update_product(&db, &b, &pa.id, &Default::default()).await);
    let products = app::catalog::list_products(&db, &b, None, Some(100))
        .await
        .unwrap();
    assert_eq!(
        products
            .data
            .iter()
            .map(|p| p.id.clone())
            .collect::<Vec<_>>(),
        vec![pb.id.clone()]
    );
    expect_not_found(app::catalog::get_price(&db, &b, &price_a.id).await);
    expect_not_found(
        app::catalog::update_price(
            &db,
            &b,
            &price_a.id,
            &PriceUpdate {
                nickname: None,
                active: Some(false),
            },
        )
        .await,
    );
    expect_not_found(app::catalog::delete_price(&db, &b, &unused_a.id).await);
    app::catalog::get_price(&db, &a, &unused_a.id)
        .await
        .unwrap();
    assert!(
        app::catalog::get_price(&db, &a, &price_a.id)
            .await
            .unwrap()
            .active
    );
    let prices = app::catalog::list_prices(&db, &b, None, None, Some(100))
        .await
        .unwrap();
    assert_eq!(
        prices.data.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        vec![price_b.id.clone()]
    );
    let prices = app::catalog::list_prices(&db, &b, Some(&pa.id), None, Some(100))
        .await
        .unwrap();
    assert!(prices.data.is_empty());
    expect_not_found(
        app::catalog::create_price(
            &db,
            &b,
            &price_create(&pa.id, "flat", &[("EUR", flat_amount(1))], true),
        )
        .await,
    );
    expect_not_found(app::catalog::get_coupon(&db, &b, &coupon_a.id).await);
    assert!(app::catalog::list_coupons(&db, &b, None, Some(100))
        .await
        .unwrap()
        .data
        .is_empty());
    assert!(app::catalog::list_tax_rates(&db, &b)
        .await
        .unwrap()
        .data
        .is_empty());

    expect_not_found(app::subscriptions::get(&db, &b, &sub_a.id).await);
    assert!(
        app::subscriptions::list(&db, &b, None, None, None, Some(100))
            .await
            .unwrap()
            .data
            .is_empty()
    );
    assert!(
        app::subscriptions::list(&db, &b, Some(&ca.id), None, None, Some(100))
            .await
            .unwrap()
            .data
            .is_empty()
    );
    let change = SubscriptionChange {
        items: vec![ItemChange {
            id: Some(sub_a.items[0].id.clone()),
            price: None,
            quantity: Some(5),
            deleted: false,
        }],
        effective: None,
    };
    expect_not_found(app::subscriptions::preview_change(&db, &b, &sub_a.id, &change).await);
    expect_not_found(app::subscriptions::change(&db, &b, &sub_a.id, &change).await);
    expect_not_found(app::subscriptions::cancel(&db, &b, &sub_a.id, &Default::default()).await);
    expect_not_found(
        app::subscriptions::create(&db, &b, &sub_input(&ca.id, &price_b.id, None)).await,
    );
    expect_not_found(
        app::subscriptions::create(&db, &b, &sub_input(&cb.id, &price_a.id, None)).await,
    );
    let mut with_coupon = sub_input(&cb.id, &price_b.id, None);
    with_coupon.coupon = Some(coupon_a.id.clone());
    expect_not_found(app::subscriptions::create(&db, &b, &with_coupon).await);
    expect_not_found(
        app::subscriptions::create_discount(
            &db,
            &b,
            &ca.id,
            &app::subscriptions::DiscountCreate {
                coupon: coupon_a.id.clone(),
                subscription: None,
            },
        )
        .await,
    );
    expect_not_found(
        app::subscriptions::create_discount(
            &db,
            &b,
            &cb.id,
            &app::subscriptions::DiscountCreate {
                coupon: coupon_a.id.clone(),
                subscription: None,
            },
        )
        .await,
    );

    expect_not_found(app::invoicing::get(&db, &b, &inv_a.id).await);
    assert!(
        app::invoicing::list(&db, &b, None, None, None, None, Some(100))
            .await
            .unwrap()
            .data
            .is_empty()
    );
    assert!(
        app::invoicing::list(&db, &b, Some(&ca.id), None, None, None, Some(100))
            .await
            .unwrap()
            .data
            .is_empty()
    );
    expect_not_found(
        app::invoicing::create(&db, &b, &one_off(&ca.id, vec![amount_line("X", 1)], true)).await,
    );
    expect_not_found(
        app::invoicing::create(
            &db,
            &b,
            &one_off(&cb.id, vec![price_line(&price_a.id, 1)], true),
        )
        .await,
    );
    let mut with_coupon = one_off(&cb.id, vec![amount_line("X", 100)], true);
    with_coupon.coupons = vec![coupon_a.id.clone()];
    expect_not_found(app::invoicing::create(&db, &b, &with_coupon).await);
    expect_not_found(app::invoicing::add_lines(&db, &b, &draft_a.id, &[amount_line("X", 1)]).await);
    expect_not_found(app::invoicing::finalize(&db, &b, &draft_a.id).await);
    expect_not_found(app::invoicing::delete_draft(&db, &b, &draft_a.id).await);
    expect_not_found(app::invoicing::void(&db, &b, &inv_a.id).await);
    expect_not_found(app::invoicing::mark_uncollectible(&db, &b, &inv_a.id).await);
    expect_not_found(
        app::invoicing::create_credit_note(&db, &b, &cn(&inv_a.id, "goodwill", None)).await,
    );
    expect_not_found(app::invoicing::get_credit_note(&db, &b, &cn_a.id).await);
    assert!(
        app::invoicing::list_credit_notes(&db, &b, None, None, None, Some(100))
            .await
            .unwrap()
            .data
            .is_empty()
    );
    assert!(
        app::invoicing::list_credit_notes(&db, &b, Some(&inv_a.id), None, None, Some(100))
            .await
            .unwrap()
            .data
            .is_empty()
    );
    assert!(app::ledger::entries(&db, &b, None, None, Some(100))
        .await
        .unwrap()
        .data
        .is_empty());
    assert!(app::ledger::entries(&db, &b, Some(&ca.id), None, Some(100))
        .await
        .unwrap()
        .data
        .is_empty());

    // A's data is intact and A sees it.
    let a_inv = app::invoicing::get(&db, &a, &inv_a.id).await.unwrap();
    assert_eq!(a_inv.status, "open");
    assert_eq!(a_inv.amount_remaining, 1190 - 100);
    assert_eq!(
        app::invoicing::get(&db, &a, &draft_a.id)
            .await
            .unwrap()
            .lines
            .len(),
        1
    );
    assert_eq!(
        app::customers::get(&db, &a, &ca.id).await.unwrap().name,
        "Secret A"
    );
    assert_eq!(
        app::subscriptions::get(&db, &a, &sub_a.id)
            .await
            .unwrap()
            .items[0]
            .quantity,
        1
    );
    assert_eq!(
        app::ledger::entries(&db, &a, None, None, Some(100))
            .await
            .unwrap()
            .data
            .len(),
        6
    );
    app::invoicing::get_credit_note(&db, &a, &cn_a.id)
        .await
        .unwrap();
    // A bill run for B only leaves A alone.
    let r = app::billrun::run(&db, Some(&b.org_id), t("2026-06-01T00:00:00Z"), |_| {})
        .await
        .unwrap();
    assert_eq!(r.invoices_created, 0);
    assert_eq!(invoice_count(&db, &a.org_id).await, 2);
    assert_balance(&db, &a, &ca.id, 1090, 0).await;
    assert_clean(&db).await;
}
