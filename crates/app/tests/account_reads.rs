//! The pages' one-transaction reads on both databases: the customer-360 account, the
//! ticket workspace and the portal overview answer exactly what the separate use cases
//! answer (balance, subscriptions, invoices with their lines, payments with their
//! allocations, timeline), and the overview's amount per period is the one a plan-change
//! preview gives. Another organisation's customer or ticket is not found.

mod common;

use app::account::{self, Sizes};
use app::catalog::{CurrencyAmountInput, PriceCreate, TierInput};
use app::desk::selfservice::{self, CustomerCtx};
use app::desk::{tickets, workspace, StaffCtx};
use app::subscriptions::{self, ItemChange, ItemCreate, SubscriptionChange};
use common::*;

on_both_backends!(
    the_account_is_what_the_separate_reads_say,
    the_workspace_carries_the_ticket_and_its_account,
    the_overview_amount_is_the_preview_amount,
);

const ALL: Sizes = Sizes {
    subscriptions: 100,
    invoices: 100,
    payments: 100,
    timeline: 100,
};

/// A monthly graduated seats price in EUR: 10.00 each for the first 5, 7.00 after.
async fn seats(db: &Db, ctx: &Ctx, product: &str) -> String {
    let tier = |up_to, unit| TierInput {
        up_to,
        unit_amount: Some(unit),
        unit_amount_decimal: None,
        flat_amount: None,
    };
    app::catalog::create_price(
        db,
        ctx,
        &PriceCreate {
            product: product.into(),
            nickname: Some("Seats".into()),
            recurring: monthly(),
            model: "graduated".into(),
            tax_behavior: None,
            currency_amounts: amounts(&[(
                "EUR",
                CurrencyAmountInput {
                    tiers: Some(vec![tier(Some(5), 1_000), tier(None, 700)]),
                    ..Default::default()
                },
            )]),
        },
    )
    .await
    .unwrap()
    .id
}

/// A customer with a base + 8 seats subscription (and its first invoice), a paid one-off invoice (two lines,
/// paid by one bank transfer) and an open one: (customer, subscription).
async fn account_with_history(db: &Db, ctx: &Ctx) -> (String, String) {
    let cus = customer(db, ctx, "Gamma GmbH", "EUR", "Europe/Berlin", "DE").await;
    let prod = product(db, ctx, "Team").await;
    let base = monthly_flat(db, ctx, &prod.id, "EUR", 2_000).await;
    let seats = seats(db, ctx, &prod.id).await;
    let mut input = sub_input(&cus.id, &base.id, None);
    input.items.push(ItemCreate {
        price: seats,
        quantity: Some(8),
    });
    let (sub, _) = subscriptions::create(db, ctx, &input).await.unwrap();
    let lines = vec![amount_line("Setup", 5_000), amount_line("Training", 2_500)];
    let paid = app::invoicing::create(db, ctx, &one_off(&cus.id, lines, true))
        .await
        .unwrap();
    app::payments::record(
        db,
        ctx,
        &app::payments::PaymentCreate {
            customer: cus.id.clone(),
            amount: paid.amount_due,
            currency: None,
            method: "bank_transfer".into(),
            reference: Some("TR-1".into()),
            invoice: Some(paid.id.clone()),
        },
    )
    .await
    .unwrap();
    let open = vec![amount_line("Extra", 1_200)];
    app::invoicing::create(db, ctx, &one_off(&cus.id, open, true))
        .await
        .unwrap();
    (cus.id, sub.id)
}

fn json<T: serde::Serialize + ?Sized>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap()
}

async fn the_account_is_what_the_separate_reads_say(db: Db) {
    let ctx = org(&db, t("2026-03-10T09:00:00Z")).await;
    let (cus, _) = account_with_history(&db, &ctx).await;
    let acc = account::get(&db, &ctx, &cus, ALL).await.unwrap();
    assert_eq!(acc.holder.id, cus);
    assert_eq!(acc.holder.name, "Gamma GmbH");
    assert_eq!(acc.holder.currency, "EUR");

    let balance = app::ledger::customer_balance(&db, &ctx, &cus)
        .await
        .unwrap();
    assert_eq!(json(&acc.balance), json(&balance));
    assert!(acc.balance.amount_owed > 0, "the open invoice is owed");

    let subs = subscriptions::list(&db, &ctx, Some(&cus), None, None, Some(100))
        .await
        .unwrap();
    assert_eq!(json(&acc.subscriptions), json(&subs.data));
    assert_eq!(acc.subscriptions[0].items.len(), 2);

    let invoices = app::invoicing::list(&db, &ctx, Some(&cus), None, None, None, Some(100))
        .await
        .unwrap();
    assert_eq!(json(&acc.invoices), json(&invoices.data));
    // Each invoice carries its own lines, in order (read for the whole page at once).
    let with_two = acc
        .invoices
        .iter()
        .find(|i| i.lines.len() == 2)
        .expect("the two-line invoice");
    let descriptions: Vec<_> = with_two
        .lines
        .iter()
        .map(|l| l.description.clone())
        .collect();
    assert_eq!(descriptions, ["Setup", "Training"]);

    let payments = app::payments::list_payments(&db, &ctx, Some(&cus), None, None, Some(100))
        .await
        .unwrap();
    assert_eq!(json(&acc.payments), json(&payments.data));
    assert_eq!(acc.payments.len(), 1);
    assert_eq!(acc.payments[0].allocations.len(), 1);
    assert_eq!(acc.payments[0].allocations[0].invoice, with_two.id);

    let timeline = app::events::timeline(&db, &ctx, &cus, None, Some(100))
        .await
        .unwrap();
    assert_eq!(json(&acc.timeline), json(&timeline.data));
    assert!(!acc.timeline.is_empty());

    // Smaller lists are the newest of the full ones.
    let few = Sizes {
        subscriptions: 1,
        invoices: 1,
        payments: 1,
        timeline: 2,
    };
    let small = account::get(&db, &ctx, &cus, few).await.unwrap();
    assert_eq!(json(&small.invoices), json(&acc.invoices[..1]));
    assert_eq!(json(&small.timeline), json(&acc.timeline[..2]));

    // Another organisation's customer, or no customer id at all.
    let other = org(&db, t("2026-03-10T09:00:00Z")).await;
    expect_not_found(account::get(&db, &other, &cus, ALL).await);
    expect_invalid(account::get(&db, &ctx, "nope", ALL).await, "customer");
}

async fn the_workspace_carries_the_ticket_and_its_account(db: Db) {
    let ctx = org(&db, t("2026-03-10T09:00:00Z")).await;
    let (cus, _) = account_with_history(&db, &ctx).await;
    let admin = StaffCtx::api_key(ctx.clone());
    let create = |customer: Option<String>| tickets::CreateTicket {
        customer,
        requester_email: Some("ap@gamma.example".into()),
        requester_name: None,
        subject: "Why two invoices?".into(),
        body: Some("We got two invoices this month.".into()),
        channel: Some("email".into()),
        category: Some("invoice_discrepancy".into()),
        priority: None,
        team: None,
        assignee: None,
        tags: Vec::new(),
        links: Vec::new(),
    };
    let tk = tickets::create(&db, &admin, create(Some(cus.clone())))
        .await
        .unwrap();
    let ws = workspace::ticket(&db, &admin, &tk.ticket.id, ALL)
        .await
        .unwrap();
    let detail = tickets::get(&db, &admin, &tk.ticket.id).await.unwrap();
    assert_eq!(json(&ws.detail), json(&detail));
    let acc = ws.account.expect("the ticket's customer");
    let alone = account::get(&db, &ctx, &cus, ALL).await.unwrap();
    assert_eq!(json(&acc.balance), json(&alone.balance));
    assert_eq!(json(&acc.invoices), json(&alone.invoices));
    assert_eq!(
        ws.limits.currency, "EUR",
        "limits in the customer's currency"
    );
    let limits = app::desk::actions::get_limits(&db, &admin, Some("EUR"))
        .await
        .unwrap();
    assert_eq!(json(&ws.limits), json(&limits));
    assert!(ws.actions.is_empty() && ws.conversation.is_none() && ws.verification.is_none());

    // Without a customer: no account, limits in USD.
    let bare = tickets::create(&db, &admin, create(None)).await.unwrap();
    let ws = workspace::ticket(&db, &admin, &bare.ticket.id, ALL)
        .await
        .unwrap();
    assert!(ws.account.is_none());
    assert_eq!(ws.limits.currency, "USD");

    // Another organisation's ticket.
    let other = StaffCtx::api_key(org(&db, t("2026-03-10T09:00:00Z")).await);
    expect_not_found(workspace::ticket(&db, &other, &tk.ticket.id, ALL).await);
}

async fn the_overview_amount_is_the_preview_amount(db: Db) {
    let ctx = org(&db, t("2026-03-10T09:00:00Z")).await;
    let (cus, sub) = account_with_history(&db, &ctx).await;
    let me = CustomerCtx {
        ctx: ctx.clone(),
        customer_id: cus.clone(),
        user_id: "pu_test".into(),
        email: "ap@gamma.example".into(),
    };
    let o = selfservice::overview(&db, &me, 20, 50).await.unwrap();
    let balance = app::ledger::customer_balance(&db, &ctx, &cus)
        .await
        .unwrap();
    assert_eq!(json(&o.balance), json(&balance));
    // The subscription's first invoice and the two one-off invoices.
    assert_eq!(o.invoices.len(), 3);
    assert!(o.invoices.iter().all(|i| i.status != "draft"));
    let (s, amount) = &o.subscriptions[0];
    assert_eq!(s.id, sub);
    // 20.00 base + 5 × 10.00 + 3 × 7.00 seats = 91.00 a month.
    assert_eq!(*amount, Some(9_100));
    let keep = SubscriptionChange {
        items: vec![ItemChange {
            id: Some(s.items[0].id.clone()),
            price: None,
            quantity: Some(s.items[0].quantity),
            deleted: false,
        }],
        effective: Some("period_end".into()),
    };
    let preview = subscriptions::preview_change(&db, &ctx, &sub, &keep)
        .await
        .unwrap();
    assert_eq!(Some(preview.amount_per_period_after), *amount);

    // Another organisation's view of the same customer id finds nothing.
    let mut stranger = me.clone();
    stranger.ctx = org(&db, t("2026-03-10T09:00:00Z")).await;
    expect_not_found(selfservice::overview(&db, &stranger, 20, 50).await);
}
