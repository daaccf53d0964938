//! Portal sign-in links on both databases: a link only for an address with a login, only
//! its hash stored, valid 15 minutes, one sign-in per link even when two race for it; and
//! the profile's tax ids and contacts as the portal changes them.

mod common;

use app::desk::portal::{self, PortalUserInput, SignInLinkRequest};
use app::desk::selfservice::{self as ss, CustomerCtx};
use app::desk::StaffCtx;
use chrono::Duration;
use common::*;

on_both_backends!(
    a_link_signs_in_once_within_its_time,
    two_sign_ins_with_one_link_take_it_once,
    tax_ids_and_contacts_change_as_the_api_checks,
);

async fn customer_with_login(db: &Db, ctx: &Ctx, email: &str) -> String {
    let mut input = customer_input("Alpha GmbH", "EUR", "Europe/Berlin", "DE");
    input.email = Some(email.into());
    let cus = app::customers::create(db, ctx, &input).await.unwrap().id;
    portal::create(
        db,
        &StaffCtx::api_key(ctx.clone()),
        &cus,
        PortalUserInput {
            email: email.into(),
            password: Some("portal-password-1".into()),
        },
    )
    .await
    .unwrap();
    cus
}

fn request(ctx: &Ctx, email: &str) -> SignInLinkRequest {
    SignInLinkRequest {
        organisation: ctx.org_id.clone(),
        email: email.into(),
        base_url: "https://billing.example.com/".into(),
    }
}

async fn scalar(db: &Db, sql: &str, org: &str) -> i64 {
    match db {
        Db::Sqlite(p) => sqlx::query_scalar(sql).bind(org).fetch_one(p).await,
        Db::Pg(p) => sqlx::query_scalar(sql).bind(org).fetch_one(p).await,
    }
    .unwrap()
}

/// The bodies of the queued sign-in emails, oldest first.
async fn mails(db: &Db, org: &str) -> Vec<(String, String)> {
    let sql = "SELECT to_address, body FROM interactions WHERE org_id = $1 AND direction = 'outbound' AND body LIKE '%/magic/%' ORDER BY id";
    match db {
        Db::Sqlite(p) => sqlx::query_as(sql).bind(org).fetch_all(p).await,
        Db::Pg(p) => sqlx::query_as(sql).bind(org).fetch_all(p).await,
    }
    .unwrap()
}

fn token_in(body: &str) -> String {
    let link = body
        .split_whitespace()
        .find(|w| w.contains("/magic/"))
        .unwrap();
    link.rsplit('/').next().unwrap().to_string()
}

fn code(r: Result<portal::PortalSession, AppError>) -> String {
    match r {
        Ok(_) => "signed in".into(),
        Err(AppError::State { code, .. }) => code.into(),
        Err(AppError::Unauthenticated(_)) => "unknown".into(),
        Err(e) => panic!("{e}"),
    }
}

async fn a_link_signs_in_once_within_its_time(db: Db) {
    let now = t("2026-11-27T10:00:00Z");
    let ctx = org(&db, now).await;
    customer_with_login(&db, &ctx, "anna@alpha.example").await;
    let org_id = ctx.org_id.clone();

    // No login with that address: nothing is written, and the answer is the same.
    portal::request_sign_in_link(&db, &request(&ctx, "nobody@alpha.example"), now)
        .await
        .unwrap();
    let links = "SELECT COUNT(*) FROM portal_sign_in_links WHERE org_id = $1";
    assert_eq!(scalar(&db, links, &org_id).await, 0);
    assert!(mails(&db, &org_id).await.is_empty());

    portal::request_sign_in_link(&db, &request(&ctx, " Anna@Alpha.example "), now)
        .await
        .unwrap();
    let sent = mails(&db, &org_id).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "anna@alpha.example");
    assert!(
        sent[0].1.contains(&format!(
            "https://billing.example.com/portal/{org_id}/magic/psl_"
        )),
        "{}",
        sent[0].1
    );
    assert!(sent[0].1.contains("15 minutes"), "{}", sent[0].1);
    let jobs = "SELECT COUNT(*) FROM jobs WHERE org_id = $1 AND kind = 'send_desk_email'";
    assert_eq!(scalar(&db, jobs, &org_id).await, 1);
    let token = token_in(&sent[0].1);
    let stored = "SELECT COUNT(*) FROM portal_sign_in_links WHERE org_id = $1 AND token_hash <> ''";
    assert_eq!(scalar(&db, stored, &org_id).await, 1);
    let plain = format!(
        "SELECT COUNT(*) FROM portal_sign_in_links WHERE org_id = $1 AND token_hash = '{token}'"
    );
    assert_eq!(
        scalar(&db, &plain, &org_id).await,
        0,
        "the token is not stored"
    );

    // Checking writes nothing; the last second of the 15 minutes still signs in.
    let last = now + Duration::minutes(15) - Duration::seconds(1);
    portal::check_sign_in_link(&db, &org_id, &token, last)
        .await
        .unwrap();
    portal::check_sign_in_link(&db, &org_id, &token, last)
        .await
        .unwrap();
    let s = portal::sign_in_with_link(&db, &org_id, &token, last)
        .await
        .unwrap();
    assert_eq!(s.user.email, "anna@alpha.example");
    let c = CustomerCtx::from_token(&db, &s.token, last).await.unwrap();
    assert_eq!(c.email, "anna@alpha.example");
    // Once.
    assert_eq!(
        code(portal::sign_in_with_link(&db, &org_id, &token, last).await),
        "sign_in_link_used"
    );

    // Expired at 15 minutes; unknown in another organisation or with another token.
    portal::request_sign_in_link(&db, &request(&ctx, "anna@alpha.example"), now)
        .await
        .unwrap();
    let second = token_in(&mails(&db, &org_id).await[1].1);
    let at_expiry = now + Duration::minutes(15);
    assert_eq!(
        code(portal::sign_in_with_link(&db, &org_id, &second, at_expiry).await),
        "sign_in_link_expired"
    );
    let other = org(&db, now).await;
    for (o, tok) in [
        (other.org_id.as_str(), second.as_str()),
        (
            org_id.as_str(),
            "psl_0000000000000000000000000000000000000000",
        ),
        (org_id.as_str(), &second[4..]),
    ] {
        assert_eq!(
            code(portal::sign_in_with_link(&db, o, tok, now).await),
            "unknown"
        );
    }
}

async fn two_sign_ins_with_one_link_take_it_once(db: Db) {
    let now = t("2026-11-27T10:00:00Z");
    let ctx = org(&db, now).await;
    customer_with_login(&db, &ctx, "anna@alpha.example").await;
    for _ in 0..3 {
        portal::request_sign_in_link(&db, &request(&ctx, "anna@alpha.example"), now)
            .await
            .unwrap();
    }
    for (_, body) in mails(&db, &ctx.org_id).await {
        let token = token_in(&body);
        let (a, b) = tokio::join!(
            portal::sign_in_with_link(&db, &ctx.org_id, &token, now),
            portal::sign_in_with_link(&db, &ctx.org_id, &token, now),
        );
        let mut codes = [code(a), code(b)];
        codes.sort();
        assert_eq!(codes, ["sign_in_link_used", "signed in"]);
    }
    let sessions = "SELECT COUNT(*) FROM portal_sessions WHERE org_id = $1";
    assert_eq!(scalar(&db, sessions, &ctx.org_id).await, 3);
}

async fn tax_ids_and_contacts_change_as_the_api_checks(db: Db) {
    let now = t("2026-11-27T10:00:00Z");
    let ctx = org(&db, now).await;
    let cus = customer_with_login(&db, &ctx, "anna@alpha.example").await;
    let s = portal::login(
        &db,
        portal::PortalLogin {
            organisation: ctx.org_id.clone(),
            email: "anna@alpha.example".into(),
            password: "portal-password-1".into(),
        },
        now,
    )
    .await
    .unwrap();
    let c = CustomerCtx::from_token(&db, &s.token, now).await.unwrap();
    let vat = |v: &str| app::customers::TaxIdInput {
        kind: "eu_vat".into(),
        value: v.into(),
    };
    ss::add_tax_id(&db, &c, vat("DE123456789")).await.unwrap();
    let e = ss::add_tax_id(&db, &c, vat("XX1")).await.unwrap_err();
    assert!(
        matches!(&e, AppError::Invalid { param, .. } if param == "tax_ids[1].value"),
        "{e:?}"
    );
    let e = ss::remove_tax_id(&db, &c, "FR1").await.unwrap_err();
    assert!(matches!(e, AppError::NotFound { .. }), "{e:?}");
    let got = ss::remove_tax_id(&db, &c, "DE123456789").await.unwrap();
    assert!(got.tax_ids.is_empty());

    let contact = app::customers::ContactInput {
        name: "Dora".into(),
        email: Some("dora@alpha.example".into()),
        phone: None,
        role: Some("technical".into()),
    };
    let got = ss::add_contact(&db, &c, &contact).await.unwrap();
    let dora = got.contacts[0].id.clone();
    // With a portal login the contact stays.
    portal::create(
        &db,
        &StaffCtx::api_key(ctx.clone()),
        &cus,
        PortalUserInput {
            email: "dora@alpha.example".into(),
            password: None,
        },
    )
    .await
    .unwrap();
    let e = ss::remove_contact(&db, &c, &dora).await.unwrap_err();
    assert!(
        matches!(
            e,
            AppError::State {
                code: "contact_in_use",
                ..
            }
        ),
        "{e:?}"
    );
    let got = ss::add_contact(&db, &c, &contact).await.unwrap();
    let second = got
        .contacts
        .iter()
        .find(|k| k.id != dora)
        .unwrap()
        .id
        .clone();
    let got = ss::remove_contact(&db, &c, &second).await.unwrap();
    assert_eq!(got.contacts.len(), 1);
    let e = ss::remove_contact(&db, &c, &second).await.unwrap_err();
    assert!(matches!(e, AppError::NotFound { .. }), "{e:?}");
}
