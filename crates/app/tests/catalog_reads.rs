//! `catalog::load_prices` on both databases: several prices of several products, asked for
//! with a duplicate id, an unknown id and another organisation's price, come back once each
//! with their own product's name and every currency's model; the others are left out. Also
//! past SQLite's 1,000-parameter IN list.

mod common;

use app::catalog::{load_prices, CurrencyAmountInput, PriceCreate};
use billing::pricing::PricingModel;
use common::*;
use rust_decimal::Decimal;
use std::collections::BTreeSet;

on_both_backends!(
    prices_load_once_each_with_their_products,
    a_long_id_list_loads_the_same
);

/// A monthly flat price in EUR and USD.
async fn two_currency_price(db: &Db, ctx: &Ctx, product: &str, eur: i64, usd: i64) -> String {
    app::catalog::create_price(
        db,
        ctx,
        &PriceCreate {
            product: product.into(),
            nickname: None,
            recurring: monthly(),
            model: "flat".into(),
            tax_behavior: None,
            currency_amounts: amounts(&[
                ("EUR", flat_amount(eur)),
                (
                    "USD",
                    CurrencyAmountInput {
                        amount: Some(usd),
                        ..Default::default()
                    },
                ),
            ]),
        },
    )
    .await
    .unwrap()
    .id
}

fn flat(minor: i64) -> PricingModel {
    PricingModel::Flat {
        amount: Decimal::new(minor, 0),
    }
}

async fn prices_load_once_each_with_their_products(db: Db) {
    let now = t("2026-03-01T10:00:00Z");
    let ctx = org(&db, now).await;
    let other = org(&db, now).await;
    let team = product(&db, &ctx, "Team").await;
    let support = product(&db, &ctx, "Support").await;
    let a = two_currency_price(&db, &ctx, &team.id, 2_000, 2_200).await;
    let b = monthly_flat(&db, &ctx, &support.id, "EUR", 900).await.id;
    let c = two_currency_price(&db, &ctx, &team.id, 3_000, 3_300).await;
    let foreign_product = product(&db, &other, "Foreign").await;
    let foreign = monthly_flat(&db, &other, &foreign_product.id, "EUR", 100)
        .await
        .id;

    let ask = vec![
        c.clone(),
        "price_unknown".to_string(),
        a.clone(),
        b.clone(),
        a.clone(),
        foreign.clone(),
        c.clone(),
    ];
    let mut tx = db.read().await.unwrap();
    let got = load_prices(&mut tx, &ctx.org_id, &ask).await.unwrap();
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([a.clone(), b.clone(), c.clone()])
    );
    let view = |id: &str| {
        let p = &got[id];
        assert_eq!(p.row.id, id);
        assert_eq!(p.row.org_id, ctx.org_id);
        (p.product_name.as_str(), p.models.clone())
    };
    assert_eq!(
        view(&a),
        (
            "Team",
            [("EUR".into(), flat(2_000)), ("USD".into(), flat(2_200))].into()
        )
    );
    assert_eq!(view(&b), ("Support", [("EUR".into(), flat(900))].into()));
    assert_eq!(
        view(&c),
        (
            "Team",
            [("EUR".into(), flat(3_000)), ("USD".into(), flat(3_300))].into()
        )
    );
    assert_eq!(got[&b].row.product_id, support.id);

    let nothing = load_prices(&mut tx, &ctx.org_id, &["price_unknown".into()])
        .await
        .unwrap();
    assert!(nothing.is_empty());
    assert!(load_prices(&mut tx, &ctx.org_id, &[])
        .await
        .unwrap()
        .is_empty());
    let theirs = load_prices(&mut tx, &other.org_id, &ask).await.unwrap();
    assert_eq!(theirs.keys().collect::<Vec<_>>(), vec![&foreign]);
    assert_eq!(theirs[&foreign].product_name, "Foreign");
}

async fn a_long_id_list_loads_the_same(db: Db) {
    let now = t("2026-03-01T10:00:00Z");
    let ctx = org(&db, now).await;
    let team = product(&db, &ctx, "Team").await;
    let a = two_currency_price(&db, &ctx, &team.id, 2_000, 2_200).await;
    let b = monthly_flat(&db, &ctx, &team.id, "EUR", 900).await.id;
    // 2,500 ids: the known ones at the start, the middle and the end of SQLite's chunks.
    let mut ask: Vec<String> = (0..2_497).map(|i| format!("price_missing{i:05}")).collect();
    ask.insert(0, a.clone());
    ask.insert(1_500, b.clone());
    ask.push(a.clone());
    let mut tx = db.read().await.unwrap();
    let got = load_prices(&mut tx, &ctx.org_id, &ask).await.unwrap();
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([a.clone(), b.clone()])
    );
    assert_eq!(got[&a].models.len(), 2);
    assert_eq!(got[&b].models["EUR"], flat(900));
    assert_eq!(got[&b].product_name, "Team");
}
